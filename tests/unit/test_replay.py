"""Accounting, the risk kernels on hand-computed inputs, and run_scenario end to end on small markets."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from pytest_stress import Portfolio, load_scenario, run_scenario
from pytest_stress.checks import CheckStatus
from pytest_stress.errors import CertificationError, ReplayError
from pytest_stress.replay import accounting as acc
from pytest_stress.replay import risk
from pytest_stress.replay.accounting import open_book, revalue
from pytest_stress.replay.events import EventBuffer
from pytest_stress.scenario import Expectation, OnBreach, PortfolioSpec
from pytest_stress.specs.risk import RiskSpec


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


# --- the risk engine's live limits, tick by tick (risk_on_tick) ---------------------------------------


def drive_risk(equity, net=None, gross0=100.0, var_1d=10.0, limits=(np.nan,) * 4, kill=True):
    """Feed an equity curve (and net exposure) to risk_on_tick as the ledger would; breakers and the Kelly
    clamp are pushed out of the way (100 %) so only the limits act."""
    equity = np.asarray(equity, dtype=np.float64)
    net = np.zeros_like(equity) if net is None else np.asarray(net, dtype=np.float64)
    spec = RiskSpec(
        strategy_drawdown_pct=100.0, portfolio_drawdown_pct=100.0, kelly_clamp_after_drawdown_pct=100.0
    )
    rs, rp = np.zeros(risk.N_RS), risk.risk_params(spec, kill, manage_book=False)
    rm = np.zeros((risk.N_RM, risk.N_RISK_METRICS))
    rm[risk.RM_LIMIT] = limits
    rm[risk.RM_BREACH_ROW] = -1.0
    rm[risk.RM_BREACH_VALUE] = np.nan
    risk.init_risk(0.0, equity[0], net[0], gross0, 0.0, var_1d, 2 * var_1d, np.nan, rs, rp)
    events = EventBuffer.empty()
    peak, worst = equity[0], 0.0
    for t, e in enumerate(equity):
        peak = max(peak, e)
        dd = (peak - e) / peak * 100.0
        worst = max(worst, dd)
        risk.risk_on_tick(
            t, t * 1e8, e, dd, worst, net[t], gross0, 0.0, gross0, 0, rs, rp, rm, events.arrays()
        )
    return rm, rs, events


def test_worst_values_on_a_hand_curve():
    rm, rs, _ = drive_risk([100.0, 110.0, 99.0, 105.0, 88.0])
    # drawdown from the 110 peak: 10 % at tick 2, 20 % at tick 4
    assert rm[risk.RM_WORST, risk.DRAWDOWN] == pytest.approx(20.0)
    # worst loss below the start is 12 against a VaR of 10 (and a CVaR of 20)
    assert rm[risk.RM_WORST, risk.VAR_MULTIPLE] == pytest.approx(1.2)
    assert rm[risk.RM_WORST, risk.CVAR_MULTIPLE] == pytest.approx(0.6)
    assert list(rm[risk.RM_BREACH_ROW]) == [-1, -1, -1, -1]
    assert rs[risk.RS_KILL] == 0


def test_first_breach_of_each_limit_and_the_kill_switch_at_the_earliest():
    limits = (5.0, 1.1, 50.0, 0.55)
    equity = [100.0, 110.0, 99.0, 105.0, 88.0]
    exposure = [0.0, 10.0, 20.0, 60.0, 60.0]
    rm, rs, events = drive_risk(equity, exposure, limits=limits)
    assert rm[risk.RM_BREACH_ROW, risk.DRAWDOWN] == 2
    assert rm[risk.RM_BREACH_VALUE, risk.DRAWDOWN] == pytest.approx(10.0)
    assert rm[risk.RM_BREACH_ROW, risk.VAR_MULTIPLE] == 4
    assert rm[risk.RM_BREACH_VALUE, risk.VAR_MULTIPLE] == pytest.approx(1.2)
    assert rm[risk.RM_BREACH_ROW, risk.POSITION_DELTA] == 3
    assert rm[risk.RM_BREACH_VALUE, risk.POSITION_DELTA] == pytest.approx(60.0)
    assert rm[risk.RM_BREACH_ROW, risk.CVAR_MULTIPLE] == 4
    assert rs[risk.RS_KILL_ROW] == 2
    trips = [
        (e.tick, e.event)
        for e in events.events(100.0)
        if e.event.endswith("_TRIP") or e.event == "KILL_SWITCH"
    ]
    assert trips == [
        (2, "DRAWDOWN_TRIP"),
        (2, "KILL_SWITCH"),
        (3, "POSITION_DELTA_TRIP"),
        (4, "VAR_TRIP"),
        (4, "CVAR_TRIP"),
    ]


def test_a_value_equal_to_its_limit_is_not_a_breach():
    rm, rs, _ = drive_risk([100.0, 95.0], limits=(5.0, np.nan, np.nan, np.nan))
    assert rm[risk.RM_BREACH_ROW, risk.DRAWDOWN] == -1
    assert rs[risk.RS_KILL] == 0


def test_breaches_without_kill_switch_when_not_asked():
    rm, rs, _ = drive_risk([100.0, 80.0], limits=(5.0, np.nan, np.nan, np.nan), kill=False)
    assert rm[risk.RM_BREACH_ROW, risk.DRAWDOWN] == 1
    assert rs[risk.RS_KILL] == 0


def test_any_loss_against_a_zero_var_is_an_infinite_multiple():
    rm, *_ = drive_risk([100.0, 99.0], var_1d=0.0)
    assert rm[risk.RM_WORST, risk.VAR_MULTIPLE] == np.inf


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


def _book(ls, lg, qty, price, fee):
    """One fill of symbol 0 through the compiled booking."""
    one = np.ones(1)
    acc.apply_fills(ls, lg, np.zeros(1, np.int64), qty * one, price * one, fee * one, 0, 1)


def test_average_price_realised_pnl_and_a_flip_by_hand():
    ls, lg = np.zeros((acc.N_LS, 1)), np.zeros(acc.N_LG)
    _book(ls, lg, 10.0, 100.0, 1.0)
    _book(ls, lg, 10.0, 110.0, 1.0)
    assert ls[acc.LS_AVG_PX, 0] == pytest.approx(105.0)
    assert lg[acc.LG_CLOSING_FILLS] == 0.0  # opening and adding realise nothing
    # sell 15 at 120: 15 x (120 - 105) realised, 5 left at the same average
    _book(ls, lg, -15.0, 120.0, 1.0)
    assert lg[acc.LG_GROSS_PROFIT] == pytest.approx(225.0 - 1.0)  # realised net of the fee
    assert (ls[acc.LS_QTY, 0], ls[acc.LS_AVG_PX, 0]) == pytest.approx((5.0, 105.0))
    # sell 10 at 100: the 5 close at a loss of 5 each, the other 5 open a short at 100
    _book(ls, lg, -10.0, 100.0, 1.0)
    assert lg[acc.LG_GROSS_LOSS] == pytest.approx(25.0 + 1.0)
    assert (ls[acc.LS_QTY, 0], ls[acc.LS_AVG_PX, 0]) == pytest.approx((-5.0, 100.0))
    assert lg[acc.LG_REALISED] == pytest.approx(200.0)
    assert lg[acc.LG_FEES] == 4.0
    assert lg[acc.LG_CASH] == pytest.approx(-(10 * 100 + 10 * 110 - 15 * 120 - 10 * 100) - 4.0)
    assert (lg[acc.LG_CLOSING_FILLS], lg[acc.LG_WINNING_FILLS]) == (2.0, 1.0)
    assert lg[acc.LG_GROSS_PROFIT] / lg[acc.LG_GROSS_LOSS] == pytest.approx(224.0 / 26.0)


def test_the_longest_time_under_water_in_ticks_and_seconds():
    from pytest_stress.market.frame import MarketFrame
    from pytest_stress.replay.session import replay

    mids = np.array([[100.0], [90.0], [95.0], [100.0], [101.0], [99.0]])
    ts = np.arange(6, dtype=np.int64) * 100_000_000
    held = RiskSpec(manage_book=False)  # the book is held as is: only prices move equity
    out = replay(MarketFrame(ts, mids - 0.01, mids + 0.01, ("S0",)), np.array([1.0]), risk_spec=held)
    # under water from the tick-0 peak until tick 3 (back at 100), then from tick 4 to the end
    np.testing.assert_allclose(out.drawdown, [0.0, 10.0, 5.0, 0.0, 0.0, 2 / 101 * 100], atol=1e-9)
    assert out.lg[acc.LG_MAX_DD_ROWS] == 3
    assert out.lg[acc.LG_MAX_DD_NS] == 300_000_000


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
    ("kw", "match"),
    [
        (
            {"symbols": 0},
            r"symbols=0 is refused: market.symbols: 0 is out of range: expected an integer >= 1",
        ),
        ({"seed": -1}, r"seed=-1 is refused: market.seed: -1 is out of range"),
        ({"seed": 2**63}, r"market.seed: 9223372036854775808 is out of range"),
        ({"symbols": 2.5}, r"the symbols override must be an integer, got 2.5"),
    ],
)
def test_overrides_out_of_range_are_refused(kw, match):
    with pytest.raises(ReplayError, match=match):
        run_scenario(small(), **kw)


def test_an_override_goes_through_the_schema_like_a_file():
    """The cell budget is a schema rule: an override that passes it is refused as a file would be."""
    base = load_scenario("flash_crash_lite")
    sc = dataclasses.replace(base, market=dataclasses.replace(base.market, duration_s=900.0))  # 9,001 ticks
    assert sc.with_overrides(symbols=5_000).market.symbols == 5_000  # 45M cells: within the budget
    with pytest.raises(ReplayError, match=r"symbols=6000 is refused: market.*above the limit of 50,000,000"):
        sc.with_overrides(symbols=6_000)


def test_certify_without_expectations_is_an_error_not_a_pass():
    res = run_scenario(dataclasses.replace(small(), expect=()))
    assert res.checks == ()
    assert not res.passed
    with pytest.raises(CertificationError, match="has no expect: block, so nothing was certified"):
        res.certify()


def test_a_metric_the_run_does_not_measure_is_not_evaluated_never_passed(monkeypatch):
    from pytest_stress import checks, metrics

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


# --- the managed replay, end to end ---------------------------------------------------------------


@pytest.mark.parametrize("chunk_ticks", [1, 37, 600, 5000])
def test_a_session_replayed_in_chunks_is_bit_identical_to_the_whole(chunk_ticks):
    sc = dataclasses.replace(small(), on_breach=OnBreach.RECORD)  # the levered book trades: Kelly clamp
    book = Portfolio(1e6, np.full(10, 0.25))
    whole = run_scenario(sc, portfolio=book)
    chunked = run_scenario(sc, portfolio=book, chunk_ticks=chunk_ticks)
    np.testing.assert_array_equal(whole.equity_curve, chunked.equity_curve)
    assert whole.metrics == chunked.metrics
    assert whole.total_trades > 0
    np.testing.assert_array_equal(whole.fills.price, chunked.fills.price)
    assert whole.events == chunked.events


def test_the_result_carries_every_seed_003_metric():
    res = run_scenario(small())
    for name in (
        "total_trades",
        "winrate_pct",
        "profit_factor",
        "sharpe_ratio",
        "emergency_stops",
        "execution_failures",
        "failed_models",
        "failed_strategies",
        "data_quality_issues",
        "max_dd_duration_s",
        "policy_transitions",
        "latency_spikes",
    ):
        assert name in res.metrics
    assert res.total_trades == 0  # the 1x book rides the shock: nothing to rebalance
    assert res.winrate is None  # nothing closed: not 0 %, not measured
    assert res.failed_models is None
    assert res.failed_strategies is None
    assert res.emergency_stops == 0
    assert res.max_drawdown == res.max_drawdown_pct
    assert res.max_dd_duration > 0
    assert res.success is res.passed
    assert any("failed_models not measured" in n for n in res.notes)
    assert res.provenance["seed"] == 42
    assert res.provenance["transforms"] == ["flash_crash"]


def test_a_metric_the_compiled_replay_cannot_measure_is_not_evaluated_with_its_reason():
    sc = dataclasses.replace(small(), expect=(Expectation("failed_models", max=0.0),))
    (check,) = run_scenario(sc).checks
    assert check.status is CheckStatus.NOT_EVALUATED
    assert "needs the Python stack" in check.detail


def test_the_kelly_clamp_halves_a_levered_book_when_the_kill_switch_is_not_in_the_way():
    """Seed 000: 'risk controls clamp Kelly utilization to <= 50% after max_drawdown breaches 5%'."""
    sc = dataclasses.replace(small(), on_breach=OnBreach.RECORD)
    res = run_scenario(sc, portfolio=Portfolio(1e6, np.full(10, 0.25)))
    events = [e.event for e in res.events]
    assert "KELLY_CLAMP" in events
    assert res.total_trades > 0
    assert np.all(res.fills.qty < 0)  # only sells
    assert [p.after for p in res.policy_transitions][-1] == "STRATEGY_BREAKER"


def test_to_dict_carries_fills_events_and_metrics_as_json():
    sc = dataclasses.replace(small(), on_breach=OnBreach.RECORD)
    res = run_scenario(sc, portfolio=Portfolio(1e6, np.full(10, 0.25)))
    data = json.loads(json.dumps(res.to_dict(max_records=5), allow_nan=False))
    assert data["fills_total"] == res.total_trades
    assert len(data["fills"]) == 5
    assert data["events_total"] >= len(data["events"])
    assert data["metrics"]["failed_models"] is None
    assert data["metrics"]["total_trades"] == res.total_trades
    assert set(data["tail_risk"]) == {"var_95", "var_99", "cvar_95", "cvar_99"}
    assert data["success"] is False
