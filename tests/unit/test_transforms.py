"""Every stress type on small hand frames (exact numbers) and synthetic ones, the schema of the ``stress:``
section, and the record each stress leaves (seed 003: ScenarioTransformer; seed 002: Flash-Crash Lite)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_stress import run_scenario
from pytest_stress.errors import ReplayError, ScenarioError
from pytest_stress.market.frame import Depth, MarketFrame
from pytest_stress.market.synthetic import synthetic_frame
from pytest_stress.replay.stress_kernels import price_path_factor, pump_path_factor
from pytest_stress.replay.transforms import RECOVERY_CODES, StressCarry, apply_stresses, warm_up
from pytest_stress.scenario import MarketSpec, StressSpec, load_scenario_file

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


def stress(kind: str, **params) -> StressSpec:
    return StressSpec(kind, {"start_s": 0.0, **params})


def apply(frame, market, *specs, seed=0):
    return apply_stresses(frame, market, specs, np.random.default_rng(seed))


def calm_frame(market: MarketSpec = MARKET) -> MarketFrame:
    frame, _ = synthetic_frame(market, np.random.default_rng(market.seed))
    return frame


def market_for(n_ticks: int, n_symbols: int = 1) -> MarketSpec:
    return MarketSpec(
        source="synthetic", symbols=n_symbols, duration_s=(n_ticks - 1) / 10, tick_ms=100, seed=0
    )


def flat_frame(n_ticks: int = 11, n_symbols: int = 3) -> MarketFrame:
    """Every symbol at bid 99.9 / ask 100.1 on every tick: the transform's effect is all that moves."""
    return MarketFrame(
        np.arange(n_ticks, dtype=np.int64) * 100_000_000,
        np.full((n_ticks, n_symbols), 99.9),
        np.full((n_ticks, n_symbols), 100.1),
        tuple(f"S{i}" for i in range(n_symbols)),
    )


def book_frame(mids, half: float = 0.1, levels: int = 2, volume: float = 10.0) -> MarketFrame:
    """Mids (n_ticks,) or (n_ticks, n_symbols); level k of the book 0.1 x k further out, size 5 + k."""
    mid = np.asarray(mids, dtype=np.float64)
    mid = mid[:, None] if mid.ndim == 1 else mid
    n, s = mid.shape
    step = 0.1 * np.arange(levels)
    depth = Depth(
        np.ascontiguousarray((mid - half)[..., None] - step),
        np.ascontiguousarray(np.broadcast_to(5.0 + np.arange(levels), (n, s, levels))),
        np.ascontiguousarray((mid + half)[..., None] + step),
        np.ascontiguousarray(np.broadcast_to(5.0 + np.arange(levels), (n, s, levels))),
    )
    return MarketFrame(
        np.arange(n, dtype=np.int64) * 100_000_000,
        mid - half,
        mid + half,
        tuple(f"S{i}" for i in range(s)),
        volume=np.full((n, s), volume),
        depth=depth,
    )


# --- flash_crash (seed 002: 3 % down-spike, spreads x3, linear recovery) ---------------------------


def test_minus_three_percent_shock_gives_a_trough_three_percent_below_the_pre_shock_mid():
    calm = calm_frame()
    stressed, _ = apply(calm, MARKET, crash(start_s=10.0, duration_s=40.0, fall_s=2.0))
    start = MARKET.tick_of(10.0)
    trough = stressed.mid()[start:].min(axis=0)
    depth = trough / calm.mid()[start] - 1.0
    # the calm path wanders a few basis points over the 2 s fall; the shock itself is exact
    np.testing.assert_allclose(depth, -0.03, atol=0.002)
    # exactly: the stressed mid at the bottom of the fall is 97 % of the calm mid at that tick
    bottom = start + MARKET.tick_of(2.0)
    np.testing.assert_allclose(stressed.mid()[bottom] / calm.mid()[bottom], 0.97, rtol=1e-12)


def test_drop_pct_is_the_seed_003_name_for_the_same_fall():
    calm = calm_frame()
    shock = crash(start_s=10.0, duration_s=40.0, fall_s=2.0)
    drop_params = {k: v for k, v in shock.params.items() if k != "price_shock_pct"}
    drop = StressSpec("flash_crash", {**drop_params, "drop_pct": 0.03})
    np.testing.assert_array_equal(apply(calm, MARKET, shock)[0].bid, apply(calm, MARKET, drop)[0].bid)


