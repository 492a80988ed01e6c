"""The market-data WebSocket feed: a ``websockets`` server on 127.0.0.1 that streams a scenario's frame as
sequenced tick messages at real or scaled time, optionally through ``FeedFaults``.

Wire format (JSON text frames, one connection = one stream):

- first ``{"type": "hello", "symbols": [...], "first_tick": T, "last_tick": L, "funding": bool}``;
- then one message per tick carrying every symbol, so one dropped message is one dropped tick (seed 000
  counts gaps in ticks): ``{"type": "tick", "seq": k, "tick": t, "ts": ns, "bid": [...], "ask": [...],
  "last": [...], "volume": [...]}`` plus ``"funding_rate": [...]`` when the frame has funding (perps);
  lists follow ``symbols``; ``seq`` starts at 1 on every connection and grows by one per tick; ``tick``
  is the global tick index; NaN is sent as ``null``;
- last ``{"type": "end", "last_seq": n, "last_tick": L}``, then the server closes the connection.

A client resumes with ``?from_tick=T`` in the URL (the adapter's replay from its checkpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import urllib.parse

import numpy as np

from pytest_stress.faults.feed_faults import AppliedFault, FaultPlan, FeedFaultKind, FeedFaults
from pytest_stress.faults.loop_thread import LoopThreadServer
from pytest_stress.market.frame import MarketFrame

LOOPBACK = "127.0.0.1"
CLOSE_TIMEOUT_S = 0.5  # a closing handshake stuck behind a toxic must not hold stop() for websockets' 10 s


def _floats(row: np.ndarray) -> list[float | None]:
    # json.dumps would write NaN, which is not JSON; null is what other clients parse
    return [None if math.isnan(v) else v for v in row.tolist()]


class WebSocketFeedServer(LoopThreadServer):
    """Streams ``frame`` to every client; ``port=0`` picks a free port.

    ``time_scale`` divides the frame's time: 1 is real time, 10 ten times faster; ``inf`` or 0 sends as
    fast as the socket takes it (tests). ``start_tick`` is the first row streamed to a client that asks
    for no ``from_tick``. ``faults`` change the stream of the first ``faults.connections`` connections;
    what was actually sent is in ``applied`` (a fault planned after a connection ended is not there).
    """

    def __init__(
        self,
        frame: MarketFrame,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        time_scale: float = 1.0,
        start_tick: int = 0,
        faults: FeedFaults | None = None,
    ) -> None:
        if host not in (LOOPBACK, "localhost"):
            raise ValueError(f"the feed server listens on {LOOPBACK} only, not {host!r}")
        if time_scale < 0 or math.isnan(time_scale):
            raise ValueError(f"time_scale must be > 0 (or 0/inf for as fast as possible), got {time_scale}")
        if not 0 <= start_tick < max(frame.n_ticks, 1):
            raise ValueError(f"start_tick {start_tick} is outside the frame's {frame.n_ticks} rows")
        self.frame = frame
        self.host = LOOPBACK
        self.port = port
        self.time_scale = math.inf if time_scale == 0 else float(time_scale)
        self.start_tick = start_tick
        self.faults = faults
        self.applied: list[AppliedFault] = []
        self.connections = 0  # accepted so far; faults apply to the first faults.connections
        self._lock = threading.Lock()
        self._init_loop_thread(f"ws-feed:{port}")

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def faults_of(self, kind: FeedFaultKind) -> list[AppliedFault]:
        with self._lock:
            return [f for f in self.applied if f.kind is kind]

    async def _serve(self) -> None:
        from websockets.asyncio.server import serve  # imported here: plugin load must stay light

        self._stopping = asyncio.Event()
        async with serve(
            self._stream, self.host, self.port, close_timeout=CLOSE_TIMEOUT_S, compression=None
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stopping.wait()
            server.close()
            await server.wait_closed()

    # --- one connection ------------------------------------------------------------------------------
    async def _stream(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        # a client that leaves (an adapter replaying from its checkpoint) is normal, not a handler error
        with contextlib.suppress(ConnectionClosed):
            await self._send_stream(ws)

    async def _send_stream(self, ws) -> None:
        frame, base = self.frame, self.frame.start_tick
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.request.path).query)
        first_row = self.start_tick
        if "from_tick" in query:
            try:
                first_row = int(query["from_tick"][0]) - base
            except ValueError:
                await ws.close(1008, "from_tick must be an integer tick index")
                return
            first_row = min(max(first_row, 0), frame.n_ticks)
        with self._lock:
            self.connections += 1
            faulty = self.faults is not None and self.connections <= self.faults.connections
        n = frame.n_ticks - first_row
        plan = self.faults.plan(n, base + first_row) if faulty and n > 0 else None
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "symbols": list(frame.symbols),
                    "first_tick": base + first_row,
                    "last_tick": base + frame.n_ticks - 1,
                    "funding": frame.funding_rate is not None,
                }
            )
        )
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        ts0 = int(frame.timestamps_ns[first_row]) if n > 0 else 0
        paced_row = first_row  # a late (moved) message goes out at the time of the latest tick already due
        for seq, corrupt, faults in self._items(plan, n):
            row = first_row + seq - 1
            paced_row = max(paced_row, row)
            if math.isfinite(self.time_scale):
                due = t0 + (int(frame.timestamps_ns[paced_row]) - ts0) / 1e9 / self.time_scale
                if due > loop.time() and await self._stopped_within(due - loop.time()):
                    return
            elif seq % 64 == 0:
                await asyncio.sleep(0)  # let stop() and other connections in between bursts
            if self._stopping is not None and self._stopping.is_set():
                return
            await ws.send(self._message(seq, row, corrupt))
            if faults:
                with self._lock:
                    self.applied.extend(faults)
        if plan is not None and plan.trailing:
            with self._lock:
                self.applied.extend(plan.trailing)
        await ws.send(json.dumps({"type": "end", "last_seq": n, "last_tick": base + frame.n_ticks - 1}))

    @staticmethod
    def _items(plan: FaultPlan | None, n: int):
        if plan is None:
            return ((seq, None, ()) for seq in range(1, n + 1))
        return ((item.seq, item.corrupt, item.faults) for item in plan.items)

    async def _stopped_within(self, seconds: float) -> bool:
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            return False
        return True

    def _message(self, seq: int, row: int, corrupt: FeedFaultKind | None) -> str:
        frame = self.frame
        msg: dict[str, object] = {
            "type": "tick",
            "seq": seq,
            "tick": frame.start_tick + row,
            "ts": int(frame.timestamps_ns[row]),
            "bid": _floats(frame.bid[row]),
            "ask": _floats(frame.ask[row]),
            "last": _floats(frame.last[row]),
            "volume": _floats(frame.volume[row]),
        }
        if frame.funding_rate is not None:
            msg["funding_rate"] = _floats(frame.funding_rate[row])
        if corrupt is FeedFaultKind.CORRUPT_TYPE:
            msg["bid"] = "corrupt"  # parses, but is not a list of prices
        text = json.dumps(msg, allow_nan=False)
        if corrupt is FeedFaultKind.CORRUPT_JSON:
            text = text[: len(text) // 2]  # cut mid-message, as a truncated write would
        return text
