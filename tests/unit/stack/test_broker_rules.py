"""The one broker rule set (``stack.broker_rules``): refusals, the marketable price, fill booking, positions.

The last test runs one sequence of orders through ``MockBroker`` and through the FIX broker service's own
order handling (no socket: a stub session collects its ExecutionReports) and checks both fill alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import simplefix
from hypothesis import given
from hypothesis import strategies as st

from pytest_stress.faults.fix_broker import FixBrokerService
from pytest_stress.stack import broker_rules as rules
from pytest_stress.stack.broker import MockBroker
from pytest_stress.stack.clock import SimClock
from pytest_stress.stack.model import Order, OrderStatus, OrderType, Side


@dataclass
class Record:
    """The least a broker's record of an order holds, for the fill rules."""

    symbol: str
    side: Side
    quantity: float
    filled: float = 0.0
    notional: float = 0.0
    status: OrderStatus = OrderStatus.SUBMITTED


def market(side: Side, quantity: float, symbol: str = "AAPL", **kw) -> Order:
    return Order(symbol, side, quantity, **kw)


def limit(side: Side, quantity: float, px: float | None, **kw) -> Order:
    return Order("AAPL", side, quantity, OrderType.LIMIT, px, **kw)


class Prices:
    """A price source that counts how often it was asked."""

    def __init__(self, px: float | None) -> None:
        self.px, self.asked = px, 0

    def __call__(self) -> float | None:
        self.asked += 1
        return self.px


def refuse(order: Order, px: float | None = 100.0, **kw) -> str:
    kw.setdefault("rng", np.random.default_rng(0))
    kw.setdefault("reject_rate", 0.0)
    return rules.refusal(order, price=Prices(px), **kw)


# -- the marketable price --------------------------------------------------------------------------
def test_market_order_fills_at_the_price_and_not_without_one():
    assert rules.marketable_price(market(Side.BUY, 1), 101.25) == 101.25
    assert rules.marketable_price(market(Side.SELL, 1), None) is None


def test_buy_limit_below_the_price_rests_and_fills_at_the_price_once_marketable():
    order = limit(Side.BUY, 5, 95.0)
    assert rules.marketable_price(order, 100.0) is None
    assert rules.marketable_price(order, 95.0) == 95.0  # at the limit: marketable
    assert rules.marketable_price(order, 94.0) == 94.0  # at the price, not at the limit


def test_sell_limit_above_the_price_rests_and_fills_at_the_price_once_marketable():
    order = limit(Side.SELL, 5, 105.0)
    assert rules.marketable_price(order, 100.0) is None
    assert rules.marketable_price(order, 105.0) == 105.0
    assert rules.marketable_price(order, 107.5) == 107.5
    assert rules.marketable_price(order, None) is None


# -- refusals --------------------------------------------------------------------------------------
@pytest.mark.parametrize("quantity", [0.0, -1.0, math.nan, math.inf])
def test_a_quantity_that_is_not_finite_and_positive_is_refused(quantity):
    reason = refuse(market(Side.BUY, quantity))
    assert reason == f"invalid quantity {quantity}: must be finite and > 0"


@pytest.mark.parametrize("px", [None, 0.0, -5.0, math.nan, math.inf])
def test_a_limit_order_without_a_valid_limit_price_is_refused(px):
    assert refuse(limit(Side.BUY, 1, px)) == f"limit order without a valid limit price ({px})"


def test_a_market_order_without_a_price_is_refused_and_a_limit_order_without_one_rests():
    assert refuse(market(Side.BUY, 1, "MSFT"), px=None) == "no price for MSFT: call set_price first"
    prices = Prices(None)
    rng = np.random.default_rng(0)
    assert rules.refusal(limit(Side.BUY, 1, 95.0), price=prices, rng=rng, reject_rate=0) == ""
    assert prices.asked == 0  # a limit order needs no price to be accepted; the source is not even asked


def test_an_untradable_symbol_is_refused_before_its_price_is_asked():
    prices = Prices(None)
    reason = rules.refusal(
        market(Side.BUY, 1, "GME"), price=prices, rng=np.random.default_rng(0), reject_rate=0, tradable=False
    )
    assert reason == "symbol GME is not tradable at this broker"
    assert prices.asked == 0


def test_the_first_failing_check_gives_the_reason():
    assert refuse(limit(Side.BUY, 0.0, None), tradable=False).startswith("invalid quantity")
    assert refuse(limit(Side.BUY, 1.0, None), tradable=False).startswith("limit order without")
    assert refuse(market(Side.BUY, 1), px=None, tradable=False).startswith("symbol AAPL")


