"""The stack's FIX 4.4 broker client: ``protocols.BrokerClient`` over a TCP session to ``FixBrokerService``
(or any FIX 4.4 acceptor answering the same messages), so the reference OMS runs unchanged on it.

A session thread connects, logs on, reads with ``simplefix.FixParser`` and hands ExecutionReports to the
caller waiting for them; when the session is lost it reconnects by itself until ``disconnect()``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import math
import queue
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import simplefix

from pytest_stress.faults.fix_session import STATUS_OF, FixSession, Pair, number
from pytest_stress.faults.fix_session import field as tag
from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.model import BrokerAck, ConnectionState, Fill, Order, OrderStatus, OrderType, Side
from pytest_stress.stack.protocols import Clock

_WORKING = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)
_SIDE_CODE = {Side.BUY: "1", Side.SELL: "2"}
_SIDES = {"1": Side.BUY, "2": Side.SELL}


@dataclass
class _OrderState:
    """What the client knows of one order; ``reported_*`` is what the OMS has been told (ack or poll)."""

    client_order_id: str
    symbol: str = ""
    side: Side = Side.BUY
    broker_order_id: str = ""
    status: OrderStatus | None = None  # None: sent, never acknowledged
    cum_qty: float = 0.0
    notional: float = 0.0
    reported_qty: float = 0.0
    reported_notional: float = 0.0


@dataclass(frozen=True)
class _Ack:
    """The first ExecutionReport of a submission, as the reading thread saw it."""

    status: OrderStatus
    cum_qty: float
    notional: float
    text: str


@dataclass
class _Waiter:
    """A caller waiting for the answer to one request; positions collect several messages first."""

    answers: queue.Queue[Any] = field(default_factory=lambda: queue.Queue(maxsize=1))
    expected: int | None = None
    positions: dict[str, float] = field(default_factory=dict)
    received: int = 0


class FixBrokerClient:
    """``protocols.BrokerClient`` over FIX 4.4 (SenderCompID ``sender``, TargetCompID ``target``).

    - ``connect()`` starts the session thread and waits up to ``timeout_s`` for the Logon answer; it raises
      ConnectionError when there is none, and the thread keeps trying every ``reconnect_s`` until
      ``disconnect()``. A lost session (EOF, reset, heartbeat timeout) is reconnected the same way; every
      Logon starts sequence numbers at 1 (see ``fix_session``). ``connection_state`` is CONNECTED while a
      session is logged on, RECONNECTING while the thread tries, DISCONNECTED after ``disconnect()``.
    - After every Logon the client sends an OrderStatusRequest (H) for each order that is working or was
      never acknowledged, so fills reported while the connection was down reach ``poll_fills``.
    - ``submit_order`` sends a NewOrderSingle and waits up to ``timeout_s`` for the first ExecutionReport
      (``TimeoutError("FIX ack timeout ...")``; ConnectionError when not logged on or the session drops).
      A retry with the same ClOrdID is answered by the service with the existing order's status.
    - The ack reports what is filled at that moment (CumQty at AvgPx); ``poll_fills`` reports every later
      increase of CumQty, once. Both come from cumulative fields, so resent (PossDup) reports never count
      twice. ``get_positions`` asks the service (RequestForPositions) and raises like ``submit_order``.
    Timeouts are wall time (they bound real sockets); ``clock`` only stamps fills.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        clock: Clock | None = None,
        timeout_s: float = 2.0,
        sender: str = "STACK",
        target: str = "BROKER",
        heartbeat_s: float = 1.0,
        reconnect_s: float = 0.1,
    ) -> None:
        self.host, self.port = host, int(port)
        self.clock: Clock = clock or WallClock()
        self.timeout_s, self.heartbeat_s, self.reconnect_s = timeout_s, heartbeat_s, reconnect_s
        self.sender, self.target = sender, target
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._up = threading.Event()
        self._thread: threading.Thread | None = None
        self._session: FixSession | None = None
        self._orders: dict[str, _OrderState] = {}
        self._waiters: dict[tuple[str, str], _Waiter] = {}
        self._ids = itertools.count(1)
        self.last_error = ""
        self.sessions = 0  # Logons answered so far, for tests of reconnection

    # -- connection -------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connection_state(self) -> ConnectionState:
        if self._thread is None or self._stop.is_set():
            return ConnectionState.DISCONNECTED
        return ConnectionState.CONNECTED if self._up.is_set() else ConnectionState.RECONNECTING

    def connect(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name=f"fix-client:{self.address}", daemon=True)
            self._thread.start()
        if not self._up.wait(self.timeout_s):
            raise ConnectionError(
                f"FIX logon to {self.address} not answered within {self.timeout_s:g} s "
                f"({self.last_error or 'no answer'}); still retrying in the background"
            )

    def disconnect(self) -> None:
        """Logout, close the socket and stop the session thread (``connect()`` starts it again)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.timeout_s + 2.0)
            if thread.is_alive():
                raise RuntimeError(f"FIX client thread for {self.address} did not stop")

    close = disconnect

    def __enter__(self) -> FixBrokerClient:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.disconnect()

    def _run(self) -> None:
        stop = self._stop
        while not stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            except OSError as exc:
                self.last_error = f"connect to {self.address}: {exc}"
                stop.wait(self.reconnect_s)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = FixSession(
                sock,
                sender=self.sender,
                target=self.target,
                heartbeat_s=self.heartbeat_s,
                initiator=True,
                resend_app=False,
                on_app=self._on_app,
                on_logon=self._on_logon,
                logon_timeout_s=self.timeout_s,
            )
            self._session = session
            reason = session.run(stop)
            self._up.clear()
            self._session = None
            self.last_error = reason
            self._fail_waiters(ConnectionError(f"FIX session to {self.address} ended: {reason}"))
            stop.wait(self.reconnect_s)

    def _on_logon(self, session: FixSession) -> None:
        with self._lock:
            unsettled = [o for o in self._orders.values() if o.status is None or o.status in _WORKING]
        for order in unsettled:
            request: list[Pair] = [(11, order.client_order_id), (790, f"S{next(self._ids)}")]
            session.send("H", [*request, (55, order.symbol), (54, _SIDE_CODE[order.side])])
        self.sessions += 1
        self._up.set()

    def _fail_waiters(self, error: Exception) -> None:
        with self._lock:
            waiters, self._waiters = list(self._waiters.values()), {}
        for waiter in waiters:
            with contextlib.suppress(queue.Full):
                waiter.answers.put_nowait(error)

    def _live_session(self) -> FixSession:
        session = self._session
        if session is None or not self._up.is_set() or session.closed:
            state = self.connection_state.value
            raise ConnectionError(
                f"FIX session to {self.address} is not logged on ({state}: {self.last_error})"
            )
        return session

    def _ask(self, key: tuple[str, str], msg_type: str, body: list[Pair], what: str) -> Any:
        """Send one request and wait for its answer; the waiter is registered before the send."""
        session = self._live_session()
        waiter = _Waiter()
        with self._lock:
            self._waiters[key] = waiter
        try:
            session.send(msg_type, body)
            try:
                answer = waiter.answers.get(timeout=self.timeout_s)
            except queue.Empty:
                raise TimeoutError(
                    f"FIX {what} timeout: no answer for {key[1]} from {self.address} within {self.timeout_s:g} s"
                ) from None
        finally:
            with self._lock:
                if self._waiters.get(key) is waiter:
                    del self._waiters[key]
        if isinstance(answer, Exception):
            raise answer
        return answer

    # -- orders -----------------------------------------------------------------------------------
    def submit_order(self, order: Order) -> BrokerAck:
        cid = order.client_order_id
        with self._lock:
            state = self._orders.setdefault(cid, _OrderState(cid, order.symbol, order.side))
        body: list[Pair] = [
            (11, cid),
            (1, self.sender),
            (21, 1),  # HandlInst: automated, no broker intervention
            (55, order.symbol),
            (54, _SIDE_CODE[order.side]),
            (38, float(order.quantity)),
            (40, "2" if order.order_type is OrderType.LIMIT else "1"),
        ]
        if order.order_type is OrderType.LIMIT and order.limit_price is not None:
            body.append((44, float(order.limit_price)))
        body.append((60, _utc_now()))
        ack: _Ack = self._ask(("ack", cid), "D", body, "ack")
        with self._lock:  # what the ack says is filled is never reported again by poll_fills
            if ack.cum_qty > state.reported_qty:
                state.reported_qty, state.reported_notional = ack.cum_qty, ack.notional
            avg = ack.notional / ack.cum_qty if ack.cum_qty > 0 else math.nan
            reason = ack.text if ack.status is OrderStatus.REJECTED else ""
            return BrokerAck(cid, state.broker_order_id, ack.status, ack.cum_qty, avg, reason)

    def cancel_order(self, client_order_id: str) -> BrokerAck:
        with self._lock:
            state = self._orders.get(client_order_id) or _OrderState(client_order_id)
        cancel_id = f"{client_order_id}.cxl{next(self._ids)}"
        body: list[Pair] = [(41, client_order_id), (11, cancel_id), (55, state.symbol)]
        body += [(54, _SIDE_CODE[state.side]), (60, _utc_now())]
        report = self._ask(("cancel", cancel_id), "F", body, "cancel")
        with self._lock:
            return self._ack(state, report)

    def poll_fills(self) -> list[Fill]:
        self._live_session()  # as MockBroker: nothing is reported while disconnected, nothing is lost
        fills: list[Fill] = []
        now_ns = int(self.clock.now() * 1e9)
        with self._lock:
            for state in self._orders.values():
                quantity = state.cum_qty - state.reported_qty
                if quantity <= 1e-12 * max(state.cum_qty, 1.0):
                    continue
                px = (state.notional - state.reported_notional) / quantity
                fills.append(Fill(state.client_order_id, state.symbol, state.side, quantity, px, 0.0, now_ns))
                state.reported_qty, state.reported_notional = state.cum_qty, state.notional
        return fills

    def get_positions(self) -> Mapping[str, float]:
        request = f"pos{next(self._ids)}"
        body: list[Pair] = [(710, request), (724, 0), (1, self.sender), (263, 0), (60, _utc_now())]
        return self._ask(("positions", request), "AN", body, "positions")

    # -- the reading thread -----------------------------------------------------------------------
    def _on_app(self, session: FixSession, msg: simplefix.FixMessage) -> None:
        msg_type = tag(msg, 35)
        if msg_type == "8":
            self._on_execution_report(msg)
        elif msg_type == "9":
            self._answer(("cancel", tag(msg, 11) or ""), msg)
        elif msg_type in ("AO", "AP"):
            self._on_positions(msg_type, msg)
        # anything else (a BusinessMessageReject, news) does not concern the BrokerClient protocol

    def _on_execution_report(self, msg: simplefix.FixMessage) -> None:
        orig, cl_ord_id = tag(msg, 41), tag(msg, 11) or ""
        cid = orig or cl_ord_id
        with self._lock:
            state = self._orders.get(cid)
            if state is None:  # an order of an earlier process on this account: still tracked
                state = self._orders[cid] = _OrderState(
                    cid, tag(msg, 55) or "", _SIDES.get(tag(msg, 54) or "", Side.BUY)
                )
            state.broker_order_id = tag(msg, 37) or state.broker_order_id
            status = STATUS_OF.get(tag(msg, 39) or "")
            unknown = tag(msg, 150) == "I" and tag(msg, 37) == "NONE"
            if unknown:  # never reached the broker: no need to ask again at the next Logon
                state.status = state.status or OrderStatus.REJECTED
            elif status is not None:
                state.status = status
            cum_qty = number(msg, 14)
            if cum_qty > state.cum_qty:  # cumulative fields: a resent or repeated report changes nothing
                state.cum_qty, state.notional = cum_qty, cum_qty * number(msg, 6)
            # the ack is what this report says, even if a later fill arrives before the caller wakes up
            snapshot = _Ack(
                state.status or OrderStatus.SUBMITTED, state.cum_qty, state.notional, tag(msg, 58) or ""
            )
        if orig is not None:
            self._answer(("cancel", cl_ord_id), msg)
        elif tag(msg, 790) is None:  # status-request answers are bookkeeping, never an ack
            self._answer(("ack", cid), snapshot)

    def _answer(self, key: tuple[str, str], answer: Any) -> None:
        with self._lock:
            waiter = self._waiters.pop(key, None)
        if waiter is not None:
            with contextlib.suppress(queue.Full):
                waiter.answers.put_nowait(answer)

    def _on_positions(self, msg_type: str | None, msg: simplefix.FixMessage) -> None:
        key = ("positions", tag(msg, 710) or "")
        with self._lock:
            waiter = self._waiters.get(key)
            if waiter is None:
                return
            waiter.expected = int(number(msg, 727))
            if msg_type == "AP":
                waiter.received += 1
                signed = number(msg, 704) - number(msg, 705)
                symbol = tag(msg, 55) or ""
                waiter.positions[symbol] = waiter.positions.get(symbol, 0.0) + signed
            complete = waiter.received >= waiter.expected
        if complete:
            self._answer(key, dict(waiter.positions))

    def _ack(self, state: _OrderState, report: simplefix.FixMessage) -> BrokerAck:
        """The BrokerAck for a cancel: ExecType 4 canceled, or an OrderCancelReject (9)."""
        avg = state.notional / state.cum_qty if state.cum_qty > 0 else math.nan
        if tag(report, 35) == "9":
            status = OrderStatus.REJECTED
            reason = tag(report, 58) or f"cancel rejected (CxlRejReason {tag(report, 102)})"
        else:
            status, reason = STATUS_OF.get(tag(report, 39) or "", OrderStatus.CANCELLED), ""
        return BrokerAck(state.client_order_id, state.broker_order_id, status, state.cum_qty, avg, reason)


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