def test_spreads_are_three_times_wider_inside_the_window_and_normal_outside():
    calm = calm_frame()
    stressed, (applied,) = apply(calm, MARKET, crash(start_s=10.0, duration_s=20.0))
    spread_ratio = (stressed.ask - stressed.bid) / (calm.ask - calm.bid)
    inside = slice(applied.start_tick + 1, applied.end_tick)
    np.testing.assert_allclose(spread_ratio[inside], 3.0, rtol=1e-9)
    np.testing.assert_allclose(spread_ratio[: applied.start_tick + 1], 1.0, rtol=1e-12)
    np.testing.assert_allclose(spread_ratio[applied.end_tick :], 1.0, rtol=1e-12)
    assert np.all(stressed.bid < stressed.ask)


def test_applied_stress_records_its_tick_window_and_parameters():
    _, (applied,) = apply(calm_frame(), MARKET, crash(start_s=10.0, duration_s=20.0))
    assert (applied.type, applied.start_tick, applied.end_tick) == ("flash_crash", 100, 300)
    assert applied.params["price_shock_pct"] == -0.03


def test_the_input_frame_is_not_modified():
    calm = calm_frame()
    bid, ask = calm.bid.copy(), calm.ask.copy()
    stressed, _ = apply(calm, MARKET, crash())
    np.testing.assert_array_equal(calm.bid, bid)
    np.testing.assert_array_equal(calm.ask, ask)
    assert not np.array_equal(stressed.bid, bid)


def test_linear_recovery_on_a_flat_market():
    market = MarketSpec(source="synthetic", symbols=3, duration_s=1.0, tick_ms=100, seed=0)
    stressed, _ = apply(flat_frame(), market, crash(duration_s=0.8, fall_s=0.2))
    mid = stressed.mid()[:, 0]
    # tick 0 calm, falls over 2 ticks to 97, climbs back over the remaining 6, calm from tick 8 on
    expected = [100.0, 98.5, 97.0, 97.5, 98.0, 98.5, 99.0, 99.5, 100.0, 100.0, 100.0]
    np.testing.assert_allclose(mid, expected, rtol=1e-12)


def test_exponential_recovery_is_fast_first_then_slow_and_closes_the_gap():
    market = MarketSpec(source="synthetic", symbols=3, duration_s=2.0, tick_ms=100, seed=0)
    stressed, _ = apply(flat_frame(21), market, crash(duration_s=2.0, recovery="exponential"))
    mid = stressed.mid()[:, 0]
    gains = np.diff(mid[1:])
    assert mid[1] == pytest.approx(97.0)
    assert np.all(gains > 0)
    assert np.all(np.diff(gains) < 0)  # each step recovers less than the one before
    assert mid[-1] == pytest.approx(100.0)


def test_no_recovery_leaves_the_price_at_the_trough_after_the_window_with_normal_spreads():
    market = MarketSpec(source="synthetic", symbols=3, duration_s=1.0, tick_ms=100, seed=0)
    stressed, _ = apply(flat_frame(), market, crash(duration_s=0.5, recovery="none"))
    mid = stressed.mid()[:, 0]
    spread = (stressed.ask - stressed.bid)[:, 0]
    np.testing.assert_allclose(mid[1:], 97.0, rtol=1e-12)
    # the quoted spread (in price) is what widens; after the window it is back to its calm width
    np.testing.assert_allclose(spread[1:5], 0.2 * 3.0, rtol=1e-9)
    np.testing.assert_allclose(spread[5:], 0.2, rtol=1e-9)


def test_flash_crash_moves_last_and_every_book_level_with_the_mid():
    frame = book_frame(np.full(6, 100.0))
    stressed, _ = apply(frame, market_for(6), crash(duration_s=0.4, fall_s=0.1, recovery="none"))
    d = stressed.depth
    # tick 1: mid 97, every distance from the mid x3; tick 4 on: mid 97, distances back to calm
    np.testing.assert_allclose(stressed.last[:, 0], [100, 97, 97, 97, 97, 97], rtol=1e-12)
    np.testing.assert_allclose(d.bid_px[1, 0], [96.7, 96.4], rtol=1e-12)
    np.testing.assert_allclose(d.ask_px[1, 0], [97.3, 97.6], rtol=1e-12)
    np.testing.assert_allclose(d.bid_px[5, 0], [96.9, 96.8], rtol=1e-12)
    np.testing.assert_allclose(d.ask_px[5, 0], [97.1, 97.2], rtol=1e-12)
    np.testing.assert_array_equal(d.bid_sz, frame.depth.bid_sz)  # sizes untouched
    np.testing.assert_array_equal(stressed.depth.bid_px[:, :, 0], stressed.bid)


