"""Bars and orders for the runbook suite: seeded, small, and shaped like the runbooks' examples.

Prices follow a seeded geometric random walk; ``spike`` rewrites the last bars the way seed 001's
volatility simulation does (high = close x 1.15, low = close x 0.85, a 15 % move).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

from pytest_stress.stack.broker import SUITE_PRICES
from pytest_stress.stack.model import Bar, Order, OrderType, PortfolioSnapshot, Side

BAR_NS = 60 * 1_000_000_000  # one-minute bars
START_NS = 1_700_000_000 * 1_000_000_000


def walk(symbol: str, n: int, *, seed: int = 7, start: float = 100.0, vol: float = 0.004) -> list[Bar]:
    """``n`` one-minute bars of a seeded random walk (``vol``: stdev of one bar's log return)."""
    rng = random.Random(f"{symbol}:{seed}")
    bars, close = [], start
    for i in range(n):
        prev = close
        close = prev * math.exp(rng.gauss(0.0, vol))
        wiggle = abs(rng.gauss(0.0, vol / 2))
        bars.append(
            Bar(
                symbol,
                START_NS + i * BAR_NS,
                prev,
                max(prev, close) * (1 + wiggle),
                min(prev, close) * (1 - wiggle),
                close,
                1_000.0 + rng.random() * 500.0,
            )
        )
    return bars


def spike(bars: list[Bar], last: int = 10, move: float = 0.15) -> list[Bar]:
    """Seed 001 scenario 2: the last ``last`` bars swing ``move`` (15 %) with a 30 % high-low range."""
    out = list(bars[:-last])
    close = out[-1].close
    for i, b in enumerate(bars[-last:]):
        prev = close
        close = prev * (1 + (move if i % 2 == 0 else -move))
        out.append(Bar(b.symbol, b.timestamp_ns, prev, close * 1.15, close * 0.85, close, b.volume * 5))
    return out


def with_nan_bars(bars: list[Bar], ago: int = 150, count: int = 2) -> list[Bar]:
    """``count`` bars ``ago`` bars back lose their prices (a feed or pipeline failure, seed 001 scenario 1):
    the long windows (``sma_200``) see NaN, the latest bars are clean."""
    nan = math.nan
    lo = len(bars) - ago
    holed = [Bar(b.symbol, b.timestamp_ns, nan, nan, nan, nan, nan) for b in bars[lo : lo + count]]
    return bars[:lo] + holed + bars[lo + count :]


def feed(strategy, bars: Iterable[Bar]) -> None:
    for bar in bars:
        strategy.on_market_data(bar)


def flat_book(cash: float = 1_000_000.0) -> PortfolioSnapshot:
    return PortfolioSnapshot(cash=cash, positions={}, marks=dict(SUITE_PRICES))


def order(symbol: str = "SPY", qty: float = 10.0, side: Side = Side.BUY, **kw) -> Order:
    """A market order priced at the suite's quote, so every pre-trade limit passes unless a test says."""
    kw.setdefault("reference_price", SUITE_PRICES[symbol])
    return Order(symbol, side, qty, **kw)


def resting_limit(symbol: str = "SPY", qty: float = 10.0) -> Order:
    """A buy limit 2 % under the quote: it rests at the broker (inside the 5 % price collar)."""
    px = SUITE_PRICES[symbol] * 0.98
    return Order(symbol, Side.BUY, qty, OrderType.LIMIT, limit_price=px, reference_price=px)


__all__ = [
    "BAR_NS",
    "START_NS",
    "SUITE_PRICES",
    "feed",
    "flat_book",
    "order",
    "resting_limit",
    "spike",
    "walk",
    "with_nan_bars",
]
