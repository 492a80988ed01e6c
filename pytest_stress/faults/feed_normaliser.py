"""The feed adapter's normaliser, without any socket: restores message order, detects sequence gaps and
forward-fills them within a tolerance, quarantines what it cannot place, and keeps checkpoints to replay from.

Seed 000: "Event stream normalizer reorders events using timestamp + sequence; if unable, it quarantines the
batch and replays from last checkpoint without crashing the pipeline"; gaps are forward-filled "only within
allowable tolerance", the replay is marked degraded and ``DataGapDetected`` raised.
"""

from __future__ import annotations

import heapq
import json
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

FIELDS = ("bid", "ask", "last", "volume")
RAW_KEPT = 200  # characters of a quarantined message kept for the incident log


@dataclass(frozen=True)
class TapeRow:
    """One tick as the stack consumes it; ``filled`` rows were forward-filled over a gap (``seq`` 0)."""

    tick: int
    ts: int  # ns; a filled row's time is interpolated between its neighbours (exact on a regular grid)
    seq: int
    bid: tuple[float, ...]
    ask: tuple[float, ...]
    last: tuple[float, ...]
    volume: tuple[float, ...]
    funding_rate: tuple[float, ...] | None = None
    filled: bool = False


@dataclass(frozen=True)
class Quote:
    """The latest usable quote of one symbol: the last finite value of each field (the cached book)."""

    bid: float
    ask: float
    last: float
    tick: int  # the tick this symbol last had a finite bid and ask
    ts: int
    stale: bool  # no finite quote for more than the gap-fill tolerance


@dataclass(frozen=True)
class GapRecord:
    first_seq: int  # 0 when the gap is in ticks only (a reconnect that resumed later)
    last_seq: int
    first_tick: int
    last_tick: int
    filled: bool

    @property
    def ticks(self) -> int:
        return self.last_tick - self.first_tick + 1


@dataclass(frozen=True)
class Quarantine:
    reason: str
    seqs: tuple[int, ...]  # the batch set aside: the offending message (if its seq was readable) + buffered
    raw: str  # the offending message's first characters
    replay_from_tick: int


@dataclass
class FeedStats:
    messages: int = 0  # frames received, whatever they held
    gaps: int = 0
    filled: int = 0  # ticks forward-filled
    quarantined: int = 0  # batches
    reordered: int = 0  # messages that arrived after a later one and were put back in place
    duplicates: int = 0  # dropped because their seq (or tick) was already taken
    reconnects: int = 0
    replays: int = 0
    stalls: int = 0


@dataclass
class _Book:
    """What a checkpoint saves: the forward-filled book and the funding clock, per symbol."""

    values: np.ndarray  # (4, n_symbols): FIELDS, last finite value
    quote_tick: np.ndarray  # int64, tick of the last finite bid and ask, -1 never
    quote_ts: np.ndarray
    funding: np.ndarray  # last finite funding rate
    funding_ts: np.ndarray  # int64 ns of the last finite funding rate, -1 never
    last_tick: int
    last_ts: int

    @classmethod
    def empty(cls, n: int, last_tick: int) -> _Book:
        nan = np.full(n, np.nan)
        return cls(
            np.full((4, n), np.nan), np.full(n, -1), np.full(n, -1), nan, np.full(n, -1), last_tick, -1
        )

    def copy(self) -> _Book:
        return replace(
            self,
            values=self.values.copy(),
            quote_tick=self.quote_tick.copy(),
            quote_ts=self.quote_ts.copy(),
            funding=self.funding.copy(),
            funding_ts=self.funding_ts.copy(),
        )


@dataclass(frozen=True)
class _Checkpoint:
    book: _Book
    tape_len: int


Emit = Callable[[str, str, Mapping[str, Any]], None]  # (kind, reason, data)