def test_the_seeded_draw_is_taken_only_for_an_otherwise_valid_order():
    rng, untouched = np.random.default_rng(5), np.random.default_rng(5)
    assert refuse(market(Side.BUY, 0), rng=rng, reject_rate=1.0).startswith("invalid quantity")
    assert refuse(market(Side.BUY, 1), rng=rng, reject_rate=0.0) == ""  # rate 0: no draw either
    assert rng.random() == untouched.random()
    always = refuse(market(Side.BUY, 1), rng=rng, reject_rate=1.0)
    assert always == "rejected by broker (simulated, reject_rate=1.0)"


def test_the_seeded_draw_refuses_the_same_orders_for_the_same_seed():
    def outcomes(seed):
        rng = np.random.default_rng(seed)
        return [bool(refuse(market(Side.BUY, 1), rng=rng, reject_rate=0.5)) for _ in range(40)]

    assert outcomes(7) == outcomes(7)
    assert 0 < sum(outcomes(7)) < 40


def test_a_broker_words_the_reasons_and_shows_its_own_values():
    wording = rules.Wording(quantity="bad OrderQty (38) {quantity!r}", no_price="no price for {symbol}")
    assert refuse(market(Side.BUY, math.nan), wording=wording, shown={"quantity": "ten"}) == (
        "bad OrderQty (38) 'ten'"
    )
    assert refuse(market(Side.BUY, 1, "MSFT"), px=None, wording=wording) == "no price for MSFT"


# -- booking fills ---------------------------------------------------------------------------------
def test_a_partial_fill_leaves_the_remainder_working():
    order, positions = Record("AAPL", Side.BUY, 10), {}
    booked = rules.book_fill(order, rules.arrival_quantity(order, 0.4), 100.0, positions)
    assert booked == pytest.approx(4.0)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.status in rules.WORKING
    assert rules.remaining(order) == pytest.approx(6.0)
    assert rules.average_price(order) == pytest.approx(100.0)
    assert positions == {"AAPL": pytest.approx(4.0)}


def test_the_remainder_fills_whole_and_the_average_price_is_volume_weighted():
    order, positions = Record("AAPL", Side.BUY, 10), {}
    rules.book_fill(order, 4.0, 100.0, positions)
    assert rules.book_fill(order, rules.remaining(order), 110.0, positions) == 6.0
    assert order.status is OrderStatus.FILLED
    assert order.notional == 4 * 100.0 + 6 * 110.0  # currency
    assert rules.average_price(order) == pytest.approx(106.0)
    assert rules.remaining(order) == 0.0
    assert positions == {"AAPL": 10.0}


def test_a_fill_never_exceeds_the_remainder():
    order, positions = Record("AAPL", Side.SELL, 3), {}
    assert rules.book_fill(order, 5.0, 50.0, positions) == 3.0
    assert (order.filled, order.status) == (3.0, OrderStatus.FILLED)
    assert positions == {"AAPL": -3.0}


def test_a_remainder_below_a_nano_unit_is_filled_not_working():
    order = Record("AAPL", Side.BUY, 1000.0)
    rules.book_fill(order, 1000.0 - 1e-7, 10.0, {})
    assert rules.remaining(order) > 0
    assert order.status is OrderStatus.FILLED
    small = Record("AAPL", Side.BUY, 0.5)  # under one unit: the tolerance is a nano-unit, not 1e-9 * 0.5
    rules.book_fill(small, 0.5 - 5e-10, 10.0, {})
    assert small.status is OrderStatus.FILLED


def test_positions_are_signed_units_per_symbol():
    positions: dict[str, float] = {"AAPL": 2.0}
    rules.book_fill(Record("AAPL", Side.SELL, 5), 5, 100.0, positions)
    rules.book_fill(Record("MSFT", Side.BUY, 1), 1, 50.0, positions)
    assert positions == {"AAPL": -3.0, "MSFT": 1.0}


def test_average_price_before_any_fill_is_what_the_broker_says():
    order = Record("AAPL", Side.BUY, 1)
    assert math.isnan(rules.average_price(order))
    assert rules.average_price(order, nothing=0.0) == 0.0


def test_only_a_working_order_can_be_cancelled():
    assert rules.cancel_refusal(OrderStatus.SUBMITTED) == ""
    assert rules.cancel_refusal(OrderStatus.PARTIALLY_FILLED) == ""
    assert rules.cancel_refusal(OrderStatus.FILLED) == "cannot cancel: order is FILLED"
    assert rules.cancel_refusal(OrderStatus.CANCELLED) == "cannot cancel: order is CANCELLED"


