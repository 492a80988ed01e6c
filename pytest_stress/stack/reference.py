"""The reference trading stack: ``ml_direction_v1`` with the reference OMS, risk governor, drift detector,
feed monitor and resource guard, wired the way the runbooks describe.

``make_reference_stack(ctx)`` is the default ``--stress-stack``. Each part takes its settings from
``ctx.options[part]`` (e.g. ``{"oms": {"max_retries": 3}}``), so a test or a factory can tune one part
without rebuilding the others; ``ctx.options["marks"]`` (a callable returning symbol -> price) gives the
OMS the marks its pre-trade price collar compares with.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping

from pytest_stress.stack.model import PortfolioSnapshot
from pytest_stress.stack.protocols import StackContext, TradingStack

MODEL_NAME = "ml_direction_v1"
DEFAULT_MEMORY_LIMIT = 2 * 1024**3  # bytes; a container's limit in production (seed 001 scenario 5)


@functools.lru_cache(maxsize=1)
def _reference_distributions() -> Mapping[str, tuple[float, ...]]:
    from pytest_stress.stack.drift import reference_distributions_from_history

    return {k: tuple(v) for k, v in reference_distributions_from_history().items()}


def make_reference_stack(ctx: StackContext) -> TradingStack:
    from pytest_stress.stack.drift import ReferenceDriftDetector
    from pytest_stress.stack.governor import ReferenceRiskGovernor
    from pytest_stress.stack.guards import ReferenceFeedMonitor, ReferenceResourceGuard
    from pytest_stress.stack.inference import MLInferenceAdapter
    from pytest_stress.stack.oms import ReferenceOMS
    from pytest_stress.stack.strategy import MLDirectionStrategyV1

    opts = ctx.options
    inference = MLInferenceAdapter(**opts.get("inference", {}))
    strategy = MLDirectionStrategyV1(
        MODEL_NAME,
        inference=inference,
        clock=ctx.clock,
        prediction_log=ctx.log_dir / "predictions.jsonl",
        **opts.get("strategy", {}),
    )
    governor = ReferenceRiskGovernor(bus=ctx.bus, clock=ctx.clock, **opts.get("risk_governor", {}))
    marks = opts.get("marks")
    oms: ReferenceOMS

    def snapshot() -> PortfolioSnapshot:
        return PortfolioSnapshot(0.0, oms.positions(), dict(marks()) if marks else {})

    oms = ReferenceOMS(
        ctx.broker,
        governor,
        bus=ctx.bus,
        clock=ctx.clock,
        log_dir=ctx.log_dir,
        portfolio=snapshot,
        **opts.get("oms", {}),
    )
    drift = ReferenceDriftDetector(
        _reference_distributions(),
        model_name=MODEL_NAME,
        trained_at=opts.get("trained_at") or dt.datetime.now(dt.timezone.utc),
        bus=ctx.bus,
        clock=ctx.clock,
        **opts.get("drift_detector", {}),
    )
    guard_opts = {"memory_limit_bytes": DEFAULT_MEMORY_LIMIT, **opts.get("resource_guard", {})}
    return TradingStack(
        name="reference",
        strategy=strategy,
        oms=oms,
        broker=ctx.broker,
        risk_governor=governor,
        drift_detector=drift,
        bus=ctx.bus,
        clock=ctx.clock,
        log_dir=ctx.log_dir,
        inference=inference,
        feed_monitor=ReferenceFeedMonitor(bus=ctx.bus, clock=ctx.clock, **opts.get("feed_monitor", {})),
        resource_guard=ReferenceResourceGuard(bus=ctx.bus, clock=ctx.clock, **guard_opts),
    )