def test_two_stresses_compose_in_file_order():
    market = MarketSpec(source="synthetic", symbols=3, duration_s=1.0, tick_ms=100, seed=0)
    first = crash(duration_s=0.5, recovery="none", spread_mult=1.0)
    second = crash(price_shock_pct=-0.10, duration_s=0.5, start_s=0.5, recovery="none", spread_mult=1.0)
    stressed, applied = apply(flat_frame(), market, first, second)
    assert [a.start_tick for a in applied] == [0, 5]
    np.testing.assert_allclose(stressed.mid()[-1, 0], 100.0 * 0.97 * 0.90, rtol=1e-12)


def test_a_wide_spread_on_a_crashed_price_bends_the_bid_towards_zero_instead_of_crossing_it():
    # half-spread 10 on a mid of 100, crashed to 10 and x20: the linear bid would be 10 - 200
    frame = book_frame(np.full(4, 100.0), half=10.0)
    stressed, _ = apply(frame, market_for(4), crash(price_shock_pct=-0.9, spread_mult=20.0, duration_s=0.3))
    bid, ask = stressed.bid[1, 0], stressed.ask[1, 0]
    assert bid == pytest.approx(10.0 * 10.0 / (4 * 200.0))  # mid^2 / (4 distance), above zero
    assert (bid + ask) / 2 == pytest.approx(10.0)  # the mid is still the crashed mid
    assert np.all(np.diff(stressed.depth.bid_px[1, 0]) < 0)  # levels keep their order


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


# --- volatility_spike ------------------------------------------------------------------------------


def test_volatility_spike_doubles_moves_from_the_anchor_and_keeps_the_displacement_after_the_window():
    frame = book_frame([100.0, 100.0, 110.0, 99.0, 120.0, 130.0], levels=1)
    spike = stress("volatility_spike", multiplier=2.0, start_s=0.1, duration_s=0.3)
    stressed, (applied,) = apply(frame, market_for(6), spike)
    assert (applied.start_tick, applied.end_tick) == (1, 4)
    # anchor 100 at tick 1; ticks 2-3 at 100 x (calm/100)^2; from tick 4 the calm path x 0.99 (no jump back)
    expected = [100.0, 100.0, 121.0, 98.01, 118.8, 128.7]
    np.testing.assert_allclose(stressed.mid()[:, 0], expected, rtol=1e-12)
    np.testing.assert_allclose(stressed.ask[:, 0] - stressed.bid[:, 0], 0.2, rtol=1e-9)
    np.testing.assert_allclose(stressed.last[:, 0], expected, rtol=1e-12)
    np.testing.assert_allclose(stressed.depth.bid_px[:, 0, 0], stressed.bid[:, 0], rtol=1e-12)


def test_volatility_spike_on_a_synthetic_market_scales_realised_volatility_in_the_window_only():
    calm = calm_frame()
    stressed, _ = apply(
        calm, MARKET, stress("volatility_spike", multiplier=8.0, start_s=10.0, duration_s=20.0)
    )
    calm_r, stressed_r = np.diff(np.log(calm.mid()), axis=0), np.diff(np.log(stressed.mid()), axis=0)
    inside = slice(100, 299)  # returns into ticks 101..299
    np.testing.assert_allclose(stressed_r[inside], 8.0 * calm_r[inside], rtol=1e-6, atol=1e-15)
    np.testing.assert_allclose(stressed_r[300:], calm_r[300:], rtol=1e-6, atol=1e-15)
    np.testing.assert_array_equal(stressed.bid[:101], calm.bid[:101])


# --- liquidity_drop, spread_explosion, depth_collapse ---------------------------------------------


def test_liquidity_drop_cuts_volume_and_every_book_size_by_drop_pct_in_the_window():
    frame = book_frame(np.full(6, 100.0))
    stressed, _ = apply(
        frame, market_for(6), stress("liquidity_drop", drop_pct=0.95, start_s=0.1, duration_s=0.3)
    )
    np.testing.assert_allclose(stressed.volume[:, 0], [10, 0.5, 0.5, 0.5, 10, 10], rtol=1e-12)
    np.testing.assert_allclose(stressed.depth.ask_sz[2, 0], [0.25, 0.3], rtol=1e-12)
    np.testing.assert_array_equal(stressed.depth.ask_sz[4], frame.depth.ask_sz[4])
    for name in ("bid", "ask", "last"):
        np.testing.assert_array_equal(getattr(stressed, name), getattr(frame, name))


