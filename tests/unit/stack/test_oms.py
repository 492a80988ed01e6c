"""ReferenceOMS through seed 001's broker outage: retries with backoff, FAILED with the cause, the alert, the
trading pause, cached positions, resume after reconnect, reconciliation and the kill switch.

Runbook: seed 001 scenario 3, lines 160-167 (expected behaviour), 186-190 (automatic mitigation), 219-227
(the simulation), Emergency Procedures lines 336-360 (kill switch, position reconciliation failure).
"""

from __future__ import annotations

import json
import math
import threading
from unittest.mock import patch

import pytest

from pytest_stress.stack.broker import MockBroker
from pytest_stress.stack.broker_faults import BrokerFaults
from pytest_stress.stack.bus import EventBus, EventType
from pytest_stress.stack.clock import SimClock
from pytest_stress.stack.governor import ReferenceRiskGovernor
from pytest_stress.stack.model import Order, OrderStatus, OrderType, PortfolioSnapshot, Side
from pytest_stress.stack.oms import ReferenceOMS
from pytest_stress.stack.protocols import BROKER_CONNECTED, BROKER_DISCONNECTED, OMS

MANUAL = "Manual override - investigating anomaly"


class Stack:
    def __init__(self, log_dir, **oms_kwargs):
        self.clock = SimClock()
        self.bus = EventBus()
        self.mock = MockBroker(clock=self.clock, prices={"AAPL": 100.0}, **oms_kwargs.pop("broker", {}))
        self.faults = BrokerFaults(self.mock, self.clock)
        self.gov = ReferenceRiskGovernor(bus=self.bus, clock=self.clock)
        self.faults.record_flag("kill_switch", lambda: self.gov.kill_switch_active)
        self.oms = ReferenceOMS(
            self.faults, self.gov, bus=self.bus, clock=self.clock, log_dir=log_dir, **oms_kwargs
        )
        self.log_path = log_dir / "orders.jsonl"

    def log(self):
        path = self.log_path
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def types(self):
        return [e.type for e in self.bus.events]


@pytest.fixture
def s(tmp_path):
    return Stack(tmp_path)


def buy(qty=10.0, **kw):
    return Order("AAPL", Side.BUY, qty, **kw)


def test_reference_oms_implements_the_oms_protocol(s):
    assert isinstance(s.oms, OMS)


def test_seed_001_simulation_timeout_marks_the_order_failed_with_timeout_in_the_reason(s):
    # seed 001 lines 220-227, verbatim but for the names
    with patch.object(MockBroker, "submit_order", side_effect=TimeoutError("API timeout")):
        result = s.oms.submit_order(buy())
    assert result.status == "FAILED"
    assert "timeout" in result.reject_reason.lower()
    assert result.reject_reason == "timeout after 4 attempts: API timeout"


def test_oms_tries_four_times_with_the_same_client_order_id_and_backs_off_half_one_two(s):
    # seed 001 line 163: "Attempts 3 retries with exponential backoff"
    s.faults.timeout()
    order = buy()
    result = s.oms.submit_order(order)
    assert result.attempts == 4
    assert [a.client_order_id for a in s.faults.attempts] == [order.client_order_id] * 4
    assert s.clock.sleeps == [0.5, 1.0, 2.0]
    assert s.mock.received == []


def test_failed_order_publishes_order_failed_and_an_alert_and_is_logged(s):
    # seed 001 line 164: "Order marked as FAILED; alert raised"; line 182: jq on orders.jsonl
    s.faults.timeout()
    order = buy()
    s.oms.submit_order(order)
    [failed] = s.bus.of_type(EventType.ORDER_FAILED)
    assert failed.data["client_order_id"] == order.client_order_id
    assert any(order.client_order_id in a.reason for a in s.bus.of_type(EventType.ALERT))
    [line] = [r for r in s.log() if r["status"] == "FAILED"]
    assert set(line) >= {"timestamp", "client_order_id", "symbol", "side", "quantity", "status"}
    assert line["reject_reason"] == "timeout after 4 attempts: API timeout"
    assert line["attempts"] == 4
    assert line["avg_price"] is None  # never NaN in JSON


def test_connection_errors_fail_with_connection_in_the_reason(s):
    with patch.object(MockBroker, "submit_order", side_effect=ConnectionError("reset by peer")):
        result = s.oms.submit_order(buy())
    assert result.status is OrderStatus.FAILED
    assert "connection" in result.reject_reason.lower()


