"""The stress suite: the Flash-Crash Lite runbook's promises (every library scenario is certified in
test_library.py).

Runbook: ../shared/seeds/002 (Flash-Crash Lite Stress Runner). `make stress-suite` runs this file.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pytest_stress import Portfolio, load_scenario, run_scenario


@pytest.mark.stress
def test_kill_switch_fires_when_drawdown_breaches_five_percent():
    """Runbook: 'automatically ... triggers KILL_SWITCH on risk limit breaches' (Max Drawdown: 5 %)."""
    sc = load_scenario("flash_crash_lite")
    levered = Portfolio(initial_capital=1_000_000, weights=np.full(100, 0.025))  # 2.5x gross, long
    res = run_scenario(sc, portfolio=levered)
    assert res.kill_switch_triggered
    [first, *_] = res.breaches
    assert first.metric == "max_drawdown_pct"
    assert first.limit == 5.0
    assert first.measured > 5.0
    assert res.kill_switch_tick == first.tick
    # the down-spike is at the start of the window: the switch fires within its first second
    assert first.time_ms <= 1000


@pytest.mark.stress
def test_no_kill_switch_when_limits_hold():
    """A 1x long book rides a 3 % shock inside all three limits: no breach, no KILL_SWITCH."""
    res = run_scenario("flash_crash_lite")
    assert not res.kill_switch_triggered
    assert res.breaches == ()
    assert 3.0 <= res.max_drawdown_pct < 5.0


@pytest.mark.stress
def test_breach_is_recorded_without_kill_switch_when_scenario_says_record():
    sc = load_scenario("flash_crash_lite")
    sc = dataclasses.replace(sc, on_breach=type(sc.on_breach)("record"))
    res = run_scenario(sc, portfolio=Portfolio(1_000_000, np.full(100, 0.025)))
    assert res.breaches
    assert not res.kill_switch_triggered


@pytest.mark.stress
@pytest.mark.parametrize("symbols", [1, 10, 100])
def test_flash_crash_lite_runs_on_up_to_100_symbols(symbols):
    """Runbook: 'Max Symbols: 100 symbols per test' - every size up to it replays and certifies."""
    res = run_scenario("flash_crash_lite", symbols=symbols)
    assert res.symbols == symbols
    assert res.equity_curve.shape == (601,)
    res.certify()


def _liquidity_collapse(symbols: int = 20):
    """flash_crash_lite on a 5-level book that collapses to its top level for 20 s (seed 000's Flash Crash
    2010 row: 'order-book liquidity collapses'), breaches recorded, not stopped."""
    from pytest_stress.scenario import OnBreach, StressSpec

    sc = load_scenario("flash_crash_lite")
    collapse = StressSpec(
        "depth_collapse",
        {"levels_left": 1, "spread_mult": 3.0, "volume_drop_pct": 0.9, "start_s": 0.0, "duration_s": 20.0},
    )
    return dataclasses.replace(
        sc,
        market=dataclasses.replace(sc.market, depth_levels=5, symbols=symbols),
        stress=(*sc.stress, collapse),
        on_breach=OnBreach.RECORD,
    )


@pytest.mark.stress
def test_a_liquidity_collapse_triggers_a_partial_halt_and_the_kelly_clamp_still_halves_the_book():
    """Seed 000: 'Execution simulator must trigger HaltMode.PARTIAL when order-book liquidity collapses, and
    risk controls clamp Kelly utilization to <=50% after max_drawdown breaches 5%'."""
    res = run_scenario(_liquidity_collapse(), portfolio=Portfolio(1_000_000, np.full(20, 2.5 / 20)))
    assert res.metrics["halt_partial_triggered"] is True
    assert res.max_drawdown_pct > 5.0
    assert "KELLY_CLAMP" in [e.event for e in res.events]
    # during the partial halt only position-reducing orders were accepted: the clamp's sells
    assert len(res.fills) > 0
    assert np.all(res.fills.qty < 0)
    assert res.metrics["kelly_utilisation_max"] == pytest.approx(0.5, abs=0.01)
    assert res.metrics["queue_depth_deviation_pct"] is not None


@pytest.mark.stress
def test_the_levered_book_keeps_its_positions_once_the_kill_switch_fires():
    """Runbook: KILL_SWITCH halts trading; positions are kept until an operator resets the circuit."""
    sc = load_scenario("flash_crash_lite")
    res = run_scenario(sc, portfolio=Portfolio(1_000_000, np.full(100, 0.025)))
    assert res.kill_switch_triggered
    assert res.total_trades == 0  # the Kelly clamp engaged at the same tick, its orders were blocked
    assert res.emergency_stops == 1
    assert res.metrics["kelly_utilisation_max"] == pytest.approx(1.0, abs=0.1)
