"""Broken on purpose: activating the kill switch does nothing (seed 001 emergency procedures, seed 002)."""

from dataclasses import replace

from pytest_stress.stack.factory import StackContext, TradingStack
from pytest_stress.stack.governor import ReferenceRiskGovernor
from pytest_stress.stack.oms import ReferenceOMS
from pytest_stress.stack.reference import make_reference_stack


class SilentGovernor(ReferenceRiskGovernor):
    def activate_kill_switch(self, reason: str, *, limit: str = "manual") -> None:
        return None  # the bug: nothing is blocked, no KILL_SWITCH event


def make_stack(ctx: StackContext) -> TradingStack:
    stack = make_reference_stack(ctx)
    governor = SilentGovernor(bus=ctx.bus, clock=ctx.clock)
    oms = ReferenceOMS(ctx.broker, governor, bus=ctx.bus, clock=ctx.clock, log_dir=ctx.log_dir)
    return replace(stack, risk_governor=governor, oms=oms)
