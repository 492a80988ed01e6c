"""Compiled kernels of the synthetic market: correlated shocks, GARCH(1,1) paths, quoted books, funding.

``pytest_stress.market.synthetic`` draws the random numbers and calls these on blocks of rows; units and
the model are described there. The constants below shape the book and are compiled into the kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit

VOLUME_NOISE = 0.5  # std of the log of a tick's volume around its expected value
LEVEL_SIZE_GROWTH = 0.5  # level k holds (1 + 0.5 k) times the best level's size
DEPTH_NOISE = 0.3  # std of the log of a side's sizes around their expected value, per tick
MAX_HALF_SPREAD = 0.5  # the half-spread, a fraction of the mid, never passes this whatever the volatility


@njit(cache=True)
def correlate_shocks(z_market, z, cholesky, loading, scale, eps):
    """Unit-variance correlated shocks: eps[r, i] = scale[r] x (loading z_market[r] + sqrt(1 - loading^2)
    z[r, i]) when ``cholesky`` is empty (one factor), else scale[r] x sum_j cholesky[i, j] z[r, j]."""
    rows, n = eps.shape
    one_factor = cholesky.shape[0] == 0
    own = np.sqrt(1.0 - loading * loading)
    for r in range(rows):
        for i in range(n):
            if one_factor:
                x = loading * z_market[r] + own * z[r, i]
            else:
                x = 0.0
                for j in range(i + 1):
                    x += cholesky[i, j] * z[r, j]
            eps[r, i] = scale[r] * x


@njit(cache=True)
def garch_path(eps, drift, step_var, omega, alpha, beta, skip_first, log_mid, h, mid, vol_ratio):
    """Mid prices and vol ratios for a block of ticks, advancing the state ``log_mid`` and ``h`` in place.

    drift: log drift per tick; step_var: long-run per-tick variance of the log mid, per symbol; h: GARCH
    variance of the next tick's return, in units of step_var. ``skip_first``: row 0 is the session's first
    tick, which sits at the state's price (no return). vol_ratio = sqrt(h / h_bar) after the tick.
    """
    rows, n = eps.shape
    h_bar = omega / (1.0 - alpha - beta)
    for r in range(rows):
        for i in range(n):
            if r > 0 or not skip_first:
                e = eps[r, i]
                hv = h[i]
                log_mid[i] += drift[i] - 0.5 * step_var[i] * hv + np.sqrt(step_var[i] * hv) * e
                h[i] = omega + (alpha * e * e + beta) * hv
            mid[r, i] = np.exp(log_mid[i])
            vol_ratio[r, i] = np.sqrt(h[i] / h_bar)


@njit(cache=True)
def quote_book(
    mid, vol_ratio, eps, trade_u, half_spread, tick_size, round_to_tick, profile, volume_rate, volume_z,
    top_size, depth_z, bid, ask, last, volume, bid_px, bid_sz, ask_px, ask_sz,
):  # fmt: skip
    """Quotes, trade, volume and L2 book of each tick from its mid and vol ratio v.

    half_spread: fraction of the mid at v = 1 (widens x v, capped at MAX_HALF_SPREAD); with
    ``round_to_tick`` the bid rounds down and the ask up to the tick grid. The trade is at the ask with
    probability 1 / (1 + exp(-2 e)) (buyers lift the offer when the price rises), else at the bid.
    volume = volume_rate x profile x v x lognormal noise (mean 1). Book levels are max(tick, half-spread)
    apart; sizes are top_size x (1 + LEVEL_SIZE_GROWTH k) / v x lognormal noise per side; a level whose
    price would not be positive gets size 0 (it does not exist).
    """
    rows, n = mid.shape
    levels = bid_px.shape[2]
    vol_shift = 0.5 * VOLUME_NOISE * VOLUME_NOISE
    depth_shift = 0.5 * DEPTH_NOISE * DEPTH_NOISE
    for r in range(rows):
        for i in range(n):
            m = mid[r, i]
            v = vol_ratio[r, i]
            tk = tick_size[i]
            hs = min(half_spread[i] * v, MAX_HALF_SPREAD) * m
            b = m - hs
            a = m + hs
            if round_to_tick:
                b = max(np.floor(b / tk), 1.0) * tk
                a = max(np.ceil(a / tk), np.floor(b / tk + 0.5) + 1.0) * tk
            bid[r, i] = b
            ask[r, i] = a
            last[r, i] = a if trade_u[r, i] * (1.0 + np.exp(-2.0 * eps[r, i])) < 1.0 else b
            volume[r, i] = volume_rate[i] * profile[r] * v * np.exp(VOLUME_NOISE * volume_z[r, i] - vol_shift)
            if levels == 0:
                continue
            gap = max(tk, hs)
            if round_to_tick:
                gap = np.ceil(gap / tk - 1e-9) * tk
            size_b = top_size[i] / v * np.exp(DEPTH_NOISE * depth_z[r, i, 0] - depth_shift)
            size_a = top_size[i] / v * np.exp(DEPTH_NOISE * depth_z[r, i, 1] - depth_shift)
            for k in range(levels):
                grow = 1.0 + LEVEL_SIZE_GROWTH * k
                px = b - k * gap
                bid_px[r, i, k] = max(px, 0.0)
                bid_sz[r, i, k] = size_b * grow if px > 0.0 else 0.0
                ask_px[r, i, k] = a + k * gap
                ask_sz[r, i, k] = size_a * grow


@njit(cache=True)
def funding_path(z, first_tick, interval_ticks, keep, shock, interest, clamp, premium, premium_sum, rate):
    """Funding rate (fraction per interval) of perpetual swaps for a block of ticks starting at global tick
    ``first_tick``; the premium is a mean-reverting AR(1), premium = keep x premium + shock x z, state
    ``premium`` and ``premium_sum`` (since the interval opened) carried in place."""
    rows, n = z.shape
    for r in range(rows):
        k = (first_tick + r) % interval_ticks
        for i in range(n):
            if k == 0:
                premium_sum[i] = 0.0
            premium[i] = keep * premium[i] + shock * z[r, i]
            premium_sum[i] += premium[i]
            avg = premium_sum[i] / (k + 1)
            # avg + clamp(interest - avg), written so that the usual case gives the interest exactly
            if interest - avg > clamp:
                rate[r, i] = avg + clamp
            elif interest - avg < -clamp:
                rate[r, i] = avg - clamp
            else:
                rate[r, i] = interest


@njit(cache=True)
def mean_mid_ratio(bid, ask, base_mid, out):
    """out[r] = mean over symbols of mid[r, i] / base_mid[i], over the quotes a replay can use (bid > 0,
    ask >= bid, both finite, and a positive finite base); NaN for a row with none. Row by row, so any
    chunking of the rows gives the same values; branch-free inside a row, so it vectorises."""
    rows, n = bid.shape
    half_inv = np.empty(n)
    for i in range(n):
        m0 = base_mid[i]
        half_inv[i] = 0.5 / m0 if m0 > 0.0 and m0 < np.inf else 0.0
    for r in range(rows):
        total = 0.0
        used = 0.0
        for i in range(n):
            b = bid[r, i]
            a = ask[r, i]
            ok = (b > 0.0) & (a >= b) & (a < np.inf) & (half_inv[i] > 0.0)
            total += (b + a) * half_inv[i] if ok else 0.0
            used += 1.0 if ok else 0.0
        out[r] = total / used if used > 0.0 else np.nan
