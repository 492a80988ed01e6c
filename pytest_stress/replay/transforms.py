"""Market stresses: compiled, composable, seeded transforms of a market frame, applied in scenario order.

Units: every ``*_pct`` is a fraction (-0.03 = 3 % down, ``drop_pct: 0.95`` removes 95 %); windows come in
seconds and become global ticks here, once: ``start`` = tick of ``start_s``, ``end`` = tick of
``start_s + duration_s``. A frame's row r is global tick ``frame.start_tick + r``, so a chunk of a long
session is stressed exactly like the same rows of the whole session.

Windows. Book stresses (spread_explosion, liquidity_drop, depth_collapse) and data_corruption change
ticks ``start <= g < end``. Path stresses (flash_crash, pump_and_dump, volatility_spike,
correlation_breakdown) keep tick ``start`` as it is (the path's anchor) and move ticks after it; what
they leave after ``end`` is documented per type. A gap removes ticks ``start .. start + length - 1``.

How prices move (``reprice_kernel``). A stress multiplies a symbol's mid by f and every quoted distance
from the mid (bid, ask, each depth level) by g: the half-spread keeps its width in price units, times g;
``last`` moves with the mid. A distance beyond half the new mid bends smoothly (C1) so that it never
reaches the mid: the mid stays exact, bids stay positive, levels stay in order, whatever f and g. Levels
with size 0 do not exist and are left alone. Only data_corruption may cross a book, make a price NaN or
non-positive, or unsort timestamps.

volatility_spike and correlation_breakdown rescale the input's log returns inside the window (a spike:
stressed log mid = anchor + multiplier x (input log mid - anchor)) and keep the extra displacement
reached at the window's last tick for the rest of the session: the price does not jump back, and returns
after the window are the input's own. They act on their input, earlier stresses included: list a
volatility spike before a flash crash to amplify the calm noise and not the crash.

Chunked replay: pass one ``StressCarry`` to ``apply_stresses`` with every chunk of a session, in time
order. It keeps each stress's random draws (made on the first call from its own stream spawned off
``rng``; later calls reuse them), the running displacement of the return-scaling stresses, and the last
output row that data_corruption's duplicate and stale repeat. A chunk that starts after a path anchor
without the chunks before it is refused (``ReplayError``). The one difference from a whole-frame run: an
out_of_order swap whose two ticks fall in different chunks is not applied (nor counted).

Gaps come last (the schema and ``apply_stresses`` enforce it): every window, a gap's too, is on the calm
timeline, and removing rows is the last thing that happens; the result's ``start_tick`` is then the calm
tick of its first row, and rows after a hole are further on than ``start_tick + row``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pytest_stress.errors import ReplayError
from pytest_stress.market.frame import FIELDS, MarketFrame
from pytest_stress.replay.stress_kernels import (
    CELL_NAN,
    CELL_SPIKE_DOWN,
    CELL_SPIKE_UP,
    CELL_STALE,
    ROW_DUPLICATE,
    ROW_OUT_OF_ORDER,
    book_window_kernel,
    corrupt_kernel,
    flash_crash_kernel,
    pump_and_dump_kernel,
    scale_returns_kernel,
)
from pytest_stress.scenario import MarketSpec, StressSpec
from pytest_stress.schema import dotted
from pytest_stress.specs.stresses import CORRUPTION_KINDS, GAP, MIXED, leaves

RECOVERY_CODES = {"linear": 0, "exponential": 1, "none": 2}

# Corrupted cells and ticks listed in an AppliedStress, per kind (counts are always complete).
DETAIL_CAP = 100


@dataclass(frozen=True)
class AppliedStress:
    """What a stress did: its type and parameters, its window in global ticks [start_tick, end_tick), and
    details (corrupted cells, chosen symbols, removed ticks, nested stresses of a mixed_custom)."""

    type: str
    params: Mapping[str, Any]
    start_tick: int
    end_tick: int
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: nested stresses become their own dicts."""
        detail = {k: [a.to_dict() for a in v] if k == "stresses" else v for k, v in self.detail.items()}
        out = {"type": self.type, "start_tick": self.start_tick, "end_tick": self.end_tick, **self.params}
        return {**out, "detail": detail} if detail else out


