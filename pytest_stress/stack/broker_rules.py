"""The one broker rule set: the in-process ``MockBroker`` (``stack.broker``) and the FIX 4.4 broker service
(``faults.fix_broker``) both follow it, so a change to how a broker refuses or fills is made here once.

The rules: why a new order is refused (``refusal``), the price it fills at when marketable
(``marketable_price``), how much fills on arrival (``arrival_quantity``), how a fill is booked on the
order's record and in the positions (``book_fill``), and which orders can still fill or be cancelled
(``WORKING``, ``cancel_refusal``). Each broker keeps what is its own: where prices come from, how it
answers (a ``BrokerAck`` or a FIX ExecutionReport) and how it words a refusal (``Wording``).

Units: quantities are units of the instrument, prices and average prices currency per unit, notional
currency (the sum of quantity * price over the fills), positions signed units (long > 0, short < 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeGuard

from pytest_stress.stack.model import OrderStatus, OrderType, Side

if TYPE_CHECKING:  # only its type: the rules draw from the broker's own generator
    import numpy as np

WORKING = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)
"""The statuses of an order that can still fill and can be cancelled."""

DONE_FRACTION = 1e-9
"""A remainder at or below this fraction of the order's quantity (of one unit, for an order under one unit)
is a float rounding artefact, not a working order: the order is FILLED."""


class Ordered(Protocol):
    """What was ordered, as every record of an order has it."""

    @property
    def symbol(self) -> str: ...

    @property
    def side(self) -> Side: ...

    @property
    def quantity(self) -> float:
        """Units ordered (> 0 once accepted)."""
        ...


class OrderTerms(Ordered, Protocol):
    """What the refusal and price rules read of an order: ``model.Order`` and the FIX service's
    ``ServiceOrder`` both have it."""

    @property
    def order_type(self) -> OrderType: ...

    @property
    def limit_price(self) -> float | None:
        """Currency per unit; None for a market order."""
        ...


class FillRecord(Ordered, Protocol):
    """A broker's record of one order, as the fill rules read and change it (``BrokerOrder``,
    ``ServiceOrder``)."""

    filled: float  # units filled so far
    notional: float  # currency: the sum of quantity * price over the fills
    status: OrderStatus


@dataclass(frozen=True)
class Wording:
    """How a broker words its refusals: ``str.format`` templates over ``symbol``, ``quantity``,
    ``limit_price`` (the order's values, or what ``refusal(shown=...)`` puts in their place) and
    ``reject_rate``. The defaults are the in-process broker's words."""

    quantity: str = "invalid quantity {quantity}: must be finite and > 0"
    limit_price: str = "limit order without a valid limit price ({limit_price})"
    not_tradable: str = "symbol {symbol} is not tradable at this broker"
    no_price: str = "no price for {symbol}: call set_price first"
    simulated: str = "rejected by broker (simulated, reject_rate={reject_rate})"


def is_valid_quantity(quantity: float) -> bool:
    """An order quantity (units) is finite and > 0."""
    return math.isfinite(quantity) and quantity > 0


def is_valid_price(px: float | None) -> TypeGuard[float]:
    """A price (currency per unit) is present, finite and > 0."""
    return px is not None and math.isfinite(px) and px > 0


def refusal(
    order: OrderTerms,
    *,
    price: Callable[[], float | None],
    rng: np.random.Generator,
    reject_rate: float,
    tradable: bool = True,
    wording: Wording = Wording(),  # frozen: one shared default is safe
    shown: Mapping[str, object] | None = None,
) -> str:
    """Why the broker refuses the new ``order``; "" when it accepts it. The first failing check wins:

    1. the quantity is not finite and > 0 units;
    2. a limit order's ``limit_price`` is not finite and > 0 (currency per unit);
    3. the symbol is not ``tradable`` at this broker;
    4. a market order has no price: ``price()`` (currency per unit, None when there is none) is asked only
       here, so a price source that starts on its first call (a replay) is not started by a refusal;
    5. the seeded draw: ``rng.random() < reject_rate``, drawn only when ``reject_rate`` > 0 and every check
       above passed, so which orders are refused depends only on the seed and the valid orders.

    ``shown`` replaces the values the reason shows (the FIX service shows the tag text it was sent).
    """
    values = {"symbol": order.symbol, "quantity": order.quantity, "limit_price": order.limit_price}
    values.update(shown or {})
    if not is_valid_quantity(order.quantity):
        template = wording.quantity
    elif order.order_type is OrderType.LIMIT and not is_valid_price(order.limit_price):
        template = wording.limit_price
    elif not tradable:
        template = wording.not_tradable
    elif order.order_type is OrderType.MARKET and price() is None:
        template = wording.no_price
    elif reject_rate > 0 and rng.random() < reject_rate:
        template = wording.simulated
    else:
        return ""
    return template.format(**values, reject_rate=reject_rate)


def marketable_price(order: OrderTerms, price: float | None) -> float | None:
    """The price (currency per unit) ``order`` fills at now, None when it does not fill.

    A market order fills at ``price``. A limit order fills only when marketable (BUY: price <= limit,
    SELL: price >= limit), and then at ``price``, not at its limit. Nothing fills without a price (None).
    """
    if price is None or order.order_type is OrderType.MARKET:
        return price
    limit = float(order.limit_price)  # type: ignore[arg-type]  # refusal() accepted only a valid limit
    marketable = price <= limit if order.side is Side.BUY else price >= limit
    return price if marketable else None


def arrival_quantity(order: Ordered, partial_fill_ratio: float) -> float:
    """Units a marketable order fills when it arrives: ``partial_fill_ratio`` (in (0, 1]) of its quantity.
    The rest is its ``remaining``, which fills whole at the next match at which it is marketable."""
    return order.quantity * partial_fill_ratio


def remaining(record: FillRecord) -> float:
    """Units of the order not filled yet (never below 0)."""
    return max(record.quantity - record.filled, 0.0)


def average_price(record: FillRecord, *, nothing: float = math.nan) -> float:
    """The volume-weighted price of the fills (currency per unit); ``nothing`` before any fill."""
    return record.notional / record.filled if record.filled > 0 else nothing


def book_fill(record: FillRecord, quantity: float, px: float, positions: dict[str, float]) -> float:
    """Book a fill of ``quantity`` units at ``px`` (currency per unit), at most the record's ``remaining``;
    returns the units booked.

    ``filled`` and ``notional`` grow by the fill; the status becomes FILLED once the remainder is within
    ``DONE_FRACTION``, else PARTIALLY_FILLED; ``positions[symbol]`` (signed units) moves by the fill, up for
    a BUY, down for a SELL. A broker that reports fills as events skips a fill of nothing itself.
    """
    quantity = min(quantity, remaining(record))
    record.filled += quantity
    record.notional += quantity * px
    done = remaining(record) <= DONE_FRACTION * max(record.quantity, 1.0)
    record.status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
    positions[record.symbol] = positions.get(record.symbol, 0.0) + record.side.sign * quantity
    return quantity


def cancel_refusal(status: OrderStatus) -> str:
    """Why an order of ``status`` cannot be cancelled; "" for a working one (``WORKING``)."""
    return "" if status in WORKING else f"cannot cancel: order is {status.value}"