def test_spread_explosion_widens_every_distance_from_an_unchanged_mid():
    frame = book_frame(np.full(6, 100.0))
    stressed, _ = apply(
        frame, market_for(6), stress("spread_explosion", spread_mult=10.0, start_s=0.1, duration_s=0.3)
    )
    np.testing.assert_allclose(stressed.bid[:, 0], [99.9, 99.0, 99.0, 99.0, 99.9, 99.9], rtol=1e-12)
    np.testing.assert_allclose(stressed.ask[:, 0], [100.1, 101.0, 101.0, 101.0, 100.1, 100.1], rtol=1e-12)
    np.testing.assert_allclose(stressed.depth.bid_px[2, 0], [99.0, 98.0], rtol=1e-12)
    np.testing.assert_allclose(stressed.depth.ask_px[2, 0], [101.0, 102.0], rtol=1e-12)
    np.testing.assert_allclose(stressed.mid(), 100.0, rtol=1e-15)
    np.testing.assert_array_equal(stressed.volume, frame.volume)


def test_depth_collapse_keeps_levels_left_widens_spreads_and_cuts_volume():
    frame = book_frame(np.full(6, 100.0), levels=3)
    collapse = stress("depth_collapse", levels_left=1, spread_mult=2.0, volume_drop_pct=0.5, duration_s=0.3)
    stressed, _ = apply(frame, market_for(6), collapse)
    np.testing.assert_array_equal(stressed.depth.bid_sz[1, 0], [5.0, 0.0, 0.0])
    np.testing.assert_array_equal(stressed.depth.ask_sz[3, 0], [5.0, 6.0, 7.0])  # after the window
    np.testing.assert_allclose(stressed.bid[:, 0], [99.8, 99.8, 99.8, 99.9, 99.9, 99.9], rtol=1e-12)
    np.testing.assert_allclose(stressed.volume[:, 0], [5, 5, 5, 10, 10, 10], rtol=1e-12)


def test_depth_collapse_without_a_book_widens_spreads_and_cuts_volume():
    frame = flat_frame(6, 2)
    frame = MarketFrame(frame.timestamps_ns, frame.bid, frame.ask, frame.symbols, volume=np.full((6, 2), 4.0))
    stressed, _ = apply(frame, market_for(6, 2), stress("depth_collapse", spread_mult=5.0, duration_s=0.2))
    np.testing.assert_allclose(stressed.ask[:2] - stressed.bid[:2], 1.0, rtol=1e-9)
    np.testing.assert_allclose(stressed.volume[:, 0], [2, 2, 4, 4, 4, 4])
    assert stressed.depth is None


# --- pump_and_dump ---------------------------------------------------------------------------------


def test_pump_and_dump_rises_then_falls_from_the_peak_and_stays_there():
    frame = book_frame(np.full(7, 100.0), levels=1)
    pump = stress(
        "pump_and_dump", pump_pct=0.5, dump_pct=0.5, pump_s=0.2, dump_s=0.2, spread_mult=2.0, symbols=1.0
    )
    stressed, (applied,) = apply(frame, market_for(7), pump)
    np.testing.assert_allclose(stressed.mid()[:, 0], [100, 125, 150, 112.5, 75, 75, 75], rtol=1e-12)
    np.testing.assert_allclose(
        (stressed.ask - stressed.bid)[:, 0], [0.2, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2], rtol=1e-9
    )
    assert (applied.start_tick, applied.end_tick) == (0, 4)
    assert pump_path_factor(10, 2, 2, 0.5, 0.5) == pytest.approx(0.75)


def test_pump_and_dump_on_a_fraction_of_the_symbols_leaves_the_others_alone_and_names_them():
    frame = flat_frame(7, 8)
    pump = stress(
        "pump_and_dump", pump_pct=0.2, dump_pct=0.1, pump_s=0.2, dump_s=0.2, spread_mult=1.0, symbols=0.25
    )
    stressed, (applied,) = apply(frame, market_for(7, 8), pump, seed=3)
    moved = np.flatnonzero(np.any(stressed.bid != frame.bid, axis=0))
    assert tuple(moved) == applied.detail["symbols"]
    assert applied.detail["symbol_count"] == 2


