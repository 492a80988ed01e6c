"""The toxics of the embedded Toxiproxy: their attributes as the API shows them, and what each does to bytes.

Every toxic acts on one direction of one connection (a ``Pipe``) and reads its attributes live, so updates apply.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_stress.faults.gojson import Field, go_float

STREAMS = ("upstream", "downstream")


@dataclass
class Chunk:
    """Bytes read from one side, stamped with the loop time they were read (latency counts from it)."""

    data: bytes
    ts: float


@dataclass(eq=False)
class Toxic:
    """A toxic as configured through the API; ``stream`` is kept as sent (``UPSTREAM`` echoes back so)."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]
    removed: bool = False

    @property
    def direction(self) -> str:
        return self.stream.lower()

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": go_float(self.toxicity),
        }


@dataclass(eq=False)
class ToxicState:
    """One toxic on one connection direction: whether it applies, and what it has counted so far."""

    toxic: Toxic
    active: bool  # toxicity is drawn once per connection: a toxic applies to all of it or none of it
    fresh: bool  # the toxic existed when the connection opened; only then does reset_peer send an RST
    since: float  # loop time the toxic started acting on this connection
    sent: int = 0
    next_send: float = 0.0


class Pipe(Protocol):
    """What a toxic may do to the connection direction it sits on (implemented by proxy.Link)."""

    rng: random.Random

    def now(self) -> float: ...

    async def sleep_until(self, deadline: float | None) -> None:
        """Return at ``deadline`` (never if None) or as soon as any toxic of the proxy changes."""

    def close_connection(self, reset: bool = False) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...


Emit = Callable[[Chunk], Awaitable[None]]


class ToxicKind:
    """Behaviour shared by every toxic type; subclasses override the hooks they need."""

    type = ""
    struct = ""  # the Go type name, quoted in decoding errors
    fields: tuple[Field, ...] = ()
    defaults: tuple[int, ...] = ()

    def default_attributes(self) -> dict[str, int]:
        return {f.name: d for f, d in zip(self.fields, self.defaults, strict=True)}

    async def handle(self, pipe: Pipe, state: ToxicState, chunk: Chunk, emit: Emit) -> None:
        await emit(chunk)

    async def on_eof(self, pipe: Pipe, state: ToxicState) -> None:
        """Called when the source side closed, before the proxy closes the connection."""

    def on_attach(self, pipe: Pipe, state: ToxicState) -> None:
        """Called when the toxic starts acting on a connection (new connection, or toxic added)."""

    def on_remove(self, pipe: Pipe, state: ToxicState) -> None:
        """Called when the toxic is deleted (or /reset) while the connection is open."""


class Noop(ToxicKind):
    type, struct = "noop", "NoopToxic"


class Latency(ToxicKind):
    type, struct = "latency", "LatencyToxic"
    fields = (Field("latency", "int64"), Field("jitter", "int64"))
    defaults = (0, 0)

    async def handle(self, pipe: Pipe, state: ToxicState, chunk: Chunk, emit: Emit) -> None:
        toxic = state.toxic
        spread = pipe.rng.uniform(-1.0, 1.0)  # drawn once per chunk, scaled by the live jitter
        deadline = chunk.ts
        while not toxic.removed:
            delay_ms = toxic.attributes["latency"] + spread * toxic.attributes["jitter"]
            deadline = chunk.ts + max(delay_ms, 0.0) / 1000.0
            if pipe.now() >= deadline:
                break
            await pipe.sleep_until(deadline)
        # Later latency toxics on the same stream count from here, so two of them add up.
        await emit(Chunk(chunk.data, max(chunk.ts, deadline)))


class Bandwidth(ToxicKind):
    type, struct = "bandwidth", "BandwidthToxic"
    fields = (Field("rate", "int64"),)
    defaults = (0,)
    SLICE_S = 0.1  # pace in 100 ms slices: smooth enough for a 10 % accuracy promise, few wake-ups

    async def handle(self, pipe: Pipe, state: ToxicState, chunk: Chunk, emit: Emit) -> None:
        toxic, data = state.toxic, chunk.data
        while data:
            rate = toxic.attributes["rate"]  # KB/s, 1 KB = 1000 B
            if toxic.removed:
                break
            if rate <= 0:
                # rate 0 stalls the stream (the connection stays open) until the toxic changes.
                await pipe.sleep_until(None)
                continue
            piece = data[: max(1, int(rate * 1000 * self.SLICE_S))]
            start = max(state.next_send, pipe.now())
            due = start + len(piece) / (rate * 1000.0)
            if pipe.now() < due:
                await pipe.sleep_until(due)
                if toxic.attributes["rate"] != rate or toxic.removed:
                    continue  # re-pace this piece at the new rate
            state.next_send = due
            data = data[len(piece) :]
            await emit(Chunk(piece, chunk.ts))
        if data:
            await emit(Chunk(data, chunk.ts))


class SlowClose(ToxicKind):
    type, struct = "slow_close", "SlowCloserToxic"
    fields = (Field("delay", "int64"),)
    defaults = (0,)

    async def on_eof(self, pipe: Pipe, state: ToxicState) -> None:
        deadline = pipe.now() + max(state.toxic.attributes["delay"], 0) / 1000.0
        while not state.toxic.removed and pipe.now() < deadline:
            await pipe.sleep_until(deadline)


