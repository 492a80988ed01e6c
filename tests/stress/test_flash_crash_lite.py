"""The stress suite: certify every library scenario and check the Flash-Crash Lite runbook's promises.

Runbook: ../shared/seeds/002 (Flash-Crash Lite Stress Runner). `make stress-suite` runs this file.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pytest_stress import Portfolio, load_scenario, run_scenario


@pytest.mark.stress_scenario(library=True)
def test_library_scenario_certifies(stress_run):
    """Every scenario of the library meets its own `expect:` block on the reference book."""
    stress_run.certify()


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