# --- correlation_breakdown -------------------------------------------------------------------------

CORRELATED = MarketSpec(source="synthetic", symbols=12, duration_s=60, tick_ms=100, seed=5, correlation=0.9)


def _returns(frame: MarketFrame) -> np.ndarray:
    return np.diff(np.log(frame.mid()), axis=0)


def _mean_pair_correlation(r: np.ndarray) -> float:
    c = np.corrcoef(r.T)
    return float(c[np.triu_indices_from(c, 1)].mean())


def test_decorrelate_keeps_each_return_size_and_removes_the_common_factor():
    calm = calm_frame(CORRELATED)
    breakdown = stress("correlation_breakdown", mode="decorrelate", start_s=10.0, duration_s=40.0)
    stressed, _ = apply(calm, CORRELATED, breakdown)
    inside = slice(100, 399)
    calm_r, stressed_r = _returns(calm)[inside], _returns(stressed)[inside]
    np.testing.assert_allclose(np.abs(stressed_r), np.abs(calm_r), rtol=1e-6, atol=1e-15)
    assert _mean_pair_correlation(calm_r) > 0.85
    assert abs(_mean_pair_correlation(stressed_r)) < 0.05
    np.testing.assert_allclose(_returns(stressed)[500:], _returns(calm)[500:], rtol=1e-6, atol=1e-15)


def test_flip_negates_the_returns_of_half_the_symbols_inside_the_window():
    calm = calm_frame(CORRELATED)
    stressed, (applied,) = apply(
        calm, CORRELATED, stress("correlation_breakdown", mode="flip", duration_s=30.0)
    )
    flipped = list(applied.detail["flipped"])
    kept = sorted(set(range(12)) - set(flipped))
    assert len(flipped) == 6
    calm_r, stressed_r = _returns(calm)[:299], _returns(stressed)[:299]
    np.testing.assert_allclose(stressed_r[:, flipped], -calm_r[:, flipped], rtol=1e-6, atol=1e-15)
    np.testing.assert_array_equal(stressed.bid[:, kept], calm.bid[:, kept])
    assert _mean_pair_correlation(stressed_r[:, [flipped[0], kept[0]]]) < -0.8


# --- data_corruption -------------------------------------------------------------------------------

CORRUPT_MARKET = market_for(101, 10)


def corruption(kinds, pct=0.1, **params) -> StressSpec:
    base = {"corruption_pct": pct, "corruption_types": tuple(kinds), "spike_pct": 0.2, "duration_s": 10.0}
    return stress("data_corruption", **{**base, **params})


def moving_frame(n_ticks: int = 101, n_symbols: int = 10) -> MarketFrame:
    """Mids that differ on every tick and symbol, so a repeated or frozen value is visible."""
    mid = 100.0 + np.arange(n_ticks)[:, None] * 0.01 + np.arange(n_symbols)[None, :]
    return book_frame(mid)


def test_corruption_pct_is_a_fraction_of_the_window_cells_shared_equally_between_kinds():
    stressed, (applied,) = apply(moving_frame(), CORRUPT_MARKET, corruption(["nan", "spike"], pct=0.1))
    # 100 ticks x 10 symbols in the window, 10 %, half each
    assert applied.detail["counts"] == {"nan": 50, "spike": 50}
    assert int(np.isnan(stressed.bid).sum()) == 50
    t, i = zip(*applied.detail["where"]["nan"], strict=True)
    assert np.all(np.isnan(stressed.ask[list(t), list(i)]))


def test_a_spike_moves_every_price_of_one_cell_by_spike_pct_for_one_tick():
    frame = moving_frame()
    stressed, (applied,) = apply(frame, CORRUPT_MARKET, corruption(["spike"], pct=0.02))
    ratio = stressed.bid / frame.bid
    hit = ratio != 1.0
    assert int(hit.sum()) == applied.detail["counts"]["spike"] == 20
    np.testing.assert_allclose(np.sort(np.abs(ratio[hit] - 1.0)), 0.2, rtol=1e-12)
    depth_ratio = stressed.depth.ask_px[hit] / frame.depth.ask_px[hit]
    np.testing.assert_allclose(depth_ratio, np.repeat(ratio[hit][:, None], 2, axis=1), rtol=1e-12)


