"""Certify your own parts by overriding the stack fixtures; the others stay the reference ones.

    cd examples/stack_fixtures && pytest -m stress --stress-report=html

Parts that use each other are overridden together: the OMS consults the governor, so a new governor
comes with an OMS built on it. Build the OMS on ``stack_context.broker``: the suite injects the
runbook's broker outages there.
"""

import pytest

from pytest_stress.stack.governor import ReferenceRiskGovernor
from pytest_stress.stack.oms import ReferenceOMS


@pytest.fixture
def risk_governor(stack_context):
    # this desk's tighter limits: 3 % collar, 250k per order
    return ReferenceRiskGovernor(
        bus=stack_context.bus, clock=stack_context.clock, max_price_deviation_pct=3.0, max_order_value=250_000
    )


@pytest.fixture
def oms(stack_context, risk_governor):
    return ReferenceOMS(
        stack_context.broker,
        risk_governor,
        bus=stack_context.bus,
        clock=stack_context.clock,
        log_dir=stack_context.log_dir,
        backoff_base_s=0.25,
        backoff_cap_s=2.0,
    )
