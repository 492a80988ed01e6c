"""The reference watchdogs against seed 001: scenario 5 (line 315: memory usage > 80 % of the limit;
line 316: signal generation time > 1 second) and "Data Feed Loss" (line 366: no new bars for > 15
minutes). Each breach alerts once and again only after the reading came back within its limit.
"""

from __future__ import annotations

import pytest

from pytest_stress.stack.bus import EventBus, EventType
from pytest_stress.stack.clock import SimClock
from pytest_stress.stack.guards import ReferenceFeedMonitor, ReferenceResourceGuard
from pytest_stress.stack.model import Bar
from pytest_stress.stack.protocols import FeedMonitor, ResourceGuard

GIB = 1 << 30
QUIET_MEMORY = GIB // 2  # 50 % of the limit
BAR = Bar("SPY", 1_767_225_600_000_000_000, 450.0, 451.0, 449.0, 450.5, 1_000.0)  # 2026-01-01T00:00Z


@pytest.fixture
def bus():
    return EventBus()


@pytest.fixture
def clock():
    return SimClock(start=1_000.0)


@pytest.fixture
def guard(bus, clock):
    return ReferenceResourceGuard(bus=bus, clock=clock, memory_limit_bytes=GIB)


def test_the_watchdogs_implement_their_protocols(bus, clock, guard):
    assert isinstance(guard, ResourceGuard)
    assert isinstance(ReferenceFeedMonitor(bus=bus, clock=clock), FeedMonitor)


def test_a_signal_generation_of_1_01_s_alerts_and_1_s_does_not(guard, bus):
    assert guard.observe(signal_seconds=1.0, memory_bytes=QUIET_MEMORY) == []
    (event,) = guard.observe(signal_seconds=1.01, memory_bytes=QUIET_MEMORY)
    assert event.type is EventType.RESOURCE_ALERT
    assert event.data["kind"] == "signal_time"
    assert event.reason == "Signal generation took 1.010 s, over the 1 s limit"
    assert event.timestamp == 1_000.0
    assert bus.events == (event,)


def test_memory_at_81_percent_of_the_limit_alerts_and_80_percent_does_not(guard):
    assert guard.observe(signal_seconds=0.1, memory_bytes=int(0.80 * GIB)) == []
    (event,) = guard.observe(signal_seconds=0.1, memory_bytes=int(0.81 * GIB))
    assert event.data["kind"] == "memory"
    assert "81.0% of the limit" in event.reason


def test_a_lasting_breach_alerts_once_and_rearms_once_back_under_the_limit(guard, bus):
    alerts = [len(guard.observe(signal_seconds=s, memory_bytes=QUIET_MEMORY)) for s in (1.5, 2.0, 3.0)]
    assert alerts == [1, 0, 0]
    assert guard.observe(signal_seconds=0.2, memory_bytes=QUIET_MEMORY) == []
    assert len(guard.observe(signal_seconds=1.2, memory_bytes=QUIET_MEMORY)) == 1
    assert len(bus.of_type(EventType.RESOURCE_ALERT)) == 2


def test_both_breaches_in_one_reading_raise_one_alert_each(guard):
    events = guard.observe(signal_seconds=1.5, memory_bytes=int(0.9 * GIB))
    assert [e.data["kind"] for e in events] == ["signal_time", "memory"]


def test_a_memory_limit_must_be_positive(bus):
    with pytest.raises(ValueError, match="memory_limit_bytes must be positive"):
        ReferenceResourceGuard(bus=bus, memory_limit_bytes=0)


def test_the_feed_monitor_alerts_after_15_minutes_and_1_second_once(bus, clock):
    monitor = ReferenceFeedMonitor(bus=bus, clock=clock)
    monitor.on_bar(BAR)
    clock.advance(900.0)
    assert monitor.check() == []  # exactly 15 minutes is not "more than 15 minutes"
    clock.advance(1.0)
    (event,) = monitor.check()
    assert event.type is EventType.DATA_FEED_LOSS
    assert event.reason == "No new bars for 15.0 min (limit 15 min); last bar: SPY at 2026-01-01T00:00:00Z"
    assert event.timestamp == 1_901.0
    clock.advance(3_600.0)
    assert monitor.check() == []  # still the same loss: one alert
    assert len(bus.of_type(EventType.DATA_FEED_LOSS)) == 1


def test_a_new_bar_rearms_the_feed_monitor(bus, clock):
    monitor = ReferenceFeedMonitor(bus=bus, clock=clock)
    monitor.on_bar(BAR)
    clock.advance(901.0)
    assert len(monitor.check()) == 1
    monitor.on_bar(BAR)
    clock.advance(600.0)
    assert monitor.check() == []  # 10 minutes after the new bar
    clock.advance(301.0)
    assert len(monitor.check()) == 1
    assert len(bus.of_type(EventType.DATA_FEED_LOSS)) == 2


def test_before_the_first_bar_the_silence_counts_from_construction(bus, clock):
    clock.advance(5_000.0)
    monitor = ReferenceFeedMonitor(bus=bus, clock=clock)
    clock.advance(900.0)
    assert monitor.check() == []
    clock.advance(1.0)
    (event,) = monitor.check()
    assert event.reason.endswith("no bar received since the monitor started")