def _validate(msg: dict[str, Any], n: int, funding: bool) -> str:
    """What is wrong with a tick message, or "" when nothing is."""
    for key in ("seq", "tick", "ts"):
        if not isinstance(msg.get(key), int) or isinstance(msg.get(key), bool):
            return f"field {key!r} must be an integer, got {msg.get(key)!r:.40}"
    for key in (*FIELDS, *(("funding_rate",) if funding else ())):
        values = msg.get(key)
        if not isinstance(values, list) or len(values) != n:
            return f"field {key!r} must be a list of {n} numbers, got {values!r:.40}"
        if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
            return f"field {key!r} holds something that is not a number or null"
    return ""


def _floats(values: list[float | None]) -> tuple[float, ...]:
    return tuple(math.nan if v is None else float(v) for v in values)


@dataclass
class Normaliser:
    """Turns the messages of one feed (over any number of connections) into an ordered tape and a book.

    ``reorder_buffer`` messages may wait for a missing earlier one; one more, and the missing seqs are a
    gap. A gap of at most ``gap_fill_tolerance`` ticks (and, when set, ``gap_fill_tolerance_ms`` of feed
    time) is forward-filled; a longer one is not, and the tape skips it. ``feed`` answers the tick to
    replay from when it had to quarantine (the caller reconnects with ``from_tick``), else None.
    """

    emit: Emit
    reorder_buffer: int = 8
    gap_fill_tolerance: int = 10
    gap_fill_tolerance_ms: float | None = None
    funding_stale_s: float = 60.0
    checkpoint_every: int = 16
    funding_models: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # model -> symbols it uses
    on_row: Callable[[TapeRow, tuple[str, ...]], None] | None = None

    def __post_init__(self) -> None:
        self.symbols: tuple[str, ...] = ()
        self.funding = False
        self.stats = FeedStats()
        self.tape: list[TapeRow] = []
        self.gaps: list[GapRecord] = []
        self.quarantines: list[Quarantine] = []
        self.stale_funding: set[str] = set()
        self.flagged_models: set[str] = set()
        self.degraded = False
        self.finished = False
        self._book: _Book | None = None
        self._checkpoints: deque[_Checkpoint] = deque(maxlen=64)
        self._since_checkpoint = 0
        self._first_tick = 0
        self._new_connection()

    def _new_connection(self) -> None:
        self._expected = 1
        self._buffer: list[tuple[int, int, dict[str, Any]]] = []  # heap of (ts, seq, msg)
        self._buffered: set[int] = set()
        self._missing: set[int] = set()  # seqs of this connection declared lost

    # --- the public face -------------------------------------------------------------------------
    @property
    def resume_tick(self) -> int:
        """The tick to ask for when the connection is lost: the one after the last on the tape."""
        return self._first_tick if self._book is None else self._book.last_tick + 1

    def book(self) -> dict[str, Quote]:
        b = self._book
        if b is None:
            return {}
        tol = self.gap_fill_tolerance
        return {
            s: Quote(
                float(b.values[0, i]),
                float(b.values[1, i]),
                float(b.values[2, i]),
                int(b.quote_tick[i]),
                int(b.quote_ts[i]),
                b.quote_tick[i] < 0 or b.last_tick - int(b.quote_tick[i]) > tol,
            )
            for i, s in enumerate(self.symbols)
        }

    def feed(self, text: str) -> int | None:
        self.stats.messages += 1
        try:
            msg = json.loads(text)
        except ValueError as exc:
            return self._quarantine(f"malformed JSON ({exc})", text, None, None)
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "hello":
            self._hello(msg)
            return None
        if self._book is None:  # nothing before the hello can be placed; the server always sends it first
            return None
        if kind == "end":
            replay = self.flush()
            if replay is None:
                self._end(msg)
            return replay
        if kind != "tick":
            return self._quarantine(f"unexpected message type {kind!r}", text, None, None)
        problem = _validate(msg, len(self.symbols), self.funding)
        if problem:
            seq = msg.get("seq") if isinstance(msg.get("seq"), int) else None
            return self._quarantine(f"corrupt tick message: {problem}", text, seq, None)
        seq = msg["seq"]
        if seq in self._missing:
            why = f"seq {seq} arrived after its gap was declared (out of order beyond the reorder buffer)"
            return self._quarantine(why, text, seq, msg["tick"])
        if seq < self._expected or seq in self._buffered:
            self.stats.duplicates += 1
            return None
        if seq == self._expected and self._buffer:
            self.stats.reordered += 1
        heapq.heappush(self._buffer, (msg["ts"], seq, msg))
        self._buffered.add(seq)
        return self._release(force=False)

    def flush(self) -> int | None:
        """Release everything buffered, declaring the seqs still missing a gap (a stall, the stream's end)."""
        return self._release(force=True)

    def connection_lost(self) -> None:
        """Forget what this connection buffered: the resumed stream sends it again from ``resume_tick``."""
        self._new_connection()

    # --- steps ----------------------------------------------------------------------------------
    def _hello(self, msg: dict[str, Any]) -> None:
        self._new_connection()
        if self._book is None:
            self.symbols = tuple(msg.get("symbols", ()))
            self.funding = bool(msg.get("funding", False))
            self._first_tick = int(msg.get("first_tick", 0))
            self._book = _Book.empty(len(self.symbols), self._first_tick - 1)
            self._checkpoints.append(_Checkpoint(self._book.copy(), 0))

    def _end(self, msg: dict[str, Any]) -> None:
        assert self._book is not None
        last_seq, last_tick = int(msg.get("last_seq", 0)), int(msg.get("last_tick", self._book.last_tick))
        if last_tick > self._book.last_tick:  # lost at the very end: nothing after it to bound a fill
            first_seq = self._expected if last_seq >= self._expected else 0
            self._record_gap(
                first_seq, last_seq if first_seq else 0, self._book.last_tick + 1, last_tick, False
            )
        self.finished = True

    def _release(self, *, force: bool) -> int | None:
        while self._buffer:
            _ts, seq, msg = self._buffer[0]
            if seq != self._expected:
                if self._expected in self._buffered:  # timestamps disagree with seqs: cannot order by both
                    return self._quarantine(
                        f"seq {seq} is stamped before seq {self._expected}", "", seq, None
                    )
                if not force and len(self._buffer) <= self.reorder_buffer:
                    return None
                self._missing.update(range(self._expected, seq))
                missing = (self._expected, seq - 1)
            else:
                missing = None
            heapq.heappop(self._buffer)
            self._buffered.discard(seq)
            self._expected = seq + 1
            self._apply(msg, missing)
        return None

    def _apply(self, msg: dict[str, Any], missing: tuple[int, int] | None) -> None:
        b = self._book
        assert b is not None
        tick, ts = msg["tick"], msg["ts"]
        if tick <= b.last_tick:  # already on the tape (a resumed stream overlapping): not twice
            self.stats.duplicates += 1
            return
        if tick > b.last_tick + 1:
            self._fill_gap(missing or (0, 0), tick, ts)
        row = TapeRow(
            tick,
            ts,
            msg["seq"],
            *(_floats(msg[k]) for k in FIELDS),
            _floats(msg["funding_rate"]) if self.funding else None,
        )
        self._append(row)
        self._since_checkpoint += 1
        if self._since_checkpoint >= self.checkpoint_every:
            self._checkpoints.append(_Checkpoint(b.copy(), len(self.tape)))
            self._since_checkpoint = 0

    def _append(self, row: TapeRow) -> None:
        b = self._book
        assert b is not None
        values = np.array([row.bid, row.ask, row.last, row.volume])
        ok = np.isfinite(values)
        b.values[ok] = values[ok]
        quoted = ok[0] & ok[1]
        b.quote_tick[quoted], b.quote_ts[quoted] = row.tick, row.ts
        b.last_tick, b.last_ts = row.tick, row.ts
        if row.funding_rate is not None and not row.filled:
            self._funding(np.array(row.funding_rate), row.ts)
        self.tape.append(row)
        if self.on_row is not None:
            self.on_row(row, self.symbols)

    def _fill_gap(self, missing: tuple[int, int], tick: int, ts: int) -> None:
        b = self._book
        assert b is not None
        first, last = b.last_tick + 1, tick - 1
        count = last - first + 1
        span_ms = (ts - b.last_ts) / 1e6 if b.last_ts >= 0 else math.inf
        fill = (
            b.last_ts >= 0
            and count <= self.gap_fill_tolerance
            and (self.gap_fill_tolerance_ms is None or span_ms <= self.gap_fill_tolerance_ms)
        )
        self._record_gap(*missing, first, last, fill)
        if not fill:
            return
        prev_ts, funding = b.last_ts, tuple(b.funding.tolist())
        held = [tuple(v) for v in b.values.tolist()]
        for k in range(1, count + 1):
            at = prev_ts + (ts - prev_ts) * k // (count + 1)
            volume = (0.0,) * len(self.symbols)  # nothing is known to have traded in a gap
            row = TapeRow(
                first + k - 1,
                at,
                0,
                held[0],
                held[1],
                held[2],
                volume,
                funding if self.funding else None,
                True,
            )
            self._append(row)
        self.stats.filled += count

    def _record_gap(
        self, first_seq: int, last_seq: int, first_tick: int, last_tick: int, filled: bool
    ) -> None:
        gap = GapRecord(first_seq, last_seq, first_tick, last_tick, filled)
        self.gaps.append(gap)
        self.stats.gaps += 1
        self.degraded = True
        what = "forward-filled" if filled else "not filled (beyond tolerance): symbols stale over it"
        self.emit(
            "gap",
            f"DataGapDetected: {gap.ticks} ticks missing ({first_tick}..{last_tick}), {what}",
            {
                "first_seq": first_seq,
                "last_seq": last_seq,
                "first_tick": first_tick,
                "last_tick": last_tick,
                "ticks": gap.ticks,
                "filled": filled,
                "tolerance_ticks": self.gap_fill_tolerance,
            },
        )

    def _funding(self, rates: np.ndarray, ts: int) -> None:
        b = self._book
        assert b is not None
        fresh = np.isfinite(rates)
        b.funding[fresh], b.funding_ts[fresh] = rates[fresh], ts
        for i in np.flatnonzero(fresh).tolist():
            self.stale_funding.discard(self.symbols[i])  # the flag on models stays: a human clears it
        for i in np.flatnonzero(~fresh & (b.funding_ts >= 0)).tolist():
            symbol = self.symbols[i]
            age_s = (ts - int(b.funding_ts[i])) / 1e9
            if symbol in self.stale_funding or age_s <= self.funding_stale_s:
                continue
            self.stale_funding.add(symbol)
            models = sorted(m for m, used in self.funding_models.items() if symbol in used)
            self.flagged_models.update(models)
            self.emit(
                "stale_funding",
                f"funding of {symbol} is {age_s:.1f} s old (limit {self.funding_stale_s:g} s): "
                f"models flagged for manual review: {', '.join(models) or 'none registered'}",
                {"symbol": symbol, "age_s": age_s, "models": models, "tick": b.last_tick},
            )

    def _quarantine(self, reason: str, raw: str, seq: int | None, tick: int | None) -> int:
        """Set the batch aside and roll back to the last checkpoint before ``tick`` (the latest when the
        message's place is unknown); answers the tick to replay from."""
        while (
            len(self._checkpoints) > 1 and tick is not None and self._checkpoints[-1].book.last_tick >= tick
        ):
            self._checkpoints.pop()
        cp = self._checkpoints[-1]
        batch = tuple(sorted({*self._buffered, *((seq,) if seq is not None else ())}))
        self._book = cp.book.copy()
        del self.tape[cp.tape_len :]
        self._since_checkpoint = 0
        self._new_connection()
        replay = cp.book.last_tick + 1
        self.quarantines.append(Quarantine(reason, batch, raw[:RAW_KEPT], replay))
        self.stats.quarantined += 1
        self.emit(
            "quarantine",
            f"quarantined {len(batch) or 1} message(s): {reason}; replaying from tick {replay}",
            {"reason": reason, "seqs": list(batch), "replay_from_tick": replay},
        )
        return replay
