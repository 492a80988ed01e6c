"""A FIX 4.4 broker service on 127.0.0.1 for the fault matrix: the in-process ``MockBroker``'s semantics
(prices from the replayed market, partial fills, rejects, idempotent ClOrdIDs) offered over TCP.

The session layer (Logon, heartbeats, sequence numbers, resend) is ``fix_session.FixSession``; what
refuses an order, the price it fills at and how a fill is booked are ``stack.broker_rules``, shared with
``MockBroker``. This module holds the listener, the order book and the positions, and what each
application message gets.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import simplefix

from pytest_stress.faults.fix_session import ORD_STATUS, FixSession, Pair, field, number
from pytest_stress.stack import broker_rules
from pytest_stress.stack.model import OrderStatus, OrderType, Side

LOOPBACK = "127.0.0.1"
JOIN_TIMEOUT_S = 5.0
_SIDES = {"1": Side.BUY, "2": Side.SELL}
_SIDE_CODE = {Side.BUY: "1", Side.SELL: "2"}
# The shared refusals in FIX words: the quantity and the limit as sent, in OrderQty (38) and Price (44).
_WORDING = broker_rules.Wording(
    quantity="invalid OrderQty (38) {quantity!r}: must be finite and > 0",
    limit_price="limit order without a valid Price (44): {limit_price!r}",
    no_price="no price for {symbol}",
)

PriceSource = Mapping[str, float] | Callable[[str], "float | None"]


@dataclass
class ServiceOrder:
    """The service's record of one order, keyed by (account, ClOrdID)."""

    account: str
    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    quantity: float
    order_type: OrderType
    limit_price: float | None
    status: OrderStatus = OrderStatus.SUBMITTED
    filled: float = 0.0
    notional: float = 0.0
    text: str = ""

    @property
    def remaining(self) -> float:
        return broker_rules.remaining(self)

    @property
    def avg_price(self) -> float:
        """AvgPx (6): 0 before any fill (the tag is a number)."""
        return broker_rules.average_price(self, nothing=0.0)


