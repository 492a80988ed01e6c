"""The seeded synthetic market: reproducible, a valid book, and the volatility and correlation it was asked for."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_stress.errors import ReplayError
from pytest_stress.market.frame import MarketFrame
from pytest_stress.market.synthetic import (
    SECONDS_PER_TRADING_DAY,
    TRADING_DAYS_PER_YEAR,
    synthetic_daily_returns,
    synthetic_frame,
)
from pytest_stress.scenario import MarketSpec

SPEC = MarketSpec(source="synthetic", symbols=100, duration_s=60, tick_ms=100, seed=42)


def frame_of(spec: MarketSpec, seed: int | None = None):
    return synthetic_frame(spec, np.random.default_rng(spec.seed if seed is None else seed))


def test_the_same_seed_gives_identical_arrays():
    (a, pa), (b, pb) = frame_of(SPEC), frame_of(SPEC)
    np.testing.assert_array_equal(a.bid, b.bid)
    np.testing.assert_array_equal(a.ask, b.ask)
    np.testing.assert_array_equal(a.timestamps_ns, b.timestamps_ns)
    np.testing.assert_array_equal(pa.annual_vol, pb.annual_vol)


def test_another_seed_gives_another_market():
    a, _ = frame_of(SPEC, seed=1)
    b, _ = frame_of(SPEC, seed=2)
    assert not np.array_equal(a.bid, b.bid)


def test_shape_timestamps_and_symbols():
    frame, _ = frame_of(SPEC)
    assert frame.bid.shape == frame.ask.shape == (601, 100)
    assert frame.timestamps_ns[0] == 0
    assert frame.timestamps_ns[-1] == 60 * 10**9
    assert np.all(np.diff(frame.timestamps_ns) == 100_000_000)
    assert len(set(frame.symbols)) == 100


def test_bid_is_below_ask_and_prices_are_positive_with_the_drawn_spread():
    frame, params = frame_of(SPEC)
    assert np.all(frame.bid > 0)
    assert np.all(frame.bid < frame.ask)
    spread_bps = (frame.ask - frame.bid) / frame.mid() * 10_000
    np.testing.assert_allclose(spread_bps, np.broadcast_to(params.spread_bps, spread_bps.shape), rtol=1e-9)
    lo, hi = SPEC.spread_bps
    assert np.all((params.spread_bps >= lo) & (params.spread_bps <= hi))


def test_tick_zero_sits_at_the_start_price_within_the_configured_range():
    frame, params = frame_of(SPEC)
    np.testing.assert_allclose(frame.mid()[0], params.start_price, rtol=1e-12)
    lo, hi = SPEC.start_price
    assert np.all((params.start_price >= lo) & (params.start_price <= hi))


def test_realised_volatility_matches_the_drawn_annual_volatility():
    spec = MarketSpec(source="synthetic", symbols=8, duration_s=3000, tick_ms=100, seed=3)
    frame, params = frame_of(spec)
    step = params.annual_vol * np.sqrt(
        spec.tick_ms / 1000 / (TRADING_DAYS_PER_YEAR * SECONDS_PER_TRADING_DAY)
    )
    realised = np.diff(np.log(frame.mid()), axis=0).std(axis=0, ddof=1)
    # 30,000 returns per symbol: the sample std is within about 1 % of the truth
    np.testing.assert_allclose(realised / step, 1.0, atol=0.03)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_pairwise_correlation_matches_the_factor_loading(rho):
    spec = MarketSpec(source="synthetic", symbols=10, duration_s=600, tick_ms=100, seed=5, correlation=rho)
    frame, _ = frame_of(spec)
    corr = np.corrcoef(np.diff(np.log(frame.mid()), axis=0), rowvar=False)
    off_diagonal = corr[~np.eye(10, dtype=bool)]
    assert off_diagonal.mean() == pytest.approx(rho, abs=0.03)


def test_daily_history_has_the_drawn_daily_volatility():
    _, params = frame_of(SPEC)
    history = synthetic_daily_returns(params, 4000, np.random.default_rng(0))
    assert history.shape == (4000, 100)
    daily = params.annual_vol / np.sqrt(TRADING_DAYS_PER_YEAR)
    np.testing.assert_allclose(np.log1p(history).std(axis=0) / daily, 1.0, atol=0.06)


def test_frame_refuses_wrong_shapes_and_dtypes():
    ts = np.arange(3, dtype=np.int64)
    ok = np.ones((3, 2))
    with pytest.raises(ReplayError, match=r"bid must be a C-contiguous float64 array of shape \(3, 2\)"):
        MarketFrame(ts, np.ones((3, 3)), ok, ("A", "B"))
    with pytest.raises(ReplayError, match="ask must be a C-contiguous float64"):
        MarketFrame(ts, ok, np.ones((3, 2), dtype=np.float32), ("A", "B"))
    with pytest.raises(ReplayError, match="ask must be a C-contiguous float64"):
        MarketFrame(ts, ok, np.ones((2, 3)).T, ("A", "B"))
    with pytest.raises(ReplayError, match="timestamps_ns must be a 1-D int64 array"):
        MarketFrame(ts.astype(np.float64), ok, ok, ("A", "B"))
