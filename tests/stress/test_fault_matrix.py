"""The fault matrix over real sockets (seed 000's Fault-Injection Matrix, seed 001 data feed loss): each
scenario's stressed market streams over a WebSocket behind Toxiproxy, a fault is injected, and the stack's
feed adapter must respond as the runbooks expect. Durations are runbook seconds / --stress-time-scale."""

from __future__ import annotations

import time

import pytest

from pytest_stress.faults.feed_adapter import FeedAdapter, MarketHalt
from pytest_stress.faults.services import market_data_service as serve
from pytest_stress.options import time_scale
from pytest_stress.run.scenario import stressed_frame
from pytest_stress.scenario import load_scenario
from pytest_stress.stack.bus import EventBus, EventType
from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.latency import WS_LATENCY_HIGH, ExecutionMode, LatencyGuard

# seed 002's hourly shock, seed 003's bad data, seed 000's FTX collapse (a reconstruction, 1-minute ticks)
SCENARIOS = ("flash_crash_lite", "data_corruption_shock", "ftx_collapse_2022")
STREAM_TICKS = 100  # ticks of each scenario streamed per cell ...
TICK_S = 0.02  # ... one every 20 ms of wall time, whatever the scenario's tick (fault windows are scaled)
STALL_S = 1.0  # seed 000: "a stall longer than 1 s -> cached book and MarketHalt.DELAY"
GAP_FILL_TOLERANCE = 10  # ticks forward-filled at most


@pytest.fixture(params=SCENARIOS)
def matrix_scenario(request):
    return load_scenario(request.param)


@pytest.fixture
def matrix_frame(matrix_scenario):
    frame = stressed_frame(matrix_scenario)[1]
    return frame.rows(0, min(frame.n_ticks, STREAM_TICKS))


@pytest.fixture
def market_data_service(toxiproxy, matrix_scenario, matrix_frame):
    pace = matrix_scenario.market.tick_ms / 1000 / TICK_S
    with serve(toxiproxy.client, matrix_frame, time_scale=pace) as service:
        yield service


def _consume(service, bus: EventBus, scale: float) -> FeedAdapter:
    """Read the whole stream through the proxy (started inside the test, so the fault is already on)."""
    adapter = FeedAdapter(service.url, bus=bus, stall_s=STALL_S, gap_fill_tolerance=GAP_FILL_TOLERANCE)
    adapter.start()
    try:
        assert adapter.wait_finished(timeout=STREAM_TICKS * TICK_S + 60.0 / scale + 20.0), (
            "the feed never finished"
        )
    finally:
        adapter.close()
    return adapter


def _complete(adapter: FeedAdapter, frame) -> None:
    """Every tick of the frame reached the tape, in order, once (filled rows count)."""
    ticks = [row.tick for row in adapter.tape()]
    assert ticks == sorted(set(ticks)), "ticks out of order or repeated on the tape"
    expected = list(range(frame.start_tick, frame.start_tick + frame.n_ticks))
    missing = sorted(set(expected) - set(ticks))
    return missing


@pytest.mark.inject_failure("market_data", mode="drop", value=2)
def test_market_data_gaps_are_detected_and_flagged(
    market_data_service, matrix_frame, stress_measure, request
):
    """Gaps -> forward fill within tolerance, degraded flag, DataGapDetected, a gap counter."""
    bus = EventBus()
    adapter = _consume(market_data_service, bus, time_scale(request.config))
    gaps = bus.of_type(EventType.DATA_GAP)
    check = stress_measure("missing_data", "data_gap_events", len(gaps))  # seed 000: DataGapDetected
    assert check.passed, check.line()
    assert len(gaps) == adapter.stats.gaps
    assert adapter.degraded
    assert adapter.stats.filled <= GAP_FILL_TOLERANCE * adapter.stats.gaps


@pytest.mark.inject_failure("market_data", mode="reorder", rate=0.1)
def test_reordered_market_data_is_restored_or_replayed(market_data_service, matrix_frame, request):
    """10 % reorder -> restored order, or quarantine + replay from checkpoint, never a crash."""
    bus = EventBus()
    adapter = _consume(market_data_service, bus, time_scale(request.config))
    assert adapter.stats.reordered + adapter.stats.quarantined > 0, "no reordering reached the adapter"
    assert _complete(adapter, matrix_frame) == []


