"""A seeded synthetic market: one-factor GBM with per-symbol volatility, bid/ask around the mid.

Returns follow r_i = sigma_i * (sqrt(rho) * z_market + sqrt(1 - rho) * z_i) per step, so every pair of
symbols has correlation rho; volatilities are annualised over equity trading time (252 days x 6.5 h).
All normal draws come from the Generator passed in; the kernel only turns them into prices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from pytest_stress.market.frame import MarketFrame
from pytest_stress.scenario import MarketSpec

TRADING_DAYS_PER_YEAR = 252
SECONDS_PER_TRADING_DAY = 6.5 * 3600


@dataclass(frozen=True, eq=False)
class SymbolParams:
    """Per-symbol draws behind a synthetic frame: annual vol (fraction), full spread (bps), start price."""

    annual_vol: np.ndarray
    spread_bps: np.ndarray
    start_price: np.ndarray
    correlation: float


@njit(cache=True)
def gbm_bid_ask(start_price, step_vol, rho, z_market, z_symbol, half_spread, bid_out, ask_out):
    """Fill bid/ask (n_ticks, n_symbols) with a one-factor GBM mid and a constant relative half-spread.

    step_vol: per-tick volatility (fraction) per symbol; half_spread: fraction of mid per symbol.
    Tick 0 sits at start_price; the drift term -sigma^2/2 keeps the expected price flat.
    """
    n_ticks, n_symbols = bid_out.shape
    a = np.sqrt(rho)
    b = np.sqrt(1.0 - rho)
    for i in range(n_symbols):
        mid = start_price[i]
        bid_out[0, i] = mid * (1.0 - half_spread[i])
        ask_out[0, i] = mid * (1.0 + half_spread[i])
    for t in range(1, n_ticks):
        zm = z_market[t]
        for i in range(n_symbols):
            s = step_vol[i]
            prev_mid = 0.5 * (bid_out[t - 1, i] + ask_out[t - 1, i])
            mid = prev_mid * np.exp(-0.5 * s * s + s * (a * zm + b * z_symbol[t, i]))
            bid_out[t, i] = mid * (1.0 - half_spread[i])
            ask_out[t, i] = mid * (1.0 + half_spread[i])


def draw_symbols(spec: MarketSpec, n_symbols: int, rng: np.random.Generator) -> SymbolParams:
    lo_v, hi_v = spec.annual_vol
    lo_s, hi_s = spec.spread_bps
    lo_p, hi_p = spec.start_price
    return SymbolParams(
        annual_vol=rng.uniform(lo_v, hi_v, n_symbols),
        spread_bps=rng.uniform(lo_s, hi_s, n_symbols),
        # log-uniform: as many $20-$50 names as $200-$500 ones
        start_price=np.exp(rng.uniform(np.log(lo_p), np.log(hi_p), n_symbols)),
        correlation=spec.correlation,
    )


def synthetic_frame(spec: MarketSpec, rng: np.random.Generator) -> tuple[MarketFrame, SymbolParams]:
    """The unstressed market of ``spec``: ``spec.n_ticks`` ticks, ``spec.symbols`` symbols."""
    n_ticks, n_symbols = spec.n_ticks, spec.symbols
    params = draw_symbols(spec, n_symbols, rng)
    z_market = rng.standard_normal(n_ticks)
    z_symbol = rng.standard_normal((n_ticks, n_symbols))
    year_s = TRADING_DAYS_PER_YEAR * SECONDS_PER_TRADING_DAY
    step_vol = params.annual_vol * np.sqrt(spec.tick_ms / 1000.0 / year_s)
    half_spread = params.spread_bps / 2.0 / 10_000.0
    bid = np.empty((n_ticks, n_symbols))
    ask = np.empty((n_ticks, n_symbols))
    gbm_bid_ask(
        params.start_price, step_vol, float(spec.correlation), z_market, z_symbol, half_spread, bid, ask
    )
    timestamps = np.arange(n_ticks, dtype=np.int64) * np.int64(spec.tick_ms * 1_000_000)
    symbols = tuple(f"SYM{i:04d}" for i in range(n_symbols))
    return MarketFrame(timestamps, bid, ask, symbols), params


def synthetic_daily_returns(params: SymbolParams, days: int, rng: np.random.Generator) -> np.ndarray:
    """A (days, n_symbols) history of simple daily returns from the same factor model, for historical VaR."""
    n = params.annual_vol.shape[0]
    daily_vol = params.annual_vol / np.sqrt(TRADING_DAYS_PER_YEAR)
    rho = params.correlation
    z = np.sqrt(rho) * rng.standard_normal((days, 1)) + np.sqrt(1.0 - rho) * rng.standard_normal((days, n))
    return np.expm1(-0.5 * daily_vol**2 + daily_vol * z)
