"""The in-process MockBroker: fills, partial fills, resting limits, seeded rejects, latency, idempotent ids.

Runbook: seed 001 scenario 3 (broker API outage, lines 151-228): a retried submission must never create a
second order, and a disconnected broker answers nothing (``get_positions`` raises ConnectionError).
"""

from __future__ import annotations

import math

import pytest

from pytest_stress.stack.broker import MockBroker
from pytest_stress.stack.bus import EventBus
from pytest_stress.stack.clock import SimClock
from pytest_stress.stack.governor import ReferenceRiskGovernor
from pytest_stress.stack.model import ConnectionState, Order, OrderStatus, OrderType, Side
from pytest_stress.stack.oms import ReferenceOMS
from pytest_stress.stack.protocols import BrokerClient


def buy(qty=10.0, symbol="AAPL", **kw):
    return Order(symbol, Side.BUY, qty, **kw)


def sell(qty=10.0, symbol="AAPL", **kw):
    return Order(symbol, Side.SELL, qty, **kw)


@pytest.fixture
def broker():
    return MockBroker(clock=SimClock(), prices={"AAPL": 100.0})


def test_mock_broker_implements_the_broker_protocol(broker):
    assert isinstance(broker, BrokerClient)


def test_market_order_fills_at_the_set_price_and_moves_the_position(broker):
    ack = broker.submit_order(buy(10))
    assert ack.status is OrderStatus.FILLED
    assert ack.filled_quantity == 10
    assert ack.avg_price == 100.0
    assert broker.get_positions() == {"AAPL": 10.0}
    broker.set_price("AAPL", 110.0)
    broker.submit_order(sell(4))
    assert broker.get_positions() == {"AAPL": 6.0}
    assert broker.fills[-1].price == 110.0


def test_fill_at_submission_is_in_the_ack_only_and_poll_reports_later_fills(broker):
    broker.submit_order(buy(10))
    assert broker.poll_fills() == []  # protocols.BrokerClient: poll_fills reports later fills


def test_partial_fill_fills_the_ratio_now_and_the_rest_at_the_next_poll():
    broker = MockBroker(clock=SimClock(), prices={"AAPL": 100.0}, partial_fill_ratio=0.4)
    order = buy(10)
    ack = broker.submit_order(order)
    assert ack.status is OrderStatus.PARTIALLY_FILLED
    assert ack.filled_quantity == pytest.approx(4.0)
    later = broker.poll_fills()
    assert [f.quantity for f in later] == [pytest.approx(6.0)]
    assert later[0].client_order_id == order.client_order_id
    assert broker.orders[order.client_order_id].status is OrderStatus.FILLED
    assert broker.get_positions()["AAPL"] == pytest.approx(10.0)
    assert broker.poll_fills() == []


def test_limit_order_rests_until_marketable_then_fills_at_the_price(broker):
    order = buy(5, order_type=OrderType.LIMIT, limit_price=95.0)
    ack = broker.submit_order(order)
    assert ack.status is OrderStatus.SUBMITTED
    assert ack.filled_quantity == 0
    assert math.isnan(ack.avg_price)
    assert broker.poll_fills() == []
    broker.set_price("AAPL", 94.0)
    fills = broker.poll_fills()
    assert [(f.quantity, f.price) for f in fills] == [(5.0, 94.0)]
    assert broker.get_positions() == {"AAPL": 5.0}


def test_marketable_sell_limit_fills_at_once(broker):
    ack = broker.submit_order(sell(3, order_type=OrderType.LIMIT, limit_price=99.0))
    assert ack.status is OrderStatus.FILLED
    assert broker.get_positions() == {"AAPL": -3.0}


def test_repeated_client_order_id_returns_the_first_ack_and_never_a_second_order(broker):
    # seed 001 line 163: the OMS retries; the broker must drop the repeat (protocols.BrokerClient)
    order = buy(10)
    first = broker.submit_order(order)
    second = broker.submit_order(order)
    assert second == first
    assert len(broker.orders) == 1
    assert broker.received == [order.client_order_id, order.client_order_id]
    assert broker.get_positions() == {"AAPL": 10.0}


