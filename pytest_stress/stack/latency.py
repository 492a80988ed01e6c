"""Execution's answer to a slow market-data feed (seed 000's fault matrix, WS latency 1-3 s): a DEGRADED
latency mode that throttles order submissions, widens slippage buffers and raises ``ws_latency_high``.

The guard watches the age of the freshest market data (``observe(age_ms)``, or the feed's stall events on
the bus); above ``lag_threshold_ms`` it enters DEGRADED, and it goes back to NORMAL once the data has been
fresher than half the threshold for ``recover_s``. Times come from the stack's clock.
"""

from __future__ import annotations

import enum
import threading

from pytest_stress.stack.bus import EventBus, EventType, StackEvent
from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.protocols import Clock

WS_LATENCY_HIGH = "ws_latency_high"  # the alert's name in seed 000's matrix


class ExecutionMode(str, enum.Enum):
    NORMAL = "NORMAL"
    DEGRADED = "DEGRADED"


class LatencyGuard:
    """``allow_submission()`` is the throttle (at most ``degraded_orders_per_s`` while DEGRADED);
    ``slippage_buffer_pct`` is what an execution algorithm adds to its limit prices (x ``widen``)."""

    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock | None = None,
        lag_threshold_ms: float = 1_000.0,
        recover_s: float = 1.0,
        degraded_orders_per_s: float = 1.0,
        base_slippage_pct: float = 0.1,
        widen: float = 3.0,
    ) -> None:
        if lag_threshold_ms <= 0 or degraded_orders_per_s <= 0 or widen < 1:
            raise ValueError("LatencyGuard: lag_threshold_ms and degraded_orders_per_s > 0, widen >= 1")
        self.bus, self.clock = bus, clock if clock is not None else WallClock()
        self.lag_threshold_ms, self.recover_s = float(lag_threshold_ms), float(recover_s)
        self.degraded_orders_per_s = float(degraded_orders_per_s)
        self.base_slippage_pct, self.widen = float(base_slippage_pct), float(widen)
        self.mode = ExecutionMode.NORMAL
        self.transitions: list[tuple[float, ExecutionMode]] = []
        self.throttled = 0
        self._fresh_since: float | None = None
        self._last_allowed = -float("inf")
        self._lock = threading.Lock()
        bus.subscribe(self._on_feed_loss, EventType.DATA_FEED_LOSS)

    @property
    def slippage_buffer_pct(self) -> float:
        return self.base_slippage_pct * (self.widen if self.mode is ExecutionMode.DEGRADED else 1.0)

    def observe(self, age_ms: float) -> None:
        """The age of the freshest market data, in ms (e.g. ``FeedAdapter.data_age_ms()``)."""
        now = self.clock.now()
        with self._lock:
            if age_ms > self.lag_threshold_ms:
                self._fresh_since = None
                self._enter(now, f"market data {age_ms:.0f} ms old > {self.lag_threshold_ms:.0f} ms")
                return
            if self.mode is ExecutionMode.DEGRADED and age_ms <= self.lag_threshold_ms / 2:
                self._fresh_since = now if self._fresh_since is None else self._fresh_since
                if now - self._fresh_since >= self.recover_s:
                    self._leave(now, age_ms)

    def allow_submission(self) -> bool:
        """False when a DEGRADED execution must hold this order back (the throttle)."""
        now = self.clock.now()
        with self._lock:
            if self.mode is ExecutionMode.NORMAL:
                return True
            if now - self._last_allowed >= 1.0 / self.degraded_orders_per_s:
                self._last_allowed = now
                return True
            self.throttled += 1
            return False

    def _on_feed_loss(self, event: StackEvent) -> None:
        if event.data.get("market_halt") == "DELAY" or "stall" in event.reason.lower():
            with self._lock:
                self._fresh_since = None
                self._enter(self.clock.now(), f"feed stalled: {event.reason}")

    def _enter(self, now: float, why: str) -> None:
        if self.mode is ExecutionMode.DEGRADED:
            return
        self.mode = ExecutionMode.DEGRADED
        self.transitions.append((now, self.mode))
        reason = f"{WS_LATENCY_HIGH}: DEGRADED latency mode ({why})"
        data = {"kind": WS_LATENCY_HIGH, "mode": self.mode.value}
        self.bus.publish(StackEvent(EventType.ALERT, reason, "execution", now, data))

    def _leave(self, now: float, age_ms: float) -> None:
        self.mode = ExecutionMode.NORMAL
        self.transitions.append((now, self.mode))
        self._fresh_since = None
        reason = f"latency back to normal ({age_ms:.0f} ms old data): NORMAL mode"
        data = {"kind": "ws_latency_normal", "mode": self.mode.value}
        self.bus.publish(StackEvent(EventType.ALERT, reason, "execution", now, data))
