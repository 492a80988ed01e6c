"""The reference order management system: pre-trade gating, retries with backoff, the trading pause, cached
positions and reconciliation, exactly as seed 001 scenario 3 and its Emergency Procedures describe them.

The runbook suite asserts these semantics against any stack; ``ReferenceOMS``'s docstring is their spec.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_stress.stack.bus import EventBus, EventType, StackEvent
from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.model import (
    BrokerAck,
    ConnectionState,
    Fill,
    Order,
    OrderResult,
    OrderStatus,
    PortfolioSnapshot,
)
from pytest_stress.stack.protocols import (
    BROKER_CONNECTED,
    BROKER_DISCONNECTED,
    BrokerClient,
    Clock,
    OMSStatus,
    ReconciliationReport,
    RiskGovernor,
)

SOURCE = "oms"
TOLERANCE = 1e-9  # units: below this two positions are the same (float sums of fills)
_WORKING = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)
_TRANSIENT = (TimeoutError, ConnectionError, OSError)  # worth retrying with the same client order id


class ReferenceOMS:
    """``protocols.OMS`` on any ``BrokerClient`` and ``RiskGovernor``.

    ``submit_order(order)``, in this order (a refused order never reaches the broker):

    1. an id already seen returns its latest result (nothing is sent twice);
    2. kill switch on -> REJECTED, "kill switch active: <governor's reason>";
    3. trading paused -> REJECTED, "trading paused: <pause reason>" ("Broker Disconnected" for an outage);
    4. ``broker.connection_state`` not CONNECTED -> trading is paused (see below) and the order REJECTED as 3;
    5. ``governor.check_order(order, snapshot)`` refuses -> REJECTED with the governor's reason;
    6. ``broker.submit_order``: on ``TimeoutError``/``ConnectionError``/``OSError`` it is retried up to
       ``max_retries`` times with the same order (same client order id), sleeping
       ``clock.sleep(min(backoff_cap_s, backoff_base_s * 2**k))`` before retry k (0.5, 1, 2 s by default).
       When every attempt failed -> FAILED, ``attempts`` = 1 + max_retries and a reason naming the cause
       ("timeout after 4 attempts: API timeout", "connection error after 4 attempts: ..."); ORDER_FAILED and
       ALERT are published. Any other exception -> FAILED at once ("broker error: ..."), not retried.
       A broker REJECTED ack -> REJECTED, not retried. Otherwise the ack's status, with its fill recorded.

    Trading is paused (TRADING_PAUSED; BROKER_DISCONNECTED and ALERT once per outage; ``status().broker`` is
    "Broker Disconnected") after ``pause_after_failures`` consecutive FAILED orders, or at submission when
    the broker reports it is not connected. Any broker answer resets the failure count.

    ``heartbeat()``: the broker is reachable when ``connection_state`` is CONNECTED and ``get_positions``
    answers. Unreachable -> paused as above. Reachable -> fills are polled (working orders progress); after an
    outage BROKER_RECONNECTED is published; while paused, ``reconcile()`` runs and a match resumes trading
    (TRADING_RESUMED) - when ``market_data_age_ms`` is given, only once the market data is fresher than
    ``max_data_age_ms`` (seed 004: 500 ms), so the first order after an outage is not priced on a stale
    book. A timeout-only outage looks reachable, so trading resumes and pauses again if the next
    orders fail. Working orders survive an outage: nothing is resubmitted, their fills arrive by polling.

    ``reconcile()``: polls fills, then compares the sum of this OMS's fills with ``broker.get_positions()``
    per symbol. A difference above ``TOLERANCE`` -> ``matched=False`` with ``{symbol: (local, broker)}``,
    RECONCILIATION_MISMATCH and ALERT, ``governor.activate_kill_switch("position reconciliation mismatch:
    ...")`` and trading paused with that reason (it resumes at a heartbeat once positions match; the kill
    switch stays on until ``reset_circuit``). An unreachable broker -> ``used_cache=True, matched=True``:
    nothing contradicted the local state, and nothing was compared.

    ``positions()``: the broker's when reachable (refreshing the cache), else the last ones it gave, else the
    local sum of fills; never raises. Fills for client order ids this OMS did not send are ignored, so a
    manual order shows up as a reconciliation mismatch (the runbook: "may cause position mismatch").
    ``orders.jsonl`` under ``log_dir`` gets one JSON line per change of an order's status or filled quantity.
    Every public method holds one lock: submissions are serialised, backoff included.
    """

    def __init__(
        self,
        broker: BrokerClient,
        governor: RiskGovernor,
        *,
        bus: EventBus,
        clock: Clock | None = None,
        log_dir: Path | None = None,
        max_retries: int = 3,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 8.0,
        pause_after_failures: int = 2,
        portfolio: Callable[[], PortfolioSnapshot] | None = None,
        market_data_age_ms: Callable[[], float] | None = None,
        max_data_age_ms: float = 500.0,
        latency_guard: Any = None,
    ) -> None:
        if max_retries < 0 or pause_after_failures < 1:
            raise ValueError("ReferenceOMS: max_retries must be >= 0 and pause_after_failures >= 1")
        self.broker = broker
        self.governor = governor
        self.bus = bus
        self.clock: Clock = clock or WallClock()
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.pause_after_failures = pause_after_failures
        self._portfolio = portfolio
        self._market_data_age_ms = market_data_age_ms  # None: no feed wired, resume on reconciliation alone
        self.max_data_age_ms = float(max_data_age_ms)
        self.latency_guard = latency_guard  # stack.latency.LatencyGuard: throttles in DEGRADED latency mode
        self.resumed_at_data_age_ms: float | None = None  # the data age when trading last resumed
        self._log_path = None if log_dir is None else Path(log_dir) / "orders.jsonl"
        self._log_fh: Any = None
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._orders: dict[str, Order] = {}
        self._results: dict[str, OrderResult] = {}
        self._filled: dict[str, tuple[float, float]] = {}  # client id -> (quantity, notional)
        self._fills: list[Fill] = []
        self._cache: dict[str, float] | None = None
        self._pause_reason = ""
        self._broker_down = False
        self._consecutive_failures = 0

    # -- submission -------------------------------------------------------------------------------
    def submit_order(self, order: Order) -> OrderResult:
        with self._lock:
            cid = order.client_order_id
            if cid in self._results:
                return self._results[cid]
            self._orders[cid] = order
            if self.governor.kill_switch_active:
                why = self.governor.status().kill_switch_reason
                return self._refuse(order, f"kill switch active: {why}", publish=True)
            if not self._pause_reason and not self._connected():
                self._broker_unreachable("broker reports it is not connected")
            if self._pause_reason:
                return self._refuse(order, f"trading paused: {self._pause_reason}", publish=True)
            if self.latency_guard is not None and not self.latency_guard.allow_submission():
                return self._refuse(
                    order, "throttled: DEGRADED latency mode (market data is late)", publish=True
                )
            decision = self.governor.check_order(order, self._snapshot())
            if not decision.approved:  # the governor published ORDER_REJECTED itself
                return self._refuse(order, decision.reason, publish=False)
            self._update(order, OrderStatus.PENDING, attempts=0)
            return self._send(order)

    def _send(self, order: Order) -> OrderResult:
        last: Exception | None = None
        for attempt in range(1, self.max_retries + 2):
            if attempt > 1:
                self.clock.sleep(min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 2)))
            try:
                ack = self.broker.submit_order(order)
            except _TRANSIENT as exc:
                last = exc
                continue
            except Exception as exc:  # not a transport failure: retrying would only repeat it
                return self._fail(order, f"broker error: {type(exc).__name__}: {exc}", attempt)
            self._consecutive_failures = 0
            return self._on_ack(order, ack, attempt)
        return self._fail(order, _failure_reason(last, self.max_retries + 1), self.max_retries + 1)

    def _on_ack(self, order: Order, ack: BrokerAck, attempts: int) -> OrderResult:
        if ack.status is OrderStatus.REJECTED:
            return self._refuse(
                order, f"broker rejected: {ack.reject_reason}", publish=True, attempts=attempts
            )
        known, _ = self._filled.get(order.client_order_id, (0.0, 0.0))
        if ack.filled_quantity > known + TOLERANCE and math.isfinite(ack.avg_price):
            delta = ack.filled_quantity - known
            ts = int(self.clock.now() * 1e9)
            fee = ack.fee * delta / ack.filled_quantity  # the ack's fee covers all it reports filled
            self._record_fill(
                Fill(order.client_order_id, order.symbol, order.side, delta, ack.avg_price, fee, ts)
            )
        status = ack.status if ack.status is not OrderStatus.PENDING else OrderStatus.SUBMITTED
        if status in _WORKING:
            status = self._progress(order)
        return self._update(order, status, attempts=attempts)

    def _fail(self, order: Order, reason: str, attempts: int) -> OrderResult:
        self._consecutive_failures += 1
        result = self._update(order, OrderStatus.FAILED, reason, attempts)
        data = {"client_order_id": order.client_order_id, "symbol": order.symbol, "attempts": attempts}
        self._publish(EventType.ORDER_FAILED, reason, **data)
        self._publish(EventType.ALERT, f"order {order.client_order_id} FAILED: {reason}", **data)
        if self._consecutive_failures >= self.pause_after_failures:
            self._broker_unreachable(f"{self._consecutive_failures} consecutive failed orders")
        return result

    def _refuse(self, order: Order, reason: str, *, publish: bool, attempts: int = 0) -> OrderResult:
        result = self._update(order, OrderStatus.REJECTED, reason, attempts)
        if publish:
            self._publish(
                EventType.ORDER_REJECTED, reason, client_order_id=order.client_order_id, symbol=order.symbol
            )
        return result

    # -- connection, pause, heartbeat -------------------------------------------------------------
    def heartbeat(self) -> None:
        with self._lock:
            try:
                if not self._connected():
                    raise ConnectionError("broker reports it is not connected")
                self.broker.get_positions()
                self._collect_fills()
            except Exception as exc:
                self._broker_unreachable(f"heartbeat: {exc}")
                return
            if self._broker_down:
                self._broker_down = False
                self._consecutive_failures = 0
                self._publish(EventType.BROKER_RECONNECTED, "broker reachable again")
            if self._pause_reason:
                age_ms = self._data_age_ms()
                if age_ms > self.max_data_age_ms:  # seed 004: resume only on market data fresher than 500 ms
                    return
                report = self.reconcile()
                if report.matched and not report.used_cache and self._pause_reason:
                    was, self._pause_reason = self._pause_reason, ""
                    self.resumed_at_data_age_ms = age_ms
                    self._publish(
                        EventType.TRADING_RESUMED,
                        f"positions reconciled after: {was}",
                        market_data_age_ms=None if math.isinf(age_ms) else age_ms,
                    )

    def _data_age_ms(self) -> float:
        """Age of the freshest market data (``market_data_age_ms``); 0 when the OMS was given no feed."""
        if self._market_data_age_ms is None:
            return 0.0
        try:
            age = float(self._market_data_age_ms())
        except Exception:  # a feed that cannot say how old its data is has no fresh data
            return math.inf
        return age if math.isfinite(age) else math.inf

    def _broker_unreachable(self, detail: str) -> None:
        if not self._broker_down:
            self._broker_down = True
            self._publish(EventType.BROKER_DISCONNECTED, f"{BROKER_DISCONNECTED}: {detail}")
            self._publish(EventType.ALERT, f"{BROKER_DISCONNECTED}: {detail}; trading paused")
        self._pause(BROKER_DISCONNECTED)

    def _pause(self, reason: str) -> None:
        if self._pause_reason != reason:
            self._pause_reason = reason
            self._publish(EventType.TRADING_PAUSED, reason)

    def _connected(self) -> bool:
        try:
            return self.broker.connection_state is ConnectionState.CONNECTED
        except Exception:  # a broker that cannot say whether it is connected is not
            return False

    # -- fills and positions ----------------------------------------------------------------------
    def _collect_fills(self) -> None:
        for fill in self.broker.poll_fills():
            order = self._orders.get(fill.client_order_id)
            if order is None:
                continue
            self._record_fill(fill)
            previous = self._results[fill.client_order_id]
            if previous.status in _WORKING:
                self._update(order, self._progress(order), attempts=previous.attempts)

    def _record_fill(self, fill: Fill) -> None:
        qty, notional = self._filled.get(fill.client_order_id, (0.0, 0.0))
        self._filled[fill.client_order_id] = (qty + fill.quantity, notional + fill.quantity * fill.price)
        self._fills.append(fill)

    def _progress(self, order: Order) -> OrderStatus:
        filled, _ = self._filled.get(order.client_order_id, (0.0, 0.0))
        if filled >= order.quantity - TOLERANCE * max(order.quantity, 1.0):
            return OrderStatus.FILLED
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.SUBMITTED

    def local_positions(self) -> dict[str, float]:
        """The sum of this OMS's fills per symbol (what reconciliation compares)."""
        with self._lock:
            out: dict[str, float] = {}
            for fill in self._fills:
                out[fill.symbol] = out.get(fill.symbol, 0.0) + fill.signed_quantity
            return out

    def positions(self) -> Mapping[str, float]:
        with self._lock:
            if self._connected():
                with contextlib.suppress(Exception):  # seed 001: "Fallback to cached positions"
                    self._cache = dict(self.broker.get_positions())
            return dict(self._cache) if self._cache is not None else self.local_positions()

    def reconcile(self) -> ReconciliationReport:
        with self._lock:
            try:
                if not self._connected():
                    raise ConnectionError("broker reports it is not connected")
                self._collect_fills()  # first, so the broker's positions include nothing we have not seen
                broker = dict(self.broker.get_positions())
            except Exception as exc:
                detail = f"broker unreachable ({exc}): using cached positions, nothing compared"
                return ReconciliationReport(True, used_cache=True, detail=detail)
            self._cache = broker
            local = self.local_positions()
            mismatches = {
                s: (local.get(s, 0.0), broker.get(s, 0.0))
                for s in sorted(local.keys() | broker.keys())
                if abs(local.get(s, 0.0) - broker.get(s, 0.0)) > TOLERANCE
            }
            if not mismatches:
                return ReconciliationReport(True, detail="positions match")
            detail = "; ".join(f"{s} local {lo:g} vs broker {br:g}" for s, (lo, br) in mismatches.items())
            reason = f"position reconciliation mismatch: {detail}"
            self._publish(EventType.RECONCILIATION_MISMATCH, reason, mismatches=dict(mismatches))
            self._publish(EventType.ALERT, reason)
            self.governor.activate_kill_switch(reason)  # runbook: "Pause trading (activate kill switch)"
            self._pause(reason)
            return ReconciliationReport(False, mismatches, detail=detail)

    # -- views ------------------------------------------------------------------------------------
    def fills(self) -> tuple[Fill, ...]:
        with self._lock:
            return tuple(self._fills)

    def orders(self) -> dict[str, OrderResult]:
        with self._lock:
            return dict(self._results)

    def status(self) -> OMSStatus:
        with self._lock:
            down = self._broker_down or not self._connected()
            return OMSStatus(
                broker=BROKER_DISCONNECTED if down else BROKER_CONNECTED,
                trading_paused=bool(self._pause_reason),
                pause_reason=self._pause_reason,
                open_orders=tuple(c for c, r in self._results.items() if r.status in _WORKING),
                consecutive_failures=self._consecutive_failures,
            )

    # -- internals --------------------------------------------------------------------------------
    def _snapshot(self) -> PortfolioSnapshot:
        if self._portfolio is not None:
            return self._portfolio()
        return PortfolioSnapshot(0.0, self.local_positions(), {}, int(self.clock.now() * 1e9))

    def _update(self, order: Order, status: OrderStatus, reason: str = "", attempts: int = 0) -> OrderResult:
        cid = order.client_order_id
        qty, notional = self._filled.get(cid, (0.0, 0.0))
        result = OrderResult(cid, status, qty, notional / qty if qty > 0 else math.nan, reason, attempts)
        previous = self._results.get(cid)
        self._results[cid] = result
        if previous is None or (previous.status, previous.filled_quantity) != (status, qty):
            self._log(order, result)
        return result

    def _log(self, order: Order, result: OrderResult) -> None:
        if self._log_path is None:
            return
        line = {
            "timestamp": _finite(self.clock.now()),
            "client_order_id": result.client_order_id,
            "symbol": order.symbol,
            "side": order.side.value,
            "quantity": _finite(order.quantity),
            "status": result.status.value,
            "reject_reason": result.reject_reason,
            "attempts": result.attempts,
            "filled_quantity": _finite(result.filled_quantity),
            "avg_price": _finite(result.avg_price),
        }
        if self._log_fh is None:
            # line-buffered: each line reaches the OS as it is written (nothing lost if the process dies),
            # without reopening the file for every state change
            self._log_fh = self._log_path.open("a", encoding="utf-8", buffering=1)
            weakref.finalize(self, self._log_fh.close)
        self._log_fh.write(json.dumps(line, allow_nan=False) + "\n")

    def close(self) -> None:
        """Close the order log (it reopens, appending, if the OMS is used again)."""
        with self._lock:
            if self._log_fh is not None:
                self._log_fh.close()
                self._log_fh = None

    def _publish(self, kind: EventType, reason: str, **data: Any) -> None:
        self.bus.publish(StackEvent(kind, reason, SOURCE, self.clock.now(), data))


def _failure_reason(exc: Exception | None, attempts: int) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return f"timeout after {attempts} attempts: {text}"
    if isinstance(exc, ConnectionError):
        return f"connection error after {attempts} attempts: {text}"
    return f"broker error after {attempts} attempts: {text}"


def _finite(x: float) -> float | None:
    """JSON has no NaN: a missing price is null (the log must stay parseable by jq)."""
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None
