"""An in-process broker for the reference stack and the runbook suite: prices set by the test, seeded rejects,
partial fills, latency on the stack's clock, and idempotent client order ids (seed 001 scenario 3).

Fill reporting follows ``protocols.BrokerClient``: what fills at submission is reported in the ``BrokerAck``
(``filled_quantity`` at ``avg_price``) and never again; ``poll_fills`` reports only later fills (the rest of
a partial fill, a resting limit order that became marketable). Positions change only at those two moments,
so an OMS that reads every ack and every poll always agrees with ``get_positions``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.model import BrokerAck, ConnectionState, Fill, Order, OrderStatus, OrderType, Side
from pytest_stress.stack.protocols import Clock

_WORKING = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)


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
    def remaining(self) -> float:
        return max(self.order.quantity - self.filled, 0.0)


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
            px = self._marketable_price(order)
            if px is not None:
                self._fill(record, order.quantity * self.partial_fill_ratio, px, report=False)
            record.ack = BrokerAck(
                cid,
                broker_id,
                record.status,
                filled_quantity=record.filled,
                avg_price=record.notional / record.filled if record.filled > 0 else math.nan,
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
            avg = record.notional / record.filled if record.filled > 0 else math.nan
            if record.status not in _WORKING:
                return BrokerAck(
                    client_order_id,
                    record.broker_order_id,
                    OrderStatus.REJECTED,
                    record.filled,
                    avg,
                    reject_reason=f"cannot cancel: order is {record.status.value}",
                )
            record.status = OrderStatus.CANCELLED
            return BrokerAck(
                client_order_id, record.broker_order_id, OrderStatus.CANCELLED, record.filled, avg
            )

    def poll_fills(self) -> list[Fill]:
        with self._lock:
            self._require_connection()
            for record in self.orders.values():
                if record.status in _WORKING:
                    px = self._marketable_price(record.order)
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
        if not (math.isfinite(order.quantity) and order.quantity > 0):
            return f"invalid quantity {order.quantity}: must be finite and > 0"
        if order.order_type is OrderType.LIMIT and not (
            order.limit_price is not None and math.isfinite(order.limit_price) and order.limit_price > 0
        ):
            return f"limit order without a valid limit price ({order.limit_price})"
        if order.order_type is OrderType.MARKET and self._reference(order) is None:
            return f"no price for {order.symbol}: call set_price first"
        if self.reject_rate > 0 and self._rng.random() < self.reject_rate:
            return f"rejected by broker (simulated, reject_rate={self.reject_rate})"
        return ""

    def _reference(self, order: Order) -> float | None:
        px = self._prices.get(order.symbol)
        if px is None and order.reference_price is not None and math.isfinite(order.reference_price):
            px = float(order.reference_price)
        return px

    def _marketable_price(self, order: Order) -> float | None:
        px = self._reference(order)
        if px is None or order.order_type is OrderType.MARKET:
            return px
        limit = float(order.limit_price)  # type: ignore[arg-type]
        marketable = px <= limit if order.side is Side.BUY else px >= limit
        return px if marketable else None

    def _fill(self, record: BrokerOrder, quantity: float, px: float, *, report: bool) -> None:
        quantity = min(quantity, record.remaining)
        if quantity <= 0:
            return
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
        record.filled += quantity
        record.notional += quantity * px
        # A float remainder below a nano-unit is a rounding artefact, not a working order.
        done = record.remaining <= 1e-9 * max(order.quantity, 1.0)
        record.status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        self._positions[order.symbol] = self._positions.get(order.symbol, 0.0) + fill.signed_quantity
        self.fills.append(fill)
        if report:
            self._pending_fills.append(fill)
