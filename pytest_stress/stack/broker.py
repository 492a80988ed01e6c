"""An in-process broker for the reference stack and the runbook suite: prices set by the test, seeded rejects,
partial fills, latency on the stack's clock, and idempotent client order ids (seed 001 scenario 3).

Fill reporting follows ``protocols.BrokerClient``: what fills at submission is reported in the ``BrokerAck``
(``filled_quantity`` at ``avg_price``) and never again; ``poll_fills`` reports only later fills (the rest of
a partial fill, a resting limit order that became marketable). Positions change only at those two moments,
so an OMS that reads every ack and every poll always agrees with ``get_positions``.

What refuses an order, the price it fills at and how a fill is booked are ``stack.broker_rules``, shared
with the FIX broker service; this module holds the prices, the seeded generator and the answers.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pytest_stress.stack import broker_rules
from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.model import BrokerAck, ConnectionState, Fill, Order, OrderStatus, Side
from pytest_stress.stack.protocols import Clock

# The symbols the runbook suite trades and their quotes: the default book of the in-process broker, of the
# FIX broker service without a scenario, and of the runbook suite's orders.
SUITE_PRICES: Mapping[str, float] = {"SPY": 450.0, "QQQ": 380.0, "NVDA": 440.0}


@dataclass
class BrokerOrder:
    """The broker's record of one order; ``ack`` is the first answer, returned again for a repeated id."""

    order: Order
    broker_order_id: str
    ack: BrokerAck
    status: OrderStatus
    filled: float = 0.0
    notional: float = 0.0

    @property
    def symbol(self) -> str:
        return self.order.symbol

    @property
    def side(self) -> Side:
        return self.order.side

    @property
    def quantity(self) -> float:
        return self.order.quantity

    @property
    def remaining(self) -> float:
        return broker_rules.remaining(self)


