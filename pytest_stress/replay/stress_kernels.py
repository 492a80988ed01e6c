"""Compiled kernels of the market stresses, over plain arrays (no Python objects).

``pytest_stress.replay.transforms`` turns a scenario's stresses into calls of these kernels: windows in
ticks, per-tick factors, seeded draws. Conventions (fractions, windows, how prices move) are described
there.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# A stressed mid never goes below this (in price units): compounded stresses (a x1000 volatility spike of
# a crash) would otherwise underflow to 0 and break every division downstream.
PRICE_FLOOR = 1e-12

# Exponential recovery closes 99 % of the gap by the end of the window (then snaps to zero).
_EXP_RATE = np.log(100.0)

# data_corruption codes: per cell (one per cell, later ones win: stale < spike < nan) and per row (bits).
CELL_NAN, CELL_SPIKE_UP, CELL_SPIKE_DOWN, CELL_STALE = 1, 2, 3, 4
ROW_DUPLICATE, ROW_OUT_OF_ORDER = 1, 2


@njit(cache=True)
def _bend(new_mid, dist):
    """A quoted distance from the mid, kept below the mid itself: ``dist`` up to half the mid, beyond it
    ``mid x (1 - mid / (4 dist))`` (same value and slope at the bend), so a bid stays positive."""
    if dist <= 0.5 * new_mid:
        return dist
    return new_mid * (1.0 - 0.25 * new_mid / dist)


@njit(cache=True)
def _below(new_mid, dist):
    """``new_mid - _bend(new_mid, dist)``, written so that it cannot cancel to 0 for a far quote on a tiny
    mid (beyond the bend it equals mid^2 / (4 dist), which stays positive)."""
    if dist <= 0.5 * new_mid:
        return new_mid - dist
    return 0.25 * new_mid * new_mid / dist


@njit(cache=True)
def reprice_kernel(bid, ask, last, bid_px, bid_sz, ask_px, ask_sz, lo, f, g, chosen):
    """Rows lo .. lo+len(g)-1, chosen symbols: the mid becomes f x mid, every quoted distance from it
    (bid, ask, each existing depth level) g x wider, bent by ``_bend``; ``last`` moves with the mid.

    f: (rows, 1) for every symbol alike or (rows, n_symbols); g: (rows,); chosen: (n_symbols,) 0/1.
    A cell with f == 1 and g == 1 is left bit-for-bit as it is.
    """
    n_symbols = bid.shape[1]
    levels = bid_px.shape[2]
    per_symbol = f.shape[1] > 1
    for j in range(g.shape[0]):
        r = lo + j
        gj = g[j]
        # the book first: it needs the mid before the top of book moves (a separate loop keeps the
        # top-of-book loop free of the level loop, which numba compiles much faster)
        for i in range(n_symbols if levels > 0 else 0):
            fi = f[j, i] if per_symbol else f[j, 0]
            if chosen[i] and not (fi == 1.0 and gj == 1.0):
                mid = 0.5 * (bid[r, i] + ask[r, i])
                new_mid = max(mid * fi, PRICE_FLOOR)
                for lv in range(levels):
                    if bid_sz[r, i, lv] > 0.0:
                        bid_px[r, i, lv] = _below(new_mid, gj * (mid - bid_px[r, i, lv]))
                    if ask_sz[r, i, lv] > 0.0:
                        ask_px[r, i, lv] = new_mid + _bend(new_mid, gj * (ask_px[r, i, lv] - mid))
        for i in range(n_symbols):
            fi = f[j, i] if per_symbol else f[j, 0]
            if chosen[i] and not (fi == 1.0 and gj == 1.0):
                mid = 0.5 * (bid[r, i] + ask[r, i])
                new_mid = max(mid * fi, PRICE_FLOOR)
                bid[r, i] = _below(new_mid, gj * (mid - bid[r, i]))
                ask[r, i] = new_mid + _bend(new_mid, gj * (ask[r, i] - mid))
                last[r, i] *= fi


@njit(cache=True)
def price_path_factor(k, fall_ticks, span, shock, recovery):
    """Multiplier on the unstressed mid ``k`` ticks after the window opens (k=0 is the last calm tick).

    The price falls linearly to ``1 + shock`` over ``fall_ticks`` ticks, then recovers over the rest of
    the ``span``-tick window: linearly, exponentially, or not at all (recovery codes 0, 1, 2).
    """
    if k <= 0:
        return 1.0
    if k <= fall_ticks:
        return 1.0 + shock * k / fall_ticks
    rest = span - fall_ticks
    j = k - fall_ticks
    if recovery == 2:
        return 1.0 + shock
    if j >= rest:
        return 1.0
    if recovery == 0:
        return 1.0 + shock * (1.0 - j / rest)
    tail = np.exp(-_EXP_RATE)
    return 1.0 + shock * (np.exp(-_EXP_RATE * j / rest) - tail) / (1.0 - tail)


@njit(cache=True)
def pump_path_factor(k, pump_ticks, dump_ticks, pump, dump):
    """Multiplier on the mid ``k`` ticks after the pump starts: up ``pump`` linearly over ``pump_ticks``,
    then down ``dump`` of the peak over ``dump_ticks``, and held there afterwards."""
    if k <= 0:
        return 1.0
    if k <= pump_ticks:
        return 1.0 + pump * k / pump_ticks
    j = min(k - pump_ticks, dump_ticks)
    return (1.0 + pump) * (1.0 - dump * j / dump_ticks)


@njit(cache=True)
def flash_crash_kernel(
    bid,
    ask,
    last,
    bid_px,
    bid_sz,
    ask_px,
    ask_sz,
    offset,
    start,
    fall_ticks,
    end,
    shock,
    spread_mult,
    recovery,
):
    """Ticks start+1 .. end-1 carry spreads x ``spread_mult`` and the mid follows ``price_path_factor``.

    With recovery ``none`` the price stays at the trough after the window (spreads return to normal).
    """
    n_ticks, n_symbols = bid.shape
    lo = max(0, start + 1 - offset)
    hi = n_ticks if recovery == 2 else min(n_ticks, end - offset)
    f = np.empty((max(hi - lo, 0), 1))
    g = np.empty(max(hi - lo, 0))
    for j in range(hi - lo):
        t = offset + lo + j
        f[j, 0] = price_path_factor(t - start, fall_ticks, end - start, shock, recovery)
        g[j] = spread_mult if t < end else 1.0
    reprice_kernel(bid, ask, last, bid_px, bid_sz, ask_px, ask_sz, lo, f, g, np.ones(n_symbols, np.uint8))


@njit(cache=True)
def pump_and_dump_kernel(
    bid, ask, last, bid_px, bid_sz, ask_px, ask_sz, offset, start, pump_ticks, dump_ticks, pump, dump,
    spread_mult, chosen,
):  # fmt: skip
    """The chosen symbols (mask) follow ``pump_path_factor`` after tick ``start``, spreads x ``spread_mult``
    until the dump ends."""
    n_ticks = bid.shape[0]
    end = start + pump_ticks + dump_ticks
    lo = max(0, start + 1 - offset)
    f = np.empty((max(n_ticks - lo, 0), 1))
    g = np.empty(max(n_ticks - lo, 0))
    for j in range(n_ticks - lo):
        t = offset + lo + j
        f[j, 0] = pump_path_factor(t - start, pump_ticks, dump_ticks, pump, dump)
        g[j] = spread_mult if t < end else 1.0
    reprice_kernel(bid, ask, last, bid_px, bid_sz, ask_px, ask_sz, lo, f, g, chosen)


@njit(cache=True)
def scale_returns_kernel(
    bid, ask, last, bid_px, bid_sz, ask_px, ask_sz, offset, start, end, mult, sign, prev_log_mid, displacement
):
    """Log returns of ticks start+1 .. end-1 times ``mult`` x ``sign`` (sign: (end-start-1 or 1, n_symbols)).

    ``prev_log_mid``/``displacement`` (n_symbols,) carry the path between chunks (NaN / 0 before tick
    ``start``); after the window the displacement is kept. Cells without a positive finite mid are skipped.
    """
    n_ticks, n_symbols = bid.shape
    per_tick = sign.shape[0] > 1
    lo = max(0, start - offset)
    f = np.ones((max(n_ticks - lo, 0), n_symbols))
    for j in range(n_ticks - lo):
        t = offset + lo + j
        k = t - start - 1 if per_tick else 0
        for i in range(n_symbols):
            mid = 0.5 * (bid[lo + j, i] + ask[lo + j, i])
            if not (mid > 0.0 and mid < np.inf):
                continue
            c = np.log(mid)
            if start < t < end and prev_log_mid[i] == prev_log_mid[i]:
                displacement[i] += (mult * sign[k, i] - 1.0) * (c - prev_log_mid[i])
            prev_log_mid[i] = c
            f[j, i] = np.exp(displacement[i])
    g = np.ones(f.shape[0])
    reprice_kernel(bid, ask, last, bid_px, bid_sz, ask_px, ask_sz, lo, f, g, np.ones(n_symbols, np.uint8))


@njit(cache=True)
def book_window_kernel(
    bid, ask, last, volume, bid_px, bid_sz, ask_px, ask_sz, offset, start, end, spread_mult, size_keep,
    volume_keep, levels_left,
):  # fmt: skip
    """Ticks start .. end-1: spreads x ``spread_mult`` around the mid, depth sizes x ``size_keep`` and zero
    from level ``levels_left`` on, volume x ``volume_keep``."""
    n_ticks, n_symbols = bid.shape
    lo, hi = max(0, start - offset), min(n_ticks, end - offset)
    if hi <= lo:
        return
    if spread_mult != 1.0:
        g = np.full(hi - lo, spread_mult)
        reprice_kernel(
            bid,
            ask,
            last,
            bid_px,
            bid_sz,
            ask_px,
            ask_sz,
            lo,
            np.ones((hi - lo, 1)),
            g,
            np.ones(n_symbols, np.uint8),
        )
    for r in range(lo, hi):
        for i in range(n_symbols):
            volume[r, i] *= volume_keep
            for lv in range(bid_px.shape[2]):
                keep = size_keep if lv < levels_left else 0.0
                bid_sz[r, i, lv] *= keep
                ask_sz[r, i, lv] *= keep


@njit(cache=True)
def corrupt_kernel(
    ts, bid, ask, last, volume, bid_px, bid_sz, ask_px, ask_sz, row_kind, cell_kind, spike_pct
):  # fmt: skip
    """Corrupt rows 1.. in order (row 0 is the carried previous row, only read), as the feed would deliver it.

    Per row: ROW_DUPLICATE repeats the previous output row, timestamp included; ROW_OUT_OF_ORDER swaps the
    timestamp with the next row's. Per cell: CELL_STALE repeats the previous output cell (prices and
    book); CELL_SPIKE_UP/DOWN multiplies every price by 1 +/- ``spike_pct``; CELL_NAN makes them NaN.
    """
    n_ticks, n_symbols = bid.shape
    for r in range(1, n_ticks):
        if row_kind[r] & ROW_DUPLICATE:
            ts[r] = ts[r - 1]
            for a in (bid, ask, last, volume):
                a[r] = a[r - 1]
            for d in (bid_px, bid_sz, ask_px, ask_sz):
                d[r] = d[r - 1]
        if row_kind[r] & ROW_OUT_OF_ORDER and r + 1 < n_ticks:
            ts[r], ts[r + 1] = ts[r + 1], ts[r]
        for i in range(n_symbols):
            code = cell_kind[r, i]
            if code == CELL_STALE:
                for a in (bid, ask, last):
                    a[r, i] = a[r - 1, i]
                for d in (bid_px, bid_sz, ask_px, ask_sz):
                    d[r, i] = d[r - 1, i]
            elif code in (CELL_SPIKE_UP, CELL_SPIKE_DOWN):
                f = 1.0 + spike_pct if code == CELL_SPIKE_UP else 1.0 - spike_pct
                for a in (bid, ask, last):
                    a[r, i] *= f
                bid_px[r, i] *= f
                ask_px[r, i] *= f
            elif code == CELL_NAN:
                for a in (bid, ask, last):
                    a[r, i] = np.nan
                bid_px[r, i] = np.nan
                ask_px[r, i] = np.nan
