"""The stack's market-data feed adapter: reads the WebSocket feed in a thread, normalises it (order, gaps,
quarantine and replay), serves the cached book through a stall with ``MarketHalt.DELAY``, and reconnects.

Seed 000 (FTX collapse): "Market data adapter must fall back to cached book when WS stalls >1s and trigger
``MarketHalt.DELAY``; strategy governance flags models relying on stale funding feeds for manual review."
"""

from __future__ import annotations

import enum
import threading
import urllib.parse
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any

from pytest_stress.faults.feed_normaliser import (
    FeedStats,
    GapRecord,
    Normaliser,
    Quarantine,
    Quote,
    TapeRow,
)
from pytest_stress.stack.bus import EventBus, EventType, StackEvent
from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.model import Bar
from pytest_stress.stack.protocols import Clock

SOURCE = "feed_adapter"
OPEN_TIMEOUT_S = 2.0  # a handshake held by a proxy must not hide a stall for websockets' default 10 s
# An abandoned connection (replay, silent peer) may hold unread messages ahead of the close frame, so its
# handshake cannot finish; on loopback a healthy one finishes in well under a millisecond.
CLOSE_TIMEOUT_S = 0.2
BACKOFF_S = (0.05, 0.5)  # first and largest wait between reconnect attempts
# The bus has no event type per normaliser finding; these map them onto the runbooks' existing ones.
_EVENT_OF = {"gap": EventType.DATA_GAP, "stale_funding": EventType.ALERT, "quarantine": EventType.ALERT}


class MarketHalt(str, enum.Enum):
    NONE = "NONE"
    DELAY = "DELAY"  # seed 000: the feed stalled; the cached book is served until data flows again


