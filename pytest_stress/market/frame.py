"""The market frame: struct-of-arrays tick data the replay kernels read.

Timestamps are int64 nanoseconds, shape (n_ticks,); every per-tick field is a C-contiguous float64
array of shape (n_ticks, n_symbols), so a kernel walks it tick by tick without Python objects:

- ``bid``, ``ask``: top of book; ``last``: last trade price; ``volume``: traded quantity in the tick.
- ``depth`` (optional): an L2 book, four float64 arrays of shape (n_ticks, n_symbols, levels); level 0
  is the top of book, prices get worse with the level, a level with size 0 does not exist.
- ``funding_rate`` (optional): per-tick funding rate of perpetual swaps (fraction per funding interval),
  NaN for symbols that do not fund.

Per-symbol metadata is struct-of-arrays too: ``tick_size`` (n_symbols,) and ``asset_class`` (one of
ASSET_CLASSES per symbol). ``start_tick`` is the global index of row 0, so a chunk of a long session
knows where it sits and transforms windows in global ticks apply to it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from pytest_stress.errors import ReplayError
from pytest_stress.specs.market import ASSET_CLASSES


@dataclass(frozen=True, eq=False)
class Depth:
    """An L2 book: price and size per level, each (n_ticks, n_symbols, levels) float64."""

    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray

    @property
    def levels(self) -> int:
        return int(self.bid_px.shape[2])

    def copy(self) -> Depth:
        return Depth(self.bid_px.copy(), self.bid_sz.copy(), self.ask_px.copy(), self.ask_sz.copy())

    def rows(self, lo: int, hi: int) -> Depth:
        return Depth(self.bid_px[lo:hi], self.bid_sz[lo:hi], self.ask_px[lo:hi], self.ask_sz[lo:hi])


@dataclass(frozen=True, eq=False)
class MarketFrame:
    timestamps_ns: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    symbols: tuple[str, ...]
    last: np.ndarray | None = None  # None: the mid
    volume: np.ndarray | None = None  # None: NaN (volume unknown)
    depth: Depth | None = None
    funding_rate: np.ndarray | None = None
    tick_size: np.ndarray | None = None  # None: 0.01 for every symbol
    asset_class: tuple[str, ...] = ()  # empty: every symbol an equity
    start_tick: int = 0
    # Free-form labels of where the data came from (seed, file, content hash); shown in reports.
    provenance: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ts = self.timestamps_ns
        if ts.ndim != 1 or ts.dtype != np.int64:
            raise ReplayError(
                f"timestamps_ns must be a 1-D int64 array, got {ts.dtype} with shape {ts.shape}"
            )
        n, s = ts.shape[0], len(self.symbols)
        if self.last is None:
            object.__setattr__(
                self, "last", 0.5 * (self.bid + self.ask) if self.bid.shape == (n, s) else None
            )
        if self.volume is None:
            object.__setattr__(self, "volume", np.full((n, s), np.nan))
        if self.tick_size is None:
            object.__setattr__(self, "tick_size", np.full(s, 0.01))
        if not self.asset_class:
            object.__setattr__(self, "asset_class", ("equity",) * s)
        for name in ("bid", "ask", "last", "volume", "funding_rate"):
            _check_field(name, getattr(self, name), (n, s), optional=name == "funding_rate")
        _check_field("tick_size", self.tick_size, (s,))
        if self.depth is not None:
            levels = self.depth.bid_px.shape[2] if self.depth.bid_px.ndim == 3 else 0
            for name in ("bid_px", "bid_sz", "ask_px", "ask_sz"):
                _check_field(f"depth.{name}", getattr(self.depth, name), (n, s, levels))
        if len(self.asset_class) != s:
            raise ReplayError(f"asset_class needs one entry per symbol ({s}), got {len(self.asset_class)}")
        unknown = sorted(set(self.asset_class) - set(ASSET_CLASSES))
        if unknown:
            raise ReplayError(f"unknown asset class {unknown[0]!r}; known: {', '.join(ASSET_CLASSES)}")

    @property
    def n_ticks(self) -> int:
        return int(self.timestamps_ns.shape[0])

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    def mid(self) -> np.ndarray:
        return 0.5 * (self.bid + self.ask)

    def copy(self) -> MarketFrame:
        """A deep copy of every array (transforms change their copy in place)."""
        return replace(
            self,
            timestamps_ns=self.timestamps_ns.copy(),
            bid=self.bid.copy(),
            ask=self.ask.copy(),
            last=self.last.copy(),
            volume=self.volume.copy(),
            depth=self.depth.copy() if self.depth is not None else None,
            funding_rate=self.funding_rate.copy() if self.funding_rate is not None else None,
            provenance=dict(self.provenance),
        )

    def rows(self, lo: int, hi: int) -> MarketFrame:
        """Ticks lo..hi-1 as a frame (views, not copies) whose ``start_tick`` is their global index."""
        return replace(
            self,
            timestamps_ns=self.timestamps_ns[lo:hi],
            bid=self.bid[lo:hi],
            ask=self.ask[lo:hi],
            last=self.last[lo:hi],
            volume=self.volume[lo:hi],
            depth=self.depth.rows(lo, hi) if self.depth is not None else None,
            funding_rate=self.funding_rate[lo:hi] if self.funding_rate is not None else None,
            start_tick=self.start_tick + lo,
        )


def _check_field(name: str, arr: np.ndarray | None, shape: tuple[int, ...], optional: bool = False) -> None:
    if arr is None and optional:
        return
    if arr is None or arr.shape != shape or arr.dtype != np.float64 or not arr.flags.c_contiguous:
        got = "nothing" if arr is None else f"{arr.dtype} {arr.shape}"
        raise ReplayError(
            f"{name} must be a C-contiguous float64 array of shape {shape} "
            f"({' x '.join(('ticks', 'symbols', 'levels')[: len(shape)]) if len(shape) > 1 else 'symbols'}), "
            f"got {got}"
        )