def test_one_failure_does_not_pause_but_two_in_a_row_do(s):
    # seed 001 line 190: "Trading paused after repeated failures"; line 167 the dashboard words
    s.faults.timeout()
    s.oms.submit_order(buy())
    assert not s.oms.status().trading_paused
    s.oms.submit_order(buy())
    status = s.oms.status()
    assert status.trading_paused
    assert status.broker == BROKER_DISCONNECTED == "Broker Disconnected"
    assert status.consecutive_failures == 2
    assert EventType.TRADING_PAUSED in s.types()
    assert EventType.BROKER_DISCONNECTED in s.types()


def test_no_order_reaches_the_broker_while_trading_is_paused(s):
    # seed 001 line 166: "No new orders until connection restored"
    s.faults.timeout()
    s.oms.submit_order(buy())
    s.oms.submit_order(buy())
    tried = len(s.faults.attempts)
    s.faults.restore()
    result = s.oms.submit_order(buy())
    assert result.status is OrderStatus.REJECTED
    assert result.reject_reason == "trading paused: Broker Disconnected"
    assert len(s.faults.attempts) == tried


def test_a_broker_reporting_disconnected_pauses_trading_without_a_submission(s):
    s.faults.disconnect()
    result = s.oms.submit_order(buy())
    assert result.reject_reason == "trading paused: Broker Disconnected"
    assert s.faults.attempts == []
    assert s.oms.status().broker == BROKER_DISCONNECTED


def test_positions_come_from_the_cache_while_the_broker_is_unreachable(s):
    # seed 001 lines 165 and 189: "uses cached positions", "Fallback to cached positions"
    s.oms.submit_order(buy(10))
    assert s.oms.positions() == {"AAPL": 10.0}
    s.faults.disconnect()
    assert s.oms.positions() == {"AAPL": 10.0}
    report = s.oms.reconcile()
    assert report.used_cache
    assert report.matched
    assert not s.gov.kill_switch_active


def test_heartbeat_pauses_on_outage_and_resumes_after_reconnect_and_reconciliation(s):
    s.faults.disconnect()
    s.oms.heartbeat()
    assert s.oms.status().trading_paused
    s.oms.heartbeat()  # one outage, one alert
    assert len(s.bus.of_type(EventType.BROKER_DISCONNECTED)) == 1
    s.faults.connect()
    s.oms.heartbeat()
    assert EventType.BROKER_RECONNECTED in s.types()
    assert EventType.TRADING_RESUMED in s.types()
    status = s.oms.status()
    assert (status.trading_paused, status.broker) == (False, BROKER_CONNECTED)
    assert s.oms.submit_order(buy()).status is OrderStatus.FILLED


def test_timeout_after_accept_retry_creates_exactly_one_position_at_the_broker(s):
    s.faults.timeout_after_accept(times=1)
    order = buy(10)
    result = s.oms.submit_order(order)
    assert result.status is OrderStatus.FILLED
    assert result.attempts == 2
    assert len(s.mock.orders) == 1
    assert s.mock.get_positions() == {"AAPL": 10.0}
    assert s.oms.local_positions() == {"AAPL": 10.0}
    assert s.oms.reconcile().matched


def test_reconciliation_mismatch_activates_the_kill_switch_and_pauses_trading(s):
    # seed 001 lines 354-357: "Local position state diverges from broker" -> "activate kill switch"
    s.oms.submit_order(buy(10))
    s.faults.tamper_positions({"AAPL": 5.0})
    report = s.oms.reconcile()
    assert not report.matched
    assert report.mismatches == {"AAPL": (10.0, 15.0)}
    assert EventType.RECONCILIATION_MISMATCH in s.types()
    assert s.gov.kill_switch_active
    assert s.gov.status().kill_switch_reason.startswith("position reconciliation mismatch")
    assert s.oms.status().trading_paused
    s.faults.restore()  # the operator fixed it (lines 358-361), then resets the circuit
    s.oms.heartbeat()
    assert not s.oms.status().trading_paused
    assert s.oms.submit_order(buy()).status is OrderStatus.REJECTED  # the kill switch is still on
    s.gov.reset_circuit("positions reconciled by hand", operator="ops")
    assert s.oms.submit_order(buy()).status is OrderStatus.FILLED


def test_kill_switch_rejects_without_touching_the_broker_and_keeps_positions(s):
    # seed 001 lines 347-350: new orders blocked, positions remain, explicit deactivation
    s.oms.submit_order(buy(10))
    s.gov.activate_kill_switch(MANUAL)
    received = list(s.mock.received)
    result = s.oms.submit_order(Order("AAPL", Side.SELL, 10.0))
    assert result.status is OrderStatus.REJECTED
    assert result.reject_reason == f"kill switch active: {MANUAL}"
    assert s.mock.received == received
    assert s.faults.attempts_while("kill_switch") == []
    assert s.oms.positions() == {"AAPL": 10.0}
    s.gov.reset_circuit("anomaly explained", operator="ops")
    assert s.oms.submit_order(buy()).status is OrderStatus.FILLED


