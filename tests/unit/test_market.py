"""The seeded synthetic market: reproducible, a valid book, and the volatility, clustering, correlation, tails,
liquidity and funding it was asked for, whether generated whole or in chunks."""

from __future__ import annotations

import textwrap
import tracemalloc

import numpy as np
import pytest
import yaml

from pytest_stress.errors import ReplayError, ScenarioError
from pytest_stress.market.frame import Depth, MarketFrame
from pytest_stress.market.synthetic import (
    FUNDING_INTEREST_PER_DAY,
    SECONDS_PER_TRADING_DAY,
    TRADING_DAYS_PER_YEAR,
    synthetic_chunks,
    synthetic_daily_returns,
    synthetic_frame,
)
from pytest_stress.scenario import MarketSpec, load_scenario_file
from pytest_stress.schema import INVALID, Checker
from pytest_stress.specs import market as market_spec

SPEC = MarketSpec(source="synthetic", symbols=100, duration_s=60, tick_ms=100, seed=42)
GBM = {"garch_alpha": 0.0, "garch_beta": 0.0}


def spec_of(**kw) -> MarketSpec:
    base = {"source": "synthetic", "symbols": 8, "duration_s": 60, "tick_ms": 100, "seed": 1}
    return MarketSpec(**{**base, **kw})


def frame_of(spec: MarketSpec, seed: int | None = None):
    return synthetic_frame(spec, np.random.default_rng(spec.seed if seed is None else seed))


def log_returns(frame: MarketFrame) -> np.ndarray:
    return np.diff(np.log(frame.mid()), axis=0)


def step_vol(spec: MarketSpec, annual_vol: np.ndarray) -> np.ndarray:
    return annual_vol * np.sqrt(spec.tick_ms / 1000 / (TRADING_DAYS_PER_YEAR * SECONDS_PER_TRADING_DAY))


def squared_return_autocorrelation(r: np.ndarray) -> float:
    """Lag-1 autocorrelation of squared returns, averaged over symbols."""
    x = r**2 - (r**2).mean(axis=0)
    return float(((x[1:] * x[:-1]).sum(axis=0) / (x * x).sum(axis=0)).mean())


def excess_kurtosis(x: np.ndarray) -> float:
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    return float((z**4).mean() - 3.0)


ALL_ARRAYS = ("timestamps_ns", "bid", "ask", "last", "volume", "funding_rate")


def assert_same_frames(a: MarketFrame, b: MarketFrame) -> None:
    for name in ALL_ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.depth is None) == (b.depth is None)
    if a.depth is not None:
        for name in ("bid_px", "bid_sz", "ask_px", "ask_sz"):
            np.testing.assert_array_equal(getattr(a.depth, name), getattr(b.depth, name), err_msg=name)


# --- reproducibility -------------------------------------------------------------------------------

RICH = spec_of(
    symbols=5,
    duration_s=20,
    depth_levels=3,
    asset_class="crypto_perp",
    funding_interval_s=5,
    tails="student_t",
)


def test_the_same_seed_gives_identical_arrays():
    (a, pa), (b, pb) = frame_of(RICH), frame_of(RICH)
    assert_same_frames(a, b)
    np.testing.assert_array_equal(pa.annual_vol, pb.annual_vol)
    (c, _), (d, _) = frame_of(SPEC), frame_of(SPEC)
    assert_same_frames(c, d)


def test_another_seed_gives_another_market():
    a, _ = frame_of(RICH, seed=1)
    b, _ = frame_of(RICH, seed=2)
    for name in ("bid", "last", "volume"):
        assert not np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.depth.bid_sz, b.depth.bid_sz)


def test_shape_timestamps_and_symbols():
    frame, _ = frame_of(SPEC)
    assert frame.bid.shape == frame.ask.shape == frame.last.shape == frame.volume.shape == (601, 100)
    assert frame.timestamps_ns[0] == 0
    assert frame.timestamps_ns[-1] == 60 * 10**9
    assert np.all(np.diff(frame.timestamps_ns) == 100_000_000)
    assert len(set(frame.symbols)) == 100
    assert frame.start_tick == 0
    assert frame.provenance["seed"] == 42


