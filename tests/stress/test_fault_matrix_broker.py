"""The fault matrix, broker row: the reference stack trades over FIX through Toxiproxy while the broker
path fails (seed 001 scenario 3, seed 004 day 4). Runbook durations are divided by --stress-time-scale;
recovery times are reported in runbook seconds, judged by broker_failure's expect: block."""

from __future__ import annotations

import time

import pytest

from pytest_stress.faults.fix_client import FixBrokerClient
from pytest_stress.options import time_scale
from pytest_stress.runbook.market import order
from pytest_stress.stack.bus import EventBus
from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.factory import StackContext
from pytest_stress.stack.model import Order, OrderStatus, Side
from pytest_stress.stack.protocols import BROKER_DISCONNECTED
from pytest_stress.stack.reference import make_reference_stack

# runbook seconds: seed 004's socket outage, "twice in one run"; 30 s rather than its 10 s so that, at the ci
# scale, an order sent into it exhausts its 4 attempts (4 x 0.5 s FIX timeout + backoff) before it ends
OUTAGE_1 = (10, 40)
OUTAGE_2 = (60, 90)
RECOVERY_WAIT_S = 60.0  # runbook seconds we wait for a recovery before calling it failed
# the broker prices fills from each scenario's stressed market as it replays
MATRIX_SCENARIOS = ("flash_crash_lite", "data_corruption_shock", "ftx_collapse_2022")
over_scenarios = pytest.mark.parametrize("stress_scenario", MATRIX_SCENARIOS, indirect=True)


def _symbol(broker_service) -> str:
    return broker_service.prices.frame.symbols[0]


def _buy(broker_service, qty: float) -> Order:
    return Order(_symbol(broker_service), Side.BUY, qty)


@pytest.fixture
def fix_stack(broker_service, tmp_path, request):
    """The reference stack with its OMS on a FIX client through the broker proxy, on the wall clock
    (sockets run in real time); the OMS's 0.5/1/2 s backoff is scaled like every runbook duration."""
    scale = time_scale(request.config)
    client = FixBrokerClient(broker_service.host, broker_service.port, timeout_s=0.5, reconnect_s=0.05)
    client.connect()
    ctx = StackContext(
        broker=client,
        bus=EventBus(),
        clock=WallClock(),
        log_dir=tmp_path,
        options={"oms": {"backoff_base_s": 0.5 / scale, "backoff_cap_s": 8.0 / scale}},
    )
    try:
        yield make_reference_stack(ctx)
    finally:
        client.close()


def _runbook_now(start: float, scale: float) -> float:
    return (time.monotonic() - start) * scale


def _wait_recovered(stack, scale: float) -> float:
    """Heartbeat until trading resumes; returns the real seconds it took."""
    t0 = time.monotonic()
    while stack.oms.status().trading_paused or stack.oms.status().broker == BROKER_DISCONNECTED:
        if time.monotonic() - t0 > RECOVERY_WAIT_S / scale:
            raise AssertionError("trading did not resume after the broker came back")
        stack.oms.heartbeat()
        time.sleep(0.01)
    return time.monotonic() - t0


def _sleep_until(start: float, runbook_s: float, scale: float) -> None:
    time.sleep(max(0.0, start + runbook_s / scale - time.monotonic()))


def _two_outages(mode: str, **kw):
    return [
        pytest.mark.inject_failure("broker", mode=mode, window=OUTAGE_1, **kw),
        pytest.mark.inject_failure("broker", mode=mode, window=OUTAGE_2, **kw),
    ]


