"""The embedded Toxiproxy-compatible server: its API and proxies on one asyncio loop in a background thread.

Used by the ``toxiproxy`` fixture when no real server is available, and standalone through :func:`main`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import threading
import weakref
from collections.abc import Sequence

from pytest_stress.faults.api import API_VERSION, ToxiproxyApi
from pytest_stress.faults.http11 import serve_connection
from pytest_stress.faults.loop_thread import LoopThreadServer
from pytest_stress.faults.proxy import LOOPBACK, ListenError, bind_listener

__all__ = ["API_VERSION", "EmbeddedToxiproxy", "ListenError", "main"]


class EmbeddedToxiproxy(LoopThreadServer):
    """A Toxiproxy-compatible server on 127.0.0.1; ``port=0`` picks a free port.

    >>> with EmbeddedToxiproxy() as server:          # doctest: +SKIP
    ...     Toxiproxy().update_api_consumer(server.host, server.port)

    ``seed`` makes jitter, toxicity and slicer sizes repeatable. ``stop()`` closes every proxy,
    connection and task and joins the thread; it is safe to call twice.

    Where it knowingly differs from toxiproxy-server 2.12.0 (``../shared/toxiproxy-contract``):

    - It binds 127.0.0.1 only. A proxy ``listen`` with an empty host (or an empty ``listen``) binds
      127.0.0.1, where the real server binds every interface (``[::]:P``); any other host than
      127.0.0.1/localhost is refused with the contract's listen-error shape:
      500 ``{"error":"listen tcp H:P: the embedded toxiproxy listens on 127.0.0.1 only","status":500}``.
    - Not recorded, so inferred: Go type names in attribute errors of toxic types other than latency
      (``BandwidthToxic``, ``SlowCloserToxic``, ``TimeoutToxic``, ``ResetToxic``, ``SlicerToxic``,
      ``LimitDataToxic``) and of ``/populate`` entry fields; removing a ``timeout`` toxic with a
      non-zero timeout also ends the connections it was holding; two latency toxics on one stream add
      up; toxicity is drawn again when an update changes it; ``/reset`` leaves a proxy disabled
      (and still answers 204) when its address was taken meanwhile.
    - No ``/metrics``, no ``-config`` file, no logging of the deprecated POST update verb.
    """

    def __init__(self, host: str = LOOPBACK, port: int = 0, *, seed: int | None = None) -> None:
        if host not in (LOOPBACK, "localhost"):
            raise ValueError(f"the embedded toxiproxy listens on {LOOPBACK} only, not {host!r}")
        self.host = LOOPBACK
        self._requested_port = port
        self.port = 0
        self._rng = random.Random(seed)
        self._init_loop_thread(f"embedded-toxiproxy:{port}")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        api = ToxiproxyApi(self._rng)
        clients: weakref.WeakSet[asyncio.StreamWriter] = weakref.WeakSet()

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            clients.add(writer)
            await serve_connection(reader, writer, api.handle)

        sock = bind_listener(self.host, self._requested_port)
        server = await asyncio.start_server(on_client, sock=sock)
        self.port = sock.getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            api.shutdown()
            for writer in list(clients):  # idle keep-alive connections of API clients
                writer.transport.abort()
            await asyncio.sleep(0)  # let aborted transports run their close callbacks


def main(argv: Sequence[str] | None = None) -> int:
    """Run the embedded server in the foreground until Ctrl-C or SIGTERM; exit code 0, 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="pytest-stress toxiproxy",
        description=f"Embedded Toxiproxy-compatible server (API of toxiproxy-server {API_VERSION}).",
    )
    # The single-dash spellings are toxiproxy-server's own, so scripts written for it work unchanged.
    parser.add_argument("--host", "-host", default=LOOPBACK, help="API address; only 127.0.0.1 (default)")
    parser.add_argument("--port", "-port", type=int, default=8474, help="API port (default 8474; 0 = any)")
    parser.add_argument(
        "--seed", type=int, default=None, help="seed for jitter/toxicity draws (default random)"
    )
    args = parser.parse_args(argv)
    try:
        server = EmbeddedToxiproxy(args.host, args.port, seed=args.seed)
        server.start()
    except (ValueError, ListenError) as err:
        print(f"pytest-stress toxiproxy: error: {err}", file=sys.stderr)
        return 2
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"embedded toxiproxy (API {API_VERSION}) listening on {server.url}", flush=True)
    try:
        while not done.wait(0.5) and server.running:
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