# --- chunks ----------------------------------------------------------------------------------------

CHUNKED = [
    spec_of(symbols=4, duration_s=120, depth_levels=2, asset_class="crypto_perp", funding_interval_s=30),
    spec_of(
        symbols=3,
        duration_s=120,
        tails="student_t",
        round_to_tick=True,
        correlation_matrix=((1.0, 0.6, -0.2), (0.6, 1.0, 0.1), (-0.2, 0.1, 1.0)),
    ),
]


@pytest.mark.parametrize("chunk_ticks", [1, 7, 1000])
@pytest.mark.parametrize("spec", CHUNKED, ids=["crypto_book", "matrix_student_t"])
def test_concatenated_chunks_equal_the_whole_frame_bit_for_bit(spec, chunk_ticks):
    whole, _ = frame_of(spec)
    chunks = list(synthetic_chunks(spec, np.random.default_rng(spec.seed), chunk_ticks))
    assert all(c.n_ticks <= chunk_ticks for c in chunks)
    assert [c.start_tick for c in chunks] == list(range(0, spec.n_ticks, chunk_ticks))
    for c in chunks:
        np.testing.assert_array_equal(
            c.timestamps_ns, whole.timestamps_ns[c.start_tick : c.start_tick + c.n_ticks]
        )
    assert_same_frames(concat_frames(chunks), whole)


def concat_frames(chunks: list[MarketFrame]) -> MarketFrame:
    first = chunks[0]
    cat = {
        n: np.concatenate([getattr(c, n) for c in chunks])
        for n in ALL_ARRAYS
        if getattr(first, n) is not None
    }
    depth = None
    if first.depth is not None:
        fields = ("bid_px", "bid_sz", "ask_px", "ask_sz")
        depth = Depth(*(np.concatenate([getattr(c.depth, f) for c in chunks]) for f in fields))
    return MarketFrame(
        symbols=first.symbols, depth=depth, tick_size=first.tick_size, asset_class=first.asset_class, **cat
    )


def _peak_bytes(spec: MarketSpec, chunk_ticks: int) -> int:
    tracemalloc.start()
    try:
        for chunk in synthetic_chunks(spec, np.random.default_rng(0), chunk_ticks):
            del chunk
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_chunked_generation_takes_memory_for_one_chunk_whatever_the_session_length():
    short = spec_of(symbols=50, duration_s=200, depth_levels=2)
    long = spec_of(symbols=50, duration_s=2000, depth_levels=2)  # 20,001 ticks, 10x as long
    peak_short, peak_long = _peak_bytes(short, 500), _peak_bytes(long, 500)
    whole_frame = long.n_ticks * long.symbols * 8 * (4 + 4 * 2)
    assert peak_long < 1.2 * peak_short
    assert peak_long < whole_frame / 4


def test_chunk_size_below_one_is_refused():
    with pytest.raises(ReplayError, match="chunk_ticks must be at least 1"):
        synthetic_chunks(SPEC, np.random.default_rng(0), 0)


# --- prices: GBM, GARCH, correlation, tails ---------------------------------------------------------


def test_bid_is_below_ask_and_prices_are_positive_with_the_drawn_spread_at_long_run_volatility():
    spec = spec_of(symbols=100, **GBM)
    frame, params = frame_of(spec)
    assert np.all(frame.bid > 0)
    assert np.all(frame.bid < frame.ask)
    spread_bps = (frame.ask - frame.bid) / frame.mid() * 10_000
    # alpha = beta = 0: the variance stays at its long-run level, so the spread is the drawn one
    np.testing.assert_allclose(spread_bps, np.broadcast_to(params.spread_bps, spread_bps.shape), rtol=1e-9)
    lo, hi = spec.spread_bps
    assert np.all((params.spread_bps >= lo) & (params.spread_bps <= hi))


def test_tick_zero_sits_at_the_start_price_within_the_configured_range():
    frame, params = frame_of(SPEC)
    np.testing.assert_allclose(frame.mid()[0], params.start_price, rtol=1e-12)
    lo, hi = SPEC.start_price
    assert np.all((params.start_price >= lo) & (params.start_price <= hi))


