"""Bars from ticks: open/high/low/close/volume per fixed interval, for strategies and charts that read bars.

Bar k covers ``[t0 + k x bar_ms, t0 + (k + 1) x bar_ms)``, t0 the frame's first timestamp; a tick whose
price is NaN or infinite does not count, and a bar without a valid tick is NaN with volume 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from pytest_stress.errors import ReplayError
from pytest_stress.market.frame import MarketFrame

PRICES = ("mid", "last")


@dataclass(frozen=True, eq=False)
class Bars:
    """OHLCV bars: ``timestamps_ns`` (n_bars,) int64 bar open times; open/high/low/close in price units
    and volume (units traded by the bar's valid ticks), each (n_bars, n_symbols) float64."""

    timestamps_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    symbols: tuple[str, ...]
    bar_ms: float
    price: str

    @property
    def n_bars(self) -> int:
        return int(self.timestamps_ns.shape[0])


@njit(cache=True)
def bar_pass(bar_of_row, bid, ask, last, use_last, volume, open_, high, low, close, bar_volume):
    """One pass over the ticks in time order; ``open_`` etc. start NaN and ``bar_volume`` 0. NaN volumes
    (unknown) add nothing."""
    rows, n = bid.shape
    for r in range(rows):
        k = bar_of_row[r]
        for i in range(n):
            p = last[r, i] if use_last else 0.5 * (bid[r, i] + ask[r, i])
            if not np.isfinite(p):
                continue
            if np.isnan(open_[k, i]):
                open_[k, i] = p
                high[k, i] = p
                low[k, i] = p
            else:
                high[k, i] = max(high[k, i], p)
                low[k, i] = min(low[k, i], p)
            close[k, i] = p
            v = volume[r, i]
            if not np.isnan(v):
                bar_volume[k, i] += v


def bars(frame: MarketFrame, bar_ms: float, price: str = "mid") -> Bars:
    """Bars of ``bar_ms`` milliseconds from ``frame``'s ticks, priced at the ``"mid"`` or ``"last"`` trade.

    Timestamps must not go backwards (``validate_data`` finds the ticks that do).
    """
    if price not in PRICES:
        raise ReplayError(f"price must be one of {', '.join(PRICES)}, got {price!r}")
    bar_ns = round(bar_ms * 1e6) if bar_ms > 0 else 0
    if bar_ns < 1:
        raise ReplayError(f"bar_ms must be at least 1e-6 (one nanosecond), got {bar_ms!r}")
    ts = frame.timestamps_ns
    back = np.flatnonzero(np.diff(ts) < 0)
    if back.size:
        r = int(back[0]) + 1
        raise ReplayError(
            f"timestamps go backwards at tick {frame.start_tick + r} ({ts[r]} ns after {ts[r - 1]} ns); "
            "bars need ticks in time order (validate_data lists every such tick)"
        )
    t0 = int(ts[0]) if ts.shape[0] else 0
    bar_of_row = (ts - t0) // np.int64(bar_ns)
    n_bars = int(bar_of_row[-1]) + 1 if ts.shape[0] else 0
    shape = (n_bars, frame.n_symbols)
    open_, high, low, close = (np.full(shape, np.nan) for _ in range(4))
    volume = np.zeros(shape)
    bar_pass(
        bar_of_row, frame.bid, frame.ask, frame.last, price == "last", frame.volume,
        open_, high, low, close, volume,
    )  # fmt: skip
    stamps = t0 + np.arange(n_bars, dtype=np.int64) * np.int64(bar_ns)
    return Bars(stamps, open_, high, low, close, volume, frame.symbols, float(bar_ms), price)
