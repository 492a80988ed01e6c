"""Data-quality checks on a market frame before it is replayed (seed 003: ``is_valid, issues = validate_data(df)``).

One compiled pass per array finds NaNs, crossed books, prices at or below zero, negative volumes and broken
L2 books; timestamps are checked with NumPy. Issues are aggregated per kind and symbol, so a frame with
millions of bad cells gives a handful of issues, each saying how many, where the first one is and what it is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from numba import njit

from pytest_stress.market.frame import MarketFrame


class IssueKind(str, enum.Enum):
    """What is wrong with the data."""

    NAN = "nan"  # a price (bid, ask, last, or a depth level) or a depth size is NaN
    CROSSED_BOOK = "crossed_book"  # bid above ask (equal is a locked book, allowed)
    NON_POSITIVE_PRICE = "non_positive_price"  # a price at or below zero
    NEGATIVE_VOLUME = "negative_volume"
    DUPLICATE_TIMESTAMP = "duplicate_timestamp"  # a tick with the timestamp of the one before
    UNSORTED_TIMESTAMP = "unsorted_timestamp"  # a tick earlier than the one before
    DATA_GAP = "data_gap"  # the runbooks' DataGapDetected: more time between two ticks than the tolerance
    DEPTH_UNORDERED = "depth_unordered"  # book levels whose prices do not get strictly worse with the level
    DEPTH_NEGATIVE_SIZE = "depth_negative_size"


@dataclass(frozen=True)
class DataIssue:
    """One kind of problem, for one symbol (``symbol`` None: the whole frame, e.g. its timestamps).

    ``tick`` is the global tick index (``frame.start_tick + row``) of the first occurrence and ``count``
    the number of occurrences (cells for NaN, ticks otherwise, gaps for DATA_GAP).
    """

    kind: IssueKind
    tick: int
    symbol: str | None
    count: int
    message: str

    def __str__(self) -> str:
        return self.message


# Per-symbol counters filled by the kernels, one row each.
_NAN_BID, _NAN_ASK, _NAN_LAST, _NAN_DEPTH, _CROSSED, _NON_POSITIVE, _NEG_VOLUME, _UNORDERED, _NEG_SIZE = (
    range(9)
)
_N_COUNTERS = 9


@njit(cache=True)
def _note(counts, first, c, i, r):
    if counts[c, i] == 0:
        first[c, i] = r
    counts[c, i] += 1


@njit(cache=True)
def scan_quotes(bid, ask, last, volume, counts, first):
    """Count NaN prices, bid > ask, prices <= 0 and volumes < 0 per symbol; ``first`` gets the first row."""
    rows, n = bid.shape
    for r in range(rows):
        for i in range(n):
            b, a, t = bid[r, i], ask[r, i], last[r, i]
            if np.isnan(b):
                _note(counts, first, _NAN_BID, i, r)
            if np.isnan(a):
                _note(counts, first, _NAN_ASK, i, r)
            if np.isnan(t):
                _note(counts, first, _NAN_LAST, i, r)
            if b > a:
                _note(counts, first, _CROSSED, i, r)
            if b <= 0.0 or a <= 0.0 or t <= 0.0:
                _note(counts, first, _NON_POSITIVE, i, r)
            if volume[r, i] < 0.0:
                _note(counts, first, _NEG_VOLUME, i, r)


@njit(cache=True)
def _side_ok(px, sz, r, i, sign):
    """Existing levels (size > 0) of one side strictly worse with the level: sign -1 bids, +1 asks."""
    prev = np.nan
    for k in range(px.shape[2]):
        if sz[r, i, k] > 0.0 and not np.isnan(px[r, i, k]):
            if not np.isnan(prev) and (px[r, i, k] - prev) * sign <= 0.0:
                return False
            prev = px[r, i, k]
    return True


@njit(cache=True)
def scan_depth(bid_px, bid_sz, ask_px, ask_sz, counts, first):
    """Per symbol, count depth NaN values, ticks whose levels are out of order, ticks with a negative
    size, and ticks with an existing level priced at or below zero."""
    rows, n, levels = bid_px.shape
    for r in range(rows):
        for i in range(n):
            negative = False
            non_positive = False
            for k in range(levels):
                for px, sz in ((bid_px[r, i, k], bid_sz[r, i, k]), (ask_px[r, i, k], ask_sz[r, i, k])):
                    if np.isnan(px):
                        _note(counts, first, _NAN_DEPTH, i, r)
                    if np.isnan(sz):
                        _note(counts, first, _NAN_DEPTH, i, r)
                    if sz < 0.0:
                        negative = True
                    if sz > 0.0 and px <= 0.0:
                        non_positive = True
            if negative:
                _note(counts, first, _NEG_SIZE, i, r)
            if non_positive:
                _note(counts, first, _NON_POSITIVE, i, r)
            if not (_side_ok(bid_px, bid_sz, r, i, -1.0) and _side_ok(ask_px, ask_sz, r, i, 1.0)):
                _note(counts, first, _UNORDERED, i, r)


def validate_data(frame: MarketFrame, max_gap_ms: float | None = None) -> tuple[bool, list[DataIssue]]:
    """Check ``frame`` and return ``(is_valid, issues)``; valid means no issue.

    A DATA_GAP is more than ``max_gap_ms`` milliseconds between two ticks (default: 5 x the median
    interval between distinct timestamps). A NaN volume means "unknown" and is not an issue.
    """
    issues = _timestamp_issues(frame, max_gap_ms)
    n = frame.n_symbols
    counts = np.zeros((_N_COUNTERS, n), dtype=np.int64)
    first = np.full((_N_COUNTERS, n), -1, dtype=np.int64)
    scan_quotes(frame.bid, frame.ask, frame.last, frame.volume, counts, first)
    d = frame.depth
    if d is not None and d.levels > 0:
        scan_depth(d.bid_px, d.bid_sz, d.ask_px, d.ask_sz, counts, first)
    for i in np.flatnonzero(counts.any(axis=0)):
        issues.extend(_symbol_issues(frame, int(i), counts[:, i], first[:, i]))
    return not issues, issues


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _when(frame: MarketFrame, row: int) -> str:
    ts = int(frame.timestamps_ns[row])
    # nanoseconds since the epoch read as a date; small values are time since the session start
    if ts >= 10**17:
        stamp = datetime.fromtimestamp(ts / 1e9, timezone.utc).isoformat(timespec="milliseconds")
    else:
        stamp = f"t = {ts / 1e9:.3f} s"
    return f"tick {frame.start_tick + row} ({stamp})"


def _symbol_issues(frame: MarketFrame, i: int, count: np.ndarray, first: np.ndarray) -> list[DataIssue]:
    sym = frame.symbols[i]
    out = []

    def add(kind: IssueKind, c: int, what: str) -> None:
        row = int(first[c])
        out.append(DataIssue(kind, frame.start_tick + row, sym, int(count[c]), f"{sym}: {what}"))

    nan_fields = {"bid": _NAN_BID, "ask": _NAN_ASK, "last": _NAN_LAST, "depth": _NAN_DEPTH}
    nans = {name: int(count[c]) for name, c in nan_fields.items() if count[c]}
    if nans:
        c = min((c for c in nan_fields.values() if count[c]), key=lambda c: first[c])
        total = sum(nans.values())
        detail = ", ".join(f"{name} {k:,}" for name, k in nans.items())
        out.append(
            DataIssue(
                IssueKind.NAN,
                frame.start_tick + int(first[c]),
                sym,
                total,
                f"{sym}: {_count(total, 'NaN value')} ({detail}); first at {_when(frame, int(first[c]))}",
            )
        )
    if count[_CROSSED]:
        r = int(first[_CROSSED])
        add(
            IssueKind.CROSSED_BOOK,
            _CROSSED,
            f"bid above ask at {_count(count[_CROSSED], 'tick')}; first at {_when(frame, r)}: "
            f"bid {frame.bid[r, i]:g} > ask {frame.ask[r, i]:g}",
        )
    if count[_NON_POSITIVE]:
        r = int(first[_NON_POSITIVE])
        quotes = {"bid": frame.bid[r, i], "ask": frame.ask[r, i], "last": frame.last[r, i]}
        bad = ", ".join(f"{k} {v:g}" for k, v in quotes.items() if v <= 0) or "a depth level"
        add(
            IssueKind.NON_POSITIVE_PRICE,
            _NON_POSITIVE,
            f"prices at or below zero at {_count(count[_NON_POSITIVE], 'tick')}; first at {_when(frame, r)}: {bad}",
        )
    if count[_NEG_VOLUME]:
        r = int(first[_NEG_VOLUME])
        add(
            IssueKind.NEGATIVE_VOLUME,
            _NEG_VOLUME,
            f"negative volume at {_count(count[_NEG_VOLUME], 'tick')}; first at {_when(frame, r)}: "
            f"{frame.volume[r, i]:g}",
        )
    if count[_UNORDERED]:
        r = int(first[_UNORDERED])
        add(
            IssueKind.DEPTH_UNORDERED,
            _UNORDERED,
            f"book levels out of order at {_count(count[_UNORDERED], 'tick')} (bids must fall and asks rise with "
            f"the level); first at {_when(frame, r)}",
        )
    if count[_NEG_SIZE]:
        r = int(first[_NEG_SIZE])
        add(
            IssueKind.DEPTH_NEGATIVE_SIZE,
            _NEG_SIZE,
            f"negative book sizes at {_count(count[_NEG_SIZE], 'tick')}; first at {_when(frame, r)}",
        )
    return out


def _timestamp_issues(frame: MarketFrame, max_gap_ms: float | None) -> list[DataIssue]:
    ts = frame.timestamps_ns
    if ts.shape[0] < 2:
        return []
    step = np.diff(ts)
    out = []
    for kind, mask, what in (
        (IssueKind.DUPLICATE_TIMESTAMP, step == 0, "the timestamp of the tick before"),
        (IssueKind.UNSORTED_TIMESTAMP, step < 0, "a timestamp earlier than the tick before"),
    ):
        hits = np.flatnonzero(mask)
        if hits.size:
            r = int(hits[0]) + 1
            out.append(
                DataIssue(
                    kind,
                    frame.start_tick + r,
                    None,
                    int(hits.size),
                    f"{_count(hits.size, 'tick')} with {what}; first at {_when(frame, r)}, after {_when(frame, r - 1)}",
                )
            )
    positive = step[step > 0]
    if max_gap_ms is not None:
        tolerance = float(max_gap_ms) * 1e6
        why = f"max_gap_ms = {max_gap_ms:g}"
    elif positive.size:
        median = float(np.median(positive))
        tolerance = 5.0 * median
        why = f"5x the median tick interval of {median / 1e6:g} ms"
    else:
        return out
    gaps = np.flatnonzero(step > tolerance)
    if gaps.size:
        r = int(gaps[0])
        worst = int(gaps[np.argmax(step[gaps])])
        out.append(
            DataIssue(
                IssueKind.DATA_GAP,
                frame.start_tick + r,
                None,
                int(gaps.size),
                f"{_count(gaps.size, 'gap')} longer than {tolerance / 1e6:g} ms ({why}); first after "
                f"{_when(frame, r)}: {step[r] / 1e6:g} ms; longest after tick {frame.start_tick + worst}: "
                f"{step[worst] / 1e6:g} ms",
            )
        )
    return out
