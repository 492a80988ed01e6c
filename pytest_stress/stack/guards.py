"""Reference watchdogs of seed 001: the resource guard (scenario 5: a signal generation over 1 s, memory
over 80 % of the limit) and the feed monitor ("Data Feed Loss": no new bar for more than 15 minutes).

Both raise an alert once when a limit is breached and again only after the reading came back within it,
so a slow minute is one page for the operator, not one per check.
"""

from __future__ import annotations

import datetime as dt

from pytest_stress.stack.bus import EventBus, EventType, StackEvent
from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.model import Bar
from pytest_stress.stack.protocols import Clock

SIGNAL_TIME = "signal_time"
MEMORY = "memory"


class ReferenceResourceGuard:
    """``protocols.ResourceGuard``: RESOURCE_ALERT when ``signal_seconds > signal_time_limit_s`` or
    ``memory_bytes > memory_alert_fraction x memory_limit_bytes``; ``data["kind"]`` says which."""

    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock | None = None,
        signal_time_limit_s: float = 1.0,
        memory_limit_bytes: int,
        memory_alert_fraction: float = 0.8,
    ) -> None:
        if memory_limit_bytes <= 0:
            raise ValueError(f"memory_limit_bytes must be positive, got {memory_limit_bytes}")
        if not 0.0 < memory_alert_fraction <= 1.0:
            raise ValueError(f"memory_alert_fraction must be in (0, 1], got {memory_alert_fraction}")
        self.bus = bus
        self.clock = clock if clock is not None else WallClock()
        self.signal_time_limit_s = float(signal_time_limit_s)
        self.memory_limit_bytes = int(memory_limit_bytes)
        self.memory_alert_fraction = float(memory_alert_fraction)
        self._breached: set[str] = set()

    def observe(self, *, signal_seconds: float, memory_bytes: int) -> list[StackEvent]:
        """Check one reading of each; answer (and publish) the alerts it raised."""
        memory_limit = self.memory_alert_fraction * self.memory_limit_bytes
        checks = (
            (
                SIGNAL_TIME,
                signal_seconds > self.signal_time_limit_s,
                f"Signal generation took {signal_seconds:.3f} s, over the {self.signal_time_limit_s:g} s limit",
                {"signal_seconds": signal_seconds, "limit_s": self.signal_time_limit_s},
            ),
            (
                MEMORY,
                memory_bytes > memory_limit,
                f"Memory usage {memory_bytes / self.memory_limit_bytes:.1%} of the limit "
                f"({memory_bytes} of {self.memory_limit_bytes} bytes), over {self.memory_alert_fraction:.0%}",
                {"memory_bytes": memory_bytes, "limit_bytes": self.memory_limit_bytes},
            ),
        )
        events = []
        for kind, breached, reason, data in checks:
            if not breached:
                self._breached.discard(kind)  # back within the limit: the next breach alerts again
            elif kind not in self._breached:
                self._breached.add(kind)
                event = StackEvent(
                    EventType.RESOURCE_ALERT,
                    reason=reason,
                    source="resource_guard",
                    timestamp=self.clock.now(),
                    data={"kind": kind, **data},
                )
                self.bus.publish(event)
                events.append(event)
        return events


class ReferenceFeedMonitor:
    """``protocols.FeedMonitor``: DATA_FEED_LOSS once when no bar arrived for more than ``max_silence_s``
    seconds of ``clock`` time (before the first bar, counted from construction); a new bar re-arms it."""

    def __init__(self, *, bus: EventBus, clock: Clock, max_silence_s: float = 900.0) -> None:
        self.bus = bus
        self.clock = clock
        self.max_silence_s = float(max_silence_s)
        self._last_seen = clock.now()
        self._last_bar: Bar | None = None
        self._alerted = False

    def on_bar(self, bar: Bar) -> None:
        self._last_seen = self.clock.now()
        self._last_bar = bar
        self._alerted = False

    def check(self) -> list[StackEvent]:
        now = self.clock.now()
        silence = now - self._last_seen
        if self._alerted or silence <= self.max_silence_s:
            return []
        self._alerted = True
        event = StackEvent(
            EventType.DATA_FEED_LOSS,
            reason=(
                f"No new bars for {silence / 60:.1f} min (limit {self.max_silence_s / 60:g} min); "
                f"{self._describe_last_bar()}"
            ),
            source="feed_monitor",
            timestamp=now,
            data={"silence_s": silence, "last_symbol": self._last_bar.symbol if self._last_bar else None},
        )
        self.bus.publish(event)
        return [event]

    def _describe_last_bar(self) -> str:
        bar = self._last_bar
        if bar is None:
            return "no bar received since the monitor started"
        when = dt.datetime.fromtimestamp(bar.timestamp_ns / 1e9, tz=dt.timezone.utc)
        return f"last bar: {bar.symbol} at {when.isoformat().replace('+00:00', 'Z')}"
