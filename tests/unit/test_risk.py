"""The risk engine on hand-made price paths, each control at the exact tick it must act.

Runbooks: seed 002 (KILL_SWITCH on a breach: 5 % drawdown, 2x VaR, 10 % position delta; it blocks trading
until reset_circuit), seed 000 (Kelly utilisation clamped to <= 50 % after max drawdown passes 5 %; vol
targeting keeps annualised vol <= 18 %; CVaR alert; circuit breakers).
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_stress.market.frame import MarketFrame
from pytest_stress.replay import accounting as acc
from pytest_stress.replay import exchange as ex
from pytest_stress.replay import risk
from pytest_stress.replay.events import EVENT_NAMES
from pytest_stress.replay.exchange import ExchangeStatus, OrderKind
from pytest_stress.replay.session import OrderSchedule, ReplayOutput, ReplaySession, replay
from pytest_stress.run.measure import measure, policy_transitions
from pytest_stress.run.result import Fills
from pytest_stress.specs.execution import ExecutionSpec
from pytest_stress.specs.risk import RiskSpec

M, L = OrderKind.MARKET, OrderKind.LIMIT
NAN = float("nan")
EXACT = ExecutionSpec(failure_rate=0.0, base_slippage_pct=0.0, liquidity_halflife_s=0.0)
# Only the control under test acts: the others are pushed out of the way.
QUIET = RiskSpec(
    strategy_drawdown_pct=100.0,
    portfolio_drawdown_pct=100.0,
    kelly_clamp_after_drawdown_pct=100.0,
    var_trip_multiple=None,
    position_delta_trip_pct=None,
)


def path(mids, tick_ms=100, half_spread=0.01):
    """One symbol whose mid follows ``mids``; bid/ask a cent either side."""
    mid = np.asarray(mids, dtype=np.float64)[:, None]
    ts = np.arange(mid.shape[0], dtype=np.int64) * tick_ms * 1_000_000
    return MarketFrame(ts, mid - half_spread, mid + half_spread, ("S0",))


# 1x long 10,000 units at 100: every point the mid falls is 1 % of drawdown (marked at the bid)
DROP = path([100.0, 100.0, 100.0, 94.0, 94.0, 94.0, 88.0, 88.0, 88.0, 88.0])


def run(frame, risk_spec, orders=(), **kw) -> ReplayOutput:
    return replay(frame, np.array([1.0]), 1e6, execution=EXACT, risk_spec=risk_spec,
                  schedule=OrderSchedule.from_rows(list(orders)), **kw)  # fmt: skip


def events(out, *names):
    wanted = {code for code, name in EVENT_NAMES.items() if name in names}
    return [
        (int(out.events.tick[k]), EVENT_NAMES[int(c)])
        for k, c in enumerate(out.events.codes())
        if c in wanted
    ]


def statuses(out):
    return [ExchangeStatus(int(s)) for s in out.orders_i[ex.OI_STATUS]]


# --- tail risk ---------------------------------------------------------------------------------------


def test_historical_cvar_is_the_mean_of_the_tail_at_and_beyond_the_var():
    pnl = -np.arange(100.0)  # losses 0 .. 99
    assert risk.historical_var(pnl, 0.99) == 98.0
    assert risk.historical_cvar(pnl, 0.99) == pytest.approx((99 + 98) / 2)
    assert risk.historical_cvar(pnl, 0.95) == pytest.approx(sum(range(94, 100)) / 6)
    assert risk.historical_cvar(np.array([5.0, 1.0, 2.0]), 0.99) == 0.0


# --- live limits: each trip at its exact tick (seed 002) --------------------------------------------


def test_a_drawdown_limit_trips_at_the_first_tick_above_it_and_fires_the_kill_switch():
    out = run(DROP, QUIET, limits={"max_drawdown_pct": 5.0})
    assert events(out, "DRAWDOWN_TRIP", "KILL_SWITCH") == [(3, "DRAWDOWN_TRIP"), (3, "KILL_SWITCH")]
    assert out.rs[risk.RS_FIRST_KILL_ROW] == 3


def test_the_var_trip_is_the_loss_above_twice_the_normal_var():
    # VaR 25,000: the 60,000 loss at tick 3 is 2.4x; with a VaR of 40,000 only tick 6's 120,000 passes 2x
    out = run(DROP, RiskSpec(**{**QUIET.__dict__, "var_trip_multiple": 2.0}), var_1d=25_000.0,
              limits={"var_multiple": 2.0})  # fmt: skip
    assert events(out, "VAR_TRIP") == [(3, "VAR_TRIP")]
    assert out.rm[risk.RM_BREACH_VALUE, risk.VAR_MULTIPLE] == pytest.approx(60_000 / 25_000)
    out = run(DROP, QUIET, var_1d=40_000.0, limits={"var_multiple": 2.0})
    assert events(out, "VAR_TRIP") == [(6, "VAR_TRIP")]


def test_the_cvar_trip():
    out = run(DROP, QUIET, cvar_1d=100_000.0, limits={"cvar_multiple": 1.0}, kill_on_breach=False)
    assert events(out, "CVAR_TRIP", "KILL_SWITCH") == [(6, "CVAR_TRIP")]


def test_the_position_delta_trip_is_a_ten_percent_change_of_net_exposure():
    # the mid falls 6 % (tick 3), then 12 % (tick 6): net exposure changes by as much
    out = run(DROP, QUIET, limits={"position_delta_pct": 10.0})
    assert events(out, "POSITION_DELTA_TRIP") == [(6, "POSITION_DELTA_TRIP")]
    assert out.rm[risk.RM_BREACH_VALUE, risk.POSITION_DELTA] == pytest.approx(12.0)


# --- circuit breakers and the kill switch ------------------------------------------------------------


def test_the_strategy_breaker_blocks_risk_increasing_orders_and_lets_reducing_ones_through():
    spec = RiskSpec(**{**QUIET.__dict__, "strategy_drawdown_pct": 5.0})
    out = run(DROP, spec, orders=[(4, 0, 100.0, M, NAN), (4, 0, -100.0, M, NAN)])
    assert events(out, "STRATEGY_CIRCUIT_BREAKER") == [(3, "STRATEGY_CIRCUIT_BREAKER")]
    assert statuses(out) == [ExchangeStatus.BLOCKED, ExchangeStatus.FILLED]
    assert out.orders_i[ex.OI_REASON, 0] == risk.ORDER_BLOCKED_BREAKER


def test_the_portfolio_breaker_fires_the_kill_switch_which_cancels_open_orders_and_keeps_positions():
    spec = RiskSpec(**{**QUIET.__dict__, "portfolio_drawdown_pct": 10.0})
    # a resting limit sell (working from tick 6), then orders after the kill switch
    orders = [(5, 0, -100.0, L, 95.0), (7, 0, -100.0, M, NAN), (8, 0, 100.0, M, NAN)]
    out = run(DROP, spec, orders=orders)
    assert events(out, "PORTFOLIO_CIRCUIT_BREAKER", "KILL_SWITCH", "ORDER_CANCELLED_KILL_SWITCH") == [
        (6, "PORTFOLIO_CIRCUIT_BREAKER"),
        (6, "KILL_SWITCH"),
        (6, "ORDER_CANCELLED_KILL_SWITCH"),
    ]
    assert statuses(out) == [ExchangeStatus.CANCELLED, ExchangeStatus.BLOCKED, ExchangeStatus.BLOCKED]
    assert out.ls[acc.LS_QTY, 0] == pytest.approx(10_000.0)  # positions kept
    assert measure(out)["emergency_stops"] == 1


def test_with_record_only_the_portfolio_breaker_does_not_fire_the_kill_switch():
    spec = RiskSpec(**{**QUIET.__dict__, "portfolio_drawdown_pct": 10.0})
    out = run(DROP, spec, kill_on_breach=False)
    assert events(out, "PORTFOLIO_CIRCUIT_BREAKER", "KILL_SWITCH") == [(6, "PORTFOLIO_CIRCUIT_BREAKER")]


def test_the_kill_switch_stays_on_until_reset_and_orders_flow_again_after():
    """Seed 002: 'Keep trading halted until risk is mitigated ... POST /api/v1/risk/reset_circuit'."""
    session = ReplaySession(
        np.array([1.0]), 1e6, execution=EXACT, risk_spec=QUIET, rng=np.random.default_rng(0),
        limits={"max_drawdown_pct": 5.0}, schedule=OrderSchedule.from_rows([(5, 0, -10.0, M, NAN), (8, 0, -10.0, M, NAN)]),
    )  # fmt: skip
    session.feed(DROP.rows(0, 7))
    assert session.kill_switch_on
    assert session.reset_kill_switch()
    assert not session.kill_switch_on
    session.feed(DROP.rows(7, 10))
    out = session.output()
    assert statuses(out) == [ExchangeStatus.BLOCKED, ExchangeStatus.FILLED]
    assert events(out, "KILL_SWITCH", "KILL_SWITCH_RESET") == [(3, "KILL_SWITCH"), (7, "KILL_SWITCH_RESET")]
    # the limit trips once per run: the drawdown is still above 5 %, the switch does not fire again
    assert measure(out)["emergency_stops"] == 1


# --- the Kelly clamp (seed 000) ----------------------------------------------------------------------


def test_the_kelly_clamp_halves_the_book_once_drawdown_passes_five_percent():
    spec = RiskSpec(**{**QUIET.__dict__, "kelly_clamp_after_drawdown_pct": 5.0})
    out = run(DROP, spec)
    assert events(out, "KELLY_CLAMP") == [(3, "KELLY_CLAMP")]
    fills = Fills.from_output(out)
    assert fills.tick.tolist() == [4]  # decided at tick 3, filled one tick later
    assert fills.qty.tolist() == [-5_000.0]
    assert measure(out)["kelly_utilisation_max"] == pytest.approx(0.5)
    assert [p.after for p in policy_transitions(out)] == ["KELLY_CLAMPED"]


def test_a_kelly_clamp_the_kill_switch_stops_shows_the_utilisation_kept():
    spec = RiskSpec(**{**QUIET.__dict__, "kelly_clamp_after_drawdown_pct": 5.0})
    out = run(DROP, spec, limits={"max_drawdown_pct": 5.0})
    assert len(Fills.from_output(out)) == 0
    assert measure(out)["kelly_utilisation_max"] == pytest.approx(1.0, rel=0.1)


def test_without_a_drawdown_the_kelly_clamp_is_not_measured():
    assert measure(run(path([100.0] * 5), QUIET))["kelly_utilisation_max"] is None


# --- volatility targeting (seed 000: annualised vol <= 18 %) ------------------------------------------


@pytest.mark.parametrize(("sigma", "scale"), [(0.36, 0.5), (0.12, 1.0), (10.0, 0.05)])
def test_vol_targeting_resizes_the_book_to_target_over_realised_vol_at_its_cadence(sigma, scale):
    spec = RiskSpec(**{**QUIET.__dict__, "vol_rebalance_s": 0.5, "vol_halflife_s": 30 * 86_400.0})
    prior = sigma**2 / risk.YEAR_S  # per-second variance of the book's return
    out = run(path([100.0] * 10), spec, vol_prior=prior)
    expected = [] if scale == 1.0 else [(5, "VOL_TARGET_SCALE")]
    assert events(out, "VOL_TARGET_SCALE") == expected
    held = out.ls[acc.LS_QTY, 0] / 10_000.0
    assert held == pytest.approx(scale, rel=1e-6)


def test_realised_vol_is_measured_on_the_held_book():
    out = run(DROP, QUIET)
    # a 6 % fall in 100 ms is a very large annualised volatility
    assert measure(out)["realised_vol_annual_max"] > 1.0
    assert measure(run(path([100.0] * 10), QUIET))["realised_vol_annual_max"] == 0.0


# --- pre-trade price collar --------------------------------------------------------------------------


def test_the_price_collar_refuses_orders_far_from_the_mid():
    wide = MarketFrame(np.arange(4, dtype=np.int64) * 100_000_000, np.array([[99.0], [99.0], [80.0], [99.0]]),
                       np.array([[101.0], [101.0], [120.0], [101.0]]), ("S0",))  # fmt: skip
    orders = [(0, 0, 1.0, L, 90.0), (0, 0, 1.0, L, 99.0), (2, 0, 1.0, M, NAN)]
    out = run(wide, QUIET, orders=orders)
    assert statuses(out)[0] == ExchangeStatus.BLOCKED  # a limit 10 % under the mid
    assert statuses(out)[1] == ExchangeStatus.WORKING
    assert statuses(out)[2] == ExchangeStatus.BLOCKED  # a market buy at an ask 20 % over the mid
    assert set(out.orders_i[ex.OI_REASON, [0, 2]]) == {risk.PRICE_COLLAR_REJECT}