@pytest.mark.parametrize("garch", [GBM, {}], ids=["gbm", "default_garch"])
def test_realised_volatility_matches_the_drawn_annual_volatility(garch):
    spec = spec_of(duration_s=3000, seed=3, **garch)
    frame, params = frame_of(spec)
    realised = log_returns(frame).std(axis=0, ddof=1)
    # 30,000 returns per symbol: the sample std is within about 1 % of the truth (2 % with clustering)
    np.testing.assert_allclose(realised / step_vol(spec, params.annual_vol), 1.0, atol=0.04)


def test_without_garch_returns_are_gbm_normal_and_without_clustering():
    spec = spec_of(duration_s=3000, seed=4, **GBM)
    frame, params = frame_of(spec)
    r = log_returns(frame)
    s = step_vol(spec, params.annual_vol)
    z = r / s
    assert abs(excess_kurtosis(z)) < 0.1
    assert abs(squared_return_autocorrelation(r)) < 0.01
    # the mean log return is -sigma^2/2 per tick (no drift): tiny, so check it in units of its own noise
    assert np.all(np.abs((r.mean(axis=0) + 0.5 * s**2) / (s / np.sqrt(r.shape[0]))) < 4.5)


def test_garch_clusters_volatility():
    spec = spec_of(duration_s=3000, seed=4)
    r = log_returns(frame_of(spec)[0])
    # default alpha 0.05, beta 0.90: lag-1 autocorrelation of squared returns about 0.07 (0 for GBM);
    # 240,000 returns make its standard error about 0.002
    assert squared_return_autocorrelation(r) > 0.04
    assert excess_kurtosis(r / r.std(axis=0)) > 0.05  # about 0.16 in theory


def test_annual_drift_moves_the_mean_log_return():
    spec = spec_of(duration_s=600, annual_vol=(0.001, 0.001), annual_drift=2.0, **GBM)
    r = log_returns(frame_of(spec)[0])
    dt = spec.tick_ms / 1000 / (TRADING_DAYS_PER_YEAR * SECONDS_PER_TRADING_DAY)
    np.testing.assert_allclose(r.mean(), 2.0 * dt, rtol=0.02)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_pairwise_correlation_matches_the_factor_loading(rho):
    spec = spec_of(symbols=10, duration_s=600, seed=5, correlation=rho)
    corr = np.corrcoef(log_returns(frame_of(spec)[0]), rowvar=False)
    off_diagonal = corr[~np.eye(10, dtype=bool)]
    assert off_diagonal.mean() == pytest.approx(rho, abs=0.03)


MATRIX = (
    (1.0, 0.8, -0.3, 0.0),
    (0.8, 1.0, -0.2, 0.3),
    (-0.3, -0.2, 1.0, 0.5),
    (0.0, 0.3, 0.5, 1.0),
)


@pytest.mark.parametrize("tails", ["normal", "student_t"])
def test_a_given_correlation_matrix_is_reproduced(tails):
    spec = spec_of(symbols=4, duration_s=2000, seed=6, correlation_matrix=MATRIX, tails=tails, **GBM)
    corr = np.corrcoef(log_returns(frame_of(spec)[0]), rowvar=False)
    np.testing.assert_allclose(corr, np.array(MATRIX), atol=0.03)


def test_student_t_tails_are_fatter_than_normal_ones_at_the_same_volatility():
    normal, params = frame_of(spec_of(duration_s=3000, seed=7, **GBM))
    fat, _ = frame_of(spec_of(duration_s=3000, seed=7, tails="student_t", dof=5.0, **GBM))
    s = step_vol(spec_of(), params.annual_vol)
    k_normal = excess_kurtosis(log_returns(normal) / s)
    k_fat = excess_kurtosis(log_returns(fat) / s)
    assert abs(k_normal) < 0.1
    assert k_fat > 2.0  # 6 / (dof - 4) = 6 in theory; the sample estimate of a heavy tail runs low
    # scaled to unit variance: the volatility is still the drawn one
    np.testing.assert_allclose(log_returns(fat).std(axis=0) / s, 1.0, atol=0.05)


