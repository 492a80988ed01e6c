"""Helpers shared by the fault-injection tests: servers under test (embedded or real binary) and upstreams.

Plain functions and classes; conftest.py wraps them in fixtures that always stop what they start.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from pytest_stress.faults.servers import BINARY, LOOPBACK, ToxiproxyServer, ToxiproxyUnavailable
from pytest_stress.faults.servers import free_port as free_port  # re-exported for the tests
from pytest_stress.faults.servers import run_binary as _run_binary
from pytest_stress.faults.toxiproxy_server import EmbeddedToxiproxy

ServerUnderTest = ToxiproxyServer


@contextlib.contextmanager
def run_binary() -> Iterator[ServerUnderTest]:
    path = shutil.which(BINARY)
    if path is None:
        pytest.skip(f"{BINARY} is not on PATH; only the embedded server is checked")
    try:
        with _run_binary(path) as server:
            yield server
    except ToxiproxyUnavailable as exc:
        pytest.fail(str(exc))


@contextlib.contextmanager
def run_server(kind: str) -> Iterator[ServerUnderTest]:
    if kind == BINARY:
        with run_binary() as server:
            yield server
        return
    embedded = EmbeddedToxiproxy(seed=7).start()
    try:
        yield ServerUnderTest("embedded", embedded.host, embedded.port)
    finally:
        embedded.stop()


class Upstream:
    """A loopback TCP server in a thread; ``serve(conn)`` runs per connection. Stopped by ``close()``."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self._serve = serve
        self._sock = socket.socket()
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)  # how often the accept loop checks for close()
        self.port = self._sock.getsockname()[1]
        self.address = f"{LOOPBACK}:{self.port}"
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, name=f"upstream:{self.port}", daemon=True)
        self._accepter.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(5.0)  # bounds every handler, whatever the test does
            self._conns.append(conn)
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self._serve(conn)
        with contextlib.suppress(OSError):
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._accepter.join(5)
        self._sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        for thread in self._threads:
            thread.join(5)


def echo(conn: socket.socket) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def closer(conn: socket.socket) -> None:
    """Echo one chunk, then close (the contract's 'closer' upstream)."""
    if data := conn.recv(65536):
        conn.sendall(data)


def source(n_bytes: int) -> Callable[[socket.socket], None]:
    """Send ``n_bytes`` then close (the contract's 'source' upstream)."""

    def serve(conn: socket.socket) -> None:
        block = b"s" * 65536
        left = n_bytes
        while left > 0:
            conn.sendall(block[: min(left, len(block))])
            left -= min(left, len(block))

    return serve
