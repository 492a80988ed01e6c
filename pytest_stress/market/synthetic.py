"""A seeded synthetic market: GBM with GARCH(1,1) volatility clustering, correlated (optionally fat-tailed)
shocks, a quoted book whose spread and depth follow the volatility, trades, U-shaped volume and funding.

The model, per symbol i and tick t (per-tick units; ``s2`` is the long-run per-tick variance of the log
mid, ``annual_vol**2 x tick / (trading days x session seconds)`` of the asset class):

- shocks ``e[t]`` have unit variance and correlation matrix C: one factor (``correlation`` rho on every
  pair, ``sqrt(rho) z_market + sqrt(1 - rho) z_i``) or the Cholesky factor of ``correlation_matrix``;
  ``tails: student_t`` divides the tick's shocks by one shared ``sqrt(chi2_dof / (dof - 2))``, so each
  symbol's shock is Student-t with ``dof`` degrees of freedom and unit variance (a multivariate t);
- ``log mid[t] = log mid[t-1] + mu - s2 h[t] / 2 + sqrt(s2 h[t]) e[t]`` (mu: ``annual_drift`` per tick);
- ``h[t+1] = omega + alpha h[t] e[t]**2 + beta h[t]``, starting at its long-run level
  ``h_bar = omega / (1 - alpha - beta)`` (1 by default, so the unconditional volatility is ``annual_vol``;
  ``alpha = beta = 0`` is plain GBM);
- the vol ratio ``v = sqrt(h[t+1] / h_bar)`` (the volatility quoted for the next tick relative to its
  long-run level) scales the half-spread up, the depth sizes down and the volume up.

Every random component is drawn from its own child of the Generator passed in, block by block in time
order, so the numbers do not depend on how the session is cut into chunks: ``synthetic_chunks`` gives the
same arrays as ``synthetic_frame`` for any chunk size, with memory that depends on the chunk only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from pytest_stress.errors import ReplayError
from pytest_stress.market.frame import Depth, MarketFrame
from pytest_stress.market.kernels import (
    correlate_shocks,
    funding_path,
    garch_path,
    quote_book,
)
from pytest_stress.scenario import MarketSpec

TRADING_DAYS_PER_YEAR = 252
SECONDS_PER_TRADING_DAY = 6.5 * 3600

# Trading days a year and seconds a trading day per asset class: the clock that annual volatilities are
# measured on. Equities and futures trade a 6.5 h regular session with an open and a close; FX trades
# around the clock five days a week, perpetual swaps every day.
CALENDAR = {
    "equity": (TRADING_DAYS_PER_YEAR, SECONDS_PER_TRADING_DAY),
    "future": (TRADING_DAYS_PER_YEAR, SECONDS_PER_TRADING_DAY),
    "fx": (260, 86_400.0),
    "crypto_perp": (365, 86_400.0),
}
U_SHAPED = ("equity", "future")

OPEN_CLOSE_VOLUME = 3.0  # volume rate at the open and at the close, as a multiple of the midday rate
TOP_SIZE_OF_DAILY_VOLUME = 1e-4  # expected size at the best level, as a fraction of daily volume

# Perpetual funding, the usual exchange formula: rate per interval = P + clamp(I - P, -clamp, +clamp), P
# the average premium of the perp over its index since the interval opened, I the interest part.
FUNDING_INTEREST_PER_DAY = 0.0003  # 0.01 % per 8 h
FUNDING_CLAMP = 0.0005
PREMIUM_STD = 0.0003  # long-run std of the premium (fraction of the index): 3 bps
PREMIUM_HALF_LIFE_S = 3600.0

# Child streams spawned from the Generator passed in, one per random component.
_PARAMS, _FACTOR, _SHOCK, _TAILS, _TRADE, _VOLUME, _DEPTH, _FUNDING = range(8)
_BLOCK_CELLS = 1 << 20  # synthetic_frame fills its arrays in blocks of about this many cells


@dataclass(frozen=True, eq=False)
class SymbolParams:
    """Per-symbol draws and model settings behind a synthetic market.

    annual_vol: annualised volatility (fraction) at the long-run variance; spread_bps: full spread (bps)
    at the long-run volatility; start_price, tick_size: price units; daily_volume: units a trading day;
    correlation: the one-factor rho (used when ``cholesky`` is None); cholesky: lower factor of the
    correlation matrix; variance_scale: long-run GARCH variance h_bar (1 unless garch_omega says else).
    """

    annual_vol: np.ndarray
    spread_bps: np.ndarray
    start_price: np.ndarray
    correlation: float
    daily_volume: np.ndarray | None = None
    tick_size: np.ndarray | None = None
    cholesky: np.ndarray | None = None
    tails: str = "normal"
    dof: float = 5.0
    annual_drift: float = 0.0
    variance_scale: float = 1.0
    asset_class: str = "equity"


# --- the Python layer --------------------------------------------------------------------------------


def default_tick_size(asset_class: str, price: np.ndarray) -> np.ndarray:
    """A rule of thumb per asset class (price units): equities 0.01 (0.0001 below 1), futures four and FX
    and perpetuals five significant digits below the leading one (EURUSD 0.00001, BTC at 60,000 0.1)."""
    if asset_class == "equity":
        return np.where(price >= 1.0, 0.01, 0.0001)
    digits = 4 if asset_class == "future" else 5
    return 10.0 ** (np.floor(np.log10(price)) - digits)


def draw_symbols(spec: MarketSpec, n_symbols: int, rng: np.random.Generator) -> SymbolParams:
    """Per-symbol volatility, spread, start price (log-uniform) and daily volume (log-uniform)."""
    lo_v, hi_v = spec.annual_vol
    lo_s, hi_s = spec.spread_bps
    lo_p, hi_p = spec.start_price
    lo_q, hi_q = spec.daily_volume
    annual_vol = rng.uniform(lo_v, hi_v, n_symbols)
    spread_bps = rng.uniform(lo_s, hi_s, n_symbols)
    # log-uniform: as many $20-$50 names as $200-$500 ones
    start_price = np.exp(rng.uniform(np.log(lo_p), np.log(hi_p), n_symbols))
    daily_volume = np.exp(rng.uniform(np.log(lo_q), np.log(hi_q), n_symbols))
    cholesky = None
    if spec.correlation_matrix is not None:
        matrix = np.array(spec.correlation_matrix, dtype=np.float64)
        if matrix.shape != (n_symbols, n_symbols):
            raise ReplayError(
                f"correlation_matrix is {matrix.shape[0]} x {matrix.shape[0]} but the market has "
                f"{n_symbols} symbols; give one row per symbol or drop the symbols override"
            )
        try:
            cholesky = np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            raise ReplayError("correlation_matrix is not positive definite") from None
    tick = spec.tick_size
    return SymbolParams(
        annual_vol=annual_vol,
        spread_bps=spread_bps,
        start_price=start_price,
        correlation=spec.correlation,
        daily_volume=daily_volume,
        tick_size=np.full(n_symbols, tick)
        if tick is not None
        else default_tick_size(spec.asset_class, start_price),
        cholesky=cholesky,
        tails=spec.tails,
        dof=spec.dof,
        annual_drift=spec.annual_drift,
        variance_scale=spec.omega / (1.0 - spec.garch_alpha - spec.garch_beta),
        asset_class=spec.asset_class,
    )


def volume_profile(global_ticks: np.ndarray, tick_ms: int, asset_class: str) -> np.ndarray:
    """Expected volume rate of each tick relative to the session average (mean 1): a U over the 6.5 h
    session (OPEN_CLOSE_VOLUME times midday at the open and the close) for equities and futures, flat for
    markets that trade around the clock. Time 0 is the open; a longer run repeats the session."""
    if asset_class not in U_SHAPED:
        return np.ones(global_ticks.shape[0])
    session_s = CALENDAR[asset_class][1]
    x = 2.0 * np.mod(global_ticks * (tick_ms / 1000.0), session_s) / session_s - 1.0
    a = OPEN_CLOSE_VOLUME - 1.0
    return (1.0 + a * x * x) / (1.0 + a / 3.0)


class SyntheticMarket:
    """One synthetic session of ``spec`` being generated: the per-symbol draws, one child random stream
    per component, and the state carried between blocks of ticks (log mid, GARCH variance, premium)."""

    def __init__(self, spec: MarketSpec, rng: np.random.Generator) -> None:
        streams = rng.spawn(8)
        n = spec.symbols
        self.spec = spec
        self.params = params = draw_symbols(spec, n, streams[_PARAMS])
        self._streams = streams
        days, session_s = CALENDAR[spec.asset_class]
        tick_s = spec.tick_ms / 1000.0
        year_ticks = days * session_s / tick_s
        self._step_var = params.annual_vol**2 / year_ticks
        self._drift = np.full(n, spec.annual_drift / year_ticks)
        self._half_spread = params.spread_bps / 2.0 / 10_000.0
        self._volume_rate = params.daily_volume * tick_s / session_s
        self._top_size = params.daily_volume * TOP_SIZE_OF_DAILY_VOLUME
        self._cholesky = params.cholesky if params.cholesky is not None else np.empty((0, 0))
        self._log_mid = np.log(params.start_price)
        self._h = np.full(n, params.variance_scale)
        self._next_tick = 0
        self.symbols = tuple(f"SYM{i:04d}" for i in range(n))
        self._funding = spec.asset_class == "crypto_perp"
        if self._funding:
            self._interval_ticks = max(1, round(spec.funding_interval_s / tick_s))
            self._keep = float(np.exp(-np.log(2.0) * tick_s / PREMIUM_HALF_LIFE_S))
            self._premium = PREMIUM_STD * streams[_FUNDING].standard_normal(n)
            self._premium_sum = np.zeros(n)

    def allocate(self, rows: int) -> MarketFrame:
        """An uninitialised frame for the next ``rows`` ticks (filled by ``fill``)."""
        spec, n, lo = self.spec, self.spec.symbols, self._next_tick
        shape = (rows, n)
        depth = None
        if spec.depth_levels > 0:
            cube = (rows, n, spec.depth_levels)
            depth = Depth(np.empty(cube), np.empty(cube), np.empty(cube), np.empty(cube))
        return MarketFrame(
            timestamps_ns=np.arange(lo, lo + rows, dtype=np.int64) * np.int64(spec.tick_ms * 1_000_000),
            bid=np.empty(shape),
            ask=np.empty(shape),
            symbols=self.symbols,
            last=np.empty(shape),
            volume=np.empty(shape),
            depth=depth,
            funding_rate=np.empty(shape) if self._funding else None,
            tick_size=self.params.tick_size,
            asset_class=(spec.asset_class,) * n,
            start_tick=lo,
            provenance={"source": "synthetic", "seed": spec.seed, "model": "gbm-garch(1,1)"},
        )

    def fill(self, out: MarketFrame) -> None:
        """Generate the next ``out.n_ticks`` ticks into ``out``'s arrays and advance the state."""
        spec, p, s = self.spec, self.params, self._streams
        rows, n = out.n_ticks, spec.symbols
        if out.start_tick != self._next_tick:
            raise ReplayError(
                f"blocks must come in order: expected tick {self._next_tick}, got {out.start_tick}"
            )
        one_factor = p.cholesky is None
        z_market = s[_FACTOR].standard_normal(rows) if one_factor else np.empty(0)
        z = s[_SHOCK].standard_normal((rows, n))
        if p.tails == "student_t":
            scale = np.sqrt((p.dof - 2.0) / s[_TAILS].chisquare(p.dof, rows))
        else:
            scale = np.ones(rows)
        eps = np.empty((rows, n))
        correlate_shocks(z_market, z, self._cholesky, float(np.sqrt(p.correlation)), scale, eps)
        del z
        mid, vol_ratio = np.empty((rows, n)), np.empty((rows, n))
        garch_path(
            eps, self._drift, self._step_var, spec.omega, spec.garch_alpha, spec.garch_beta,
            self._next_tick == 0, self._log_mid, self._h, mid, vol_ratio,
        )  # fmt: skip
        trade_u = s[_TRADE].random((rows, n))
        volume_z = s[_VOLUME].standard_normal((rows, n))
        ticks = np.arange(self._next_tick, self._next_tick + rows)
        profile = volume_profile(ticks, spec.tick_ms, spec.asset_class)
        if out.depth is not None:
            depth_z = s[_DEPTH].standard_normal((rows, n, 2))
            book = (out.depth.bid_px, out.depth.bid_sz, out.depth.ask_px, out.depth.ask_sz)
        else:
            depth_z = np.empty((rows, n, 0))
            book = (np.empty((rows, n, 0)),) * 4
        quote_book(
            mid, vol_ratio, eps, trade_u, self._half_spread, p.tick_size, spec.round_to_tick, profile,
            self._volume_rate, volume_z, self._top_size, depth_z, out.bid, out.ask, out.last, out.volume,
            *book,
        )  # fmt: skip
        if out.funding_rate is not None:
            tick_s = spec.tick_ms / 1000.0
            interest = FUNDING_INTEREST_PER_DAY * self._interval_ticks * tick_s / 86_400.0
            shock = PREMIUM_STD * np.sqrt(1.0 - self._keep**2)
            funding_path(
                s[_FUNDING].standard_normal((rows, n)), self._next_tick, self._interval_ticks, self._keep,
                shock, interest, FUNDING_CLAMP, self._premium, self._premium_sum, out.funding_rate,
            )  # fmt: skip
        self._next_tick += rows

    def chunks(self, chunk_ticks: int) -> Iterator[MarketFrame]:
        """The rest of the session as frames of at most ``chunk_ticks`` ticks, ``start_tick`` set."""
        if chunk_ticks < 1:
            raise ReplayError(f"chunk_ticks must be at least 1, got {chunk_ticks}")
        while self._next_tick < self.spec.n_ticks:
            frame = self.allocate(min(chunk_ticks, self.spec.n_ticks - self._next_tick))
            self.fill(frame)
            yield frame