def test_a_correlation_matrix_that_does_not_fit_the_symbol_count_is_refused():
    spec = spec_of(symbols=5, correlation_matrix=MATRIX)
    with pytest.raises(ReplayError, match="correlation_matrix is 4 x 4 but the market has 5 symbols"):
        frame_of(spec)


# --- the book: spreads, depth, trades, volume, tick size --------------------------------------------


def _windows(x: np.ndarray, width: int) -> np.ndarray:
    n = x.shape[0] // width * width
    return x[:n].reshape(-1, width, *x.shape[1:])


def test_spreads_widen_and_depth_thins_when_volatility_is_high():
    spec = spec_of(symbols=4, duration_s=3000, seed=8, depth_levels=1)
    frame, _ = frame_of(spec)
    realised = _windows(log_returns(frame) ** 2, 100).mean(axis=1)  # (windows, symbols)
    spread = _windows(((frame.ask - frame.bid) / frame.mid())[1:], 100).mean(axis=1)
    size = _windows(frame.depth.bid_sz[1:, :, 0], 100).mean(axis=1)
    for i in range(spec.symbols):
        calm = realised[:, i] <= np.quantile(realised[:, i], 0.25)
        wild = realised[:, i] >= np.quantile(realised[:, i], 0.75)
        assert spread[wild, i].mean() > 1.1 * spread[calm, i].mean()
        assert size[wild, i].mean() < size[calm, i].mean() / 1.1


def test_book_levels_get_worse_with_the_level_and_never_cross():
    spec = spec_of(symbols=20, depth_levels=10, seed=9)
    frame, _ = frame_of(spec)
    d = frame.depth
    assert d.levels == 10
    np.testing.assert_array_equal(d.bid_px[..., 0], frame.bid)
    np.testing.assert_array_equal(d.ask_px[..., 0], frame.ask)
    assert np.all(np.diff(d.bid_px, axis=2) < 0)
    assert np.all(np.diff(d.ask_px, axis=2) > 0)
    assert np.all(d.bid_px < d.ask_px[..., :1])  # every bid level below the best ask
    assert np.all(d.bid_px > 0)
    assert np.all((d.bid_sz > 0) & (d.ask_sz > 0))
    # deeper levels hold more on average
    assert np.all(np.diff(d.bid_sz.mean(axis=(0, 1))) > 0)


def test_the_book_is_absent_by_default():
    frame, _ = frame_of(spec_of(duration_s=1))
    assert frame.depth is None


def test_trades_print_at_the_bid_or_the_ask_and_volume_is_positive():
    frame, _ = frame_of(spec_of(seed=10))
    at_bid, at_ask = frame.last == frame.bid, frame.last == frame.ask
    assert np.all(at_bid | at_ask)
    assert 0.4 < at_ask.mean() < 0.6
    assert np.all(frame.volume > 0)
    # buyers lift the offer when the price rises
    up = np.diff(frame.mid(), axis=0) > 0
    assert at_ask[1:][up].mean() > 0.6
    assert at_ask[1:][~up].mean() < 0.4


def test_volume_is_u_shaped_over_the_equity_session():
    spec = spec_of(symbols=3, duration_s=SECONDS_PER_TRADING_DAY, tick_ms=1000)
    frame, params = frame_of(spec)
    per_min = _windows(frame.volume[:-1], 60).mean(axis=1) / params.daily_volume  # 390 minutes
    first, midday, last = per_min[:30].mean(axis=0), per_min[180:210].mean(axis=0), per_min[-30:].mean(axis=0)
    assert np.all(first > 1.5 * midday)
    assert np.all(last > 1.5 * midday)
    # a session trades the drawn daily volume
    np.testing.assert_allclose(frame.volume.sum(axis=0) / params.daily_volume, 1.0, atol=0.1)


def test_volume_is_flat_through_the_day_for_fx():
    spec = spec_of(symbols=3, duration_s=SECONDS_PER_TRADING_DAY, tick_ms=1000, asset_class="fx", **GBM)
    per_min = _windows(frame_of(spec)[0].volume[:-1], 60).mean(axis=1)
    np.testing.assert_allclose(per_min[:30].mean(axis=0) / per_min[180:210].mean(axis=0), 1.0, atol=0.1)