def test_seeded_rejects_are_reproducible_and_carry_a_reason():
    def outcomes(seed):
        b = MockBroker(clock=SimClock(), prices={"AAPL": 100.0}, reject_rate=0.5, seed=seed)
        return [b.submit_order(buy(1)).status for _ in range(40)]

    assert outcomes(7) == outcomes(7)
    assert OrderStatus.REJECTED in outcomes(7)
    assert OrderStatus.FILLED in outcomes(7)
    always = MockBroker(clock=SimClock(), prices={"AAPL": 100.0}, reject_rate=1.0)
    ack = always.submit_order(buy(1))
    assert ack.status is OrderStatus.REJECTED
    assert "reject_rate" in ack.reject_reason
    assert always.get_positions() == {}


def test_latency_is_slept_on_the_clock_for_every_submission():
    clock = SimClock()
    broker = MockBroker(clock=clock, prices={"AAPL": 100.0}, latency_s=0.25)
    broker.submit_order(buy(1))
    broker.submit_order(buy(1))
    assert clock.sleeps == [0.25, 0.25]
    assert clock.now() == pytest.approx(0.5)


def test_disconnected_broker_raises_connection_error_and_fills_nothing(broker):
    # seed 001 line 155 "Loss of connection to broker"; protocols: get_positions raises while disconnected
    resting = buy(5, order_type=OrderType.LIMIT, limit_price=95.0)
    broker.submit_order(resting)
    broker.disconnect()
    assert broker.connection_state is ConnectionState.DISCONNECTED
    with pytest.raises(ConnectionError, match="disconnected"):
        broker.submit_order(buy(1))
    with pytest.raises(ConnectionError):
        broker.get_positions()
    with pytest.raises(ConnectionError):
        broker.poll_fills()
    broker.set_price("AAPL", 90.0)
    broker.connect()
    assert [f.client_order_id for f in broker.poll_fills()] == [resting.client_order_id]
    assert broker.received == [resting.client_order_id]  # the refused submission never arrived


def test_cancel_stops_a_resting_order_and_a_filled_one_cannot_be_cancelled(broker):
    resting = buy(5, order_type=OrderType.LIMIT, limit_price=95.0)
    broker.submit_order(resting)
    assert broker.cancel_order(resting.client_order_id).status is OrderStatus.CANCELLED
    broker.set_price("AAPL", 90.0)
    assert broker.poll_fills() == []
    filled = buy(1)
    broker.submit_order(filled)
    ack = broker.cancel_order(filled.client_order_id)
    assert ack.status is OrderStatus.REJECTED
    assert "FILLED" in ack.reject_reason
    assert broker.cancel_order("nope").status is OrderStatus.REJECTED


def test_fee_per_unit_is_charged_on_every_fill():
    broker = MockBroker(clock=SimClock(), prices={"AAPL": 100.0}, fee_per_unit=0.01)
    broker.submit_order(buy(200))
    assert broker.fills[0].fee == pytest.approx(2.0)


def test_market_order_without_a_price_is_rejected_with_a_reason():
    broker = MockBroker(clock=SimClock())
    ack = broker.submit_order(buy(1, symbol="MSFT"))
    assert ack.status is OrderStatus.REJECTED
    assert "no price for MSFT" in ack.reject_reason
    ok = broker.submit_order(buy(1, symbol="MSFT", reference_price=50.0))
    assert ok.status is OrderStatus.FILLED
    assert ok.avg_price == 50.0


@pytest.mark.parametrize("kwargs", [{"reject_rate": 1.5}, {"partial_fill_ratio": 0.0}, {"latency_s": -1}])
def test_invalid_settings_are_refused_at_construction(kwargs):
    with pytest.raises(ValueError, match="MockBroker"):
        MockBroker(**kwargs)


def test_fees_of_fills_at_submission_reach_the_oms_book():
    """A fill reported in the ack carries its fee, so the OMS's fills are net of the broker's fees."""
    clock, bus = SimClock(), EventBus()
    broker = MockBroker(clock=clock, prices={"SPY": 100.0}, fee_per_unit=0.01, partial_fill_ratio=0.5)
    oms = ReferenceOMS(broker, ReferenceRiskGovernor(bus=bus, clock=clock), bus=bus, clock=clock)
    oms.submit_order(Order("SPY", Side.BUY, 10.0))
    oms.heartbeat()  # the other half fills on the next poll
    assert sum(f.quantity for f in oms.fills()) == 10.0
    assert sum(f.fee for f in oms.fills()) == pytest.approx(0.10)