def synthetic_chunks(spec: MarketSpec, rng: np.random.Generator, chunk_ticks: int) -> Iterator[MarketFrame]:
    """The unstressed market of ``spec`` in frames of at most ``chunk_ticks`` ticks; concatenated, they
    equal ``synthetic_frame(spec, rng)`` bit for bit. Memory grows with ``chunk_ticks``, not the session."""
    if chunk_ticks < 1:
        raise ReplayError(f"chunk_ticks must be at least 1, got {chunk_ticks}")
    return SyntheticMarket(spec, rng).chunks(chunk_ticks)


def synthetic_frame(spec: MarketSpec, rng: np.random.Generator) -> tuple[MarketFrame, SymbolParams]:
    """The unstressed market of ``spec``: ``spec.n_ticks`` ticks, ``spec.symbols`` symbols, in one frame."""
    market = SyntheticMarket(spec, rng)
    frame = market.allocate(spec.n_ticks)
    block = max(1, _BLOCK_CELLS // spec.symbols)
    for lo in range(0, spec.n_ticks, block):
        market.fill(frame.rows(lo, min(lo + block, spec.n_ticks)))
    return frame, market.params


def synthetic_daily_returns(params: SymbolParams, days: int, rng: np.random.Generator) -> np.ndarray:
    """A (days, n_symbols) history of simple daily returns (fractions) for historical VaR: the same
    correlation, tails and long-run volatility as the intraday market, independent from day to day."""
    n = params.annual_vol.shape[0]
    days_per_year = CALENDAR[params.asset_class][0]
    daily_vol = params.annual_vol * np.sqrt(params.variance_scale / days_per_year)
    if params.cholesky is None:
        rho = params.correlation
        z = np.sqrt(rho) * rng.standard_normal((days, 1)) + np.sqrt(1.0 - rho) * rng.standard_normal(
            (days, n)
        )
    else:
        z = rng.standard_normal((days, n)) @ params.cholesky.T
    if params.tails == "student_t":
        z *= np.sqrt((params.dof - 2.0) / rng.chisquare(params.dof, (days, 1)))
    mu = params.annual_drift / days_per_year
    return np.expm1(mu - 0.5 * daily_vol**2 + daily_vol * z)


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel of this module on a tiny market."""
    spec = MarketSpec(
        source="synthetic", symbols=2, duration_s=0.2, tick_ms=100, seed=0, depth_levels=1,
        asset_class="crypto_perp", tails="student_t", correlation_matrix=((1.0, 0.5), (0.5, 1.0)),
    )  # fmt: skip
    synthetic_frame(spec, np.random.default_rng(0))
