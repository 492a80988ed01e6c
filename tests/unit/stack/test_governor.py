"""The reference risk governor against the seeds' numbers: kill switch, 5 % / 10 % drawdown breakers,
price collar, order limits, Kelly clamp, VaR and position-delta trips, reset_circuit.

Runbooks: seed 001 line 98 (5 % strategy, 10 % portfolio), lines 336-350 (kill switch: all new orders
blocked, positions remain, explicit deactivation); seed 002 lines 46-48 (2x VaR, 10 % position delta),
line 134 ("KILL_SWITCH triggered"), line 103 (reset_circuit); seed 000 line 30 (Kelly <= 50 % after 5 %).
"""

from __future__ import annotations

import logging
import threading

import pytest

from pytest_stress.stack.bus import EventBus, EventType
from pytest_stress.stack.clock import SimClock
from pytest_stress.stack.governor import ReferenceRiskGovernor
from pytest_stress.stack.model import Order, OrderType, PortfolioSnapshot, Side
from pytest_stress.stack.protocols import RiskGovernor

BOOK = PortfolioSnapshot(cash=1e6, positions={"AAPL": 100.0}, marks={"AAPL": 100.0})
MANUAL = "Manual override - investigating anomaly"  # seed 001 line 344


@pytest.fixture
def bus():
    return EventBus()


@pytest.fixture
def gov(bus):
    return ReferenceRiskGovernor(bus=bus, clock=SimClock())


def order(side=Side.BUY, qty=10.0, **kw):
    return Order("AAPL", side, qty, **kw)


def test_governor_implements_the_risk_governor_protocol(gov):
    assert isinstance(gov, RiskGovernor)


def test_kill_switch_publishes_the_reason_verbatim_and_logs_the_grep_line(gov, bus, caplog):
    with caplog.at_level(logging.CRITICAL, logger="pytest_stress.stack.governor"):
        gov.activate_kill_switch(MANUAL)
    [event] = bus.of_type(EventType.KILL_SWITCH)
    assert event.reason == MANUAL
    assert "KILL_SWITCH triggered" in caplog.text  # seed 002 line 134
    assert gov.status().kill_switch_reason == MANUAL


def test_kill_switch_blocks_every_new_order_until_reset_circuit(gov, bus):
    gov.activate_kill_switch(MANUAL)
    reducing = order(Side.SELL, 10)
    for o in (order(), reducing):
        decision = gov.check_order(o, BOOK)
        assert not decision.approved
        assert decision.reason == f"kill switch active: {MANUAL}"
        assert decision.limit == "kill_switch"
    assert len(bus.of_type(EventType.ORDER_REJECTED)) == 2
    gov.activate_kill_switch("another reason")  # stays on with the first reason, one event
    assert len(bus.of_type(EventType.KILL_SWITCH)) == 1
    gov.reset_circuit("anomaly explained: bad tick", operator="ops@desk")
    [reset] = bus.of_type(EventType.KILL_SWITCH_RESET)
    assert reset.data["operator"] == "ops@desk"
    assert reset.data["previous_reason"] == MANUAL
    assert not gov.kill_switch_active
    assert gov.check_order(order(), BOOK).approved


def test_reset_circuit_without_a_reason_is_refused(gov):
    gov.activate_kill_switch(MANUAL)
    with pytest.raises(ValueError, match="reason"):
        gov.reset_circuit("  ")
    assert gov.kill_switch_active


def test_strategy_breaker_halts_that_strategy_at_5_pct_drawdown(gov, bus):
    gov.on_equity(100_000.0, strategy="momentum")
    gov.on_equity(95_500.0, strategy="momentum")  # 4.5 %: still trading
    assert gov.status().halted_strategies == frozenset()
    gov.on_equity(95_000.0, strategy="momentum")  # 5 %: seed 001 line 98
    assert gov.status().halted_strategies == {"momentum"}
    [event] = bus.of_type(EventType.CIRCUIT_BREAKER)
    assert event.data["level"] == "strategy"
    assert event.data["strategy"] == "momentum"
    assert not gov.kill_switch_active  # a strategy breaker is not the kill switch


def test_halted_strategy_cannot_add_risk_but_may_reduce_and_others_trade(gov):
    gov.on_equity(100.0, strategy="momentum")
    gov.on_equity(94.0, strategy="momentum")
    refused = gov.check_order(order(strategy="momentum"), BOOK)
    assert not refused.approved
    assert refused.limit == "strategy_drawdown_pct"
    assert "momentum halted" in refused.reason
    assert gov.check_order(order(Side.SELL, 50, strategy="momentum"), BOOK).approved
    assert gov.check_order(order(strategy="meanrev"), BOOK).approved
    assert gov.check_order(order(), BOOK).approved  # untagged
    assert not gov.check_order(order(), BOOK, strategy="momentum").approved  # the keyword tags too


