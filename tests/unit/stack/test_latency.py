"""The DEGRADED latency mode of execution (seed 000, fault matrix: WS latency 1-3 s)."""

from __future__ import annotations

from pytest_stress.stack.bus import EventBus, EventType, StackEvent
from pytest_stress.stack.clock import SimClock
from pytest_stress.stack.latency import WS_LATENCY_HIGH, ExecutionMode, LatencyGuard


def _guard():
    clock, bus = SimClock(), EventBus()
    return LatencyGuard(bus=bus, clock=clock, degraded_orders_per_s=1.0, widen=3.0), clock, bus


def test_stale_data_enters_degraded_mode_with_one_ws_latency_high_alert():
    guard, _, bus = _guard()
    guard.observe(200.0)
    assert guard.mode is ExecutionMode.NORMAL
    guard.observe(1_500.0)
    guard.observe(2_500.0)
    assert guard.mode is ExecutionMode.DEGRADED
    alerts = [e for e in bus.of_type(EventType.ALERT) if e.data.get("kind") == WS_LATENCY_HIGH]
    assert len(alerts) == 1


def test_degraded_mode_throttles_submissions_and_widens_slippage():
    guard, clock, _ = _guard()
    assert guard.slippage_buffer_pct == 0.1
    guard.observe(1_500.0)
    assert abs(guard.slippage_buffer_pct - 0.3) < 1e-12
    allowed = [guard.allow_submission() for _ in range(5)]
    assert allowed == [True, False, False, False, False]
    clock.advance(1.0)
    assert guard.allow_submission()
    assert guard.throttled == 4


def test_normal_mode_returns_only_after_fresh_data_for_recover_s():
    guard, clock, _ = _guard()
    guard.observe(1_500.0)
    guard.observe(100.0)
    clock.advance(0.5)
    guard.observe(100.0)
    assert guard.mode is ExecutionMode.DEGRADED
    clock.advance(0.6)
    guard.observe(100.0)
    assert guard.mode is ExecutionMode.NORMAL
    assert guard.allow_submission()
    assert guard.allow_submission()


def test_a_feed_stall_event_enters_degraded_mode():
    guard, _, bus = _guard()
    bus.publish(
        StackEvent(EventType.DATA_FEED_LOSS, "no message for 1.2 s", "feed", 0.0, {"market_halt": "DELAY"})
    )
    assert guard.mode is ExecutionMode.DEGRADED


def test_the_oms_holds_back_orders_the_throttle_refuses():
    from pytest_stress.stack.broker import MockBroker
    from pytest_stress.stack.governor import ReferenceRiskGovernor
    from pytest_stress.stack.model import Order, OrderStatus, Side
    from pytest_stress.stack.oms import ReferenceOMS

    guard, clock, bus = _guard()
    broker = MockBroker(clock=clock, prices={"SPY": 100.0})
    oms = ReferenceOMS(
        broker, ReferenceRiskGovernor(bus=bus, clock=clock), bus=bus, clock=clock, latency_guard=guard
    )
    guard.observe(2_000.0)
    first, second = (oms.submit_order(Order("SPY", Side.BUY, 1.0)) for _ in range(2))
    assert first.status is OrderStatus.FILLED
    assert second.status is OrderStatus.REJECTED
    assert "DEGRADED latency mode" in second.reject_reason
    assert len(broker.received) == 1
