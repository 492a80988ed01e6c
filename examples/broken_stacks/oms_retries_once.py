"""Broken on purpose: the OMS gives up after one retry (the runbook promises three, seed 001 scenario 3)."""

from pytest_stress.stack.factory import StackContext, TradingStack
from pytest_stress.stack.reference import make_reference_stack


def make_stack(ctx: StackContext) -> TradingStack:
    ctx.options["oms"] = {"max_retries": 1}
    return make_reference_stack(ctx)