@pytest.mark.parametrize(
    ("mode", "cause"),
    [
        pytest.param("outage", "connection", marks=_two_outages("outage"), id="disabled"),
        pytest.param("reset_peer", "connection", marks=_two_outages("reset_peer", value=0), id="reset_peer"),
        pytest.param("timeout", "timeout", marks=_two_outages("timeout", value=0), id="timeout"),
    ],
)
@over_scenarios
def test_two_broker_outages_in_one_run_are_survived(
    fix_stack, broker_service, stress_scenario, stress_measure, request, mode, cause
):
    """Seed 001 scenario 3 and seed 004 day 4, over FIX: two outages in one run (proxy disabled, peer
    reset, or a silent link); during each: FAILED after 3 retries naming the cause, trading paused,
    "Broker Disconnected", positions held; after each: recovery; nothing lost or duplicated, no breach."""
    scale, start = time_scale(request.config), time.monotonic()
    oms = fix_stack.oms
    assert oms.submit_order(_buy(broker_service, 10.0)).status is OrderStatus.FILLED
    survived, recoveries = 0, []
    for begin, end in (OUTAGE_1, OUTAGE_2):
        _sleep_until(start, begin + 2, scale)  # inside the outage
        held = dict(oms.positions())
        failed = oms.submit_order(_buy(broker_service, 5.0))
        if failed.status is OrderStatus.FAILED:  # the first order into the outage: retried, then failed
            assert failed.attempts == 4, failed
            assert cause in failed.reject_reason.lower(), failed.reject_reason
        else:  # the OMS had already seen the broker go: paused, nothing sent
            assert failed.status is OrderStatus.REJECTED, failed
        oms.heartbeat()  # the OMS's monitoring tick, as in production
        status = oms.status()
        assert status.trading_paused
        assert status.broker == BROKER_DISCONNECTED
        assert oms.positions() == held, "positions changed during the outage"
        _sleep_until(start, end, scale)
        recoveries.append(_wait_recovered(fix_stack, scale) * scale)
        assert oms.submit_order(_buy(broker_service, 1.0)).status is OrderStatus.FILLED
        survived += 1
    fills: dict[str, float] = {}
    for f in oms.fills():
        fills[f.symbol] = fills.get(f.symbol, 0.0) + f.signed_quantity
    at_broker = broker_service.service.positions()
    px = {f.symbol: f.price for f in oms.fills()}  # value each difference at the price it traded at
    error = sum(
        abs(at_broker.get(k, 0.0) - fills.get(k, 0.0)) * px.get(k, 0.0) for k in set(fills) | set(at_broker)
    )
    breaches = [e for e in fix_stack.bus.events if e.type.value in ("CIRCUIT_BREAKER", "KILL_SWITCH")]
    checks = [
        stress_measure("broker_failure", "broker_outages_survived", survived),
        stress_measure("broker_failure", "recovery_time_s", sum(recoveries) / len(recoveries)),  # the mean
        stress_measure("broker_failure", "portfolio_reconciliation_error", error),
        stress_measure("broker_failure", "breach_count", len(breaches)),
        stress_measure("broker_api_outage", "positions_held", True),
    ]
    assert all(c.passed for c in checks), "; ".join(c.line() for c in checks if not c.passed)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("latency", marks=pytest.mark.inject_failure("broker", mode="latency", value=200)),
        pytest.param("slow_close", marks=pytest.mark.inject_failure("broker", mode="slow_close", value=500)),
        pytest.param("bandwidth", marks=pytest.mark.inject_failure("broker", mode="bandwidth", value=2)),
        pytest.param(
            "slicer",
            marks=pytest.mark.inject_failure(
                "broker", mode="slicer", value=3, attributes={"size_variation": 2, "delay": 0}
            ),
        ),
    ],
)
@over_scenarios
def test_orders_fill_exactly_once_on_a_degraded_broker_path(
    fix_stack, broker_service, stress_scenario, fault
):
    """Broker latency (200 ms), slow close, a 2 KB/s bandwidth cap, messages split across reads: every
    order still fills once, and the broker's book equals the OMS's fills."""
    results = [fix_stack.oms.submit_order(_buy(broker_service, q)) for q in (3.0, 4.0)]
    assert [r.status for r in results] == [OrderStatus.FILLED, OrderStatus.FILLED], (fault, results)
    fix_stack.oms.heartbeat()
    assert broker_service.service.positions().get(_symbol(broker_service)) == pytest.approx(7.0)
    assert sum(f.signed_quantity for f in fix_stack.oms.fills()) == pytest.approx(7.0)


@pytest.fixture
def fix_stack_with_feed(broker_service, market_data_service, tmp_path, request):
    """The reference stack on FIX, with the feed adapter on the scenario's WebSocket feed: the OMS resumes
    after an outage only once the feed's data is fresher than 500 ms (seed 004)."""
    from pytest_stress.faults.feed_adapter import FeedAdapter

    scale = time_scale(request.config)
    bus = EventBus()
    adapter = FeedAdapter(market_data_service.url, bus=bus)
    adapter.start()
    client = FixBrokerClient(broker_service.host, broker_service.port, timeout_s=0.5, reconnect_s=0.05)
    client.connect()
    ctx = StackContext(
        broker=client,
        bus=bus,
        clock=WallClock(),
        log_dir=tmp_path,
        options={
            "oms": {
                "backoff_base_s": 0.5 / scale,
                "backoff_cap_s": 8.0 / scale,
                "market_data_age_ms": adapter.data_age_ms,
            }
        },
    )
    try:
        yield make_reference_stack(ctx), adapter
    finally:
        client.close()
        adapter.close()


@pytest.mark.inject_failure("broker", mode="outage", window=OUTAGE_1)
def test_recovery_waits_for_fresh_market_data(fix_stack_with_feed, stress_measure, request):
    """Seed 004 day 4: after the outage, trading resumes with market data fresher than 500 ms."""
    stack, adapter = fix_stack_with_feed
    scale, start = time_scale(request.config), time.monotonic()
    assert stack.oms.submit_order(order(qty=2.0)).status is OrderStatus.FILLED
    _sleep_until(start, OUTAGE_1[0] + 2, scale)
    assert stack.oms.submit_order(order(qty=1.0)).status in (OrderStatus.FAILED, OrderStatus.REJECTED)
    _sleep_until(start, OUTAGE_1[1], scale)
    _wait_recovered(stack, scale)
    age = stack.oms.resumed_at_data_age_ms
    assert age is not None, "trading resumed without the OMS reading the feed's age"
    check = stress_measure("broker_failure", "market_data_age_at_resume_ms", age)
    assert check.passed, check.line()
    assert adapter.book(), "no market data reached the stack"


@pytest.mark.stress_scenario("flash_crash_lite", symbols=3)
def test_fills_are_priced_from_the_replayed_market(broker_service, stress_scenario, tmp_path, request):
    """The broker prices fills from the scenario's stressed market as it replays, not from a fixed quote."""
    from pytest_stress.run.scenario import stressed_frame

    frame = stressed_frame(stress_scenario)[1]
    symbol = frame.symbols[0]
    client = FixBrokerClient(broker_service.host, broker_service.port, timeout_s=1.0)
    client.connect()
    try:
        ack = client.submit_order(Order(symbol, Side.BUY, 1.0))
        row = broker_service.prices.row()
        mids = 0.5 * (frame.bid[: row + 1, 0] + frame.ask[: row + 1, 0])
        assert ack.status is OrderStatus.FILLED
        assert mids.min() - 1e-9 <= ack.avg_price <= mids.max() + 1e-9
    finally:
        client.close()