def test_duplicate_repeats_the_previous_row_timestamp_included():
    frame = moving_frame()
    stressed, (applied,) = apply(frame, CORRUPT_MARKET, corruption(["duplicate"], pct=0.05))
    ticks = applied.detail["where"]["duplicate"]
    assert len(ticks) == 5
    for t in ticks:
        assert stressed.timestamps_ns[t] == stressed.timestamps_ns[t - 1]
        np.testing.assert_array_equal(stressed.bid[t], stressed.bid[t - 1])
        np.testing.assert_array_equal(stressed.depth.bid_sz[t], stressed.depth.bid_sz[t - 1])


def test_stale_freezes_a_cell_at_the_previous_tick_for_a_run():
    frame = moving_frame()
    stressed, (applied,) = apply(frame, CORRUPT_MARKET, corruption(["stale"], pct=0.05))
    frozen = applied.detail["where"]["stale"]
    assert applied.detail["counts"]["stale"] >= 40  # 10 runs of 5 cells, runs may overlap
    for t, i in frozen:
        assert stressed.bid[t, i] == stressed.bid[t - 1, i]
    assert not np.any(np.isnan(stressed.bid))


def test_out_of_order_swaps_a_timestamp_with_the_next_one():
    frame = moving_frame()
    stressed, (applied,) = apply(frame, CORRUPT_MARKET, corruption(["out_of_order"], pct=0.03))
    swapped = applied.detail["where"]["out_of_order"]
    assert len(swapped) == 3
    assert int((np.diff(stressed.timestamps_ns) < 0).sum()) >= 1
    assert sorted(stressed.timestamps_ns.tolist()) == frame.timestamps_ns.tolist()
    np.testing.assert_array_equal(stressed.bid, frame.bid)


def test_corruption_stays_inside_its_window():
    frame = moving_frame()
    stressed, _ = apply(
        frame, CORRUPT_MARKET, corruption(["nan", "spike", "stale"], pct=0.5, start_s=3.0, duration_s=2.0)
    )
    np.testing.assert_array_equal(stressed.bid[:30], frame.bid[:30])
    np.testing.assert_array_equal(stressed.bid[50:], frame.bid[50:])


# --- gap -------------------------------------------------------------------------------------------


def test_a_gap_removes_ticks_and_the_timestamps_show_the_hole():
    frame = flat_frame(11, 2)
    stressed, (applied,) = apply(frame, market_for(11, 2), stress("gap", start_s=0.3, ticks=2))
    assert stressed.n_ticks == 9
    assert stressed.timestamps_ns.tolist()[:4] == [0, 100_000_000, 200_000_000, 500_000_000]
    assert (applied.start_tick, applied.end_tick, applied.detail["removed_ticks"]) == (3, 5, 2)


