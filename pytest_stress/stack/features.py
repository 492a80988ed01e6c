"""Indicator features of the reference strategy (seed 001's ``ml_direction_v1``), computed from a bounded
price history with NumPy; a feature whose window is short or holds a NaN is NaN, never silently skipped.

Units: ``sma_*``, ``ema_*``, ``atr_14`` and ``close`` are prices; ``rsi_14`` is 0..100; ``returns_*`` and
``volatility_20`` are fractions (0.01 = a 1 % move). Each feature reads only the last bars of its window:

- ``sma_n``: mean of the last n closes (needs n bars).
- ``ema_n``: exponential average, alpha = 2 / (n + 1), over the last ``EMA_SPANS * n`` closes, started at
  the mean of the first n of them; it needs that whole window, so its value never depends on bars older
  than the window (the start's weight left is (1 - alpha) ** (3 n), under 0.3 %).
- ``rsi_14``: Cutler's RSI, 100 - 100 / (1 + mean gain / mean loss) over the last 14 close-to-close
  changes (simple means rather than Wilder's recursion, so the window is exactly 15 closes); 50 when the
  price did not move, 100 when it only rose.
- ``atr_14``: mean true range, max(high - low, |high - prev close|, |low - prev close|), of the last 14
  bars (15 bars).
- ``returns_1d``, ``returns_5d``: close / close 1 or 5 bars back - 1.
- ``volatility_20``: sample standard deviation (ddof 1) of the last 20 one-bar returns (21 closes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

FEATURE_NAMES: tuple[str, ...] = (
    "sma_20",
    "sma_50",
    "sma_200",
    "ema_12",
    "ema_26",
    "rsi_14",
    "atr_14",
    "returns_1d",
    "returns_5d",
    "volatility_20",
)
LAST_CLOSE = "close"  # also in compute_features' answer: the price level the price features are read against
EMA_SPANS = 4
NAN = math.nan


def compute_features(
    close: Sequence[float] | np.ndarray,
    high: Sequence[float] | np.ndarray,
    low: Sequence[float] | np.ndarray,
) -> dict[str, float]:
    """Every feature of ``FEATURE_NAMES`` (NaN when it cannot be computed) plus ``close``, the last close.

    ``close``, ``high`` and ``low`` are one symbol's bars, oldest first, equally long.
    """
    c = np.asarray(close, dtype=np.float64)
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    if c.ndim != 1 or c.shape != h.shape or c.shape != lo.shape:
        raise ValueError(
            f"close, high and low must be 1-D and equally long, got shapes {c.shape}, {h.shape}, {lo.shape}"
        )
    return {
        "sma_20": _sma(c, 20),
        "sma_50": _sma(c, 50),
        "sma_200": _sma(c, 200),
        "ema_12": _ema(c, 12),
        "ema_26": _ema(c, 26),
        "rsi_14": _rsi(c, 14),
        "atr_14": _atr(c, h, lo, 14),
        "returns_1d": _return(c, 1),
        "returns_5d": _return(c, 5),
        "volatility_20": _volatility(c, 20),
        LAST_CLOSE: float(c[-1]) if c.size else NAN,
    }


def _sma(c: np.ndarray, n: int) -> float:
    # np.mean propagates a NaN in the window, which is exactly the rule
    return float(np.mean(c[-n:])) if c.size >= n else NAN


def _ema(c: np.ndarray, n: int) -> float:
    window = EMA_SPANS * n
    if c.size < window:
        return NAN
    x = c[-window:]
    alpha = 2.0 / (n + 1)
    steps = window - n
    # closed form of the recursion e = alpha x + (1 - alpha) e, started at the first n closes' mean
    decay = (1.0 - alpha) ** np.arange(steps - 1, -1, -1, dtype=np.float64)
    return float(np.mean(x[:n]) * (1.0 - alpha) ** steps + alpha * np.dot(decay, x[n:]))


def _rsi(c: np.ndarray, n: int) -> float:
    if c.size < n + 1:
        return NAN
    diff = np.diff(c[-(n + 1) :])
    if np.isnan(diff).any():
        return NAN
    gain = float(np.mean(np.clip(diff, 0.0, None)))
    loss = float(np.mean(np.clip(-diff, 0.0, None)))
    if loss == 0.0:
        return 50.0 if gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


def _atr(c: np.ndarray, h: np.ndarray, lo: np.ndarray, n: int) -> float:
    if c.size < n + 1:
        return NAN
    prev = c[-(n + 1) : -1]
    hi, low = h[-n:], lo[-n:]
    true_range = np.maximum(hi - low, np.maximum(np.abs(hi - prev), np.abs(low - prev)))
    # np.maximum propagates NaN, so a NaN high, low or close anywhere in the window makes ATR NaN
    return float(np.mean(true_range))


def _return(c: np.ndarray, lag: int) -> float:
    return float(c[-1] / c[-1 - lag] - 1.0) if c.size > lag else NAN


def _volatility(c: np.ndarray, n: int) -> float:
    if c.size < n + 1:
        return NAN
    x = c[-(n + 1) :]
    return float(np.std(x[1:] / x[:-1] - 1.0, ddof=1))