@pytest.mark.parametrize(
    ("asset_class", "price", "tick"),
    [("equity", (20.0, 500.0), 0.01), ("equity", (0.2, 0.5), 0.0001), ("fx", (1.1, 1.1), 1e-5),
     ("crypto_perp", (60_000.0, 60_000.0), 0.1)],
)  # fmt: skip
def test_tick_size_follows_the_asset_class_unless_given(asset_class, price, tick):
    frame, _ = frame_of(spec_of(duration_s=1, asset_class=asset_class, start_price=price))
    np.testing.assert_allclose(frame.tick_size, tick)
    assert frame.asset_class == (asset_class,) * 8
    given, _ = frame_of(spec_of(duration_s=1, asset_class=asset_class, start_price=price, tick_size=0.5))
    np.testing.assert_array_equal(given.tick_size, 0.5)


def test_round_to_tick_puts_every_quote_and_level_on_the_tick_grid():
    frame, _ = frame_of(spec_of(round_to_tick=True, depth_levels=3, spread_bps=(0.5, 0.5)))
    for prices in (frame.bid, frame.ask, frame.last, frame.depth.bid_px, frame.depth.ask_px):
        ticks = prices / 0.01
        np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)
    assert np.all(frame.ask - frame.bid > 0.0099)


# --- funding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("asset_class", ["equity", "fx", "future", "crypto_perp"])
def test_funding_is_a_series_only_for_perpetual_swaps(asset_class):
    frame, _ = frame_of(spec_of(duration_s=10, asset_class=asset_class))
    if asset_class == "crypto_perp":
        assert frame.funding_rate.shape == frame.bid.shape
        assert np.all(np.isfinite(frame.funding_rate))
    else:
        assert frame.funding_rate is None


def test_funding_is_the_interest_rate_unless_the_average_premium_leaves_the_clamp_band():
    spec = spec_of(duration_s=3600, tick_ms=1000, asset_class="crypto_perp", funding_interval_s=600)
    rate = frame_of(spec)[0].funding_rate
    interest = FUNDING_INTEREST_PER_DAY * 600 / 86_400
    at_interest = rate == interest
    # a 3 bp premium averaged over the interval rarely leaves the +-5 bp band; right after the interval
    # opens the average is over a few ticks only, and it does
    assert 0.9 < at_interest.mean() < 1.0
    off = ~at_interest
    assert np.all(np.abs(rate[off] - interest) < 0.01)
    ticks_into_interval = np.arange(spec.n_ticks) % 600
    assert ticks_into_interval[np.nonzero(off)[0]].mean() < 150


# --- daily history ---------------------------------------------------------------------------------


def test_daily_history_has_the_drawn_daily_volatility():
    _, params = frame_of(SPEC)
    history = synthetic_daily_returns(params, 4000, np.random.default_rng(0))
    assert history.shape == (4000, 100)
    daily = params.annual_vol / np.sqrt(TRADING_DAYS_PER_YEAR)
    np.testing.assert_allclose(np.log1p(history).std(axis=0) / daily, 1.0, atol=0.06)


def test_daily_history_keeps_the_correlation_matrix_and_the_tails():
    _, params = frame_of(spec_of(symbols=4, duration_s=1, correlation_matrix=MATRIX, tails="student_t"))
    history = np.log1p(synthetic_daily_returns(params, 20_000, np.random.default_rng(0)))
    np.testing.assert_allclose(np.corrcoef(history, rowvar=False), np.array(MATRIX), atol=0.03)
    assert excess_kurtosis(history) > 2.0


# --- the frame contract ------------------------------------------------------------------------------


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


# --- the market: section of a scenario -------------------------------------------------------------

SCENARIO = """\
name: m
market:
  source: synthetic
  symbols: 3
  duration_s: 10
{extra}
portfolio: {{initial_capital: 1000}}
"""


def load_market(tmp_path, extra: str) -> MarketSpec:
    path = tmp_path / "m.yaml"
    path.write_text(SCENARIO.format(extra=textwrap.indent(textwrap.dedent(extra), "  ")), encoding="utf-8")
    return load_scenario_file(path).market


