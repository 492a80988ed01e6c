"""An asyncio server on a background thread with its own event loop: start returns once it listens,
stop closes everything and joins the thread. The embedded Toxiproxy and the WebSocket feed share it.

A subclass implements ``async _serve()``: it creates ``self._stopping``, binds, sets ``self._ready`` once
listening, and waits on ``self._stopping``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Any

START_TIMEOUT_S = 10.0


class LoopThreadServer:
    def _init_loop_thread(self, label: str) -> None:
        """``label``: the thread's name and the subject of error messages."""
        self._label = label
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Any:
        """Serve in a background thread; returns self once listening, or raises what stopped it."""
        if self._thread is not None:
            raise RuntimeError(f"this {type(self).__name__} was already started; create a new one")
        # daemon: a forgotten stop() must not hang the interpreter at exit
        self._thread = threading.Thread(target=self._run, name=self._label, daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"{self._label} did not start within {START_TIMEOUT_S} s")
        if self._error is not None:
            self._thread.join(START_TIMEOUT_S)
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and every connection and join the thread; safe to call twice."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop finished on its own meanwhile
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"{self._label} thread did not stop within {timeout} s")

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _serve(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as err:  # handed to start() when it happened before the port listened
            if not self._ready.is_set():
                self._error = err
        finally:
            self._ready.set()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
