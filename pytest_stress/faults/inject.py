"""``@pytest.mark.inject_failure``: a fault on a named service for the duration of a test (or a window of
it), mapped onto a Toxiproxy toxic, a disabled proxy, or an application-level feed fault.

A service is whatever fixture ``<service>_service`` returns: an object with ``proxy_name`` (the
Toxiproxy proxy in front of it) and, for feeds, ``feed_faults`` (faults the network cannot express).
Every fault is removed when the test ends, also when it fails; ``Toxiproxy.reset`` is the last resort.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_stress.errors import StressError

# mode -> (toxic type, the attribute the marker's main number fills, its unit)
TOXIC_MODES: dict[str, tuple[str, str, str]] = {
    "latency": ("latency", "latency", "ms"),
    "bandwidth": ("bandwidth", "rate", "KB/s"),
    "slow_close": ("slow_close", "delay", "ms"),
    "timeout": ("timeout", "timeout", "ms"),
    "reset_peer": ("reset_peer", "timeout", "ms"),
    "slicer": ("slicer", "average_size", "bytes"),
    "limit_data": ("limit_data", "bytes", "bytes"),
}
PROXY_MODES = ("outage",)  # the proxy is disabled: connections dropped, nothing listens
FEED_MODES = ("drop", "reorder", "duplicate", "corrupt")  # applied by the feed itself
MODES = (*TOXIC_MODES, *PROXY_MODES, *FEED_MODES)
_MARKER_KEYS = {"service", "mode", "rate", "window", "duration_s", "stream", "value", "attributes"}


class FaultSpecError(StressError, ValueError):
    """An ``inject_failure`` marker that cannot be applied; the message names the test and the argument."""


@dataclass(frozen=True)
class FaultSpec:
    """One fault: ``rate`` is the toxicity (0..1, the share of connections or messages it hits),
    ``window`` the seconds of the test it is on (None: the whole test), in runbook time (scaled by
    ``--stress-time-scale`` when applied)."""

    service: str
    mode: str = "outage"
    rate: float = 1.0
    window: tuple[float, float] | None = None
    stream: str = "downstream"
    value: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_marker(cls, args: tuple, kwargs: Mapping[str, Any], where: str) -> FaultSpec:
        unknown = set(kwargs) - _MARKER_KEYS
        if unknown:
            raise FaultSpecError(
                f"{where}: inject_failure got unknown argument(s) {', '.join(sorted(unknown))}"
            )
        service = args[0] if args else kwargs.get("service")
        if not isinstance(service, str) or not service:
            raise FaultSpecError(
                f"{where}: inject_failure needs a service name, e.g. inject_failure('broker')"
            )
        mode = kwargs.get("mode") or "outage"
        if mode not in MODES:
            raise FaultSpecError(f"{where}: inject_failure mode {mode!r} is not one of {', '.join(MODES)}")
        rate = kwargs.get("rate")
        rate = 1.0 if rate is None else float(rate)
        if not 0.0 <= rate <= 1.0:
            raise FaultSpecError(f"{where}: inject_failure rate must be within 0..1, got {rate}")
        window = _window(kwargs.get("window"), kwargs.get("duration_s"), where)
        stream = kwargs.get("stream", "downstream")
        if stream not in ("upstream", "downstream"):
            raise FaultSpecError(f"{where}: inject_failure stream must be upstream or downstream")
        value = kwargs.get("value")
        return cls(service, mode, rate, window, stream, None if value is None else float(value),
                   dict(kwargs.get("attributes") or {}))  # fmt: skip

    def toxic(self) -> dict[str, Any]:
        """The toxic to add (name, type, stream, toxicity, attributes) for a toxic mode."""
        kind, main, _ = TOXIC_MODES[self.mode]
        attributes = dict(self.attributes)
        if self.value is not None:
            attributes[main] = (
                int(self.value) if kind != "latency" or self.value == int(self.value) else self.value
            )
        return {"name": f"inject_{self.mode}_{self.stream}", "type": kind, "stream": self.stream,
                "toxicity": self.rate, "attributes": attributes}  # fmt: skip


def _window(window: Any, duration_s: Any, where: str) -> tuple[float, float] | None:
    if window in (None, "test"):
        if duration_s is None:
            return None
        window = (0.0, float(duration_s))
    elif duration_s is not None:
        raise FaultSpecError(f"{where}: give inject_failure either window=(start_s, end_s) or duration_s")
    try:
        start, end = (float(x) for x in window)
    except (TypeError, ValueError):
        raise FaultSpecError(f"{where}: inject_failure window must be 'test' or (start_s, end_s)") from None
    if not 0.0 <= start < end:
        raise FaultSpecError(f"{where}: inject_failure window must have 0 <= start < end, got {window}")
    return start, end


def inject_failure(service: str, rate: float = 1.0, window: Any = "test", **kwargs: Any):
    """Seed 004's decorator signature, as a marker: ``@inject_failure("broker", rate=0.1)`` on a test is
    ``@pytest.mark.inject_failure("broker", rate=0.1, window="test")``."""
    import pytest

    return pytest.mark.inject_failure(service, rate=rate, window=window, **kwargs)


@contextlib.contextmanager
def applied(spec: FaultSpec, target: Any, client: Any, time_scale: float = 1.0) -> Iterator[list[str]]:
    """Apply ``spec`` to the service ``target`` for the block; yields the log of what was done.

    With a window, a timer turns the fault on at ``start / time_scale`` seconds and off at
    ``end / time_scale``; leaving the block always turns it off and cancels the timers.
    """
    log: list[str] = []
    on, off = _actions(spec, target, client, log)
    lock = threading.Lock()
    state = {"on": False, "done": False}

    def turn(want: bool) -> None:
        with lock:
            if state["done"] or state["on"] == want:
                return
            (on if want else off)()
            state["on"] = want

    timers: list[threading.Timer] = []
    if spec.window is None:
        turn(True)
    else:
        start, end = (t / time_scale for t in spec.window)
        timers = [threading.Timer(start, turn, (True,)), threading.Timer(end, turn, (False,))]
        for t in timers:
            t.daemon = True
            t.start()
    try:
        yield log
    finally:
        for t in timers:
            t.cancel()
        with lock:
            if state["on"]:
                try:
                    off()
                except Exception:  # the last resort: nothing may stay broken after the test
                    client.reset()
                    log.append("removal failed: Toxiproxy reset")
            state["done"] = True


def _actions(spec: FaultSpec, target: Any, client: Any, log: list[str]) -> tuple[Callable, Callable]:
    if spec.mode in FEED_MODES:
        faults = getattr(target, "feed_faults", None)
        if faults is None:
            raise FaultSpecError(f"inject_failure({spec.service!r}, mode={spec.mode!r}): the service has no "
                                 "feed_faults; application-level modes apply to market-data feeds")  # fmt: skip

        def on() -> None:
            faults.enable(spec.mode, rate=spec.rate, value=spec.value, **spec.attributes)
            log.append(f"feed fault {spec.mode} on")

        def off() -> None:
            faults.disable(spec.mode)
            log.append(f"feed fault {spec.mode} off")

        return on, off
    name = getattr(target, "proxy_name", None)
    if not name:
        raise FaultSpecError(
            f"inject_failure({spec.service!r}): the service has no Toxiproxy proxy (proxy_name)"
        )
    proxy = client.get_proxy(name)
    if proxy is None:
        raise FaultSpecError(f"inject_failure({spec.service!r}): Toxiproxy has no proxy named {name!r}")
    if spec.mode == "outage":

        def on() -> None:
            proxy.disable()
            log.append(f"proxy {name} disabled")

        def off() -> None:
            proxy.enable()
            log.append(f"proxy {name} enabled")

        return on, off
    toxic = spec.toxic()

    def on() -> None:
        proxy.add_toxic(**toxic)
        log.append(f"toxic {toxic['name']} added to {name}")

    def off() -> None:
        proxy.destroy_toxic(toxic["name"])
        log.append(f"toxic {toxic['name']} removed from {name}")

    return on, off
