"""Application-level faults of the market-data feed that a TCP proxy cannot express (seed 000's fault matrix):
drop 5-30 consecutive ticks, reorder 10 % of messages, duplicate, corrupt; seeded and recorded as sent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from pytest_stress.errors import StressError

DROP_RUN = (5, 30)  # seed 000: "Drop 5-30 consecutive ticks"


class FeedFaultError(StressError, ValueError):
    """A ``FeedFaults`` setting that cannot be applied (a fraction outside 0..1, a drop past the stream)."""


class FeedFaultKind(str, enum.Enum):
    DROP = "drop"
    REORDER = "reorder"
    DUPLICATE = "duplicate"
    CORRUPT_JSON = "corrupt_json"  # the text no longer parses
    CORRUPT_TYPE = "corrupt_type"  # parses, but a field has the wrong type


@dataclass(frozen=True)
class AppliedFault:
    """One fault as the server applied it: ``seq`` is the first message affected, ``tick`` its global tick."""

    kind: FeedFaultKind
    seq: int
    tick: int
    count: int = 1  # drop: how many consecutive messages; otherwise 1
    delay: int = 0  # reorder: the message was sent this many messages late


@dataclass(frozen=True)
class Send:
    """One message of a planned stream; ``faults`` are recorded when the server reaches this item."""

    seq: int
    corrupt: FeedFaultKind | None = None
    faults: tuple[AppliedFault, ...] = ()


@dataclass(frozen=True)
class FaultPlan:
    items: tuple[Send, ...]
    trailing: tuple[AppliedFault, ...]  # faults revealed only by the end of the stream (a final drop)

    @property
    def faults(self) -> tuple[AppliedFault, ...]:
        return tuple(f for item in self.items for f in item.faults) + self.trailing


@dataclass(frozen=True)
class FeedFaults:
    """What to do to the outgoing stream of the first ``connections`` connections (later ones, such as an
    adapter's replay from its checkpoint, are clean, as a recovery snapshot service would be).

    Positions are message sequence numbers of the connection (1 = its first tick message). Fractions are
    shares of the stream's messages. Every random choice comes from ``numpy.random.default_rng(seed)``,
    so one seed gives one plan. Kinds do not overlap: a message is dropped, moved, duplicated or corrupted,
    at most one of these, so a test can count what the adapter must have seen.
    """

    seed: int = 0
    drops: tuple[tuple[int, int], ...] = ()  # (first seq, how many consecutive ticks)
    random_drops: int = 0  # extra runs of 5-30 ticks at random positions
    reorder_fraction: float = 0.0
    reorder_window: int = 3  # a moved message is sent 1..window messages late
    duplicate_fraction: float = 0.0
    corrupt: tuple[int, ...] = ()  # seqs to corrupt
    corrupt_fraction: float = 0.0
    corrupt_kind: FeedFaultKind = FeedFaultKind.CORRUPT_JSON
    connections: int = 1

    def __post_init__(self) -> None:
        for name in ("reorder_fraction", "duplicate_fraction", "corrupt_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FeedFaultError(f"FeedFaults.{name} must be a fraction in 0..1, got {value}")
        if self.reorder_window < 1:
            raise FeedFaultError(f"FeedFaults.reorder_window must be >= 1, got {self.reorder_window}")
        if self.corrupt_kind not in (FeedFaultKind.CORRUPT_JSON, FeedFaultKind.CORRUPT_TYPE):
            raise FeedFaultError(f"FeedFaults.corrupt_kind must be a CORRUPT_* kind, got {self.corrupt_kind}")
        for first, count in self.drops:
            if first < 1 or count < 1:
                raise FeedFaultError(f"FeedFaults.drops entry ({first}, {count}): seq and count must be >= 1")

    def plan(self, n: int, first_tick: int) -> FaultPlan:
        """The send order for a stream of ``n`` tick messages (seq 1..n, seq k is tick first_tick + k - 1)."""
        rng = np.random.default_rng(self.seed)
        tick = first_tick - 1  # seq -> tick offset
        taken = np.zeros(n + 2, dtype=bool)  # seqs some fault already owns; index 0 and n+1 unused
        dropped = np.zeros(n + 2, dtype=bool)
        drop_faults: dict[int, AppliedFault] = {}  # first seq after the run -> the fault it reveals

        def add_drop(first: int, count: int) -> None:
            last = min(first + count - 1, n)
            if first > n:
                raise FeedFaultError(f"drop at seq {first} is past the stream's {n} messages")
            taken[first : last + 1] = dropped[first : last + 1] = True
            drop_faults[last + 1] = AppliedFault(FeedFaultKind.DROP, first, first + tick, last - first + 1)

        for first, count in self.drops:
            add_drop(first, count)
        for _ in range(self.random_drops):
            for _attempt in range(50):  # a free place usually turns up at once; give up on a crowded stream
                count = int(rng.integers(DROP_RUN[0], DROP_RUN[1] + 1))
                first = int(rng.integers(2, max(3, n - count)))
                # one clean message either side, so two runs never merge into one gap
                if first + count < n and not taken[first - 1 : first + count + 1].any():
                    add_drop(first, count)
                    break

        def pick(fraction: float, span: int) -> list[int]:
            """Seqs for a fault that touches seq..seq+span, clear of every other fault (and of seq 1, so the
            adapter has a first book to compare with)."""
            want = round(fraction * n)
            chosen: list[int] = []
            for seq in rng.permutation(np.arange(2, n + 1)).tolist():
                if len(chosen) >= want:
                    break
                if seq + span <= n and not taken[seq - 1 : seq + span + 2].any():
                    taken[seq : seq + span + 1] = True
                    chosen.append(seq)
            return sorted(chosen)

        # a moved message passes up to `window` later ones: they are reserved too, so moves never interleave
        moves = pick(self.reorder_fraction, self.reorder_window)
        moved = {s: int(rng.integers(1, self.reorder_window + 1)) for s in moves}
        order = [s for s in range(1, n + 1) if not dropped[s]]
        for seq, delay in sorted(moved.items(), reverse=True):
            at = order.index(seq)
            order.insert(at + delay, order.pop(at))
        dups = set(pick(self.duplicate_fraction, 0))
        bad = set(self.corrupt) | set(pick(self.corrupt_fraction, 0))

        items: list[Send] = []
        for seq in order:
            faults = [drop_faults.pop(seq)] if seq in drop_faults else []
            if seq in moved:
                faults.append(AppliedFault(FeedFaultKind.REORDER, seq, seq + tick, delay=moved[seq]))
            corrupt = self.corrupt_kind if seq in bad else None
            if corrupt is not None:
                faults.append(AppliedFault(corrupt, seq, seq + tick))
            items.append(Send(seq, corrupt, tuple(faults)))
            if seq in dups:
                dup = AppliedFault(FeedFaultKind.DUPLICATE, seq, seq + tick)
                items.append(Send(seq, None, (dup,)))
        return FaultPlan(tuple(items), tuple(drop_faults.values()))
