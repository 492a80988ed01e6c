"""BrokerFaults: the runbook's broker outage injected in front of any broker, and every attempt recorded.

Runbook: seed 001 scenario 3 (lines 151-228: "Network failure", "Broker downtime", the simulation's
``TimeoutError("API timeout")``) and Emergency Procedures, Position Reconciliation Failure (lines 352-360).
"""

from __future__ import annotations

import pytest

from pytest_stress.stack.broker import MockBroker
from pytest_stress.stack.broker_faults import BrokerFaults, FaultMode, Outcome
from pytest_stress.stack.clock import SimClock
from pytest_stress.stack.model import ConnectionState, Order, OrderStatus, OrderType, Side
from pytest_stress.stack.protocols import BrokerClient


def buy(qty=10.0, **kw):
    return Order("AAPL", Side.BUY, qty, **kw)


@pytest.fixture
def clock():
    return SimClock(start=100.0)


@pytest.fixture
def inner(clock):
    return MockBroker(clock=clock, prices={"AAPL": 100.0})


@pytest.fixture
def faults(inner, clock):
    return BrokerFaults(inner, clock)


def test_broker_faults_implements_the_broker_protocol(faults):
    assert isinstance(faults, BrokerClient)


def test_without_a_fault_every_call_reaches_the_inner_broker(faults, inner):
    order = buy()
    assert faults.submit_order(order).status is OrderStatus.FILLED
    assert inner.received == [order.client_order_id]
    assert faults.get_positions() == {"AAPL": 10.0}
    assert [a.outcome for a in faults.attempts] == [Outcome.ACKED]


def test_timeout_raises_api_timeout_without_reaching_the_inner_broker(faults, inner):
    # seed 001 line 220: side_effect=TimeoutError("API timeout")
    faults.timeout()
    with pytest.raises(TimeoutError, match="API timeout"):
        faults.submit_order(buy())
    assert inner.received == []
    assert faults.attempts[0].outcome is Outcome.TIMEOUT
    assert not faults.attempts[0].reached_broker


def test_a_fault_for_n_attempts_clears_itself_after_them(faults, inner):
    faults.timeout(times=2)
    order = buy()
    for _ in range(2):
        with pytest.raises(TimeoutError):
            faults.submit_order(order)
    assert faults.submit_order(order).status is OrderStatus.FILLED
    assert faults.mode is FaultMode.NONE
    assert [a.outcome for a in faults.attempts_for(order.client_order_id)] == [
        Outcome.TIMEOUT,
        Outcome.TIMEOUT,
        Outcome.ACKED,
    ]


def test_timeout_after_accept_loses_the_answer_but_the_order_exists_once(faults, inner):
    faults.timeout_after_accept(times=1)
    order = buy()
    with pytest.raises(TimeoutError):
        faults.submit_order(order)
    assert inner.get_positions() == {"AAPL": 10.0}
    retry = faults.submit_order(order)  # same client order id: the broker's first answer
    assert retry.status is OrderStatus.FILLED
    assert len(inner.orders) == 1
    assert inner.get_positions() == {"AAPL": 10.0}
    assert [a.reached_broker for a in faults.attempts] == [True, True]


def test_disconnect_makes_every_call_raise_connection_error_until_connect(faults, inner):
    # seed 001 line 165: "Cannot sync with broker"
    faults.disconnect()
    assert faults.connection_state is ConnectionState.DISCONNECTED
    assert inner.connection_state is ConnectionState.CONNECTED  # the fault is in front, not in the broker
    with pytest.raises(ConnectionError, match="broker disconnected"):
        faults.submit_order(buy())
    with pytest.raises(ConnectionError, match="broker disconnected"):
        faults.get_positions()
    with pytest.raises(ConnectionError):
        faults.poll_fills()
    assert inner.received == []
    faults.connect()
    assert faults.connection_state is ConnectionState.CONNECTED
    assert faults.get_positions() == {}


def test_fills_of_working_orders_are_kept_at_the_broker_while_disconnected(faults, inner):
    resting = buy(5, order_type=OrderType.LIMIT, limit_price=95.0)
    faults.submit_order(resting)
    faults.disconnect()
    inner.set_price("AAPL", 90.0)
    with pytest.raises(ConnectionError):
        faults.poll_fills()
    faults.restore()
    assert [f.client_order_id for f in faults.poll_fills()] == [resting.client_order_id]


def test_connect_also_connects_an_inner_broker_that_dropped(faults, inner):
    inner.disconnect()
    assert faults.connection_state is ConnectionState.DISCONNECTED
    faults.connect()
    assert inner.connection_state is ConnectionState.CONNECTED


def test_reject_answers_rejected_with_the_reason_and_skips_the_inner_broker(faults, inner):
    faults.reject("Rate limit: Exceeded API request limits", times=1)
    ack = faults.submit_order(buy())
    assert ack.status is OrderStatus.REJECTED
    assert ack.reject_reason == "Rate limit: Exceeded API request limits"
    assert inner.received == []
    assert faults.submit_order(buy()).status is OrderStatus.FILLED


def test_tamper_positions_changes_only_what_get_positions_reports(faults, inner):
    # seed 001 line 354: "Local position state diverges from broker"
    faults.submit_order(buy(10))
    faults.tamper_positions({"AAPL": 5.0, "MSFT": -1.0})
    assert faults.get_positions() == {"AAPL": 15.0, "MSFT": -1.0}
    assert faults.true_positions() == {"AAPL": 10.0}
    faults.restore()
    assert faults.get_positions() == {"AAPL": 10.0}


def test_attempts_record_the_clock_time_and_the_flags_that_were_on(faults, clock):
    kill = {"on": False}
    faults.record_flag("kill_switch", lambda: kill["on"])
    first = buy()
    faults.submit_order(first)
    clock.advance(5.0)
    kill["on"] = True
    second = buy()
    faults.submit_order(second)
    assert [a.time for a in faults.attempts] == [100.0, 105.0]
    assert [a.client_order_id for a in faults.attempts_while("kill_switch")] == [second.client_order_id]
    assert faults.attempts_while("kill_switch")[0].reached_broker


def test_times_below_one_is_refused(faults):
    with pytest.raises(ValueError, match="times"):
        faults.timeout(times=0)