@given(
    quantity=st.floats(0.001, 1e6),
    fills=st.lists(st.tuples(st.just(0.0) | st.floats(1e-6, 1e6), st.floats(0.01, 1e4)), max_size=8),
    side=st.sampled_from(Side),
)
def test_booking_never_fills_more_than_ordered_and_the_position_follows(quantity, fills, side):
    order, positions = Record("X", side, quantity), {}
    for wanted, px in fills:
        assert 0.0 <= rules.book_fill(order, wanted, px, positions) <= wanted
    assert 0.0 <= order.filled <= quantity * (1 + 1e-12)
    assert positions.get("X", 0.0) == pytest.approx(side.sign * order.filled)
    if order.filled > 0:
        assert min(px for _, px in fills) * (1 - 1e-9) <= rules.average_price(order)
        assert rules.average_price(order) <= max(px for _, px in fills) * (1 + 1e-9)


# -- both brokers follow the rules alike -----------------------------------------------------------
class StubSession:
    """What the FIX service sends a client, collected instead of written to a socket."""

    target, closed = "T", False

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[int, object]]] = []

    def send(self, msg_type: str, pairs=()) -> int:
        self.sent.append((msg_type, dict(pairs)))
        return len(self.sent)


def new_order_single(order: Order) -> simplefix.FixMessage:
    msg = simplefix.FixMessage()
    msg.append_pair(35, "D")
    pairs = [(11, order.client_order_id), (55, order.symbol), (54, "1" if order.side is Side.BUY else "2")]
    pairs += [(38, order.quantity), (40, "2" if order.order_type is OrderType.LIMIT else "1")]
    if order.limit_price is not None:
        pairs.append((44, order.limit_price))
    for tag, value in pairs:
        msg.append_pair(tag, value)
    return msg


def test_mock_broker_and_fix_service_give_the_same_fills_for_the_same_orders():
    prices = {"AAPL": 100.0, "MSFT": 50.0}
    settings = {"partial_fill_ratio": 0.4, "reject_rate": 0.25, "seed": 2}
    mock = MockBroker(clock=SimClock(), prices=prices, **settings)
    fix, session = FixBrokerService(prices=prices, **settings), StubSession()
    fix._on_logon(session)  # type: ignore[arg-type]  # the account has a session: its orders match

    orders = [
        market(Side.BUY, 10.0, client_order_id="m1"),
        limit(Side.BUY, 5.0, 95.0, client_order_id="l1"),  # rests until AAPL <= 95
        limit(Side.SELL, 3.0, 99.0, client_order_id="l2"),  # marketable: 40 % now, the rest at the next match
        market(Side.BUY, 0.0, client_order_id="bad-qty"),
        limit(Side.BUY, 2.0, math.nan, client_order_id="bad-limit"),
        market(Side.BUY, 1.0, "TSLA", client_order_id="no-price"),
        *(market((Side.BUY, Side.SELL)[i % 2], 1.0 + i, "MSFT", client_order_id=f"r{i}") for i in range(12)),
        limit(Side.SELL, 4.0, 101.0, client_order_id="l3"),  # rests until AAPL >= 101
    ]

    def step(set_price=None):
        if set_price is not None:
            mock.set_price("AAPL", set_price)
            fix.set_price("AAPL", set_price)
        mock.poll_fills()
        fix._match()

    for order in orders:
        mock.submit_order(order)
        fix._on_app(session, new_order_single(order))  # type: ignore[arg-type]
    step()
    step(set_price=94.0)
    step(set_price=101.5)

    mock_fills = [(f.client_order_id, f.quantity, f.price) for f in mock.fills]
    fix_fills = [(r[11], r[32], r[31]) for kind, r in session.sent if kind == "8" and r[150] == "F"]
    assert fix_fills == mock_fills
    assert mock_fills[0] == ("m1", 4.0, 100.0)  # the partial fill on arrival
    assert ("m1", 6.0, 100.0) in mock_fills  # its remainder at the next match
    # each resting limit fills whole, at the price it became marketable at
    assert ("l1", 5.0, 94.0) in mock_fills
    assert mock_fills[-1] == ("l3", 4.0, 101.5)
    statuses = {o.client_order_id: mock.orders[o.client_order_id].status for o in orders}
    assert statuses == {o.client_order_id: fix.orders[("T", o.client_order_id)].status for o in orders}
    rejected = {cid for cid, status in statuses.items() if status is OrderStatus.REJECTED}
    assert {"bad-qty", "bad-limit", "no-price"} < rejected
    assert any(cid.startswith("r") for cid in rejected)  # seed 2 rejects some of r0..r11: the same ones
    assert {cid: q for cid, q in mock.get_positions().items() if q != 0.0} == fix.positions("T")
