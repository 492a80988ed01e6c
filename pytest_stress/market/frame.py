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

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from pytest_stress.errors import ReplayError
from pytest_stress.specs.common import ASSET_CLASSES

_HUGE_PAGE = 2 << 20  # bytes, x86-64 and arm64
# Every array field, by name (the depth arrays by their own names), as ``MarketFrame.copy`` takes them.
FIELDS = (
    "timestamps_ns", "bid", "ask", "last", "volume", "bid_px", "bid_sz", "ask_px", "ask_sz", "funding_rate"
)  # fmt: skip


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

    def copy(self, fields: Collection[str] | None = None) -> MarketFrame:
        """A deep copy of every array (transforms change their copy in place); with ``fields`` (names of
        FIELDS), only those arrays are copied and the others are this frame's own, shared, for a caller
        that writes no other field."""

        d = self.depth
        book = {} if d is None else {k: getattr(d, k) for k in ("bid_px", "bid_sz", "ask_px", "ask_sz")}
        every = {k: book[k] if k in book else getattr(self, k, None) for k in FIELDS}
        chosen = {k: a for k, a in every.items() if a is not None and (fields is None or k in fields)}
        copies = dict(zip(chosen, empty_block([(a.shape, a.dtype) for a in chosen.values()]), strict=True))
        for k, a in chosen.items():
            np.copyto(copies[k], a)
        new = {k: copies.get(k, a) for k, a in every.items()}
        return replace(
            self,
            timestamps_ns=new["timestamps_ns"],
            bid=new["bid"],
            ask=new["ask"],
            last=new["last"],
            volume=new["volume"],
            depth=None if d is None else Depth(new["bid_px"], new["bid_sz"], new["ask_px"], new["ask_sz"]),
            funding_rate=new["funding_rate"],
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


def empty_block(specs: Sequence[tuple[tuple[int, ...], np.dtype]]) -> list[np.ndarray]:
    """Uninitialised C-contiguous arrays, one per ``(shape, dtype)``, laid end to end in one allocation that
    starts on a 2 MiB boundary.

    Why: fresh memory costs a page fault per 4 KiB page on first write, which for a frame's copy took
    longer than the copy itself. NumPy asks the kernel for transparent huge pages on allocations of 4 MiB
    and more, but only 2 MiB-aligned spans inside one can get them; aligning the block lets (nearly) all
    of it be backed by huge pages, a fault per 2 MiB. Without huge pages it is a plain allocation."""
    sizes = [int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in specs]
    raw = np.empty(sum(sizes) + 64 * len(sizes) + _HUGE_PAGE, dtype=np.uint8)
    offset = -raw.ctypes.data % _HUGE_PAGE
    out = []
    for (shape, dtype), size in zip(specs, sizes, strict=True):
        out.append(raw[offset : offset + size].view(dtype).reshape(shape))
        offset += -(-size // 64) * 64  # each array on a cache line
    return out


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