@pytest.mark.inject_failure("market_data", mode="latency", value=1500, window=(5, 30))
def test_ws_latency_spike_degrades_execution_and_serves_the_cached_book(
    market_data_service, matrix_scenario, matrix_frame, stress_measure, request
):
    """WS latency 1-3 s -> a stall over 1 s: cached book and MarketHalt.DELAY; execution enters DEGRADED
    latency mode (throttled submissions, wider slippage buffers) and ws_latency_high fires within 60 s."""
    scale, started = time_scale(request.config), time.monotonic()
    bus = EventBus()
    guard = LatencyGuard(bus=bus, clock=WallClock(), lag_threshold_ms=STALL_S * 1000)
    served: list[bool] = []
    seen_degraded: list[tuple[list[bool], float]] = []
    adapter = FeedAdapter(
        market_data_service.url, bus=bus, stall_s=STALL_S, gap_fill_tolerance=GAP_FILL_TOLERANCE
    )
    bus.subscribe(lambda e: served.append(bool(adapter.book())), EventType.DATA_FEED_LOSS)
    adapter.start()
    try:
        deadline = time.monotonic() + STREAM_TICKS * TICK_S + 60.0 / scale + 20.0
        while not adapter.wait_finished(timeout=0.02):
            assert time.monotonic() < deadline, "the feed never finished"
            guard.observe(adapter.data_age_ms())
            if guard.mode is ExecutionMode.DEGRADED and not seen_degraded:
                seen_degraded.append(
                    ([guard.allow_submission() for _ in range(5)], guard.slippage_buffer_pct)
                )
        for _ in range(100):  # fresh data again: back to NORMAL after recover_s
            guard.observe(adapter.data_age_ms() if not adapter.wait_finished(0) else 0.0)
            if guard.mode is ExecutionMode.NORMAL:
                break
            time.sleep(0.02)
    finally:
        adapter.close()
    for metric, value in (
        ("market_halt_delay_triggered", bool(adapter.halts)),
        (
            "cached_book_fallback_used",
            bool(served) and all(served),
        ),  # the book was there when the feed stalled
    ):
        check = stress_measure(matrix_scenario.name, metric, value, optional=True)
        assert check is None or check.passed, check.line()
    assert adapter.halts, "no MarketHalt.DELAY during a 1.5 s latency spike"
    assert all(end is not None for _, end in adapter.halts), "DELAY never cleared"
    assert adapter.market_halt is MarketHalt.NONE
    assert seen_degraded, "execution never entered DEGRADED latency mode"
    ((allowed, buffer_pct),) = seen_degraded
    assert allowed.count(True) == 1, f"submissions not throttled in DEGRADED mode: {allowed}"
    assert buffer_pct > guard.base_slippage_pct, "slippage buffer not widened"
    alerts = [e for e in bus.of_type(EventType.ALERT) if e.data.get("kind") == WS_LATENCY_HIGH]
    assert alerts, "no ws_latency_high alert"
    spike_start = started + 5 / scale
    assert alerts[0].timestamp - spike_start <= 60.0 / scale, "ws_latency_high later than 60 s (scaled)"
    assert guard.mode is ExecutionMode.NORMAL, "execution stayed DEGRADED after the feed recovered"
    assert _complete(adapter, matrix_frame) == []


@pytest.mark.inject_failure("market_data", mode="outage", window=(5, 25))
def test_market_data_outage_is_survived_by_reconnecting(market_data_service, matrix_frame, request):
    """Feed loss (proxy down) -> detected, the adapter reconnects when it is back, nothing is lost."""
    bus = EventBus()
    adapter = _consume(market_data_service, bus, time_scale(request.config))
    assert adapter.stats.reconnects >= 1
    assert bus.of_type(EventType.DATA_FEED_LOSS)
    assert _complete(adapter, matrix_frame) == []
