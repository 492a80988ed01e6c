"""Runbook seed 001, the execution side: broker API outage (scenario 3), the kill switch, position
reconciliation failure and the drawdown breakers; seed 004's portfolio integrity. Each test cites the line."""

from __future__ import annotations

import itertools

import pytest

from pytest_stress.runbook.market import SUITE_PRICES, flat_book, order, resting_limit
from pytest_stress.stack.bus import EventType
from pytest_stress.stack.model import OrderStatus, Side
from pytest_stress.stack.protocols import BROKER_CONNECTED, BROKER_DISCONNECTED

pytestmark = pytest.mark.stress

STRATEGY_BREAKER_PCT = 5.0  # seed 001 scenario 2 / seed 000
PORTFOLIO_BREAKER_PCT = 10.0
PRICE_DEVIATION_PCT = 5.0  # the reference governor's collar; the spike moves 15 %
WORKING = (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.SUBMITTED)


def _fill_position(stack, qty: float = 10.0) -> None:
    result = stack.oms.submit_order(order(qty=qty))
    assert result.status is OrderStatus.FILLED, (
        f"setup order was {result.status.value}: {result.reject_reason}"
    )


def _pause_by_outage(stack, faults) -> None:
    """Take the broker down and fail orders until the OMS pauses trading (at most 3 orders)."""
    faults.disconnect()
    for _ in range(3):
        stack.oms.heartbeat()
        if stack.oms.status().trading_paused:
            return
        stack.oms.submit_order(order())
    assert stack.oms.status().trading_paused, "trading was not paused while the broker was down"


# --- scenario 3: broker API outage ---


def test_broker_timeout_fails_the_order_after_three_retries(trading_stack, broker_faults, stress_measure):
    """Scenario 3, behaviours 1-3 and the runbook's simulation: ``submit_order`` raises
    ``TimeoutError("API timeout")`` -> ``result.status == 'FAILED'``, 'timeout' in the reject reason;
    the retry count is judged by broker_api_outage's ``oms_retries_per_order``."""
    broker_faults.timeout()
    result = trading_stack.oms.submit_order(order())
    assert result.status is OrderStatus.FAILED
    assert "timeout" in result.reject_reason.lower(), result.reject_reason
    retries = len(broker_faults.attempts_for(result.client_order_id)) - 1
    check = stress_measure("broker_api_outage", "oms_retries_per_order", retries)
    assert check.passed, check.line()


