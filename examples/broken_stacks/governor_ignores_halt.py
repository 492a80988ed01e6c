"""Broken on purpose: the risk governor approves orders of a strategy that its drawdown breaker halted
(seed 001 scenario 2: "Circuit breaker pauses trading on drawdown")."""

from dataclasses import replace

from pytest_stress.stack.factory import StackContext, TradingStack
from pytest_stress.stack.governor import ReferenceRiskGovernor
from pytest_stress.stack.model import RiskDecision
from pytest_stress.stack.oms import ReferenceOMS
from pytest_stress.stack.reference import make_reference_stack


class LeakyGovernor(ReferenceRiskGovernor):
    def check_order(self, order, portfolio, *, strategy=None):
        decision = super().check_order(order, portfolio, strategy=strategy)
        if not decision.approved and decision.limit == "strategy_drawdown_pct":
            return RiskDecision(True)  # the bug: the halt is ignored
        return decision


def make_stack(ctx: StackContext) -> TradingStack:
    stack = make_reference_stack(ctx)
    governor = LeakyGovernor(bus=ctx.bus, clock=ctx.clock)
    oms = ReferenceOMS(ctx.broker, governor, bus=ctx.bus, clock=ctx.clock, log_dir=ctx.log_dir)
    return replace(stack, risk_governor=governor, oms=oms)
