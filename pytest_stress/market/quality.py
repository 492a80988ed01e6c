"""The data-quality report of a data file: counts of what the runbooks care about, first example of each.

It reads the normalised long table (``market.tables.normalise``), before the rows are put on the grid;
``market.validate`` checks a frame. Part of ``pytest_stress.market.historic``; import from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_stress.market.tables import utc_text

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class QualityReport:
    """What is wrong with a file: counts per kind and the first example of each."""

    rows: int = 0
    symbols: tuple[str, ...] = ()
    first: str = ""
    last: str = ""
    unsorted: int = 0
    duplicates: int = 0
    nans: int = 0
    crossed: int = 0
    non_positive: int = 0
    gaps: int = 0
    largest_gap_s: float = 0.0
    examples: dict[str, str] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not (
            self.unsorted or self.duplicates or self.nans or self.crossed or self.non_positive or self.gaps
        )

    def lines(self) -> list[str]:
        out = [
            f"rows: {self.rows:,}",
            f"symbols: {len(self.symbols)} ({', '.join(self.symbols[:8])}{', ...' if len(self.symbols) > 8 else ''})",
            f"time range: {self.first} .. {self.last}",
        ]
        for key, label in (
            ("unsorted", "rows out of time order"),
            ("duplicates", "duplicate (timestamp, symbol) rows"),
            ("nans", "missing prices (NaN)"),
            ("crossed", "crossed books (bid above ask)"),
            ("non_positive", "prices at or below zero"),
            ("gaps", "gaps"),
        ):
            n = getattr(self, key)
            extra = f", largest {self.largest_gap_s:g} s" if key == "gaps" and n else ""
            example = f"; first: {self.examples[key]}" if key in self.examples else ""
            out.append(f"{label}: {n:,}{extra}{example}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("rows", "unsorted", "duplicates", "nans", "crossed", "non_positive", "gaps")
        }


def quality(table: pd.DataFrame, max_gap_s: float | None) -> QualityReport:
    """Count what the runbooks care about, per (symbol) series, on the normalised table in file order."""
    rep = QualityReport(rows=len(table))
    if not len(table):
        return rep
    ts = table["timestamp"].to_numpy()
    rep.symbols = tuple(sorted(table["symbol"].unique()))
    rep.first = utc_text(int(ts.min()))
    rep.last = utc_text(int(ts.max()))
    steps = []
    for sym, g in table.groupby("symbol", sort=False):
        t = g["timestamp"].to_numpy()
        d = np.diff(t)
        back = int((d < 0).sum())
        if back and "unsorted" not in rep.examples:
            rep.examples["unsorted"] = f"{sym} at {utc_text(int(t[1:][d < 0][0]))}"
        rep.unsorted += back
        st = np.sort(t)
        steps.append(np.diff(st))
    dup = table.duplicated(["timestamp", "symbol"], keep="first")
    rep.duplicates = int(dup.sum())
    if rep.duplicates:
        row = table[dup].iloc[0]
        rep.examples["duplicates"] = f"{row['symbol']} at {utc_text(int(row['timestamp']))}"
    bid, ask = table["bid"].to_numpy(), table["ask"].to_numpy()
    nan = np.isnan(bid) | np.isnan(ask)
    rep.nans = int(nan.sum())
    if rep.nans:
        i = int(np.argmax(nan))
        rep.examples["nans"] = f"{table['symbol'].iloc[i]} at {utc_text(int(ts[i]))}"
    crossed = bid > ask
    rep.crossed = int(crossed.sum())
    if rep.crossed:
        i = int(np.argmax(crossed))
        rep.examples["crossed"] = (
            f"{table['symbol'].iloc[i]} at {utc_text(int(ts[i]))}: bid {bid[i]:g} > ask {ask[i]:g}"
        )
    rep.non_positive = int(((bid <= 0) | (ask <= 0)).sum())
    all_steps = np.concatenate(steps) if steps else np.zeros(0)
    positive = all_steps[all_steps > 0]
    if positive.size:
        limit_ns = max_gap_s * 1e9 if max_gap_s else 5.0 * float(np.median(positive))
        big = positive > limit_ns
        rep.gaps = int(big.sum())
        rep.largest_gap_s = float(positive.max()) / 1e9 if rep.gaps else 0.0
    return rep