class FeedAdapter:
    """Consumes the feed at ``url`` (``ws://``, see ``ws_feed`` for the wire format) until the stream ends.

    - sequence gaps: ``DataGapDetected`` on ``bus`` with the missing seq and tick range, ``degraded``
      set, ``stats.gaps`` counted; forward-filled on the tape only when at most ``gap_fill_tolerance``
      ticks (and ``gap_fill_tolerance_ms`` of feed time, when given) are missing;
    - order restored within ``reorder_buffer`` messages; what cannot be placed (a message later than the
      buffer, a corrupt one) is quarantined and the feed replayed from the last checkpoint;
    - no message for ``stall_s`` of ``clock`` time: ``market_halt`` is ``MarketHalt.DELAY`` and one
      ``DATA_FEED_LOSS`` event is published (``data["market_halt"] == "DELAY"``); the first message after
      clears it; ``book()`` keeps serving the cached quotes meanwhile;
    - silence for ``reconnect_after_s`` (default 3 x ``stall_s``) or a lost connection: reconnect with
      backoff, resuming at the tick after the last one on the tape;
    - a perp's funding older than ``funding_stale_s`` of feed time: every model that ``funding_models``
      (model -> symbols) says uses it joins ``flagged_models`` and an ``ALERT`` is published.

    ``on_bar`` gets one bar per symbol and tick (open = high = low = close = last), from the reader thread;
    after a replay the ticks since the checkpoint are delivered again.
    """

    def __init__(
        self,
        url: str,
        *,
        bus: EventBus,
        clock: Clock | None = None,
        stall_s: float = 1.0,
        gap_fill_tolerance: int = 10,
        gap_fill_tolerance_ms: float | None = None,
        funding_stale_s: float = 60.0,
        funding_models: Mapping[str, Collection[str]] | None = None,
        reorder_buffer: int = 8,
        checkpoint_every: int = 16,
        reconnect_after_s: float | None = None,
        on_bar: Callable[[Bar], None] | None = None,
        poll_s: float = 0.02,
    ) -> None:
        if stall_s <= 0 or poll_s <= 0:
            raise ValueError(f"stall_s and poll_s must be > 0 seconds, got {stall_s} and {poll_s}")
        self.url = url
        self.bus = bus
        self.clock: Clock = clock if clock is not None else WallClock()
        self.stall_s = float(stall_s)
        self.reconnect_after_s = 3 * self.stall_s if reconnect_after_s is None else float(reconnect_after_s)
        self.on_bar = on_bar
        self.poll_s = poll_s
        self._lock = threading.RLock()  # RLock: a bus handler may read the book from inside publish
        self._norm = Normaliser(
            emit=self._emit,
            reorder_buffer=reorder_buffer,
            gap_fill_tolerance=gap_fill_tolerance,
            gap_fill_tolerance_ms=gap_fill_tolerance_ms,
            funding_stale_s=funding_stale_s,
            checkpoint_every=checkpoint_every,
            funding_models={m: tuple(s) for m, s in (funding_models or {}).items()},
            on_row=self._bars if on_bar is not None else None,
        )
        self._market_halt = MarketHalt.NONE
        self.halts: list[tuple[float, float | None]] = []  # (start, end) clock seconds of each DELAY
        self._connected = 0
        self._last_rx = self.clock.now()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    # --- life cycle --------------------------------------------------------------------------------
    def start(self) -> FeedAdapter:
        if self._thread is not None:
            raise RuntimeError("this FeedAdapter was already started; create a new one")
        self._last_rx = self.clock.now()
        self._thread = threading.Thread(target=self._run, name=f"feed-adapter:{self.url}", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop reading and close the connection; safe to call twice."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"the feed adapter thread did not stop within {timeout} s")

    def __enter__(self) -> FeedAdapter:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def wait_finished(self, timeout: float) -> bool:
        """True once the server's end-of-stream message was processed."""
        return self._finished.wait(timeout)

    # --- what the stack reads ------------------------------------------------------------------------
    def data_age_ms(self) -> float:
        """Milliseconds since the last message arrived (on the adapter's clock): how stale the book is;
        an OMS can refuse to resume trading on a stale book (seed 004: fresher than 500 ms)."""
        return (self.clock.now() - self._last_rx) * 1e3

    def book(self) -> dict[str, Quote]:
        """The latest usable bid/ask/last per symbol: the cached book, also while the feed stalls."""
        with self._lock:
            return self._norm.book()

    def tape(self) -> list[TapeRow]:
        with self._lock:
            return list(self._norm.tape)

    @property
    def stats(self) -> FeedStats:
        with self._lock:
            return replace(self._norm.stats)

    @property
    def degraded(self) -> bool:
        return self._norm.degraded

    @property
    def market_halt(self) -> MarketHalt:
        return self._market_halt

    @property
    def gaps(self) -> list[GapRecord]:
        with self._lock:
            return list(self._norm.gaps)

    @property
    def quarantines(self) -> list[Quarantine]:
        with self._lock:
            return list(self._norm.quarantines)

    @property
    def flagged_models(self) -> set[str]:
        with self._lock:
            return set(self._norm.flagged_models)

    @property
    def stale_funding(self) -> set[str]:
        with self._lock:
            return set(self._norm.stale_funding)

    def check(self) -> list[StackEvent]:
        """Run the stall check now (the reader thread runs it every ``poll_s``); the events it raised."""
        return self._check_stall()

    # --- the reader thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        from websockets.exceptions import WebSocketException  # imported here: plugin load stays light
        from websockets.sync.client import connect

        backoff = BACKOFF_S[0]
        replaying = False
        while not self._stop.is_set() and not self._finished.is_set():
            try:
                with connect(
                    self._resume_url(),
                    open_timeout=OPEN_TIMEOUT_S,
                    close_timeout=CLOSE_TIMEOUT_S,
                    compression=None,
                    proxy=None,  # loopback: an HTTP(S)_PROXY from the environment must not reroute the feed
                ) as ws:
                    backoff = BACKOFF_S[0]
                    with self._lock:
                        if self._connected and not replaying:  # a replay's new connection is no recovery
                            self._norm.stats.reconnects += 1
                        self._connected += 1
                    replaying = self._read(ws)
            except (OSError, TimeoutError, WebSocketException):
                self._check_stall()  # refused or held: a feed loss the stall check must still see
                self._stop.wait(backoff)
                backoff = min(2 * backoff, BACKOFF_S[1])
            with self._lock:
                self._norm.connection_lost()

    def _resume_url(self) -> str:
        resume = self._norm.resume_tick if self._norm.symbols else None
        if resume is None:  # nothing received yet: start where the server starts
            return self.url
        parts = urllib.parse.urlsplit(self.url)
        query = urllib.parse.urlencode({"from_tick": resume})
        return urllib.parse.urlunsplit(parts._replace(query=query))

    def _read(self, ws: Any) -> bool:
        """Read until the stream ends, the connection drops, or a replay or a silent peer asks for a new one;
        True when the new connection is a replay from the checkpoint."""
        from websockets.exceptions import ConnectionClosed

        opened = self.clock.now()  # a fresh connection gets its own reconnect_after_s to say something
        while not self._stop.is_set():
            try:
                text = ws.recv(timeout=self.poll_s)
            except TimeoutError:
                self._check_stall()
                if self.clock.now() - max(self._last_rx, opened) > self.reconnect_after_s:
                    return False  # a connection held open by a dead peer or proxy: try a fresh one
                continue
            except ConnectionClosed:
                return False
            self._last_rx = self.clock.now()
            self._clear_halt()
            with self._lock:
                replay = self._norm.feed(text if isinstance(text, str) else text.decode("utf-8", "replace"))
                if replay is not None:
                    self._norm.stats.replays += 1
            if replay is not None:
                return True  # reconnect: _resume_url asks for the checkpoint's next tick
            if self._norm.finished:
                self._finished.set()
                return False
        return False

    def _check_stall(self) -> list[StackEvent]:
        silence = self.clock.now() - self._last_rx
        if self._finished.is_set() or self._market_halt is MarketHalt.DELAY or silence <= self.stall_s:
            return []
        with self._lock:
            self._market_halt = MarketHalt.DELAY
            self._norm.stats.stalls += 1
            self.halts.append((self.clock.now(), None))
            self._norm.flush()  # what waited for a lost message will not get it soon: release it
            book = self._norm.book()
        return [
            self._publish(
                EventType.DATA_FEED_LOSS,
                f"market data stalled for {silence:.2f} s (limit {self.stall_s:g} s): "
                "serving the cached book, MarketHalt.DELAY",
                {
                    "market_halt": MarketHalt.DELAY.value,
                    "silence_s": silence,
                    "cached_ticks": {s: q.tick for s, q in book.items()},
                },
            )
        ]

    def _clear_halt(self) -> None:
        if self._market_halt is MarketHalt.DELAY:
            with self._lock:
                start, _ = self.halts[-1]
                self.halts[-1] = (start, self.clock.now())
                self._market_halt = MarketHalt.NONE

    def _emit(self, kind: str, reason: str, data: Mapping[str, Any]) -> None:
        self._publish(_EVENT_OF[kind], reason, {"kind": kind, **data})

    def _publish(self, event_type: EventType, reason: str, data: Mapping[str, Any]) -> StackEvent:
        event = StackEvent(event_type, reason, source=SOURCE, timestamp=self.clock.now(), data=dict(data))
        self.bus.publish(event)
        return event

    def _bars(self, row: TapeRow, symbols: tuple[str, ...]) -> None:
        assert self.on_bar is not None
        for i, symbol in enumerate(symbols):
            px = row.last[i]
            if px == px:  # a symbol with no trade price this tick has no bar
                vol = row.volume[i] if row.volume[i] == row.volume[i] else 0.0
                self.on_bar(Bar(symbol, row.ts, px, px, px, px, vol))