class FixBrokerService:
    """A FIX 4.4 acceptor (SenderCompID ``sender``) in background threads; ``port=0`` picks a free port.

    Application messages, per account (the client's SenderCompID; orders and positions outlive sessions):

    - NewOrderSingle (D): one ExecutionReport (8) answers it. Rejected (``reject_symbols``, a seeded
      ``reject_rate`` draw, a bad quantity/side/limit, no price) -> ExecType/OrdStatus 8 with Text (58).
      Marketable (market orders; limits at or better than the price) -> ExecType F (trade) with
      ``partial_fill_ratio`` of the quantity filled at the price, OrdStatus 1 or 2; else ExecType 0 (new).
      Working orders are matched again every ``fill_delay_s`` while their account has a session: the rest
      of a partial fill, a limit that became marketable (ExecType F, LastQty 32, LastPx 31).
    - A ClOrdID already known for the account creates nothing: ExecType I (order status) with the order's
      OrdStatus, CumQty and AvgPx answers it (the retry of an order whose ack was lost).
    - OrderCancelRequest (F, OrigClOrdID 41) -> ExecType 4 canceled, or OrderCancelReject (9) with Text.
    - OrderStatusRequest (H) -> ExecType I carrying OrdStatusReqID (790); an unknown order OrdStatus 8.
    - RequestForPositions (AN, PosReqID 710) -> RequestForPositionsAck (AO) with TotalNumPosReports (727)
      = N, then N PositionReports (AP): Symbol (55), LongQty (704), ShortQty (705); N = 0 when flat.
    Prices come from ``prices``: a mapping (``set_price`` changes it) or a callable ``symbol -> price or
    None`` such as a replay's current mark. A new Logon of an account ends its older session.
    """

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = 0,
        *,
        prices: PriceSource,
        partial_fill_ratio: float = 1.0,
        reject_symbols: Iterable[str] = (),
        reject_rate: float = 0.0,
        seed: int = 0,
        heartbeat_s: float = 30,
        fill_delay_s: float = 0.05,
        sender: str = "BROKER",
    ) -> None:
        if host not in (LOOPBACK, "localhost"):
            raise ValueError(f"FixBrokerService listens on {LOOPBACK} only, not {host!r}")
        if not 0.0 < partial_fill_ratio <= 1.0 or not 0.0 <= reject_rate <= 1.0:
            raise ValueError("FixBrokerService: partial_fill_ratio must be in (0, 1], reject_rate in [0, 1]")
        self.host, self._requested_port, self.port = LOOPBACK, port, 0
        self._prices: dict[str, float] = {}
        self._price_fn: Callable[[str], float | None] = self._prices.get
        if callable(prices):
            self._price_fn = prices
        else:
            self._prices.update({s: float(p) for s, p in prices.items()})
        self.partial_fill_ratio = float(partial_fill_ratio)
        self.reject_symbols = frozenset(reject_symbols)
        self.reject_rate = float(reject_rate)
        self._rng = np.random.default_rng(seed)
        self.heartbeat_s, self.fill_delay_s, self.sender = heartbeat_s, fill_delay_s, sender
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sessions: dict[str, FixSession] = {}  # account -> its logged-on session
        self._all_sessions: set[FixSession] = set()
        self._ids = itertools.count(1)  # ExecID, PosMaintRptID
        self._order_ids = itertools.count(1)
        self.orders: dict[tuple[str, str], ServiceOrder] = {}
        self.received: list[str] = []  # every ClOrdID of a NewOrderSingle, repeats included
        self.logons = 0
        self._positions: dict[str, dict[str, float]] = {}

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> FixBrokerService:
        if self._listener is not None:
            raise RuntimeError("this FixBrokerService was already started; create a new one")
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self._requested_port))
        listener.listen(16)
        listener.settimeout(0.1)  # how often the accept loop looks at ``stop``
        self._listener, self.port = listener, listener.getsockname()[1]
        self._spawn(self._accept_loop, f"fix-broker:{self.port}")
        self._spawn(self._match_loop, f"fix-broker-match:{self.port}")
        return self

    def stop(self) -> None:
        """Log every session out, close the listener and join every thread; safe to call twice."""
        self._stop.set()
        # Joined in rounds: the accept loop may start one last session thread while it winds down.
        for _ in range(3):
            for thread in list(self._threads):
                if thread is not threading.current_thread():
                    thread.join(JOIN_TIMEOUT_S)
        if self._listener is not None:
            self._listener.close()
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"FixBrokerService threads did not stop within {JOIN_TIMEOUT_S} s: {alive}")

    def __enter__(self) -> FixBrokerService:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = FixSession(
                conn,
                sender=self.sender,
                heartbeat_s=self.heartbeat_s,
                initiator=False,
                resend_app=True,
                on_app=self._on_app,
                on_logon=self._on_logon,
            )
            self._spawn(self._serve, f"fix-broker-session:{self.port}", session)

    def _serve(self, session: FixSession) -> None:
        with self._lock:
            self._all_sessions.add(session)
        try:
            session.run(self._stop)
        finally:
            with self._lock:
                self._all_sessions.discard(session)
                if self._sessions.get(session.target) is session:
                    del self._sessions[session.target]

    def _on_logon(self, session: FixSession) -> None:
        with self._lock:
            self.logons += 1
            older = self._sessions.get(session.target)
            self._sessions[session.target] = session
        if older is not None and older is not session:  # the client reconnected; the old socket is stale
            older.close("replaced by a new Logon")

    def drop_sessions(self) -> None:
        """Close every session at once, without a Logout (a broker-side crash, for tests)."""
        with self._lock:
            sessions = list(self._all_sessions)
        for session in sessions:
            session.close("dropped by the service")

    # -- market and book --------------------------------------------------------------------------
    def set_price(self, symbol: str, px: float) -> None:
        if not (math.isfinite(px) and px > 0):
            raise ValueError(
                f"FixBrokerService.set_price({symbol!r}): price must be finite and > 0, got {px}"
            )
        with self._lock:
            self._prices[symbol] = float(px)

    def price(self, symbol: str) -> float | None:
        px = self._price_fn(symbol)
        return float(px) if broker_rules.is_valid_price(px) else None

    def positions(self, account: str = "STACK") -> dict[str, float]:
        """Signed units per symbol of one account (the client's SenderCompID), as the service keeps them."""
        with self._lock:
            return {s: q for s, q in self._positions.get(account, {}).items() if q != 0.0}

    # -- application messages ---------------------------------------------------------------------
    def _on_app(self, session: FixSession, msg: simplefix.FixMessage) -> None:
        msg_type = field(msg, 35)
        with self._lock:
            if msg_type == "D":
                self._new_order(session, msg)
            elif msg_type == "F":
                self._cancel(session, msg)
            elif msg_type == "H":
                self._status(session, msg)
            elif msg_type == "AN":
                self._send_positions(session, msg)
            else:  # BusinessMessageReject: the session is fine, the request is not served here
                reason = f"unsupported MsgType {msg_type}"
                session.send("j", [(45, field(msg, 34) or ""), (372, msg_type), (380, 3), (58, reason)])

    def _new_order(self, session: FixSession, msg: simplefix.FixMessage) -> None:
        account, cid = session.target, field(msg, 11) or ""
        self.received.append(cid)
        known = self.orders.get((account, cid))
        if known is not None:
            session.send("8", self._report(known, "I", text="duplicate ClOrdID: the existing order's status"))
            return
        order_type = OrderType.LIMIT if field(msg, 40) == "2" else OrderType.MARKET
        limit = number(msg, 44, math.nan) if order_type is OrderType.LIMIT else None
        order = ServiceOrder(
            account,
            cid,
            f"fix-{next(self._order_ids):06d}",
            field(msg, 55) or "",
            _SIDES.get(field(msg, 54) or "", Side.BUY),
            number(msg, 38, math.nan),
            order_type,
            limit,
        )
        self.orders[(account, cid)] = order
        reason = self._refusal(order, msg)
        if reason:
            order.status, order.text = OrderStatus.REJECTED, reason
            session.send("8", self._report(order, "8", text=reason))
            return
        px = broker_rules.marketable_price(order, self.price(order.symbol))
        if px is None:
            session.send("8", self._report(order, "0"))
            return
        quantity = self._fill(order, broker_rules.arrival_quantity(order, self.partial_fill_ratio), px)
        session.send("8", self._report(order, "F", last=(quantity, px)))

    def _refusal(self, order: ServiceOrder, msg: simplefix.FixMessage) -> str:
        if not order.client_order_id:
            return "missing ClOrdID (11)"
        if field(msg, 54) not in _SIDES:
            return f"unsupported Side (54) {field(msg, 54)!r}: 1 buy or 2 sell"
        return broker_rules.refusal(
            order,
            price=lambda: self.price(order.symbol),
            rng=self._rng,
            reject_rate=self.reject_rate,
            tradable=order.symbol not in self.reject_symbols,
            wording=_WORDING,
            shown={"quantity": field(msg, 38), "limit_price": field(msg, 44)},
        )

    def _fill(self, order: ServiceOrder, quantity: float, px: float) -> float:
        return broker_rules.book_fill(order, quantity, px, self._positions.setdefault(order.account, {}))

    def _match_loop(self) -> None:
        while not self._stop.wait(self.fill_delay_s):
            self._match()

    def _match(self) -> None:
        """Fill every working order that is marketable now, of an account with a session, by its remainder."""
        with self._lock:
            for order in list(self.orders.values()):
                session = self._sessions.get(order.account)
                if order.status not in broker_rules.WORKING or session is None or session.closed:
                    continue  # like MockBroker: nothing fills while the client is away
                px = broker_rules.marketable_price(order, self.price(order.symbol))
                if px is None:
                    continue
                quantity = self._fill(order, order.remaining, px)
                with contextlib.suppress(ConnectionError):  # the client asks for its orders' status at Logon
                    session.send("8", self._report(order, "F", last=(quantity, px)))

    def _cancel(self, session: FixSession, msg: simplefix.FixMessage) -> None:
        orig, cancel_id = field(msg, 41) or "", field(msg, 11) or ""
        order = self.orders.get((session.target, orig))
        reason = "unknown order" if order is None else broker_rules.cancel_refusal(order.status)
        if order is not None and not reason:
            order.status = OrderStatus.CANCELLED
            session.send("8", self._report(order, "4", cl_ord_id=cancel_id, orig=orig))
            return
        session.send(
            "9",
            [
                (37, order.broker_order_id if order else "NONE"),
                (11, cancel_id),
                (41, orig),
                (39, ORD_STATUS[order.status] if order else "8"),
                (434, 1),  # CxlRejResponseTo: an OrderCancelRequest
                (102, 1 if order is None else 0),  # CxlRejReason: unknown order / too late to cancel
                (58, reason),
            ],
        )

    def _status(self, session: FixSession, msg: simplefix.FixMessage) -> None:
        cid, request = field(msg, 11) or "", field(msg, 790) or ""
        order = self.orders.get((session.target, cid))
        if order is None:
            body: list[Pair] = [(37, "NONE"), (11, cid), (17, f"E{next(self._ids)}"), (150, "I"), (39, "8")]
            body += [(55, field(msg, 55) or ""), (54, field(msg, 54) or "1"), (151, 0), (14, 0), (6, 0)]
            session.send("8", [*body, (790, request), (58, "unknown ClOrdID")])
            return
        session.send("8", [*self._report(order, "I"), (790, request)])

    def _send_positions(self, session: FixSession, msg: simplefix.FixMessage) -> None:
        request = field(msg, 710) or ""
        book = self.positions(session.target)
        head: list[Pair] = [(721, f"P{next(self._ids)}"), (710, request), (727, len(book))]
        session.send("AO", [*head, (728, 0 if book else 2), (729, 0), (1, session.target)])
        for symbol, quantity in sorted(book.items()):
            long_qty, short_qty = max(quantity, 0.0), max(-quantity, 0.0)
            body: list[Pair] = [*head, (728, 0), (1, session.target), (55, symbol), (702, 1), (703, "TQ")]
            session.send("AP", [*body, (704, long_qty), (705, short_qty)])

    def _report(
        self,
        order: ServiceOrder,
        exec_type: str,
        *,
        text: str = "",
        last: tuple[float, float] | None = None,
        cl_ord_id: str | None = None,
        orig: str | None = None,
    ) -> list[Pair]:
        body: list[Pair] = [
            (37, order.broker_order_id),
            (11, cl_ord_id or order.client_order_id),
            (17, f"E{next(self._ids)}"),
            (150, exec_type),
            (39, ORD_STATUS[order.status]),
            (1, order.account),
            (55, order.symbol),
            (54, _SIDE_CODE[order.side]),
            (38, order.quantity if math.isfinite(order.quantity) else 0),
            (151, order.remaining if order.status in broker_rules.WORKING else 0.0),
            (14, order.filled),
            (6, order.avg_price),
        ]
        if orig is not None:
            body.append((41, orig))
        if last is not None:
            body += [(32, last[0]), (31, last[1])]
        if text or order.text:
            body.append((58, text or order.text))
        return body