def test_governor_rejection_is_passed_through_and_the_broker_not_called(tmp_path):
    marks = PortfolioSnapshot(cash=1e6, positions={}, marks={"AAPL": 100.0})
    s = Stack(tmp_path, portfolio=lambda: marks)
    result = s.oms.submit_order(buy(reference_price=110.0))
    assert result.status is OrderStatus.REJECTED
    assert "price collar" in result.reject_reason
    assert s.faults.attempts == []
    assert len(s.bus.of_type(EventType.ORDER_REJECTED)) == 1  # the governor's, not a second one


def test_broker_reject_is_final_and_not_retried(s):
    s.faults.reject("Authentication error: Expired credentials", times=1)
    result = s.oms.submit_order(buy())
    assert result.status is OrderStatus.REJECTED
    assert "Expired credentials" in result.reject_reason
    assert result.attempts == 1
    assert s.clock.sleeps == []


def test_partial_fill_completes_at_a_heartbeat(tmp_path):
    s = Stack(tmp_path, broker={"partial_fill_ratio": 0.5})
    order = buy(10)
    first = s.oms.submit_order(order)
    assert first.status is OrderStatus.PARTIALLY_FILLED
    assert s.oms.status().open_orders == (order.client_order_id,)
    s.oms.heartbeat()
    done = s.oms.orders()[order.client_order_id]
    assert done.status is OrderStatus.FILLED
    assert done.filled_quantity == pytest.approx(10.0)
    assert s.oms.status().open_orders == ()
    assert [r["status"] for r in s.log()] == ["PENDING", "PARTIALLY_FILLED", "FILLED"]


def test_working_orders_survive_an_outage_and_fill_after_reconnect_without_resubmission(s):
    resting = buy(5, order_type=OrderType.LIMIT, limit_price=95.0)
    assert s.oms.submit_order(resting).status is OrderStatus.SUBMITTED
    s.faults.disconnect()
    s.oms.heartbeat()
    assert s.oms.status().open_orders == (resting.client_order_id,)
    s.mock.set_price("AAPL", 94.0)
    s.faults.connect()
    s.oms.heartbeat()
    assert s.oms.orders()[resting.client_order_id].status is OrderStatus.FILLED
    assert s.mock.received == [resting.client_order_id]
    assert s.oms.local_positions() == s.mock.get_positions() == {"AAPL": 5.0}


def test_the_same_order_given_twice_is_sent_once(s):
    order = buy()
    first = s.oms.submit_order(order)
    assert s.oms.submit_order(order) == first
    assert s.mock.received == [order.client_order_id]


def test_orders_log_is_one_json_line_per_state_change_and_never_nan(s):
    s.oms.submit_order(buy(float("nan")))  # refused by the governor; its quantity is not JSON
    s.oms.submit_order(buy(10))
    rows = s.log()
    assert [r["status"] for r in rows] == ["REJECTED", "PENDING", "FILLED"]
    assert rows[0]["quantity"] is None
    assert all(not isinstance(v, float) or math.isfinite(v) for r in rows for v in r.values())


def test_concurrent_submissions_each_fill_once_and_add_up(s):
    orders = [buy(1.0) for _ in range(40)]
    threads = [threading.Thread(target=s.oms.submit_order, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status is OrderStatus.FILLED for r in s.oms.orders().values())
    assert len(s.mock.orders) == 40
    assert s.oms.local_positions() == s.mock.get_positions() == {"AAPL": 40.0}


def test_trading_resumes_only_once_market_data_is_fresher_than_500_ms():
    """Seed 004 day 4: "recovery < 30 s with market data fresher than 500 ms" - a reconnected broker is
    not enough while the feed is stale."""
    from pytest_stress.stack.broker_faults import BrokerFaults

    clock, bus = SimClock(), EventBus()
    age = {"ms": 2_000.0}
    faults = BrokerFaults(MockBroker(clock=clock, prices={"SPY": 100.0}), clock)
    gov = ReferenceRiskGovernor(bus=bus, clock=clock)
    oms = ReferenceOMS(faults, gov, bus=bus, clock=clock, market_data_age_ms=lambda: age["ms"])
    faults.disconnect()
    oms.heartbeat()
    assert oms.status().trading_paused
    faults.restore()
    oms.heartbeat()
    assert oms.status().trading_paused, "resumed on a 2 s old book"
    age["ms"] = 120.0
    oms.heartbeat()
    assert not oms.status().trading_paused
    assert oms.resumed_at_data_age_ms == 120.0
    [resumed] = [e for e in bus.events if e.type is EventType.TRADING_RESUMED]
    assert resumed.data["market_data_age_ms"] == 120.0
