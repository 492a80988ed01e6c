"""The ``market:`` section: which market to replay and how the synthetic generator draws it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_stress.schema import INVALID, Checker, Choice, KeyPath, Num, Range, Spec

# A market frame above this many cells (ticks x symbols) is refused before any memory is taken:
# 50M cells is 400 MB per float64 field.
MAX_CELLS = 50_000_000
MAX_SYMBOLS = 10_000


@dataclass(frozen=True)
class MarketSpec:
    """The market to replay. Volatilities are annualised fractions; spreads are full spreads in bps."""

    source: str
    symbols: int
    duration_s: float
    tick_ms: int
    seed: int
    annual_vol: tuple[float, float] = (0.15, 0.45)
    correlation: float = 0.5
    spread_bps: tuple[float, float] = (1.0, 5.0)
    start_price: tuple[float, float] = (20.0, 500.0)

    @property
    def n_ticks(self) -> int:
        return round(self.duration_s * 1000.0 / self.tick_ms) + 1

    def tick_of(self, seconds: float) -> int:
        """Index of the tick at ``seconds`` after the start (tick 0 is at 0 s)."""
        return round(seconds * 1000.0 / self.tick_ms)


MARKET_FIELDS: dict[str, Spec] = {
    "source": Choice(options=("synthetic",)),
    "symbols": Num(lo=1, hi=MAX_SYMBOLS, integer=True, default=100),
    "duration_s": Num(lo=0, lo_open=True, hi=7 * 86_400),
    "tick_ms": Num(lo=1, hi=3_600_000, integer=True, default=100),
    "seed": Num(lo=0, hi=2**63 - 1, integer=True, default=0),
    "annual_vol": Range(item=Num(lo=0.001, hi=5.0), default=(0.15, 0.45)),
    "correlation": Num(lo=0.0, hi=0.99, default=0.5),
    "spread_bps": Range(item=Num(lo=0.01, hi=10_000.0), default=(1.0, 5.0)),
    "start_price": Range(item=Num(lo=1e-6, hi=1e9), default=(20.0, 500.0)),
}


def parse_market(chk: Checker, path: KeyPath, raw: Any) -> MarketSpec | Any:
    if isinstance(raw, dict) and raw.get("source") == "historic":
        return chk.fail(
            (*path, "source"),
            "historic market data is not supported by this version yet; use source: synthetic",
        )
    values = chk.mapping(path, raw, MARKET_FIELDS)
    if values is None or INVALID in values.values():
        return INVALID
    spec = MarketSpec(**values)
    steps = spec.duration_s * 1000.0 / spec.tick_ms
    if abs(steps - round(steps)) > 1e-6:
        return chk.fail(
            (*path, "duration_s"), f"{spec.duration_s:g} s is not a whole number of {spec.tick_ms} ms ticks"
        )
    if spec.n_ticks * spec.symbols > MAX_CELLS:
        return chk.fail(
            path,
            f"{spec.n_ticks} ticks x {spec.symbols} symbols is above the limit of "
            f"{MAX_CELLS:,} cells; shorten duration_s, raise tick_ms or lower symbols",
        )
    return spec