class MockBroker:
    """``protocols.BrokerClient`` in memory.

    - Market orders fill at the symbol's price (``set_price``; ``order.reference_price`` when none was set).
      With ``partial_fill_ratio`` < 1 that fraction fills at once and the remainder at the next
      ``poll_fills``.
    - Limit orders fill only when marketable (BUY: price <= limit, SELL: price >= limit), at the price;
      a resting one is checked again at every ``poll_fills``.
    - ``reject_rate``: the fraction of new orders refused (status REJECTED, with a reason), drawn from a
      ``numpy.random.Generator`` seeded with ``seed``.
    - ``latency_s`` is slept on ``clock`` before every submission and cancel is answered.
    - While disconnected, ``submit_order``, ``cancel_order``, ``get_positions`` and ``poll_fills`` raise
      ``ConnectionError("broker disconnected")``; nothing fills until it is connected again.
    - ``received`` lists every client order id that reached the broker, in arrival order, repeats included;
      ``orders`` holds one ``BrokerOrder`` per distinct id.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        prices: Mapping[str, float] | None = None,
        latency_s: float = 0.0,
        reject_rate: float = 0.0,
        partial_fill_ratio: float = 1.0,
        fee_per_unit: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= reject_rate <= 1.0:
            raise ValueError(f"MockBroker: reject_rate must be in [0, 1], got {reject_rate}")
        if not 0.0 < partial_fill_ratio <= 1.0:
            raise ValueError(f"MockBroker: partial_fill_ratio must be in (0, 1], got {partial_fill_ratio}")
        if latency_s < 0 or fee_per_unit < 0:
            raise ValueError("MockBroker: latency_s and fee_per_unit must be >= 0")
        self.clock: Clock = clock or WallClock()
        self.latency_s = float(latency_s)
        self.reject_rate = float(reject_rate)
        self.partial_fill_ratio = float(partial_fill_ratio)
        self.fee_per_unit = float(fee_per_unit)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.RLock()
        self._state = ConnectionState.CONNECTED
        self._prices: dict[str, float] = {}
        self._positions: dict[str, float] = {}
        self._pending_fills: list[Fill] = []
        self.orders: dict[str, BrokerOrder] = {}
        self.received: list[str] = []
        self.fills: list[Fill] = []  # every fill, at submission or later, for tests
        for symbol, px in (prices or {}).items():
            self.set_price(symbol, px)

    # -- connection -------------------------------------------------------------------------------
    @property
    def connection_state(self) -> ConnectionState:
        with self._lock:
            return self._state

    def connect(self) -> None:
        with self._lock:
            self._state = ConnectionState.CONNECTED

    def disconnect(self) -> None:
        with self._lock:
            self._state = ConnectionState.DISCONNECTED

    def _require_connection(self) -> None:
        if self._state is not ConnectionState.CONNECTED:
            raise ConnectionError("broker disconnected")

    # -- market -----------------------------------------------------------------------------------
    def set_price(self, symbol: str, px: float) -> None:
        if not (math.isfinite(px) and px > 0):
            raise ValueError(f"MockBroker.set_price({symbol!r}): price must be finite and > 0, got {px}")
        with self._lock:
            self._prices[symbol] = float(px)

    def price(self, symbol: str) -> float | None:
        with self._lock:
            return self._prices.get(symbol)

    # -- orders -----------------------------------------------------------------------------------
    def submit_order(self, order: Order) -> BrokerAck:
        if self.latency_s > 0:  # outside the lock: a slow broker must not block a concurrent poll
            self.clock.sleep(self.latency_s)
        with self._lock:
            self._require_connection()
            cid = order.client_order_id
            self.received.append(cid)
            known = self.orders.get(cid)
            if known is not None:  # the first answer again, never a second order (retry after a timeout)
                return known.ack
            broker_id = f"mock-{len(self.orders) + 1:06d}"
            reason = self._refusal(order)
            if reason:
                ack = BrokerAck(cid, broker_id, OrderStatus.REJECTED, reject_reason=reason)
                self.orders[cid] = BrokerOrder(order, broker_id, ack, OrderStatus.REJECTED)
                return ack
            placeholder = BrokerAck(cid, broker_id, OrderStatus.SUBMITTED)  # replaced once the fill is known
            record = BrokerOrder(order, broker_id, placeholder, OrderStatus.SUBMITTED)
            self.orders[cid] = record
            px = broker_rules.marketable_price(order, self._reference(order))
            if px is not None:
                self._fill(
                    record, broker_rules.arrival_quantity(order, self.partial_fill_ratio), px, report=False
                )
            record.ack = BrokerAck(
                cid,
                broker_id,
                record.status,
                filled_quantity=record.filled,
                avg_price=broker_rules.average_price(record),
                fee=record.filled * self.fee_per_unit,
            )
            return record.ack

    def cancel_order(self, client_order_id: str) -> BrokerAck:
        if self.latency_s > 0:
            self.clock.sleep(self.latency_s)
        with self._lock:
            self._require_connection()
            record = self.orders.get(client_order_id)
            if record is None:
                return BrokerAck(
                    client_order_id, "", OrderStatus.REJECTED, reject_reason="unknown client order id"
                )
            avg = broker_rules.average_price(record)
            reason = broker_rules.cancel_refusal(record.status)
            if reason:
                return BrokerAck(
                    client_order_id,
                    record.broker_order_id,
                    OrderStatus.REJECTED,
                    record.filled,
                    avg,
                    reject_reason=reason,
                )
            record.status = OrderStatus.CANCELLED
            return BrokerAck(
                client_order_id, record.broker_order_id, OrderStatus.CANCELLED, record.filled, avg
            )

    def poll_fills(self) -> list[Fill]:
        with self._lock:
            self._require_connection()
            for record in self.orders.values():
                if record.status in broker_rules.WORKING:
                    px = broker_rules.marketable_price(record.order, self._reference(record.order))
                    if px is not None:  # "each poll fills the remainder"
                        self._fill(record, record.remaining, px, report=True)
            fills, self._pending_fills = self._pending_fills, []
            return fills

    def get_positions(self) -> dict[str, float]:
        with self._lock:
            self._require_connection()
            return dict(self._positions)

    # -- internals --------------------------------------------------------------------------------
    def _refusal(self, order: Order) -> str:
        return broker_rules.refusal(
            order, price=lambda: self._reference(order), rng=self._rng, reject_rate=self.reject_rate
        )

    def _reference(self, order: Order) -> float | None:
        """The symbol's price (``set_price``), else the order's finite ``reference_price``, else None."""
        px = self._prices.get(order.symbol)
        if px is None and order.reference_price is not None and math.isfinite(order.reference_price):
            px = float(order.reference_price)
        return px

    def _fill(self, record: BrokerOrder, quantity: float, px: float, *, report: bool) -> None:
        if min(quantity, record.remaining) <= 0:  # a fill of nothing: no Fill, the order as it was
            return
        quantity = broker_rules.book_fill(record, quantity, px, self._positions)
        order = record.order
        fill = Fill(
            order.client_order_id,
            order.symbol,
            order.side,
            quantity,
            px,
            fee=quantity * self.fee_per_unit,
            timestamp_ns=int(self.clock.now() * 1e9),
        )
        self.fills.append(fill)
        if report:
            self._pending_fills.append(fill)