def test_gap_windows_are_on_the_calm_timeline_even_after_another_gap():
    frame = flat_frame(11, 1)
    gaps = (stress("gap", start_s=0.3, ticks=2), stress("gap", start_s=0.6, duration_s=0.2))
    stressed, _ = apply(frame, market_for(11), *gaps)
    assert (stressed.timestamps_ns // 100_000_000).tolist() == [0, 1, 2, 5, 8, 9, 10]


def test_a_stress_after_a_gap_is_refused():
    with pytest.raises(
        ReplayError, match=r"stress\[1\] \(spread_explosion\) comes after the gap at stress\[0\]"
    ):
        apply(
            flat_frame(),
            market_for(11),
            stress("gap", ticks=1),
            stress("spread_explosion", spread_mult=2.0, duration_s=0.5),
        )


# --- mixed_custom ----------------------------------------------------------------------------------

BLACK_SWAN = (
    {"type": "volatility_spike", "multiplier": 8.0, "start_s": 10.0, "duration_s": 30.0},
    {"type": "flash_crash", "drop_pct": 0.30, "start_s": 10.0, "duration_s": 30.0, "fall_s": 5.0, "spread_mult": 1.0, "recovery": "linear"},
    {"type": "spread_explosion", "spread_mult": 15.0, "start_s": 10.0, "duration_s": 30.0},
    {"type": "liquidity_drop", "drop_pct": 0.95, "start_s": 10.0, "duration_s": 30.0},
)  # fmt: skip


def test_mixed_custom_applies_its_stresses_in_order_and_records_each():
    calm = calm_frame()
    nested, (applied,) = apply(calm, MARKET, StressSpec("mixed_custom", {"stresses": BLACK_SWAN}))
    flat, flat_applied = apply(
        calm,
        MARKET,
        *(StressSpec(d["type"], {k: v for k, v in d.items() if k != "type"}) for d in BLACK_SWAN),
    )
    np.testing.assert_array_equal(nested.bid, flat.bid)
    assert [a.type for a in applied.detail["stresses"]] == [a.type for a in flat_applied]
    assert (applied.start_tick, applied.end_tick) == (100, 400)
    assert applied.to_dict()["detail"]["stresses"][1]["drop_pct"] == 0.30


# --- chunks ----------------------------------------------------------------------------------------


def test_a_chunk_after_a_path_anchor_needs_the_carry_of_the_chunks_before_it():
    calm = calm_frame()
    spike = stress("volatility_spike", multiplier=3.0, start_s=10.0, duration_s=20.0)
    with pytest.raises(ReplayError, match="after the stress's anchor tick 100"):
        apply(calm.rows(200, 400), MARKET, spike)
    carry = StressCarry()
    apply_stresses(calm.rows(0, 200), MARKET, (spike,), np.random.default_rng(0), carry)
    with pytest.raises(ReplayError, match="previous chunk ended before tick 200"):
        apply_stresses(calm.rows(300, 400), MARKET, (spike,), np.random.default_rng(0), carry)


def test_a_window_in_global_ticks_changes_only_the_rows_of_a_chunk_inside_it():
    calm = calm_frame()
    chunk = calm.rows(250, 350)
    stressed, _ = apply(
        chunk, MARKET, stress("spread_explosion", spread_mult=4.0, start_s=10.0, duration_s=20.0)
    )
    np.testing.assert_allclose(
        (stressed.ask - stressed.bid)[:50] / (chunk.ask - chunk.bid)[:50], 4.0, rtol=1e-9
    )
    np.testing.assert_array_equal(stressed.bid[50:], chunk.bid[50:])


# --- the schema of stress: -------------------------------------------------------------------------

SCENARIO = """\
name: s
market: {source: synthetic, symbols: 4, duration_s: 10, tick_ms: 100, seed: 1}
portfolio: {initial_capital: 1000000}
stress:
"""


def load_stresses(tmp_path, body: str):
    p = tmp_path / "s.yaml"
    p.write_text(SCENARIO + textwrap.indent(textwrap.dedent(body), "  "), encoding="utf-8")
    return load_scenario_file(p).stress


def problems(tmp_path, body: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_stresses(tmp_path, body)
    return str(info.value).splitlines()


def test_every_stress_type_loads_from_yaml_with_defaults(tmp_path):
    specs = load_stresses(
        tmp_path,
        """\
        - {type: flash_crash, drop_pct: 0.2, duration_s: 2}
        - {type: volatility_spike, multiplier: 5, duration_s: 2}
        - {type: liquidity_drop, drop_pct: 0.9, duration_s: 2}
        - {type: spread_explosion, spread_mult: 10, duration_s: 2}
        - {type: depth_collapse, duration_s: 2}
        - {type: data_corruption, corruption_pct: 0.1, duration_s: 2, corruption_types: [nan, spike]}
        - {type: correlation_breakdown, duration_s: 2}
        - {type: pump_and_dump, pump_pct: 0.5, dump_pct: 0.4, pump_s: 1, dump_s: 1}
        - type: mixed_custom
          stresses:
            - {type: spread_explosion, spread_mult: 15, duration_s: 2}
        - {type: gap, start_s: 5, ticks: 3}
        """,
    )
    kinds = [s.type for s in specs]
    assert kinds[-1] == "gap"
    assert specs[0].params == {
        "drop_pct": 0.2,
        "spread_mult": 1.0,
        "duration_s": 2.0,
        "start_s": 0.0,
        "fall_s": 0.0,
        "recovery": "linear",
    }
    assert specs[4].params["levels_left"] == 1
    assert specs[5].params["corruption_types"] == ("nan", "spike")
    assert specs[6].params["mode"] == "decorrelate"
    assert specs[7].params["symbols"] == 1.0
    assert specs[8].params["stresses"][0]["spread_mult"] == 15.0
    assert specs[9].params == {"ticks": 3, "start_s": 5.0}


def test_nested_stress_errors_name_their_key_path(tmp_path):
    (line,) = problems(
        tmp_path,
        """\
        - type: mixed_custom
          stresses:
            - {type: liquidity_drop, drop_pct: 0.9, duration_s: 2}
            - {type: volatility_spike, multiplier: 5, duration_s: 2}
            - {type: spread_explosion, spread_mult: 0.5, duration_s: 2}
        """,
    )
    assert ":9: stress[0].stresses[2].spread_mult: 0.5 is out of range" in line


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("- {type: flash_crash, duration_s: 2}", "stress[0]: give exactly one of price_shock_pct"),
        ("- {type: flash_crash, price_shock_pct: -0.1, drop_pct: 0.1, duration_s: 2}", "give only one of"),
        ("- {type: gap, start_s: 1}", "stress[0]: give exactly one of its length as ticks"),
        ("- {type: liquidity_drop, drop_pct: 0.9, duration_s: 2, volume: 1}", "stress[0].volume: unknown key"),
        ("- {type: liquidity_drop, drop_pct: 1.5, duration_s: 2}", "stress[0].drop_pct: 1.5 is out of range"),
        ("- {type: data_corruption, corruption_pct: 0.1, duration_s: 2, corruption_types: [nan, bad]}", "stress[0].corruption_types[1]: 'bad' is not allowed"),
        ("- {type: data_corruption, corruption_pct: 0.1, duration_s: 2, corruption_types: []}", "non-empty list"),
        ("- {type: correlation_breakdown, mode: flop, duration_s: 2}", "'flop' is not allowed (did you mean 'flip'?)"),
        ("- {type: spread_explosion, spread_mult: 2, duration_s: 2.05}", "stress[0].duration_s: 2.05 s is not a whole number of 100 ms ticks"),
        ("- {type: spread_explosion, spread_mult: 2, start_s: 0.25, duration_s: 2}", "stress[0].start_s: 0.25 s is not a whole number"),
        ("- {type: pump_and_dump, pump_pct: 1, dump_pct: 0.5, pump_s: 6, dump_s: 5}", "stress[0].dump_s: the stress window ends at 11 s, after the market's 10 s"),
        ("- {type: gap, start_s: 9, ticks: 11}", "stress[0].ticks: the gap ends at tick 100, at or after the market's last tick 100"),
        ("- {type: mixed_custom, stresses: []}", "needs at least one stress"),
        ("- {type: mixed_custom, stresses: [{type: liquidity_drop, drop_pct: 0.5, start_s: 8, duration_s: 4}]}", "stress[0].stresses[0].duration_s: the stress window ends at 12 s"),
    ],
)  # fmt: skip
def test_stress_parameter_errors(tmp_path, body, expected):
    lines = problems(tmp_path, body)
    assert any(expected in ln for ln in lines), lines


