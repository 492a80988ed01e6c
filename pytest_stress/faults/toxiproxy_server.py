"""The embedded Toxiproxy-compatible server: its API and proxies on one asyncio loop in a background thread.

Used by the ``toxiproxy`` fixture when no real server is available, and standalone through :func:`main`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
import threading
import weakref
from collections.abc import Sequence
from types import TracebackType

from pytest_stress.faults.api import API_VERSION, ToxiproxyApi
from pytest_stress.faults.http11 import serve_connection
from pytest_stress.faults.proxy import LOOPBACK, ListenError, bind_listener

__all__ = ["API_VERSION", "EmbeddedToxiproxy", "ListenError", "main"]

START_TIMEOUT_S = 10.0


class EmbeddedToxiproxy:
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
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> EmbeddedToxiproxy:
        """Start serving in a background thread; returns once the API port listens.

        Raises ListenError when the port cannot be bound (for example, already in use).
        """
        if self._thread is not None:
            raise RuntimeError("this EmbeddedToxiproxy was already started; create a new one")
        self._thread = threading.Thread(target=self._run, name=f"embedded-toxiproxy:{self._requested_port}")
        self._thread.daemon = True  # a forgotten stop() must not hang the interpreter at exit
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"embedded toxiproxy did not start within {START_TIMEOUT_S} s")
        if self._error is not None:
            self._thread.join(START_TIMEOUT_S)
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop finished on its own meanwhile
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"embedded toxiproxy thread did not stop within {timeout} s")

    def __enter__(self) -> EmbeddedToxiproxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- the loop thread --------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as err:  # reported to start() if it happened before ready
            if not self._ready.is_set():
                self._error = err
        finally:
            self._ready.set()
            _cancel_remaining(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

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


def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


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
