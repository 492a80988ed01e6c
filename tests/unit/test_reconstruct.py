"""Calibrated reconstructions hit the published facts they are pinned to (../shared/calibration.md).

Each bundled reconstruction lists its facts as `targets` (a figure, a tolerance, the fact it stands for);
the frame the replay sees is measured against every one of them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pytest_stress.errors import ReplayError
from pytest_stress.market.reconstruct import check_targets, pinned_log_mid, reconstructed_frame
from pytest_stress.scenario import load_scenario, scenario_library

RECONSTRUCTIONS = [sc.name for sc in scenario_library() if sc.market.source == "reconstruction"]


def test_the_five_historic_events_are_reconstructions():
    assert set(RECONSTRUCTIONS) >= {
        "flash_crash_2010",
        "covid_fx_2020",
        "ftx_collapse_2022",
        "btc_flash_crash_2021",
        "nvda_2023_10_17",
    }


@pytest.mark.parametrize("name", RECONSTRUCTIONS)
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_reconstruction_hits_every_pinned_fact_within_its_tolerance(name, seed):
    """With the file's seed and with others: the facts hold by construction, not by a lucky draw."""
    sc = load_scenario(name)
    frame = reconstructed_frame(sc.market, seed)
    results = check_targets(frame, sc.market)
    assert results, f"{name} pins no facts"
    missed = [r.line() for r in results if not r.ok]
    assert not missed, "\n".join(missed)


def test_flash_crash_2010_uses_the_event_window_not_the_seed_window():
    """Seed 000 says 13:00-15:00 UTC (09:00-11:00 ET, before the event); the record says 18:30-19:15 UTC."""
    sc = load_scenario("flash_crash_2010")
    assert sc.market.reconstruction.start == "2010-05-06T18:30:00Z"
    assert sc.provenance.window_utc == ("2010-05-06T18:30:00Z", "2010-05-06T19:15:00Z")
    assert "13:00-15:00 UTC" in sc.provenance.notes
    es = sc.market.reconstruction.symbols[0]
    trough = min(es.path, key=lambda p: p.value)
    assert trough.at == "2010-05-06T18:45:28Z"  # 14:45:28 ET, the Stop Logic pause


def test_the_replay_sees_the_pinned_market():
    from pytest_stress import run_scenario

    sc = load_scenario("nvda_2023_10_17")
    res = run_scenario(sc)
    frame = reconstructed_frame(sc.market)
    assert res.symbol_names == ("NVDA",)
    assert res.n_ticks == frame.n_ticks
    assert res.provenance["kind"] == "reconstruction"


def test_chunked_replay_of_a_reconstruction_matches_the_whole():
    from pytest_stress import run_scenario

    whole = run_scenario("btc_flash_crash_2021")
    chunked = run_scenario("btc_flash_crash_2021", chunk_ticks=1000)
    np.testing.assert_array_equal(whole.equity_curve, chunked.equity_curve)


def test_a_reconstruction_has_fixed_symbols():
    with pytest.raises(ReplayError, match="fixed set of 2 symbols"):
        load_scenario("flash_crash_2010").with_overrides(symbols=10)


def test_bridge_passes_through_every_pin_and_keeps_the_noise_between():
    from pytest_stress.specs.reconstruction import Pin

    t = np.arange(101.0)
    noise = np.cumsum(np.random.default_rng(0).normal(0, 0.01, 101)) - 0.0
    noise -= noise[0]
    pins = (Pin(40.0, 90.0), Pin(70.0, 95.0))
    log_mid = pinned_log_mid(noise, t, 100.0, pins)
    assert np.exp(log_mid[[0, 40, 70]]) == pytest.approx([100.0, 90.0, 95.0])
    assert np.std(np.diff(log_mid[:40])) > 0.005  # not a straight line


def test_a_missed_fact_is_reported_with_its_numbers():
    sc = load_scenario("nvda_2023_10_17")
    rec = sc.market.reconstruction
    wrong = dataclasses.replace(rec.targets[0], value=-10.0)
    market = dataclasses.replace(sc.market, reconstruction=dataclasses.replace(rec, targets=(wrong,)))
    [result] = check_targets(reconstructed_frame(market), market)
    assert not result.ok
    assert "pinned -10 +/- 0.5 (MISSED)" in result.line()