def test_portfolio_breaker_at_10_pct_fires_circuit_breaker_and_the_kill_switch(gov, bus):
    gov.on_equity(1_000_000.0)
    gov.on_equity(901_000.0)  # 9.9 %
    assert not gov.kill_switch_active
    gov.on_equity(900_000.0)  # 10 %: seed 001 line 98
    [breaker] = bus.of_type(EventType.CIRCUIT_BREAKER)
    assert breaker.data["level"] == "portfolio"
    [kill] = bus.of_type(EventType.KILL_SWITCH)
    assert "portfolio drawdown 10.00 %" in kill.reason
    assert gov.status().drawdown_pct == pytest.approx(10.0)
    gov.on_equity(850_000.0)  # once per reset
    assert len(bus.of_type(EventType.CIRCUIT_BREAKER)) == 1


def test_reset_circuit_clears_halts_and_rebases_the_peaks(gov):
    gov.on_equity(100.0, strategy="momentum")
    gov.on_equity(94.0, strategy="momentum")
    gov.on_equity(100.0)
    gov.on_equity(89.0)
    gov.reset_circuit("losses reviewed", operator="risk")
    status = gov.status()
    assert status.halted_strategies == frozenset()
    assert status.drawdown_pct == 0.0
    gov.on_equity(88.0)  # 1.1 % below the new peak of 89: nothing fires
    assert not gov.kill_switch_active


def test_price_collar_rejects_a_price_more_than_5_pct_from_the_mark(gov, bus):
    # seed 001 line 97: "Risk manager: May reject orders due to max price deviation limit"
    refused = gov.check_order(order(reference_price=106.0), BOOK)
    assert not refused.approved
    assert refused.limit == "max_price_deviation_pct"
    assert "price collar" in refused.reason
    assert "6.00 %" in refused.reason
    assert bus.of_type(EventType.ORDER_REJECTED)[0].data["limit"] == "max_price_deviation_pct"
    assert gov.check_order(order(reference_price=104.0), BOOK).approved
    limit = order(order_type=OrderType.LIMIT, limit_price=94.0, reference_price=100.0)
    assert not gov.check_order(limit, BOOK).approved  # a limit order is collared at its limit
    unmarked = PortfolioSnapshot(cash=0.0, positions={}, marks={})
    assert gov.check_order(order(reference_price=500.0), unmarked).approved  # no mark: nothing to compare


@pytest.mark.parametrize(
    ("kwargs", "o", "limit"),
    [
        ({"max_order_volume": 5.0}, order(qty=6.0), "max_order_volume"),
        ({"max_order_value": 1_000.0}, order(qty=11.0, reference_price=100.0), "max_order_value"),
        ({"max_position": 105.0}, order(qty=6.0), "max_position"),
    ],
)
def test_order_limits_refuse_and_name_the_limit(bus, kwargs, o, limit):
    gov = ReferenceRiskGovernor(bus=bus, clock=SimClock(), **kwargs)
    decision = gov.check_order(o, BOOK)
    assert not decision.approved
    assert decision.limit == limit
    assert limit in decision.reason


def test_position_limit_still_lets_an_oversized_book_shrink(bus):
    gov = ReferenceRiskGovernor(bus=bus, clock=SimClock(), max_position=50.0)
    assert gov.check_order(order(Side.SELL, 10.0), BOOK).approved  # 100 -> 90, above the limit but smaller


def test_kelly_utilisation_is_clamped_to_half_once_drawdown_passes_5_pct(gov):
    # seed 000 line 30: "clamp Kelly utilization to <=50% after max_drawdown breaches 5%"
    gov.on_equity(100.0)
    gov.on_equity(96.0)
    assert gov.kelly_utilisation(0.8) == 0.8
    gov.on_equity(94.0)
    gov.on_equity(99.0)  # the clamp follows the maximum drawdown, not the current one
    assert gov.kelly_utilisation(0.8) == 0.5
    assert gov.kelly_utilisation(0.3) == 0.3
    gov.reset_circuit("drawdown reviewed", operator="risk")
    assert gov.kelly_utilisation(0.8) == 0.8


def test_var_multiple_above_2x_trips_the_kill_switch(gov, bus):
    # seed 002 line 47: "VaR Multiplier: 2x normal VaR threshold"
    assert not gov.on_pnl(loss=200.0, var_1d=100.0)  # exactly 2x is not above it
    assert not gov.kill_switch_active
    assert gov.on_pnl(loss=250.0, var_1d=100.0)
    [kill] = bus.of_type(EventType.KILL_SWITCH)
    assert "VaR multiple 2.50x" in kill.reason
    assert kill.data["limit"] == "var_trip_multiple"


def test_position_delta_above_10_pct_of_gross_trips_the_kill_switch(gov, bus):
    # seed 002 line 48: "Position Delta: 10% position change"
    assert not gov.on_exposure(net_before=0.0, net_after=100.0, gross=1_000.0)
    assert gov.on_exposure(net_before=0.0, net_after=150.0, gross=1_000.0)
    assert "position delta 15.00 %" in bus.of_type(EventType.KILL_SWITCH)[0].reason
    assert not ReferenceRiskGovernor(bus=bus).on_exposure(0.0, 10.0, gross=0.0)


def test_non_finite_equity_is_refused_not_treated_as_a_value(gov):
    with pytest.raises(ValueError, match="finite"):
        gov.on_equity(float("nan"))


def test_concurrent_activations_publish_exactly_one_kill_switch(gov, bus):
    threads = [threading.Thread(target=gov.activate_kill_switch, args=(f"t{i}",)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(bus.of_type(EventType.KILL_SWITCH)) == 1
