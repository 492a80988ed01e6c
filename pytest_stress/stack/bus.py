"""The event bus the stack's parts publish to, and the event types named as the runbooks name them.

Every decision that an operator would look for (a kill switch, a failed order, a drift alert) is an
event with a time and a reason; the runbook suite asserts on these events, never on log text alone.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class EventType(str, enum.Enum):
    KILL_SWITCH = "KILL_SWITCH"  # seed 002: the name operators grep for
    KILL_SWITCH_RESET = "KILL_SWITCH_RESET"  # reset_circuit: explicit, with who and why
    CIRCUIT_BREAKER = "CIRCUIT_BREAKER"  # drawdown breaker (5 % strategy, 10 % portfolio)
    ORDER_REJECTED = "ORDER_REJECTED"  # pre-trade check or broker refused
    ORDER_FAILED = "ORDER_FAILED"  # retries exhausted
    ALERT = "ALERT"  # something a human must look at (PagerDuty-grade)
    BROKER_DISCONNECTED = "BROKER_DISCONNECTED"
    BROKER_RECONNECTED = "BROKER_RECONNECTED"
    TRADING_PAUSED = "TRADING_PAUSED"
    TRADING_RESUMED = "TRADING_RESUMED"
    RECONCILIATION_MISMATCH = "RECONCILIATION_MISMATCH"
    DRIFT_ALERT = "DRIFT_ALERT"
    RESOURCE_ALERT = "RESOURCE_ALERT"
    DATA_FEED_LOSS = "DATA_FEED_LOSS"  # seed 001: no bars for > 15 min
    DATA_GAP = "DataGapDetected"  # seed 000's name for a sequence gap in the feed


@dataclass(frozen=True)
class StackEvent:
    type: EventType
    reason: str
    source: str = ""
    timestamp: float = 0.0  # seconds on the stack's clock
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "reason": self.reason,
            "source": self.source,
            "timestamp": self.timestamp,
            "data": dict(self.data),
        }


Handler = Callable[[StackEvent], None]


class EventBus:
    """In-process publish/subscribe that also keeps every event, so tests and reports can read them.

    A handler that raises does not stop the others or the publisher: safety events must always be
    delivered; the error is kept in ``handler_errors``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[StackEvent] = []
        self._handlers: dict[EventType | None, list[Handler]] = {}
        self.handler_errors: list[tuple[StackEvent, BaseException]] = []

    def publish(self, event: StackEvent) -> None:
        with self._lock:
            self._events.append(event)
            handlers = [*self._handlers.get(event.type, ()), *self._handlers.get(None, ())]
        for handler in handlers:
            try:
                handler(event)
            except Exception as exc:  # keep delivering: one broken listener must not hide a KILL_SWITCH
                self.handler_errors.append((event, exc))

    def subscribe(self, handler: Handler, event_type: EventType | None = None) -> None:
        """Call ``handler`` for every event of ``event_type`` (every event when None)."""
        with self._lock:
            self._handlers.setdefault(event_type, []).append(handler)

    @property
    def events(self) -> tuple[StackEvent, ...]:
        with self._lock:
            return tuple(self._events)

    def of_type(self, event_type: EventType) -> list[StackEvent]:
        return [e for e in self.events if e.type is event_type]

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
