"""The market frame: struct-of-arrays tick data the replay kernels read.

Timestamps are int64 nanoseconds, shape (n_ticks,); every price field is a C-contiguous float64
array of shape (n_ticks, n_symbols), so a kernel walks it tick by tick without Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pytest_stress.errors import ReplayError


@dataclass(frozen=True, eq=False)
class MarketFrame:
    timestamps_ns: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    symbols: tuple[str, ...]

    def __post_init__(self) -> None:
        ts = self.timestamps_ns
        if ts.ndim != 1 or ts.dtype != np.int64:
            raise ReplayError(
                f"timestamps_ns must be a 1-D int64 array, got {ts.dtype} with shape {ts.shape}"
            )
        shape = (ts.shape[0], len(self.symbols))
        for name in ("bid", "ask"):
            arr = getattr(self, name)
            if arr.shape != shape or arr.dtype != np.float64 or not arr.flags.c_contiguous:
                raise ReplayError(
                    f"{name} must be a C-contiguous float64 array of shape {shape} "
                    f"(ticks x symbols), got {arr.dtype} {arr.shape}"
                )

    @property
    def n_ticks(self) -> int:
        return int(self.timestamps_ns.shape[0])

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    def mid(self) -> np.ndarray:
        return 0.5 * (self.bid + self.ask)

    def copy(self) -> MarketFrame:
        return MarketFrame(self.timestamps_ns.copy(), self.bid.copy(), self.ask.copy(), self.symbols)