class Timeout(ToxicKind):
    """Swallow data; close after ``timeout`` ms, or hold the connection open forever when it is 0."""

    type, struct = "timeout", "TimeoutToxic"
    fields = (Field("timeout", "int64"),)
    defaults = (0,)

    async def handle(self, pipe: Pipe, state: ToxicState, chunk: Chunk, emit: Emit) -> None:
        return  # data in this direction never arrives

    def on_attach(self, pipe: Pipe, state: ToxicState) -> None:
        pipe.spawn(self._close_when_due(pipe, state))

    async def _close_when_due(self, pipe: Pipe, state: ToxicState) -> None:
        toxic = state.toxic
        while not toxic.removed:
            timeout_ms = toxic.attributes["timeout"]
            deadline = None if timeout_ms <= 0 else state.since + timeout_ms / 1000.0
            if deadline is not None and pipe.now() >= deadline:
                pipe.close_connection()
                return
            await pipe.sleep_until(deadline)

    def on_remove(self, pipe: Pipe, state: ToxicState) -> None:
        # The real server ends a connection the moment its timeout toxic goes away (delete or /reset).
        pipe.close_connection()


class ResetPeer(ToxicKind):
    """On the first data in its direction, wait ``timeout`` ms then reset the client's connection."""

    type, struct = "reset_peer", "ResetToxic"
    fields = (Field("timeout", "int64"),)
    defaults = (0,)

    async def handle(self, pipe: Pipe, state: ToxicState, chunk: Chunk, emit: Emit) -> None:
        toxic = state.toxic
        deadline = pipe.now() + max(toxic.attributes["timeout"], 0) / 1000.0
        while not toxic.removed and pipe.now() < deadline:
            await pipe.sleep_until(deadline)
        if toxic.removed:
            await emit(chunk)
            return
        # Observed: only connections opened after the toxic get an RST; older ones see a plain EOF.
        pipe.close_connection(reset=state.fresh)


class Slicer(ToxicKind):
    """Deliver each chunk in smaller writes of about ``average_size`` bytes, ``delay`` microseconds apart."""

    type, struct = "slicer", "SlicerToxic"
    fields = (Field("average_size", "int"), Field("size_variation", "int"), Field("delay", "int"))
    defaults = (0, 0, 0)

    async def handle(self, pipe: Pipe, state: ToxicState, chunk: Chunk, emit: Emit) -> None:
        attrs = state.toxic.attributes
        sizes = slice_sizes(len(chunk.data), attrs["average_size"], attrs["size_variation"], pipe.rng)
        offset = 0
        for size in sizes:
            await emit(Chunk(chunk.data[offset : offset + size], chunk.ts))
            offset += size
            delay_s = max(attrs["delay"], 0) / 1e6
            if delay_s and not state.toxic.removed:
                await pipe.sleep_until(pipe.now() + delay_s)


def slice_sizes(total: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Split ``total`` bytes by halving (± variation) until every piece is at most average + variation.

    Halving is what the contract shows: 2000 B at 100 ± 10 arrived as 32 reads of 50-79 B.
    """
    limit = average + max(variation, 0)
    if average <= 0 or total <= limit:
        return [total] if total else []
    sizes: list[int] = []
    pending = [total]  # a stack: pushing the right part first keeps the pieces in byte order
    while pending:
        size = pending.pop()
        if size <= limit:
            sizes.append(size)
            continue
        half = size // 2
        if variation > 0:
            half += rng.randint(-variation, variation)
        half = min(max(half, 1), size - 1)
        pending.extend((size - half, half))
    return sizes


class LimitData(ToxicKind):
    """Let ``bytes`` bytes through in this direction, then close the whole connection."""

    type, struct = "limit_data", "LimitDataToxic"
    fields = (Field("bytes", "int64"),)
    defaults = (0,)

    async def handle(self, pipe: Pipe, state: ToxicState, chunk: Chunk, emit: Emit) -> None:
        allowed = state.toxic.attributes["bytes"] - state.sent
        if allowed > 0:
            piece = chunk.data[:allowed]
            state.sent += len(piece)
            await emit(Chunk(piece, chunk.ts))
        if state.sent >= state.toxic.attributes["bytes"]:
            pipe.close_connection()


KINDS: dict[str, ToxicKind] = {
    kind.type: kind
    for kind in (Latency(), Bandwidth(), SlowClose(), Timeout(), ResetPeer(), Slicer(), LimitData(), Noop())
}


@dataclass
class ToxicSet:
    """A proxy's toxics in creation order; names are unique across both streams."""

    items: list[Toxic] = field(default_factory=list)

    def get(self, name: str) -> Toxic | None:
        return next((t for t in self.items if t.name == name), None)

    def for_stream(self, direction: str) -> list[Toxic]:
        return [t for t in self.items if t.direction == direction]

    def listing(self) -> list[Toxic]:
        """The API's order: every upstream toxic, then every downstream one."""
        return self.for_stream("upstream") + self.for_stream("downstream")
