"""A fault-injecting wrapper around any ``BrokerClient``: the runbook suite's way to put seed 001's broker
outage (timeouts, disconnects, rejects, a position mismatch) in front of a user's broker and record every try.

Faults act on submissions only; ``get_positions``, ``poll_fills`` and ``cancel_order`` fail only while
disconnected, and ``tamper_positions`` changes what ``get_positions`` reports, never the inner broker.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pytest_stress.stack.model import BrokerAck, ConnectionState, Fill, Order, OrderStatus
from pytest_stress.stack.protocols import BrokerClient, Clock


class FaultMode(str, enum.Enum):
    NONE = "NONE"
    TIMEOUT = "TIMEOUT"  # submit raises TimeoutError before the inner broker sees the order
    TIMEOUT_AFTER_ACCEPT = "TIMEOUT_AFTER_ACCEPT"  # the inner broker took the order; its answer is lost
    DISCONNECT = "DISCONNECT"  # connection_state DISCONNECTED; every call raises ConnectionError
    REJECT = "REJECT"  # the broker refuses with a reason, the inner broker is not called


class Outcome(str, enum.Enum):
    """What became of one submission attempt."""

    ACKED = "ACKED"  # the inner broker answered and the answer reached the caller
    TIMEOUT = "TIMEOUT"
    TIMEOUT_AFTER_ACCEPT = "TIMEOUT_AFTER_ACCEPT"
    DISCONNECTED = "DISCONNECTED"
    REJECTED = "REJECTED"  # by the injected fault
    ERROR = "ERROR"  # the inner broker raised

    @property
    def reached_broker(self) -> bool:
        return self in (Outcome.ACKED, Outcome.TIMEOUT_AFTER_ACCEPT, Outcome.ERROR)


@dataclass(frozen=True)
class Attempt:
    client_order_id: str
    time: float  # clock.now() when the attempt was made
    outcome: Outcome
    flags: frozenset[str] = frozenset()  # the names of the record_flag predicates that were true
    ack_status: OrderStatus | None = None  # the inner broker's answer, when it gave one

    @property
    def reached_broker(self) -> bool:
        return self.outcome.reached_broker


class BrokerFaults:
    """``protocols.BrokerClient`` around ``inner``, with injectable faults.

    Each fault lasts ``times`` submission attempts (then clears by itself) or, with ``times=None``, until
    ``restore()``; setting one replaces the previous. ``disconnect()`` and ``connect()`` are the protocol's
    methods: they inject and clear the disconnect fault (``connect`` also connects ``inner`` if it is not).
    """

    def __init__(self, inner: BrokerClient, clock: Clock) -> None:
        self.inner = inner
        self.clock = clock
        self._lock = threading.RLock()
        self._mode = FaultMode.NONE
        self._remaining: int | None = None
        self._reject_reason = ""
        self._tamper: dict[str, float] = {}
        self._flags: dict[str, Callable[[], bool]] = {}
        self.attempts: list[Attempt] = []

    # -- faults -----------------------------------------------------------------------------------
    @property
    def mode(self) -> FaultMode:
        with self._lock:
            return self._mode

    def timeout(self, times: int | None = None) -> None:
        self._set(FaultMode.TIMEOUT, times)

    def timeout_after_accept(self, times: int | None = None) -> None:
        self._set(FaultMode.TIMEOUT_AFTER_ACCEPT, times)

    def disconnect(self, times: int | None = None) -> None:
        self._set(FaultMode.DISCONNECT, times)

    def reject(self, reason: str = "rejected by broker (injected fault)", times: int | None = None) -> None:
        self._set(FaultMode.REJECT, times, reason)

    def tamper_positions(self, deltas: Mapping[str, float]) -> None:
        """From now on ``get_positions`` reports the inner positions plus ``deltas`` (replacing earlier ones)."""
        with self._lock:
            self._tamper = {s: float(d) for s, d in deltas.items()}

    def restore(self) -> None:
        """Clear every fault and any tampering."""
        with self._lock:
            self._mode, self._remaining, self._reject_reason = FaultMode.NONE, None, ""
            self._tamper = {}

    def connect(self) -> None:
        with self._lock:
            if self._mode is FaultMode.DISCONNECT:
                self._mode, self._remaining = FaultMode.NONE, None
        if self.inner.connection_state is not ConnectionState.CONNECTED:
            self.inner.connect()

    def _set(self, mode: FaultMode, times: int | None, reason: str = "") -> None:
        if times is not None and times < 1:
            raise ValueError(f"BrokerFaults: times must be >= 1 or None (until restore), got {times}")
        with self._lock:
            self._mode, self._remaining, self._reject_reason = mode, times, reason

    # -- recording --------------------------------------------------------------------------------
    def record_flag(self, name: str, predicate: Callable[[], bool]) -> None:
        """Evaluate ``predicate`` at every attempt and tag the attempt with ``name`` when it is true."""
        with self._lock:
            self._flags[name] = predicate

    def attempts_for(self, client_order_id: str) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.client_order_id == client_order_id]

    def attempts_while(self, flag: str) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if flag in a.flags]

    def true_positions(self) -> dict[str, float]:
        """The inner broker's positions, untampered (raises if the inner broker is unreachable)."""
        return dict(self.inner.get_positions())

    # -- BrokerClient -----------------------------------------------------------------------------
    @property
    def connection_state(self) -> ConnectionState:
        with self._lock:
            if self._mode is FaultMode.DISCONNECT:
                return ConnectionState.DISCONNECTED
        return self.inner.connection_state

    def submit_order(self, order: Order) -> BrokerAck:
        cid = order.client_order_id
        with self._lock:
            mode, reason = self._mode, self._reject_reason
            if self._remaining is not None:
                self._remaining -= 1
                if self._remaining <= 0:
                    self._mode, self._remaining = FaultMode.NONE, None
            flags = frozenset(n for n, pred in self._flags.items() if pred())
        now = self.clock.now()
        if mode is FaultMode.TIMEOUT:
            self._record(Attempt(cid, now, Outcome.TIMEOUT, flags))
            raise TimeoutError("API timeout")
        if mode is FaultMode.DISCONNECT:
            self._record(Attempt(cid, now, Outcome.DISCONNECTED, flags))
            raise ConnectionError("broker disconnected")
        if mode is FaultMode.REJECT:
            self._record(Attempt(cid, now, Outcome.REJECTED, flags, OrderStatus.REJECTED))
            return BrokerAck(cid, "", OrderStatus.REJECTED, reject_reason=reason)
        try:
            ack = self.inner.submit_order(order)
        except Exception:
            self._record(Attempt(cid, now, Outcome.ERROR, flags))
            raise
        if mode is FaultMode.TIMEOUT_AFTER_ACCEPT:
            self._record(Attempt(cid, now, Outcome.TIMEOUT_AFTER_ACCEPT, flags, ack.status))
            raise TimeoutError("API timeout")
        self._record(Attempt(cid, now, Outcome.ACKED, flags, ack.status))
        return ack

    def cancel_order(self, client_order_id: str) -> BrokerAck:
        self._require_connection()
        return self.inner.cancel_order(client_order_id)

    def get_positions(self) -> dict[str, float]:
        self._require_connection()
        positions = dict(self.inner.get_positions())
        with self._lock:
            for symbol, delta in self._tamper.items():
                positions[symbol] = positions.get(symbol, 0.0) + delta
        return positions

    def poll_fills(self) -> list[Fill]:
        # Never poll the inner broker while "disconnected": the fills it returned would be lost, and the
        # runbook requires fills of working orders to be collected after the reconnect.
        self._require_connection()
        return list(self.inner.poll_fills())

    def _require_connection(self) -> None:
        if self.mode is FaultMode.DISCONNECT:
            raise ConnectionError("broker disconnected")

    def _record(self, attempt: Attempt) -> None:
        with self._lock:
            self.attempts.append(attempt)
