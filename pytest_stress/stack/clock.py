"""Clocks the stack reads time from: the wall clock in production, a simulated one in tests.

An OMS that backs off 1, 2, 4 s must not make a test sleep 7 s: it calls ``clock.sleep`` and the
simulated clock only advances its reading.
"""

from __future__ import annotations

import threading
import time


class WallClock:
    """Real time: ``time.monotonic`` and ``time.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SimClock:
    """Simulated seconds: ``sleep`` advances the reading at once; ``advance`` moves it from a test."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []  # every sleep asked for, so tests can check a backoff schedule

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        with self._lock:
            self.sleeps.append(float(seconds))
            self._now += float(seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        with self._lock:
            self._now += float(seconds)
