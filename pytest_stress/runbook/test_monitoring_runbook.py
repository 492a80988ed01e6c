"""Runbook seed 001, what monitoring must notice: data feed loss (no bars for more than 15 minutes) and
resource exhaustion (signal generation over 1 s, memory over 80 % of the limit)."""

from __future__ import annotations

import pytest

from pytest_stress.runbook.market import walk
from pytest_stress.stack.bus import EventType

pytestmark = pytest.mark.stress

FEED_LOSS_S = 15 * 60  # "No new bars received for > 15 minutes"
SIGNAL_TIME_LIMIT_S = 1.0  # scenario 5: "Signal generation time > 1 second"
MEMORY_ALERT_FRACTION = 0.8  # scenario 5: "Memory usage > 80% of limit"


def _monitor(stack):
    if stack.feed_monitor is None:
        pytest.skip("the stack has no feed monitor: data feed loss is not evaluated")
    return stack.feed_monitor


def _guard(stack):
    if stack.resource_guard is None:
        pytest.skip("the stack has no resource guard: resource exhaustion alerts are not evaluated")
    return stack.resource_guard


def test_no_bars_for_15_minutes_raises_a_feed_loss_alert(trading_stack):
    """Data Feed Loss: "When: No new bars received for > 15 minutes". Runs on the stack's clock, so the
    real 15 minutes are checked in simulated time."""
    monitor, clock = _monitor(trading_stack), trading_stack.clock
    monitor.on_bar(walk("SPY", 1)[0])
    clock.advance(FEED_LOSS_S - 1)
    assert not monitor.check(), "feed loss raised before 15 minutes of silence"
    clock.advance(2)
    raised = monitor.check()
    assert [e.type for e in raised] == [EventType.DATA_FEED_LOSS]
    assert trading_stack.bus.of_type(EventType.DATA_FEED_LOSS)


def test_feed_loss_alerts_once_and_rearms_on_the_next_bar(trading_stack):
    """One alert per loss, not one per check; a bar ends the loss and the next silence alerts again."""
    monitor, clock = _monitor(trading_stack), trading_stack.clock
    bars = walk("SPY", 2)
    monitor.on_bar(bars[0])
    clock.advance(FEED_LOSS_S + 1)
    assert len(monitor.check()) == 1
    clock.advance(60)
    assert monitor.check() == []
    monitor.on_bar(bars[1])
    clock.advance(FEED_LOSS_S + 1)
    assert len(monitor.check()) == 1


def test_slow_signal_generation_raises_a_resource_alert(trading_stack):
    """Scenario 5 monitoring: alert when signal generation takes over 1 s."""
    guard = _guard(trading_stack)
    assert guard.observe(signal_seconds=SIGNAL_TIME_LIMIT_S * 0.9, memory_bytes=0) == []
    raised = guard.observe(signal_seconds=SIGNAL_TIME_LIMIT_S * 1.1, memory_bytes=0)
    assert [e.type for e in raised] == [EventType.RESOURCE_ALERT]


def test_memory_over_80pct_of_the_limit_raises_a_resource_alert(trading_stack):
    """Scenario 5 monitoring: "Memory usage > 80% of limit"."""
    guard = _guard(trading_stack)
    limit = guard.memory_limit_bytes
    assert guard.observe(signal_seconds=0.0, memory_bytes=int(limit * (MEMORY_ALERT_FRACTION - 0.05))) == []
    raised = guard.observe(signal_seconds=0.0, memory_bytes=int(limit * (MEMORY_ALERT_FRACTION + 0.05)))
    assert [e.type for e in raised] == [EventType.RESOURCE_ALERT]