def test_retries_back_off_exponentially(trading_stack, broker_faults):
    """Scenario 3, behaviour 2: "3 retries with exponential backoff" - each wait longer than the last."""
    broker_faults.timeout()
    result = trading_stack.oms.submit_order(order())
    times = [a.time for a in broker_faults.attempts_for(result.client_order_id)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 2, f"too few retries to show a backoff: waits {gaps}"
    assert gaps[0] > 0, f"no wait before the first retry: {gaps}"
    assert all(later > earlier for earlier, later in itertools.pairwise(gaps)), f"not increasing: {gaps}"


def test_failed_order_raises_an_alert(trading_stack, broker_faults):
    """Scenario 3, behaviour 3: "Order marked as FAILED; alert raised"."""
    broker_faults.timeout()
    result = trading_stack.oms.submit_order(order())
    alerts = trading_stack.bus.of_type(EventType.ALERT)
    assert result.status is OrderStatus.FAILED
    assert alerts, "no ALERT event after a FAILED order"


def test_outage_uses_cached_positions(trading_stack, broker_faults, stress_measure):
    """Scenario 3, behaviour 4: "Cannot sync with broker; uses cached positions" (and seed 004's
    "positions held during the outage")."""
    _fill_position(trading_stack, 10.0)
    before = dict(trading_stack.oms.positions())
    broker_faults.disconnect()
    during = dict(trading_stack.oms.positions())  # must not raise
    held = during.get("SPY") == pytest.approx(before.get("SPY")) == pytest.approx(10.0)
    for scenario in ("broker_api_outage", "broker_failure"):
        check = stress_measure(scenario, "positions_held", bool(held))
        assert check.passed, f"{check.line()}: before {before}, during the outage {during}"


def test_trading_pauses_until_the_broker_is_back(trading_stack, broker_faults, stress_measure):
    """Scenario 3, behaviour 5: "No new orders until connection restored"."""
    _pause_by_outage(trading_stack, broker_faults)
    sent = len(broker_faults.attempts)
    paused = trading_stack.oms.submit_order(order())
    held_back = paused.status is not OrderStatus.FILLED and len(broker_faults.attempts) == sent
    check = stress_measure("broker_api_outage", "trading_paused_on_broker_loss", held_back)
    assert check.passed, f"{check.line()}: an order went to the broker while trading was paused"
    broker_faults.restore()
    trading_stack.oms.heartbeat()
    assert not trading_stack.oms.status().trading_paused, "trading stayed paused after the broker came back"
    assert trading_stack.oms.submit_order(order()).status is OrderStatus.FILLED


def test_status_shows_broker_disconnected(trading_stack, broker_faults):
    """Scenario 3, behaviour 6: the dashboard "Shows 'Broker Disconnected' warning"."""
    assert trading_stack.oms.status().broker == BROKER_CONNECTED
    _pause_by_outage(trading_stack, broker_faults)
    assert trading_stack.oms.status().broker == BROKER_DISCONNECTED
    broker_faults.restore()
    trading_stack.oms.heartbeat()
    assert trading_stack.oms.status().broker == BROKER_CONNECTED


def test_retry_never_duplicates_an_accepted_order(trading_stack, broker_faults):
    """Scenario 3 mitigation ("may cause position mismatch"): the broker took the order but the answer
    timed out; the retry carries the same client order id and the book holds the order once."""
    broker_faults.timeout_after_accept(times=1)
    result = trading_stack.oms.submit_order(order(qty=7.0))
    ids = {a.client_order_id for a in broker_faults.attempts}
    assert ids == {result.client_order_id}, f"retries used other client order ids: {sorted(ids)}"
    assert broker_faults.true_positions().get("SPY", 0.0) == pytest.approx(7.0)


def test_working_orders_survive_a_reconnect(trading_stack, broker_faults, stress_measure):
    """Seed 004 broker failure: "order queue integrity" - a resting order stays tracked across an
    outage and is not sent again."""
    placed = trading_stack.oms.submit_order(resting_limit())
    assert placed.status in WORKING, f"resting limit was {placed.status.value}: {placed.reject_reason}"
    broker_faults.disconnect()
    trading_stack.oms.heartbeat()
    broker_faults.restore()
    trading_stack.oms.heartbeat()
    tracked = (
        placed.status is OrderStatus.FILLED
        or placed.client_order_id in trading_stack.oms.status().open_orders
    )
    sent_once = len(broker_faults.attempts_for(placed.client_order_id)) == 1
    check = stress_measure("broker_failure", "order_queue_intact", tracked and sent_once)
    assert check.passed, f"{check.line()}: still tracked {tracked}, sent once {sent_once}"


# --- emergency procedures: kill switch and reconciliation ---


def test_kill_switch_blocks_orders_keeps_positions_until_reset(trading_stack, broker_faults):
    """Kill switch: "All new orders blocked; Open positions remain; Requires explicit deactivation"."""
    _fill_position(trading_stack, 10.0)
    gov = trading_stack.risk_governor
    gov.activate_kill_switch("Manual override - investigating anomaly")
    assert any(e.type is EventType.KILL_SWITCH for e in trading_stack.bus.events)
    sent = len(broker_faults.attempts)
    blocked = trading_stack.oms.submit_order(order())
    assert blocked.status is OrderStatus.REJECTED
    assert len(broker_faults.attempts) == sent
    assert broker_faults.true_positions().get("SPY") == pytest.approx(10.0), "positions were closed"
    trading_stack.clock.advance(3_600.0)
    trading_stack.oms.heartbeat()
    assert gov.kill_switch_active, "the kill switch went off by itself"
    gov.reset_circuit("anomaly explained", operator="risk-officer")
    assert trading_stack.oms.submit_order(order()).status is OrderStatus.FILLED


def test_reconciliation_mismatch_pauses_trading_and_reports_it(trading_stack, broker_faults):
    """Position reconciliation failure: "Pause trading (activate kill switch)" and show the divergence."""
    _fill_position(trading_stack, 10.0)
    broker_faults.tamper_positions({"SPY": 5.0})
    report = trading_stack.oms.reconcile()
    assert not report.matched
    local, remote = report.mismatches["SPY"]
    assert (local, remote) == (pytest.approx(10.0), pytest.approx(15.0))
    assert trading_stack.risk_governor.kill_switch_active
    sent = len(broker_faults.attempts)
    assert trading_stack.oms.submit_order(order()).status is OrderStatus.REJECTED
    assert len(broker_faults.attempts) == sent


# --- scenario 2: the risk manager under a volatility spike ---


def test_orders_beyond_the_price_deviation_limit_are_rejected(trading_stack):
    """Scenario 2, behaviour 4: "Risk manager: May reject orders due to max price deviation limit" -
    an order priced 15 % off the market (the spike's move) is refused, with the reason."""
    px = SUITE_PRICES["SPY"]
    decision = trading_stack.risk_governor.check_order(order(reference_price=px * 1.15), flat_book())
    assert not decision.approved
    assert decision.reason
    assert trading_stack.risk_governor.check_order(order(), flat_book()).approved


def test_strategy_breaker_trips_at_5pct_drawdown(trading_stack):
    """Scenario 2, behaviour 5: "Circuit breaker: Triggers on drawdown threshold (5% strategy)"."""
    gov = trading_stack.risk_governor
    gov.on_equity(100_000.0, strategy="ml_direction_v1")
    gov.on_equity(100_000.0 * (1 - (STRATEGY_BREAKER_PCT - 0.5) / 100), strategy="ml_direction_v1")
    assert "ml_direction_v1" not in gov.status().halted_strategies
    gov.on_equity(100_000.0 * (1 - (STRATEGY_BREAKER_PCT + 0.5) / 100), strategy="ml_direction_v1")
    assert "ml_direction_v1" in gov.status().halted_strategies
    assert trading_stack.bus.of_type(EventType.CIRCUIT_BREAKER)
    refused = gov.check_order(order(strategy="ml_direction_v1"), flat_book())
    assert not refused.approved, "the halted strategy could still open risk"
    assert not gov.kill_switch_active, "a strategy breaker must not stop the whole book"


def test_portfolio_breaker_fires_the_kill_switch_at_10pct(trading_stack):
    """Scenario 2, behaviour 5: 10 % portfolio drawdown; seed 002: a breach triggers KILL_SWITCH."""
    gov = trading_stack.risk_governor
    gov.on_equity(1_000_000.0)
    gov.on_equity(1_000_000.0 * (1 - (PORTFOLIO_BREAKER_PCT - 0.5) / 100))
    assert not gov.kill_switch_active
    gov.on_equity(1_000_000.0 * (1 - (PORTFOLIO_BREAKER_PCT + 0.5) / 100))
    assert gov.kill_switch_active
    assert trading_stack.bus.of_type(EventType.KILL_SWITCH)


# --- seed 004: portfolio integrity ---


def test_positions_match_fills_within_one_dollar(trading_stack, broker_faults, stress_measure):
    """Seed 004: "positions match fills" within position_tolerance_usd = $1, also across an outage
    (broker_failure's ``portfolio_reconciliation_error``)."""
    oms = trading_stack.oms
    for qty, side in ((10.0, Side.BUY), (4.0, Side.SELL), (3.0, Side.BUY)):
        oms.submit_order(order(qty=qty, side=side))
    broker_faults.timeout()
    oms.submit_order(order(qty=5.0))  # fails after retries: must not count
    broker_faults.restore()
    oms.heartbeat()
    oms.submit_order(order("QQQ", qty=2.0))
    oms.heartbeat()
    from_fills: dict[str, float] = {}
    for f in oms.fills():
        from_fills[f.symbol] = from_fills.get(f.symbol, 0.0) + f.signed_quantity
    worst, where = 0.0, ""
    for source, book in (("OMS", oms.positions()), ("broker", broker_faults.true_positions())):
        for sym in set(from_fills) | set(book):
            diff_usd = abs(book.get(sym, 0.0) - from_fills.get(sym, 0.0)) * SUITE_PRICES[sym]
            if diff_usd > worst:
                worst, where = diff_usd, f"{source} {sym}"
    check = stress_measure("broker_failure", "portfolio_reconciliation_error", worst)
    assert check.passed, f"{check.line()} ({where} against its fills)"
    assert from_fills.get("SPY") == pytest.approx(9.0)
