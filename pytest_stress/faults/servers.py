"""Which Toxiproxy server the suite talks to, and starting and stopping it.

In this order: the one at ``--toxiproxy-url``; a ``toxiproxy-server`` binary on PATH, started on a free
loopback port and stopped (by its PID) at the end; else the embedded server of this package.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

from pytest_stress.errors import StressError
from pytest_stress.faults.toxiproxy_server import EmbeddedToxiproxy

LOOPBACK = "127.0.0.1"
BINARY = "toxiproxy-server"
START_TIMEOUT_S = 10.0


class ToxiproxyUnavailable(StressError, ConnectionError):
    """The Toxiproxy server named or found could not be reached or started."""


@dataclass(frozen=True)
class ToxiproxyServer:
    kind: str  # "url", "toxiproxy-server" or "embedded"
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _wait_listening(host: str, port: int, timeout_s: float, alive=lambda: True) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def run_binary(path: str) -> Iterator[ToxiproxyServer]:
    """Start ``toxiproxy-server`` on a free loopback port; terminate it (this PID only) at the end."""
    port = free_port()
    proc = subprocess.Popen(
        [path, "-host", LOOPBACK, "-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        if not _wait_listening(LOOPBACK, port, START_TIMEOUT_S, lambda: proc.poll() is None):
            raise ToxiproxyUnavailable(f"{path} did not start listening on {LOOPBACK}:{port}")
        yield ToxiproxyServer(BINARY, LOOPBACK, port)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def run_embedded(seed: int | None = None) -> Iterator[ToxiproxyServer]:
    server = EmbeddedToxiproxy(seed=seed).start()
    try:
        yield ToxiproxyServer("embedded", server.host, server.port)
    finally:
        server.stop()


@contextlib.contextmanager
def toxiproxy_server(url: str | None = None, *, seed: int | None = None) -> Iterator[ToxiproxyServer]:
    """The server the suite uses (see the module docstring); anything started here is stopped on exit."""
    if url:
        parsed = urllib.parse.urlsplit(url if "//" in url else f"http://{url}")
        host, port = parsed.hostname or LOOPBACK, parsed.port or 8474
        if not _wait_listening(host, port, 2.0):
            raise ToxiproxyUnavailable(f"--toxiproxy-url={url}: nothing answers on {host}:{port}")
        yield ToxiproxyServer("url", host, port)
        return
    path = shutil.which(BINARY)
    if path is not None:
        with run_binary(path) as server:
            yield server
        return
    with run_embedded(seed) as server:
        yield server