@dataclass
class StressCarry:
    """What stresses carry from one chunk of a session to the next; one per session, chunks in time order.

    ``slots`` maps a stress's position (``(i,)``, or ``(i, j)`` inside a mixed_custom) to its state.
    """

    generators: dict[tuple[int, ...], np.random.Generator] = field(default_factory=dict)
    slots: dict[tuple[int, ...], Any] = field(default_factory=dict)


@dataclass
class _Pass:
    """One apply_stresses call: the market, the carry, and (once a gap cut rows) each row's calm tick."""

    market: MarketSpec
    carry: StressCarry
    row_ticks: np.ndarray | None = None


@dataclass
class _Run:
    """One stress within a pass: where it sits (its carry slot, its random stream, its name in errors)."""

    pass_: _Pass
    key: tuple[int, ...]

    @property
    def market(self) -> MarketSpec:
        return self.pass_.market

    @property
    def name(self) -> str:
        path: tuple[Any, ...] = ("stress", self.key[0])
        for j in self.key[1:]:
            path = (*path, "stresses", j)
        return dotted(path)

    @property
    def rng(self) -> np.random.Generator:
        return self.pass_.carry.generators[self.key]

    def slot(self, make: Callable[[], Any]) -> Any:
        slots = self.pass_.carry.slots
        if self.key not in slots:
            slots[self.key] = make()
        return slots[self.key]

    def follow(self, slot: _Chunked, frame: MarketFrame, anchor: int | None) -> bool:
        """Check that ``frame`` continues the chunk ``slot`` saw last; True when it does.

        ``anchor``: the tick whose state the transform needs; a first chunk after it is refused.
        """
        g0 = frame.start_tick
        if slot.next_tick is not None and slot.next_tick != g0:
            raise ReplayError(
                f"{self.name}: this frame starts at tick {g0}, but the previous chunk ended before tick "
                f"{slot.next_tick}; apply the chunks of a session in time order with one StressCarry"
            )
        if slot.next_tick is None and anchor is not None and g0 > anchor:
            raise ReplayError(
                f"{self.name}: this frame starts at tick {g0}, after the stress's anchor tick {anchor}, "
                "and the path depends on the ticks before it; apply the earlier chunks first, with one "
                "StressCarry for the session"
            )
        follows = slot.next_tick == g0
        slot.next_tick = g0 + frame.n_ticks
        return follows


@dataclass
class _Chunked:
    next_tick: int | None = None


@dataclass
class _PathState(_Chunked):
    """Per symbol: the input's log mid at the last tick seen, and the stressed minus input log mid."""

    prev_log_mid: np.ndarray = field(default_factory=lambda: np.empty(0))
    displacement: np.ndarray = field(default_factory=lambda: np.empty(0))
    sign: np.ndarray = field(default_factory=lambda: np.ones((1, 0), np.int8))


@dataclass
class _CorruptionState(_Chunked):
    cells: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # global tick, symbol, code
    rows: tuple[np.ndarray, np.ndarray] | None = None  # global tick, code bit
    prev: tuple[np.ndarray, ...] = ()  # the last output row: timestamp, bid, ask, last, volume, depth x4


# --- the Python layer: parameters to ticks, draws, carry ------------------------------------------


def _book(frame: MarketFrame) -> tuple[np.ndarray, ...]:
    """bid, ask, last and the four depth arrays (empty, 0 levels, when the frame has no book)."""
    d = frame.depth
    if d is None:
        empty = np.empty((frame.n_ticks, frame.n_symbols, 0))
        return frame.bid, frame.ask, frame.last, empty, empty, empty, empty
    return frame.bid, frame.ask, frame.last, d.bid_px, d.bid_sz, d.ask_px, d.ask_sz


def _window(market: MarketSpec, p: Mapping[str, Any]) -> tuple[int, int]:
    return market.tick_of(p["start_s"]), market.tick_of(p["start_s"] + p["duration_s"])


