"""The flash-crash transform: depth of the trough, spread widening, recovery modes, and the path factor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_stress.market.frame import MarketFrame
from pytest_stress.market.synthetic import synthetic_frame
from pytest_stress.replay.transforms import RECOVERY_CODES, apply_stresses, price_path_factor
from pytest_stress.scenario import MarketSpec, StressSpec

MARKET = MarketSpec(source="synthetic", symbols=20, duration_s=60, tick_ms=100, seed=42)


def crash(**params) -> StressSpec:
    base = {
        "price_shock_pct": -0.03,
        "spread_mult": 3.0,
        "duration_s": 60.0,
        "start_s": 0.0,
        "fall_s": 0.0,
        "recovery": "linear",
    }
    return StressSpec("flash_crash", {**base, **params})


def calm_frame(market: MarketSpec = MARKET) -> MarketFrame:
    frame, _ = synthetic_frame(market, np.random.default_rng(market.seed))
    return frame


def flat_frame(n_ticks: int = 11, n_symbols: int = 3) -> MarketFrame:
    """Every symbol at bid 99.9 / ask 100.1 on every tick: the transform's effect is all that moves."""
    return MarketFrame(
        np.arange(n_ticks, dtype=np.int64) * 100_000_000,
        np.full((n_ticks, n_symbols), 99.9),
        np.full((n_ticks, n_symbols), 100.1),
        tuple(f"S{i}" for i in range(n_symbols)),
    )


def test_minus_three_percent_shock_gives_a_trough_three_percent_below_the_pre_shock_mid():
    calm = calm_frame()
    stressed, _ = apply_stresses(calm, MARKET, (crash(start_s=10.0, duration_s=40.0, fall_s=2.0),))
    start = MARKET.tick_of(10.0)
    trough = stressed.mid()[start:].min(axis=0)
    depth = trough / calm.mid()[start] - 1.0
    # the calm path wanders a few basis points over the 2 s fall; the shock itself is exact
    np.testing.assert_allclose(depth, -0.03, atol=0.002)
    # exactly: the stressed mid at the bottom of the fall is 97 % of the calm mid at that tick
    bottom = start + MARKET.tick_of(2.0)
    np.testing.assert_allclose(stressed.mid()[bottom] / calm.mid()[bottom], 0.97, rtol=1e-12)


def test_spreads_are_three_times_wider_inside_the_window_and_normal_outside():
    calm = calm_frame()
    stressed, (applied,) = apply_stresses(calm, MARKET, (crash(start_s=10.0, duration_s=20.0),))
    spread_ratio = (stressed.ask - stressed.bid) / (calm.ask - calm.bid)
    inside = slice(applied.start_tick + 1, applied.end_tick)
    np.testing.assert_allclose(spread_ratio[inside], 3.0, rtol=1e-9)
    np.testing.assert_allclose(spread_ratio[: applied.start_tick + 1], 1.0, rtol=1e-12)
    np.testing.assert_allclose(spread_ratio[applied.end_tick :], 1.0, rtol=1e-12)
    assert np.all(stressed.bid < stressed.ask)


def test_applied_stress_records_its_tick_window_and_parameters():
    _, (applied,) = apply_stresses(calm_frame(), MARKET, (crash(start_s=10.0, duration_s=20.0),))
    assert (applied.type, applied.start_tick, applied.end_tick) == ("flash_crash", 100, 300)
    assert applied.params["price_shock_pct"] == -0.03


def test_the_input_frame_is_not_modified():
    calm = calm_frame()
    bid, ask = calm.bid.copy(), calm.ask.copy()
    stressed, _ = apply_stresses(calm, MARKET, (crash(),))
    np.testing.assert_array_equal(calm.bid, bid)
    np.testing.assert_array_equal(calm.ask, ask)
    assert not np.array_equal(stressed.bid, bid)


def test_linear_recovery_on_a_flat_market():
    market = MarketSpec(source="synthetic", symbols=3, duration_s=1.0, tick_ms=100, seed=0)
    stressed, _ = apply_stresses(flat_frame(), market, (crash(duration_s=0.8, fall_s=0.2),))
    mid = stressed.mid()[:, 0]
    # tick 0 calm, falls over 2 ticks to 97, climbs back over the remaining 6, calm from tick 8 on
    expected = [100.0, 98.5, 97.0, 97.5, 98.0, 98.5, 99.0, 99.5, 100.0, 100.0, 100.0]
    np.testing.assert_allclose(mid, expected, rtol=1e-12)


def test_exponential_recovery_is_fast_first_then_slow_and_closes_the_gap():
    market = MarketSpec(source="synthetic", symbols=3, duration_s=2.0, tick_ms=100, seed=0)
    stressed, _ = apply_stresses(flat_frame(21), market, (crash(duration_s=2.0, recovery="exponential"),))
    mid = stressed.mid()[:, 0]
    gains = np.diff(mid[1:])
    assert mid[1] == pytest.approx(97.0)
    assert np.all(gains > 0)
    assert np.all(np.diff(gains) < 0)  # each step recovers less than the one before
    assert mid[-1] == pytest.approx(100.0)


def test_no_recovery_leaves_the_price_at_the_trough_after_the_window_with_normal_spreads():
    market = MarketSpec(source="synthetic", symbols=3, duration_s=1.0, tick_ms=100, seed=0)
    stressed, _ = apply_stresses(flat_frame(), market, (crash(duration_s=0.5, recovery="none"),))
    mid = stressed.mid()[:, 0]
    spread = (stressed.ask - stressed.bid)[:, 0]
    np.testing.assert_allclose(mid[1:], 97.0, rtol=1e-12)
    # the quoted spread (in price) is what widens; after the window it is back to its calm width
    np.testing.assert_allclose(spread[1:5], 0.2 * 3.0, rtol=1e-9)
    np.testing.assert_allclose(spread[5:], 0.2, rtol=1e-9)


def test_two_stresses_compose_in_file_order():
    market = MarketSpec(source="synthetic", symbols=3, duration_s=1.0, tick_ms=100, seed=0)
    first = crash(duration_s=0.5, recovery="none", spread_mult=1.0)
    second = crash(price_shock_pct=-0.10, duration_s=0.5, start_s=0.5, recovery="none", spread_mult=1.0)
    stressed, applied = apply_stresses(flat_frame(), market, (first, second))
    assert [a.start_tick for a in applied] == [0, 5]
    np.testing.assert_allclose(stressed.mid()[-1, 0], 100.0 * 0.97 * 0.90, rtol=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    fall=st.integers(1, 50),
    extra=st.integers(1, 200),
    shock=st.floats(-0.99, -1e-4),
    recovery=st.sampled_from(sorted(RECOVERY_CODES.values())),
)
def test_price_path_factor_shape(fall, extra, shock, recovery):
    span = fall + extra
    f = np.array([price_path_factor(k, fall, span, shock, recovery) for k in range(span + 2)])
    trough = 1.0 + shock
    assert f[0] == 1.0
    assert f[fall] == pytest.approx(trough)
    assert np.all(f >= trough - 1e-12)
    assert np.all(f <= 1.0 + 1e-12)
    assert np.all(np.diff(f[: fall + 1]) < 0)  # the fall is strictly downward
    assert np.all(np.diff(f[fall:]) >= -1e-12)  # and never falls again afterwards
    if recovery == RECOVERY_CODES["none"]:
        np.testing.assert_allclose(f[fall:], trough)
    else:
        assert f[span] == 1.0
        assert f[span + 1] == 1.0
