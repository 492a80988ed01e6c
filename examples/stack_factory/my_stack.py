"""A user's stack, named by a factory: the runbook suite certifies it with no test file copied.

    cd examples/stack_factory && pytest --stress-runbook -m stress --stress-report=html

(pytest.ini here sets ``stress_stack = my_stack:make_stack`` and puts this folder on sys.path.)
The factory receives a StackContext: build the OMS on ``ctx.broker`` (the suite injects the runbook's
broker outages there), publish to ``ctx.bus``, read time from ``ctx.clock``, log under ``ctx.log_dir``.
"""

from pytest_stress.stack.factory import StackContext, TradingStack
from pytest_stress.stack.governor import ReferenceRiskGovernor
from pytest_stress.stack.inference import MLInferenceAdapter
from pytest_stress.stack.oms import ReferenceOMS
from pytest_stress.stack.reference import make_reference_stack
from pytest_stress.stack.strategy import MLDirectionStrategyV1


def make_stack(ctx: StackContext) -> TradingStack:
    base = make_reference_stack(ctx)  # the parts this desk has not replaced
    # seed 001 scenario 2, manual mitigation: a higher abstain threshold in volatile markets
    inference = MLInferenceAdapter()
    strategy = MLDirectionStrategyV1(
        "ml_direction_v1",
        inference=inference,
        clock=ctx.clock,
        prediction_log=ctx.log_dir / "predictions.jsonl",
        abstain_threshold=0.65,
    )
    governor = ReferenceRiskGovernor(bus=ctx.bus, clock=ctx.clock, max_price_deviation_pct=3.0)
    oms = ReferenceOMS(
        ctx.broker, governor, bus=ctx.bus, clock=ctx.clock, log_dir=ctx.log_dir, backoff_base_s=0.25
    )
    return TradingStack(
        name="my_desk",
        strategy=strategy,
        oms=oms,
        broker=ctx.broker,
        risk_governor=governor,
        drift_detector=base.drift_detector,
        bus=ctx.bus,
        clock=ctx.clock,
        log_dir=ctx.log_dir,
        inference=inference,
        feed_monitor=base.feed_monitor,
        resource_guard=base.resource_guard,
    )