def _capped(indices: np.ndarray) -> tuple[int, ...]:
    return tuple(int(x) for x in indices[:DETAIL_CAP])


def flash_crash(bid, ask, start, fall_ticks, end, shock, spread_mult, recovery) -> None:
    """Flash crash in place on bid/ask alone, frame starting at tick 0 (``engine.warm_up`` calls this)."""
    depth = np.empty((*bid.shape, 0))
    last = 0.5 * (bid + ask)
    flash_crash_kernel(
        bid, ask, last, depth, depth, depth, depth, 0, start, fall_ticks, end, shock, spread_mult, recovery
    )


def _apply_flash_crash(
    frame: MarketFrame, p: Mapping[str, Any], run: _Run
) -> tuple[MarketFrame, AppliedStress]:
    start, end = _window(run.market, p)
    fall = max(1, run.market.tick_of(p["fall_s"]))
    shock = p["price_shock_pct"] if "price_shock_pct" in p else -p["drop_pct"]
    flash_crash_kernel(
        *_book(frame),
        frame.start_tick,
        start,
        fall,
        end,
        shock,
        p["spread_mult"],
        RECOVERY_CODES[p["recovery"]],
    )
    return frame, AppliedStress("flash_crash", dict(p), start, end)


def _book_window(
    frame: MarketFrame,
    start: int,
    end: int,
    spread_mult: float,
    size_keep: float,
    volume_keep: float,
    levels_left: int,
) -> None:
    bid, ask, last, *depth = _book(frame)
    book_window_kernel(
        bid,
        ask,
        last,
        frame.volume,
        *depth,
        frame.start_tick,
        start,
        end,
        spread_mult,
        size_keep,
        volume_keep,
        levels_left,
    )


def _apply_spread_explosion(
    frame: MarketFrame, p: Mapping[str, Any], run: _Run
) -> tuple[MarketFrame, AppliedStress]:
    start, end = _window(run.market, p)
    _book_window(frame, start, end, p["spread_mult"], 1.0, 1.0, 1 << 30)
    return frame, AppliedStress("spread_explosion", dict(p), start, end)


def _apply_liquidity_drop(
    frame: MarketFrame, p: Mapping[str, Any], run: _Run
) -> tuple[MarketFrame, AppliedStress]:
    start, end = _window(run.market, p)
    keep = 1.0 - p["drop_pct"]
    _book_window(frame, start, end, 1.0, keep, keep, 1 << 30)
    return frame, AppliedStress("liquidity_drop", dict(p), start, end)


def _apply_depth_collapse(
    frame: MarketFrame, p: Mapping[str, Any], run: _Run
) -> tuple[MarketFrame, AppliedStress]:
    start, end = _window(run.market, p)
    _book_window(frame, start, end, p["spread_mult"], 1.0, 1.0 - p["volume_drop_pct"], p["levels_left"])
    return frame, AppliedStress("depth_collapse", dict(p), start, end)


def _scale_returns(
    frame: MarketFrame, run: _Run, start: int, end: int, mult: float, draw_sign: Callable[[], np.ndarray]
) -> None:
    def fresh() -> _PathState:
        s = frame.n_symbols
        return _PathState(prev_log_mid=np.full(s, np.nan), displacement=np.zeros(s), sign=draw_sign())

    state = run.slot(fresh)
    run.follow(state, frame, start)
    scale_returns_kernel(
        *_book(frame), frame.start_tick, start, end, mult, state.sign, state.prev_log_mid, state.displacement
    )


def _apply_volatility_spike(
    frame: MarketFrame, p: Mapping[str, Any], run: _Run
) -> tuple[MarketFrame, AppliedStress]:
    start, end = _window(run.market, p)
    _scale_returns(frame, run, start, end, p["multiplier"], lambda: np.ones((1, frame.n_symbols), np.int8))
    return frame, AppliedStress("volatility_spike", dict(p), start, end)