def problems(tmp_path, extra: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_market(tmp_path, extra)
    return str(info.value).splitlines()


def test_new_market_keys_have_defaults_that_keep_the_volatility_and_a_plain_book(tmp_path):
    spec = load_market(tmp_path, extra="")
    assert (spec.garch_alpha, spec.garch_beta, spec.omega) == (0.05, 0.90, pytest.approx(0.05))
    assert (spec.tails, spec.depth_levels, spec.asset_class, spec.correlation_matrix) == (
        "normal",
        0,
        "equity",
        None,
    )
    assert spec.funding_interval_s == 28_800.0


def test_a_correlation_matrix_loads_from_a_nested_list(tmp_path):
    spec = load_market(tmp_path, "correlation_matrix: [[1, 0.2, 0.1], [0.2, 1, 0.3], [0.1, 0.3, 1]]")
    assert spec.correlation_matrix == ((1.0, 0.2, 0.1), (0.2, 1.0, 0.3), (0.1, 0.3, 1.0))


@pytest.mark.parametrize(
    ("extra", "line", "expected"),
    [
        ("correlation_matrix: [[1, 0.2], [0.2, 1]]", 6, "the matrix is 2 x 2 but the market has 3 symbols"),
        (
            "correlation_matrix:\n  - [1, 0.2, 0.1]\n  - [0.4, 1, 0.3]\n  - [0.1, 0.3, 1]",
            8,
            "market.correlation_matrix[1][0]: not symmetric: 0.4 here but 0.2 at market.correlation_matrix[0][1]",
        ),
        (
            "correlation_matrix:\n  - [1, 0.2, 0.1]\n  - [0.2, 0.9, 0.3]\n  - [0.1, 0.3, 1]",
            8,
            "market.correlation_matrix[1][1]: diagonal entries must be 1, got 0.9",
        ),
        ("correlation_matrix: [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]", 6, "not positive definite"),
        (
            "correlation_matrix: [[1, 0.2, 0.1], [0.2, 1], [0.1, 0.3, 1]]",
            6,
            "row 1 must be a list of 3 numbers",
        ),
        ("correlation_matrix: [[1, 2, 0], [0.2, 1, 0], [0, 0, 1]]", 6, "2 is out of range"),
        ("correlation: 0.3\ncorrelation_matrix: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]", 6, "either correlation"),
        ("garch_alpha: 0.2\ngarch_beta: 0.8", 7, "garch_alpha + garch_beta = 1 must be below 1"),
        ("tails: cauchy", 6, "'cauchy' is not allowed"),
        ("dof: 2", 6, "2 is out of range"),
        ("asset_class: crypto_perp\nfunding_interval_s: 0.05", 7, "not a whole number of 100 ms ticks"),
    ],
)
def test_bad_market_keys_are_reported_with_file_line_and_key(tmp_path, extra, line, expected):
    (message,) = problems(tmp_path, extra)
    assert f"m.yaml:{line}: " in message
    assert expected in message


def test_a_market_with_every_key_written_out_loads_back(tmp_path):
    extra = "correlation_matrix: [[1, 0.2, 0.1], [0.2, 1, 0.3], [0.1, 0.3, 1]]\nasset_class: crypto_perp"
    path = tmp_path / "m.yaml"
    path.write_text(SCENARIO.format(extra=textwrap.indent(extra, "  ")), encoding="utf-8")
    sc = load_scenario_file(path)
    shown = {"name": "m", "market": sc.to_dict()["market"], "portfolio": {"initial_capital": 1000}}
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(shown), encoding="utf-8")
    assert load_scenario_file(again).market == sc.market


def test_depth_counts_against_the_cell_limit():
    chk = Checker(source="m.yaml", lines={})
    raw = {"source": "synthetic", "symbols": 5000, "tick_ms": 1, "duration_s": 1, "depth_levels": 50}
    assert market_spec.parse_market(chk, ("market",), raw) is INVALID
    (problem,) = chk.problems
    assert problem.key == "market.depth_levels"
    assert "book cells" in problem.message
