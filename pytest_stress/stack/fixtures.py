"""The stack fixtures: the parts under test, built by the factory ``--stress-stack`` names (the reference
stack by default), each overridable in a user's ``conftest.py``.

Registered by ``pytest_stress.plugin``. Only the standard library is imported at module level, so
loading the plugin stays cheap; the parts themselves are built inside the fixtures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_stress.errors import StackError
from pytest_stress.stack.bus import EventBus
from pytest_stress.stack.clock import SimClock
from pytest_stress.stack.factory import REFERENCE, StackContext, TradingStack, build_stack
from pytest_stress.stack.protocols import (
    OMS,
    BrokerClient,
    DriftDetector,
    RiskGovernor,
    Strategy,
)

if TYPE_CHECKING:
    from pytest_stress.stack.broker_faults import BrokerFaults


def stack_specs(config: pytest.Config) -> list[str]:
    """``--stress-stack`` values, else the ``stress_stack`` ini lines, else the reference stack."""
    specs = list(config.getoption("stress_stack") or []) or list(config.getini("stress_stack") or [])
    return list(dict.fromkeys(s.strip() for s in specs if s.strip())) or [REFERENCE]


def spec_id(spec: str) -> str:
    """``examples.broken_stacks.oms_retries_once:make_stack`` -> ``oms_retries_once`` (test ids)."""
    module, sep, attr = spec.partition(":")
    if not sep:
        return spec
    short = module.rpartition(".")[2]
    return short if attr == "make_stack" else f"{short}:{attr}"


@pytest.fixture
def stress_stack_spec(request: pytest.FixtureRequest) -> str:
    """The factory this test certifies (``reference`` or ``package.module:make_stack``)."""
    return str(getattr(request, "param", None) or stack_specs(request.config)[0])


@pytest.fixture
def stress_clock() -> SimClock:
    """Simulated time: backoffs and 15-minute feed losses take no wall-clock time."""
    return SimClock(start=1_000.0)


@pytest.fixture
def event_bus() -> EventBus:
    return EventBus()


@pytest.fixture
def broker(stress_clock: SimClock) -> BrokerClient:
    """The broker the stack trades with (the in-process mock by default). Override it with your own
    adapter; the suite wraps it in ``BrokerFaults`` to inject the runbook's outages."""
    from pytest_stress.runbook.market import SUITE_PRICES  # the symbols the suite trades
    from pytest_stress.stack.broker import MockBroker

    return MockBroker(clock=stress_clock, prices=SUITE_PRICES)


@pytest.fixture
def stack_context(
    broker: BrokerClient, event_bus: EventBus, stress_clock: SimClock, tmp_path: Path
) -> StackContext:
    """What a factory (or an overridden ``oms`` fixture) builds on: build the OMS on ``.broker``."""
    from pytest_stress.stack.broker_faults import BrokerFaults

    log_dir = tmp_path / "stack-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    return StackContext(
        broker=BrokerFaults(broker, stress_clock), bus=event_bus, clock=stress_clock, log_dir=log_dir
    )


@pytest.fixture
def stress_stack_build(stress_stack_spec: str, stack_context: StackContext) -> TradingStack:
    """The stack the factory built; the part fixtures below hand out its parts."""
    try:
        return build_stack(stress_stack_spec, stack_context)
    except StackError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def strategy(stress_stack_build: TradingStack) -> Strategy:
    return stress_stack_build.strategy


@pytest.fixture
def oms(stress_stack_build: TradingStack) -> OMS:
    return stress_stack_build.oms


@pytest.fixture
def risk_governor(stress_stack_build: TradingStack) -> RiskGovernor:
    return stress_stack_build.risk_governor


@pytest.fixture
def drift_detector(stress_stack_build: TradingStack) -> DriftDetector:
    return stress_stack_build.drift_detector


@pytest.fixture
def trading_stack(
    stress_stack_build: TradingStack,
    stack_context: StackContext,
    strategy: Strategy,
    oms: OMS,
    risk_governor: RiskGovernor,
    drift_detector: DriftDetector,
) -> Iterator[TradingStack]:
    """The stack under test, assembled from the part fixtures, so overriding one of them in a
    ``conftest.py`` swaps that part and keeps the rest."""
    stack = dataclasses.replace(
        stress_stack_build,
        strategy=strategy,
        oms=oms,
        risk_governor=risk_governor,
        drift_detector=drift_detector,
        broker=stack_context.broker,
        bus=stack_context.bus,
        clock=stack_context.clock,
        log_dir=stack_context.log_dir,
    )
    yield stack
    for part in (stack.oms, stack.broker):
        close = getattr(part, "close", None)
        if callable(close):
            close()


@pytest.fixture
def broker_faults(trading_stack: TradingStack) -> BrokerFaults:
    """The fault injector between the stack's OMS and its broker."""
    from pytest_stress.stack.broker_faults import BrokerFaults

    if not isinstance(trading_stack.broker, BrokerFaults):
        pytest.skip(
            "the stack's broker is not the suite's BrokerFaults wrapper (build the OMS on "
            "stack_context.broker), so broker outages cannot be injected: not evaluated"
        )
    return trading_stack.broker


@pytest.fixture
def stress_measure(request: pytest.FixtureRequest):
    """``stress_measure(scenario, metric, value) -> Check``: judge a value the test measured against the
    scenario's ``expect:`` line for ``metric`` and record it for the certification report, where it
    completes that scenario's check (which a replay alone cannot measure). Thresholds stay in the YAML."""
    from pytest_stress.certify.checks import evaluate
    from pytest_stress.certify.session import MEASURE_PROPERTY
    from pytest_stress.plugin import scenario_dirs
    from pytest_stress.scenario import load_scenario

    def measure(scenario: str, metric: str, value: float | bool, *, optional: bool = False):
        """``optional``: a scenario without this expect: line is not an error; nothing is recorded (None)."""
        sc = load_scenario(scenario, scenario_dirs(request.config))
        expectation = sc.expectation(metric)
        if expectation is None and optional:
            return None
        if expectation is None:
            pytest.fail(
                f"{sc.source}: scenario {sc.name} has no expect: line for {metric}; the runbook suite "
                f"takes its threshold from there",
                pytrace=False,
            )
        (check,) = evaluate(sc.name, (expectation,), {metric: value})
        record = {**check.to_dict(), "nodeid": request.node.nodeid}
        request.node.user_properties.append((MEASURE_PROPERTY, record))
        return check

    return measure