def _apply_correlation_breakdown(
    frame: MarketFrame, p: Mapping[str, Any], run: _Run
) -> tuple[MarketFrame, AppliedStress]:
    """decorrelate: each symbol's log return at each window tick times an independent fair random sign, so
    every return keeps its size (volatility is unchanged tick by tick) and every pair of symbols is
    uncorrelated; flip: a random half of the symbols (n // 2) have their window returns negated."""
    start, end = _window(run.market, p)
    n = frame.n_symbols

    def draw() -> np.ndarray:
        if p["mode"] == "flip":
            sign = np.ones((1, n), np.int8)
            sign[0, run.rng.permutation(n)[: n // 2]] = -1
            return sign
        return (run.rng.integers(0, 2, size=(max(end - start - 1, 1), n), dtype=np.int8) * 2 - 1).astype(
            np.int8
        )

    _scale_returns(frame, run, start, end, 1.0, draw)
    sign = run.pass_.carry.slots[run.key].sign
    detail = {"flipped": _capped(np.flatnonzero(sign[0] < 0))} if p["mode"] == "flip" else {}
    return frame, AppliedStress("correlation_breakdown", dict(p), start, end, detail)


def _apply_pump_and_dump(
    frame: MarketFrame, p: Mapping[str, Any], run: _Run
) -> tuple[MarketFrame, AppliedStress]:
    m = run.market
    start, pump, dump = m.tick_of(p["start_s"]), m.tick_of(p["pump_s"]), m.tick_of(p["dump_s"])
    n = frame.n_symbols

    def choose() -> np.ndarray:
        chosen = np.zeros(n, np.uint8)
        k = n if p["symbols"] >= 1.0 else max(1, round(p["symbols"] * n))
        chosen[run.rng.permutation(n)[:k] if k < n else slice(None)] = 1
        return chosen

    chosen = run.slot(choose)
    pump_and_dump_kernel(
        *_book(frame),
        frame.start_tick,
        start,
        pump,
        dump,
        p["pump_pct"],
        p["dump_pct"],
        p["spread_mult"],
        chosen,
    )
    detail = {"symbols": _capped(np.flatnonzero(chosen)), "symbol_count": int(chosen.sum())}
    return frame, AppliedStress("pump_and_dump", dict(p), start, start + pump + dump, detail)


def _draw_corruption(
    rng: np.random.Generator, p: Mapping[str, Any], start: int, end: int, n_symbols: int
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Every corrupted cell and row of the window, in global ticks, drawn once per session.

    Each listed kind gets an equal share of ``corruption_pct``: of the window's cells for nan, spike and
    stale (a stale run of ``stale_ticks`` counts its cells), of its ticks for duplicate and out_of_order
    (a timestamp belongs to a whole row). Kinds are drawn in a fixed order, whatever the YAML order.
    """
    kinds = p["corruption_types"]
    share = p["corruption_pct"] / len(kinds)
    width = end - start
    first = max(start, 1)  # duplicate and stale repeat the tick before

    def cells(lo: int, count: float) -> tuple[np.ndarray, np.ndarray]:
        population = max(end - lo, 0) * n_symbols
        idx = rng.choice(population, min(round(count), population), replace=False)
        return lo + idx // n_symbols, idx % n_symbols

    def ticks(lo: int, hi: int) -> np.ndarray:
        population = max(hi - lo, 0)
        return lo + rng.choice(population, min(round(share * width), population), replace=False)

    c_t, c_i, c_code, r_t, r_code = [], [], [], [], []
    # nan and spike cells are drawn together, so no cell is both
    point = [k for k in ("nan", "spike") if k in kinds]
    t, i = cells(start, len(point) * share * width * n_symbols)
    for kind in point:
        k = t.shape[0] // len(point) if len(point) == 2 and kind == "nan" else t.shape[0]
        c_t.append(t[:k])
        c_i.append(i[:k])
        if kind == "nan":
            c_code.append(np.full(k, CELL_NAN, np.int8))
        else:
            up = rng.integers(0, 2, k) == 1
            c_code.append(np.where(up, CELL_SPIKE_UP, CELL_SPIKE_DOWN).astype(np.int8))
        t, i = t[k:], i[k:]
    for kind in CORRUPTION_KINDS:
        if kind not in kinds or kind in point:
            continue
        if kind == "stale":
            run_len = p["stale_ticks"]
            t0, i0 = cells(first, share * width * n_symbols / run_len)
            lengths = np.minimum(run_len, end - t0)
            t = np.repeat(t0, lengths) + (
                np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            )
            i = np.repeat(i0, lengths)
            code = np.full(t.shape, CELL_STALE, np.int8)
        else:
            duplicate = kind == "duplicate"
            t = ticks(first, end) if duplicate else ticks(start, end - 1)  # a swap needs the next tick inside
            r_t.append(t)
            r_code.append(np.full(t.shape, ROW_DUPLICATE if duplicate else ROW_OUT_OF_ORDER, np.int8))
            continue
        c_t.append(t)
        c_i.append(i)
        c_code.append(code)

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)

    cells_out = (cat(c_t, np.int64), cat(c_i, np.int64), cat(c_code, np.int8))
    return cells_out, (cat(r_t, np.int64), cat(r_code, np.int8))


def _apply_data_corruption(
    frame: MarketFrame, p: Mapping[str, Any], run: _Run
) -> tuple[MarketFrame, AppliedStress]:
    start, end = _window(run.market, p)
    state = run.slot(_CorruptionState)
    if state.cells is None:
        state.cells, state.rows = _draw_corruption(run.rng, p, start, end, frame.n_symbols)
    follows = run.follow(state, frame, None) and bool(state.prev)
    n, g0 = frame.n_ticks, frame.start_tick
    if n == 0:
        return frame, AppliedStress("data_corruption", dict(p), start, end, {"counts": {}})

    # the kernel reads row 0 as the tick before this frame: the carried row, or a stand-in never changed
    cell_kind = np.zeros((n + 1, frame.n_symbols), np.int8)
    row_kind = np.zeros(n + 1, np.int8)
    t, i, code = state.cells
    for group in ((CELL_STALE,), (CELL_SPIKE_UP, CELL_SPIKE_DOWN), (CELL_NAN,)):  # later groups win a cell
        sel = np.isin(code, group) & (t >= g0) & (t < g0 + n)
        cell_kind[t[sel] - g0 + 1, i[sel]] = code[sel]
    rt, rcode = state.rows
    sel = (rt >= g0) & (rt < g0 + n)
    np.bitwise_or.at(row_kind, rt[sel] - g0 + 1, rcode[sel])
    if not follows:  # nothing before row 0 to repeat
        cell_kind[1][cell_kind[1] == CELL_STALE] = 0
        row_kind[1] &= ~np.int8(ROW_DUPLICATE)
    row_kind[n] &= ~np.int8(ROW_OUT_OF_ORDER)  # its partner is in the next chunk: not applied

    fields = [frame.timestamps_ns, frame.bid, frame.ask, frame.last, frame.volume, *_book(frame)[3:]]
    before = state.prev if follows else tuple(f[:1] for f in fields)
    ext = [np.concatenate([b, f]) for b, f in zip(before, fields, strict=True)]
    corrupt_kernel(*ext, row_kind, cell_kind, p["spike_pct"])
    for f, e in zip(fields, ext, strict=True):
        f[...] = e[1:]
    state.prev = tuple(e[-1:].copy() for e in ext)

    found = {
        "nan": np.argwhere(cell_kind[1:] == CELL_NAN),
        "spike": np.argwhere((cell_kind[1:] == CELL_SPIKE_UP) | (cell_kind[1:] == CELL_SPIKE_DOWN)),
        "stale": np.argwhere(cell_kind[1:] == CELL_STALE),
        "duplicate": np.flatnonzero(row_kind[1:] & ROW_DUPLICATE),
        "out_of_order": np.flatnonzero(row_kind[1:] & ROW_OUT_OF_ORDER),
    }
    detail = {
        "unit": "cells (tick, symbol) for nan, spike, stale; ticks for duplicate, out_of_order",
        "counts": {k: int(v.shape[0]) for k, v in found.items() if k in p["corruption_types"]},
        "where": {
            k: tuple((int(x[0]) + g0, int(x[1])) if v.ndim == 2 else int(x) + g0 for x in v[:DETAIL_CAP])
            for k, v in found.items()
            if k in p["corruption_types"]
        },
    }
    return frame, AppliedStress("data_corruption", dict(p), start, end, detail)


def _apply_gap(frame: MarketFrame, p: Mapping[str, Any], run: _Run) -> tuple[MarketFrame, AppliedStress]:
    """Remove the rows of calm ticks start .. start+length-1; the timestamps around them show the hole."""
    m = run.market
    start = m.tick_of(p["start_s"])
    end = start + (p["ticks"] if "ticks" in p else m.tick_of(p["duration_s"]))
    calm = run.pass_.row_ticks
    if calm is None:
        calm = frame.start_tick + np.arange(frame.n_ticks, dtype=np.int64)
    keep = (calm < start) | (calm >= end)
    run.pass_.row_ticks = calm[keep]
    d = frame.depth
    out = replace(
        frame,
        timestamps_ns=frame.timestamps_ns[keep],
        bid=frame.bid[keep],
        ask=frame.ask[keep],
        last=frame.last[keep],
        volume=frame.volume[keep],
        depth=None if d is None else type(d)(d.bid_px[keep], d.bid_sz[keep], d.ask_px[keep], d.ask_sz[keep]),
        funding_rate=None if frame.funding_rate is None else frame.funding_rate[keep],
        # the calm tick of the first row left; rows after the hole are further on than start_tick + row
        start_tick=int(calm[keep][0]) if keep.any() else frame.start_tick + frame.n_ticks,
    )
    detail = {"removed_ticks": int(frame.n_ticks - keep.sum())}
    return out, AppliedStress(GAP, dict(p), start, end, detail)


def _apply_mixed(frame: MarketFrame, p: Mapping[str, Any], run: _Run) -> tuple[MarketFrame, AppliedStress]:
    nested = tuple(StressSpec(d["type"], {k: v for k, v in d.items() if k != "type"}) for d in p["stresses"])
    frame, applied = _apply_all(frame, nested, run.pass_, run.key)
    start = min(a.start_tick for a in applied)
    end = max(a.end_tick for a in applied)
    return frame, AppliedStress(MIXED, dict(p), start, end, {"stresses": applied})


Transform = Callable[[MarketFrame, Mapping[str, Any], _Run], tuple[MarketFrame, AppliedStress]]

_PRICES = ("bid", "ask", "last", "bid_px", "ask_px")
_BOOK = (*_PRICES, "volume", "bid_sz", "ask_sz")
# stress type -> the frame fields its kernel writes in place (a gap builds new arrays: none); the others
# are not copied, so a flash crash copies three of the frame's arrays, not all of them
WRITES: dict[str, tuple[str, ...]] = {
    "flash_crash": _PRICES,
    "volatility_spike": _PRICES,
    "correlation_breakdown": _PRICES,
    "pump_and_dump": _PRICES,
    "liquidity_drop": _BOOK,
    "spread_explosion": _BOOK,
    "depth_collapse": _BOOK,
    "data_corruption": ("timestamps_ns", *_BOOK),
    GAP: (),
}

# stress type -> implementation; the schema's STRESS_PARAMS lists the same types.
TRANSFORMS: dict[str, Transform] = {
    "flash_crash": _apply_flash_crash,
    "volatility_spike": _apply_volatility_spike,
    "liquidity_drop": _apply_liquidity_drop,
    "spread_explosion": _apply_spread_explosion,
    "depth_collapse": _apply_depth_collapse,
    "data_corruption": _apply_data_corruption,
    "correlation_breakdown": _apply_correlation_breakdown,
    "pump_and_dump": _apply_pump_and_dump,
    GAP: _apply_gap,
    MIXED: _apply_mixed,
}


def _apply_all(
    frame: MarketFrame, stresses: tuple[StressSpec, ...], pass_: _Pass, prefix: tuple[int, ...]
) -> tuple[MarketFrame, tuple[AppliedStress, ...]]:
    applied = []
    for i, s in enumerate(stresses):
        frame, a = TRANSFORMS[s.type](
            frame, s.params, _Run(pass_, (*prefix, i))
        )  # defaults: filled once, in StressSpec
        applied.append(a)
    return frame, tuple(applied)


def _spawn(
    rng: np.random.Generator, stresses: tuple[StressSpec, ...], prefix: tuple[int, ...], into: dict
) -> None:
    """One independent stream per stress (and per nested stress), whatever the other stresses draw."""
    for i, (s, child) in enumerate(zip(stresses, rng.spawn(len(stresses)), strict=True)):
        into[(*prefix, i)] = child
        if s.type == MIXED:
            nested = tuple(StressSpec(d["type"], d) for d in s.params["stresses"])
            _spawn(child, nested, (*prefix, i), into)


def apply_stresses(
    frame: MarketFrame,
    market: MarketSpec,
    stresses: tuple[StressSpec, ...],
    rng: np.random.Generator,
    carry: StressCarry | None = None,
) -> tuple[MarketFrame, tuple[AppliedStress, ...]]:
    """A stressed copy of ``frame`` (the input is left untouched) and the record of what was applied.
    The arrays no stress writes (the volume, under a flash crash) are the input's own, not copies.

    Stresses apply in order; each seeded one draws from its own stream spawned from ``rng`` (so the same
    seed gives bit-identical output). ``carry``: for a session replayed in chunks, one StressCarry passed
    with every chunk in time order (``rng`` is only used on the first call); leave it out for a whole frame.
    """
    unknown = [s.type for s in stresses if s.type not in TRANSFORMS]
    if unknown:
        raise ReplayError(f"unknown stress type {unknown[0]!r}; known: {', '.join(TRANSFORMS)}")
    gap_at = None
    for path, kind, _ in leaves(stresses):
        if kind == GAP:
            gap_at = gap_at or path
        elif gap_at is not None:
            raise ReplayError(
                f"{dotted(path)} ({kind}) comes after the gap at {dotted(gap_at)}; gaps remove ticks and "
                "must be the last stresses"
            )
    carry = carry if carry is not None else StressCarry()
    if not carry.generators:
        _spawn(rng, stresses, (), carry.generators)
    written = {f for _, kind, _ in leaves(stresses) for f in WRITES.get(kind, FIELDS)}
    return _apply_all(frame.copy(written), stresses, _Pass(market, carry), ())


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel on a tiny frame with a two-level book."""
    from pytest_stress.market.frame import Depth

    n, s, lv = 6, 2, 2
    bid, ask = np.full((n, s), 99.0), np.full((n, s), 101.0)
    px = np.broadcast_to(np.arange(lv, dtype=np.float64), (n, s, lv))
    depth = Depth(bid[..., None] - px, np.ones((n, s, lv)), ask[..., None] + px, np.ones((n, s, lv)))
    frame = MarketFrame(
        np.arange(n, dtype=np.int64), bid, ask, ("A", "B"), volume=np.ones((n, s)), depth=depth
    )
    market = MarketSpec(source="synthetic", symbols=s, duration_s=0.5, tick_ms=100, seed=0)
    w = {"start_s": 0.0, "duration_s": 0.3}
    specs = [
        StressSpec(
            "flash_crash",
            {**w, "price_shock_pct": -0.1, "spread_mult": 2.0, "fall_s": 0.1, "recovery": "linear"},
        ),
        StressSpec("volatility_spike", {**w, "multiplier": 2.0}),
        StressSpec("liquidity_drop", {**w, "drop_pct": 0.5}),
        StressSpec(
            "pump_and_dump",
            {
                "start_s": 0.0,
                "pump_s": 0.1,
                "dump_s": 0.1,
                "pump_pct": 0.1,
                "dump_pct": 0.1,
                "spread_mult": 1.0,
                "symbols": 1.0,
            },
        ),
        StressSpec(
            "data_corruption",
            {
                **w,
                "corruption_pct": 0.5,
                "corruption_types": CORRUPTION_KINDS,
                "spike_pct": 0.2,
                "stale_ticks": 2,
            },
        ),
        StressSpec(GAP, {"start_s": 0.1, "ticks": 1}),
    ]
    apply_stresses(frame, market, tuple(specs), np.random.default_rng(0))
