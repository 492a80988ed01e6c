"""Accounting, the risk kernels on hand-computed inputs, and run_scenario end to end on small markets."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from pytest_stress import Portfolio, load_scenario, run_scenario
from pytest_stress.certify.checks import CheckStatus
from pytest_stress.errors import CertificationError, ReplayError
from pytest_stress.replay import risk
from pytest_stress.replay.accounting import open_book, revalue
from pytest_stress.scenario import Expectation, OnBreach, PortfolioSpec

NO_LIMITS = np.full(risk.N_RISK_METRICS, np.nan)


def small(**market):
    """flash_crash_lite on 10 symbols (or with other market fields)."""
    sc = load_scenario("flash_crash_lite")
    return dataclasses.replace(sc, market=dataclasses.replace(sc.market, **{"symbols": 10, **market}))


# --- historical VaR -------------------------------------------------------------------------------


def test_historical_var_reads_the_third_worst_of_250_days_at_99_percent():
    pnl = np.linspace(1.0, 100.0, 250)
    pnl[[17, 80, 3, 200]] = [-50.0, -40.0, -30.0, -20.0]
    assert risk.historical_var(pnl, 0.99) == 30.0  # floor(0.01 * 250) = 2 -> the third worst


def test_historical_var_of_100_days_at_99_and_95_percent():
    pnl = -np.arange(100.0)  # losses 0 .. 99
    assert risk.historical_var(pnl, 0.99) == 98.0  # second worst
    assert risk.historical_var(pnl, 0.95) == 94.0  # sixth worst


def test_historical_var_is_zero_when_even_the_quantile_day_made_money():
    assert risk.historical_var(np.array([5.0, 1.0, 2.0]), 0.99) == 0.0


def test_portfolio_pnl_is_exposure_times_return_per_day():
    returns = np.array([[0.01, -0.02], [0.0, 0.05]])
    np.testing.assert_allclose(risk.portfolio_pnl(np.array([100.0, -50.0]), returns), [2.0, -2.5])


# --- risk pass ------------------------------------------------------------------------------------


def run_risk_pass(equity, exposure=None, gross0=100.0, var_1d=10.0, limits=NO_LIMITS, kill=True):
    equity = np.asarray(equity, dtype=np.float64)
    exposure = np.zeros_like(equity) if exposure is None else np.asarray(exposure, dtype=np.float64)
    drawdown = np.empty_like(equity)
    worst, tick, value, kill_tick = risk.risk_pass(equity, exposure, gross0, var_1d, limits, kill, drawdown)
    return worst, tick, value, kill_tick, drawdown


def test_risk_pass_on_a_hand_curve():
    worst, tick, _, kill_tick, drawdown = run_risk_pass([100.0, 110.0, 99.0, 105.0, 88.0])
    # drawdown from the 110 peak: 10 % at tick 2, 20 % at tick 4
    np.testing.assert_allclose(drawdown, [0.0, 0.0, 10.0, 100 / 22, 20.0])
    assert worst[risk.DRAWDOWN] == pytest.approx(20.0)
    # worst loss below the start is 12 against a VaR of 10
    assert worst[risk.VAR_MULTIPLE] == pytest.approx(1.2)
    assert list(tick) == [-1, -1, -1]
    assert kill_tick == -1


def test_first_breach_of_each_limit_and_the_kill_switch_at_the_earliest():
    limits = np.array([5.0, 1.1, 50.0])
    equity = [100.0, 110.0, 99.0, 105.0, 88.0]
    exposure = [0.0, 10.0, 20.0, 60.0, 60.0]
    _, tick, value, kill_tick, _ = run_risk_pass(equity, exposure, limits=limits)
    assert tick[risk.DRAWDOWN] == 2
    assert value[risk.DRAWDOWN] == pytest.approx(10.0)
    assert tick[risk.VAR_MULTIPLE] == 4
    assert value[risk.VAR_MULTIPLE] == pytest.approx(1.2)
    assert tick[risk.POSITION_DELTA] == 3
    assert value[risk.POSITION_DELTA] == pytest.approx(60.0)
    assert kill_tick == 2


def test_a_value_equal_to_its_limit_is_not_a_breach():
    _, tick, _, kill_tick, _ = run_risk_pass([100.0, 95.0], limits=np.array([5.0, np.nan, np.nan]))
    assert tick[risk.DRAWDOWN] == -1
    assert kill_tick == -1


def test_breaches_without_kill_switch_when_not_asked():
    _, tick, _, kill_tick, _ = run_risk_pass(
        [100.0, 80.0], limits=np.array([5.0, np.nan, np.nan]), kill=False
    )
    assert tick[risk.DRAWDOWN] == 1
    assert kill_tick == -1


def test_any_loss_against_a_zero_var_is_an_infinite_multiple():
    worst, *_ = run_risk_pass([100.0, 99.0], var_1d=0.0)
    assert worst[risk.VAR_MULTIPLE] == np.inf


# --- accounting -----------------------------------------------------------------------------------


def test_book_opens_at_capital_marked_at_liquidation_prices():
    bid = np.array([[99.0, 49.0], [90.0, 45.0]])
    ask = np.array([[101.0, 51.0], [92.0, 47.0]])
    qty, cash = open_book(np.array([0.5, -0.25]), 1000.0, bid[0], ask[0])
    np.testing.assert_allclose(qty, [5.0, -5.0])  # 500 long at mid 100, 250 short at mid 50
    equity, exposure = np.empty(2), np.empty(2)
    revalue(bid, ask, qty, cash, equity, exposure)
    assert equity[0] == pytest.approx(1000.0)
    # the long is marked at the bid both times (99 -> 90), the short at the ask (51 -> 47)
    assert equity[1] == pytest.approx(1000.0 - 5 * 9.0 + 5 * 4.0)
    np.testing.assert_allclose(exposure, [500.0 - 250.0, 5 * 91.0 - 5 * 46.0])


@pytest.mark.parametrize(
    ("gross", "net", "n", "n_long", "long_w", "short_w"),
    [
        (1.0, 1.0, 100, 100, 0.01, 0.0),
        (2.0, 0.0, 10, 5, 0.2, 0.2),
        (1.0, -1.0, 4, 0, 0.0, 0.25),
        (1.5, 0.5, 3, 2, 0.5625, 0.375),
    ],
)
def test_portfolio_from_spec(gross, net, n, n_long, long_w, short_w):
    p = Portfolio.from_spec(PortfolioSpec(1e6, gross_leverage=gross, net_exposure=net), n)
    assert p.weights.shape == (n,)
    assert int((p.weights > 0).sum()) == n_long
    np.testing.assert_allclose(p.weights[p.weights > 0], long_w)
    np.testing.assert_allclose(-p.weights[p.weights < 0], short_w)
    assert p.gross_leverage == pytest.approx(gross)
    assert p.weights.sum() == pytest.approx(gross * net)


def test_a_two_sided_book_needs_two_symbols():
    with pytest.raises(ReplayError, match="needs long and short names"):
        Portfolio.from_spec(PortfolioSpec(1e6, net_exposure=0.0), 1)


@pytest.mark.parametrize(
    ("capital", "weights", "match"),
    [(0.0, [0.5], "initial_capital must be positive"), (1e6, [np.nan], "finite"), (1e6, [[0.5]], "1-D")],
)
def test_portfolio_refuses_bad_input(capital, weights, match):
    with pytest.raises(ReplayError, match=match):
        Portfolio(capital, np.array(weights))


# --- run_scenario ---------------------------------------------------------------------------------


def test_same_seed_same_result_and_another_seed_another_path():
    a, b = run_scenario(small()), run_scenario(small())
    np.testing.assert_array_equal(a.equity_curve, b.equity_curve)
    assert a.max_drawdown_pct == b.max_drawdown_pct
    assert a.var_1d == b.var_1d
    c = run_scenario(small(), seed=7)
    assert c.seed == 7
    assert not np.array_equal(a.equity_curve, c.equity_curve)


def test_flash_crash_lite_on_a_long_book_loses_about_the_shock():
    res = run_scenario(small())
    assert res.n_ticks == 601
    assert res.symbols == 10
    assert res.equity_curve.shape == (601,)
    assert res.equity_curve[0] == pytest.approx(1_000_000)
    # a 3 % fall, plus three times the spread paid to get out, plus the calm market's noise
    assert 2.5 < res.max_drawdown_pct < 4.0
    assert res.position_delta_pct == pytest.approx(3.0, abs=0.6)
    assert res.var_1d > 0
    assert res.var_multiple == pytest.approx(res.worst_loss / res.var_1d)
    assert [c.status for c in res.checks] == [CheckStatus.PASSED] * 3
    assert res.passed
    assert not res.kill_switch_triggered
    res.certify()


def test_a_levered_book_breaches_and_fires_the_kill_switch():
    res = run_scenario(small(), portfolio=Portfolio(1e6, np.full(10, 0.25)))  # 2.5x long
    assert res.kill_switch_triggered
    assert res.breaches[0].metric == "max_drawdown_pct"
    assert res.kill_switch_tick == res.breaches[0].tick
    assert res.breaches[0].time_ms == res.breaches[0].tick * 100
    with pytest.raises(CertificationError) as info:
        res.certify()
    message = str(info.value)
    assert "failed" in message
    assert "max_drawdown_pct: measured" in message
    assert "breaches <= 5%" in message
    assert f"KILL_SWITCH fired at tick {res.kill_switch_tick}" in message


def test_record_only_keeps_the_breach_but_not_the_kill_switch():
    sc = dataclasses.replace(small(), on_breach=OnBreach.RECORD)
    res = run_scenario(sc, portfolio=Portfolio(1e6, np.full(10, 0.25)))
    assert res.breaches
    assert not res.kill_switch_triggered
    assert res.kill_switch_tick is None


def test_a_portfolio_of_the_wrong_length_is_refused():
    with pytest.raises(ReplayError, match="the portfolio has 5 weights but the market has 10 symbols"):
        run_scenario(small(), portfolio=Portfolio(1e6, np.full(5, 0.1)))


@pytest.mark.parametrize(
    ("kw", "match"), [({"symbols": 0}, "symbols must be between 1"), ({"seed": -1}, "seed")]
)
def test_overrides_out_of_range_are_refused(kw, match):
    with pytest.raises(ReplayError, match=match):
        run_scenario(small(), **kw)


def test_certify_without_expectations_is_an_error_not_a_pass():
    res = run_scenario(dataclasses.replace(small(), expect=()))
    assert res.checks == ()
    assert not res.passed
    with pytest.raises(CertificationError, match="has no expect: block, so nothing was certified"):
        res.certify()


def test_a_metric_the_run_does_not_measure_is_not_evaluated_never_passed(monkeypatch):
    from pytest_stress import metrics
    from pytest_stress.certify import checks

    monkeypatch.setitem(metrics.METRICS, "future_metric", metrics.Metric("future_metric", "ms", "later"))
    monkeypatch.setattr(checks, "METRICS", metrics.METRICS)
    sc = dataclasses.replace(small(), expect=(Expectation("future_metric", max=15.0),))
    res = run_scenario(sc)
    (check,) = res.checks
    assert check.status is CheckStatus.NOT_EVALUATED
    assert check.measured is None
    assert not res.passed


def test_to_dict_is_json_and_keeps_the_trough_of_a_long_curve():
    res = run_scenario(small(duration_s=600), portfolio=Portfolio(1e6, np.full(10, 0.25)))
    data = json.loads(json.dumps(res.to_dict(curve_points=100)))
    curve = data["equity_curve"]
    assert len(curve["tick"]) <= 102
    assert min(curve["equity"]) == pytest.approx(res.equity_curve.min(), abs=0.01)
    assert data["kill_switch_tick"] == res.kill_switch_tick
    assert data["stresses"][0]["type"] == "flash_crash"
    assert {c["check"] for c in data["checks"]} == {"max_drawdown_pct", "var_multiple", "position_delta_pct"}
