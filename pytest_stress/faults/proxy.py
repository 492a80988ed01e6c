"""One proxy of the embedded Toxiproxy: its listener on 127.0.0.1, its connections, and their toxic chains.

Each connection has two links (upstream: client to server, downstream: server to client); toxics sit on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import struct
import weakref
from typing import Any

from pytest_stress.faults.toxics import KINDS, Chunk, Toxic, ToxicSet, ToxicState

LOOPBACK = "127.0.0.1"
READ_SIZE = 64 * 1024
QUEUE_CHUNKS = 8  # chunks read ahead per direction: enough to pipeline latency, small enough to push back


class ListenError(Exception):
    """A listen address that cannot be bound; ``str()`` is the message the API returns with status 500."""


def parse_listen(listen: str) -> tuple[str, int]:
    """Host and port to bind for ``listen``, with Go's messages for malformed addresses.

    Only loopback is allowed: ``localhost`` binds 127.0.0.1 as the real server does, and so does an
    empty host or listen, where the real server would bind every interface (a documented difference).
    """
    if listen == "":
        return LOOPBACK, 0
    if listen.startswith("["):
        host, sep, rest = listen[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ListenError(f"listen tcp: address {listen}: missing port in address")
        port_text = rest[1:]
    else:
        if ":" not in listen:
            raise ListenError(f"listen tcp: address {listen}: missing port in address")
        host, port_text = listen.rsplit(":", 1)
        if ":" in host:
            raise ListenError(f"listen tcp: address {listen}: too many colons in address")
    if port_text and (not port_text.isdigit() or int(port_text) > 65535):
        raise ListenError(f"listen tcp: address {port_text}: invalid port")
    port = int(port_text or 0)
    if host not in ("", LOOPBACK, "localhost"):
        raise ListenError(f"listen tcp {listen}: the embedded toxiproxy listens on {LOOPBACK} only")
    return LOOPBACK, port


def bind_listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Go sets SO_REUSEADDR too; on Linux it still refuses a port another socket listens on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        reason = os.strerror(err.errno).lower() if err.errno else str(err)
        raise ListenError(f"listen tcp {host}:{port}: bind: {reason}") from None
    return sock


def split_upstream(upstream: str) -> tuple[str, int]:
    host, _, port = upstream.rpartition(":")
    return host.strip("[]") or LOOPBACK, int(port) if port.isdigit() else 0


class Proxy:
    """A named listener forwarding to ``upstream``; disabled means not listening and no connections."""

    def __init__(self, name: str, listen: str, upstream: str, rng: random.Random) -> None:
        self.name, self.listen, self.upstream = name, listen, upstream
        self.enabled = False
        self.rng = rng
        self.toxics = ToxicSet()
        self._server: asyncio.Server | None = None
        self._conns: set[Connection] = set()
        self._writers: weakref.WeakSet[asyncio.StreamWriter] = weakref.WeakSet()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "Logger": {},  # 2.12.0 leaks this empty field; kept so bodies compare equal
            "toxics": [t.to_json() for t in self.toxics.listing()],
        }

    async def start(self) -> None:
        """Listen on ``self.listen``; raises ListenError (the proxy stays disabled) when it cannot."""
        if self.enabled:
            return
        host, port = parse_listen(self.listen)
        sock = bind_listener(host, port)
        self._server = await asyncio.start_server(self._on_client, sock=sock)
        self.listen = f"{host}:{sock.getsockname()[1]}"
        self.enabled = True

    def stop(self, hard: bool = False) -> None:
        """Stop listening and close every connection with a FIN (``hard``: abort, for shutdown)."""
        if self._server is not None:
            self._server.close()  # closes the listening socket now: new connects are refused at once
            self._server = None
        self.enabled = False
        self.close_connections()
        if hard:
            for writer in list(self._writers):
                writer.transport.abort()

    def close_connections(self) -> None:
        for conn in list(self._conns):
            conn.close()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if not self.enabled:  # accepted just before the listener closed
            writer.transport.abort()
            return
        conn = Connection(self, reader, writer)
        self._conns.add(conn)
        try:
            await conn.run()
        finally:
            conn.close()

    # Toxic changes apply to open connections at once, as on the real server.
    def add_toxic(self, toxic: Toxic) -> None:
        self.toxics.items.append(toxic)
        for conn in list(self._conns):
            conn.attach(toxic, fresh=False)

    def remove_toxic(self, toxic: Toxic) -> None:
        toxic.removed = True
        self.toxics.items.remove(toxic)
        for conn in list(self._conns):
            conn.detach(toxic)

    def toxic_updated(self, toxic: Toxic, toxicity_changed: bool) -> None:
        for conn in list(self._conns):
            conn.refresh(toxic, toxicity_changed)


class Connection:
    """A client connection and its upstream connection; any EOF or error ends both (no half-close)."""

    def __init__(self, proxy: Proxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.client_reader, self.client_writer = reader, writer
        self.upstream_writer: asyncio.StreamWriter | None = None
        self.links: list[Link] = []
        self.closed = False
        self._done = asyncio.Event()

    async def run(self) -> None:
        host, port = split_upstream(self.proxy.upstream)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except (OSError, ValueError):
            return  # the client sees EOF at once, as when the real upstream refuses
        self.proxy._writers.add(up_writer)
        self.upstream_writer = up_writer
        if self.closed:
            up_writer.close()
            return
        self.links = [
            Link(self, "upstream", self.client_reader, up_writer),
            Link(self, "downstream", up_reader, self.client_writer),
        ]
        for link in self.links:
            for toxic in self.proxy.toxics.for_stream(link.direction):
                link.attach(toxic, fresh=True)
            link.start()
        await self._done.wait()

    def attach(self, toxic: Toxic, fresh: bool) -> None:
        for link in self.links:
            if link.direction == toxic.direction:
                link.attach(toxic, fresh)

    def detach(self, toxic: Toxic) -> None:
        for link in self.links:
            link.detach(toxic)

    def refresh(self, toxic: Toxic, toxicity_changed: bool) -> None:
        for link in self.links:
            link.refresh(toxic, toxicity_changed)

    def close(self, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for link in self.links:
            link.cancel()
        transport = self.client_writer.transport
        if reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:  # linger 0 turns the close into a TCP RST
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            self.client_writer.close()
        if self.upstream_writer is not None:
            self.upstream_writer.close()
        self.proxy._conns.discard(self)
        self._done.set()


class Link:
    """One direction of a connection: a reader task queues stamped chunks, a writer task runs the toxics."""

    def __init__(
        self, conn: Connection, direction: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.conn, self.direction = conn, direction
        self.reader, self.writer = reader, writer
        self.rng = conn.proxy.rng
        self.states: dict[Toxic, ToxicState] = {}
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Chunk] = asyncio.Queue(QUEUE_CHUNKS)
        self._waiters: set[asyncio.Future[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the Pipe protocol the toxics use ---------------------------------------------------------
    def now(self) -> float:
        return self._loop.time()

    async def sleep_until(self, deadline: float | None) -> None:
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.add(waiter)
        timer = None
        if deadline is not None:
            timer = self._loop.call_at(deadline, _wake, waiter)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)
            if timer is not None:
                timer.cancel()

    def close_connection(self, reset: bool = False) -> None:
        self.conn.close(reset)

    def spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- toxic changes ----------------------------------------------------------------------------
    def _notify(self) -> None:
        # Any change wakes every waiting toxic, which re-reads its attributes (or sees it was removed).
        for waiter in list(self._waiters):
            _wake(waiter)

    def attach(self, toxic: Toxic, fresh: bool) -> None:
        active = self.rng.random() < toxic.toxicity
        state = ToxicState(toxic, active=active, fresh=fresh, since=self.now())
        self.states[toxic] = state
        if active:
            KINDS[toxic.type].on_attach(self, state)
        self._notify()

    def detach(self, toxic: Toxic) -> None:
        state = self.states.pop(toxic, None)
        self._notify()
        if state is not None and state.active:
            KINDS[toxic.type].on_remove(self, state)

    def refresh(self, toxic: Toxic, toxicity_changed: bool) -> None:
        state = self.states.get(toxic)
        if state is not None and toxicity_changed:
            was_active, state.active = state.active, self.rng.random() < toxic.toxicity
            if state.active and not was_active:
                KINDS[toxic.type].on_attach(self, state)
        self._notify()

    # --- data flow --------------------------------------------------------------------------------
    def start(self) -> None:
        self.spawn(self._read_loop())
        self.spawn(self._write_loop())

    def cancel(self) -> None:
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self._notify()

    async def _read_loop(self) -> None:
        while True:
            try:
                data = await self.reader.read(READ_SIZE)
            except OSError:
                data = b""
            await self._queue.put(Chunk(data, self.now()))  # empty data marks EOF
            if not data:
                return

    async def _write_loop(self) -> None:
        while not self.conn.closed:
            chunk = await self._queue.get()
            chain = [
                state
                for toxic in self.conn.proxy.toxics.for_stream(self.direction)
                if (state := self.states.get(toxic)) is not None and state.active
            ]
            if not chunk.data:
                for state in chain:
                    await KINDS[state.toxic.type].on_eof(self, state)
                self.conn.close()
                return
            await self._through(chain, 0, chunk)

    async def _through(self, chain: list[ToxicState], index: int, chunk: Chunk) -> None:
        if self.conn.closed:
            return
        if index == len(chain):
            await self._write(chunk.data)
            return
        state = chain[index]
        if state.toxic.removed or not state.active:
            await self._through(chain, index + 1, chunk)
            return

        async def emit(piece: Chunk) -> None:
            await self._through(chain, index + 1, piece)

        await KINDS[state.toxic.type].handle(self, state, chunk, emit)

    async def _write(self, data: bytes) -> None:
        if self.conn.closed or not data:
            return
        self.writer.write(data)
        try:
            await self.writer.drain()
        except OSError:
            self.conn.close()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
