"""The services a stack talks to over real sockets, each behind its own Toxiproxy proxy, so that
``@pytest.mark.inject_failure("<service>", ...)`` can break the path between them.

``market_data``: the WebSocket feed of a scenario's stressed frame; its ``feed_faults`` switch turns on the
faults the network cannot express (drop, reorder, duplicate, corrupt) for the connections opened after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pytest_stress.faults.feed_faults import FeedFaultKind, FeedFaults
from pytest_stress.faults.inject import FaultSpecError
from pytest_stress.faults.ws_feed import WebSocketFeedServer
from pytest_stress.market.frame import MarketFrame

LOOPBACK = "127.0.0.1"


class FeedFaultSwitch:
    """``inject_failure`` on a feed: each mode on or off; the stream of the next connection opened while a
    mode is on is planned with it (``rate`` = share of messages; ``drop``: ``value`` runs of 5-30 ticks)."""

    def __init__(self, server: WebSocketFeedServer, seed: int = 0) -> None:
        self.server, self.seed = server, seed
        self.modes: dict[str, tuple[float, float | None, dict[str, Any]]] = {}

    def enable(self, mode: str, *, rate: float = 1.0, value: float | None = None, **attrs: Any) -> None:
        self.modes[mode] = (rate, value, attrs)
        self._apply()

    def disable(self, mode: str) -> None:
        self.modes.pop(mode, None)
        self._apply()

    def _apply(self) -> None:
        kw: dict[str, Any] = {"seed": self.seed}
        for mode, (rate, value, attrs) in self.modes.items():
            if mode == "drop":
                kw["random_drops"] = int(value or 1)
            elif mode == "reorder":
                kw["reorder_fraction"] = rate
                kw["reorder_window"] = int(attrs.get("window", 3))
            elif mode == "duplicate":
                kw["duplicate_fraction"] = rate
            elif mode == "corrupt":
                kw["corrupt_fraction"] = rate
                kw["corrupt_kind"] = (
                    FeedFaultKind(attrs["kind"]) if "kind" in attrs else FeedFaultKind.CORRUPT_JSON
                )
            else:
                raise FaultSpecError(f"feed fault mode {mode!r} is not drop, reorder, duplicate or corrupt")
        # the next connection gets the faults; later ones (an adapter replaying from its checkpoint) are clean
        self.server.faults = FeedFaults(**kw, connections=self.server.connections + 1) if self.modes else None


@dataclass
class MarketDataService:
    proxy_name: str
    url: str  # through the proxy: what the stack's feed adapter connects to
    server: WebSocketFeedServer
    feed_faults: FeedFaultSwitch


@contextlib.contextmanager
def market_data_service(
    client: Any, frame: MarketFrame, *, time_scale: float = 1.0, seed: int = 0, name: str = "market_data"
) -> Iterator[MarketDataService]:
    """Start the feed of ``frame`` and a proxy ``name`` in front of it; both are gone on exit."""
    server = WebSocketFeedServer(frame, time_scale=time_scale).start()
    try:
        stale = client.get_proxy(name)
        if stale is not None:  # left by a crashed run against a long-lived server
            stale.destroy()
        proxy = client.create(upstream=f"{LOOPBACK}:{server.port}", name=name, listen=f"{LOOPBACK}:0")
        try:
            host, port = proxy.listen.rsplit(":", 1)
            yield MarketDataService(name, f"ws://{host}:{port}", server, FeedFaultSwitch(server, seed))
        finally:
            proxy.destroy()
    finally:
        server.stop()


class ReplayPrices:
    """``symbol -> price`` from a replayed frame: the mid of the row the replay has reached, where the
    replay advances one row per ``tick_s`` of wall time from the first call (then stays on the last row).
    The broker service prices its fills with it, so fills follow the stressed market."""

    def __init__(self, frame: MarketFrame, tick_s: float) -> None:
        import time

        self.frame, self.tick_s = frame, float(tick_s)
        self.index = {s: i for i, s in enumerate(frame.symbols)}
        self._clock = time.monotonic
        self._start: float | None = None

    def row(self) -> int:
        now = self._clock()
        self._start = now if self._start is None else self._start
        return min(self.frame.n_ticks - 1, int((now - self._start) / self.tick_s)) if self.tick_s > 0 else 0

    def __call__(self, symbol: str) -> float | None:
        i = self.index.get(symbol)
        if i is None:
            return None
        r = self.row()
        mid = 0.5 * (float(self.frame.bid[r, i]) + float(self.frame.ask[r, i]))
        return (
            mid if mid == mid and mid > 0 else None
        )  # NaN or a broken quote: no price, the order is refused


@dataclass
class BrokerService:
    proxy_name: str
    host: str  # the proxy's address: what the stack's FIX client connects to
    port: int
    service: Any  # FixBrokerService: orders, positions per account
    prices: Any = None  # what the service prices fills with (a mapping, or ReplayPrices)


@contextlib.contextmanager
def broker_service(
    client: Any, prices: Any, *, seed: int = 0, name: str = "broker"
) -> Iterator[BrokerService]:
    """Start the FIX 4.4 broker service and a proxy ``name`` in front of it; both are gone on exit."""
    from pytest_stress.faults.fix_broker import FixBrokerService

    service = FixBrokerService(prices=prices, seed=seed).start()
    try:
        stale = client.get_proxy(name)
        if stale is not None:
            stale.destroy()
        proxy = client.create(upstream=f"{LOOPBACK}:{service.port}", name=name, listen=f"{LOOPBACK}:0")
        try:
            host, port = proxy.listen.rsplit(":", 1)
            yield BrokerService(name, host, int(port), service, prices)
        finally:
            proxy.destroy()
    finally:
        service.stop()