def test_gaps_must_be_the_last_stresses(tmp_path):
    (line,) = problems(
        tmp_path,
        """\
        - {type: gap, start_s: 1, ticks: 2}
        - type: mixed_custom
          stresses:
            - {type: gap, start_s: 5, ticks: 2}
            - {type: spread_explosion, spread_mult: 2, duration_s: 2}
        """,
    )
    assert ":9: stress[1].stresses[1].type: spread_explosion comes after the gap at stress[0]" in line


def test_a_black_swan_scenario_runs_end_to_end(tmp_path):
    p = tmp_path / "black_swan.yaml"
    p.write_text(
        SCENARIO.replace("duration_s: 10", "duration_s: 60")
        + "  - type: mixed_custom\n    stresses:\n"
        + "".join(f"      - {dict(d)}\n".replace("'", "") for d in BLACK_SWAN)
        + "  - {type: data_corruption, corruption_pct: 0.01, duration_s: 5, corruption_types: [duplicate]}\n"
        + "  - {type: gap, start_s: 50, ticks: 10}\n",
        encoding="utf-8",
    )
    res = run_scenario(p)
    assert res.n_ticks == 601 - 10
    assert [s.type for s in res.stresses] == ["mixed_custom", "data_corruption", "gap"]
    assert res.max_drawdown_pct > 25.0


def test_the_record_of_every_stress_is_plain_json():
    import json

    nested = StressSpec("mixed_custom", {"stresses": BLACK_SWAN})
    _, applied = apply(calm_frame(), MARKET, nested, corruption(["nan", "duplicate"], pct=0.02))
    doc = json.loads(json.dumps([a.to_dict() for a in applied], allow_nan=False))
    assert doc[0]["detail"]["stresses"][0]["type"] == "volatility_spike"
    assert doc[1]["detail"]["counts"] == {"nan": 20, "duplicate": 1}  # 2000 cells, 100 ticks, 1 % each


def test_warm_up_compiles_every_kernel_without_error():
    warm_up()
