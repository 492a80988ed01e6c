"""The ``toxiproxy`` session fixture: a connected toxiproxy-python client and the server's address.

Registered by ``pytest_stress.plugin``; the server is chosen and started by ``faults.servers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class ToxiproxyHandle:
    """``client``: a ``toxiproxy.Toxiproxy`` pointed at the server; ``url``/``host``/``port``: its API;
    ``kind``: "url" (--toxiproxy-url), "toxiproxy-server" (the binary on PATH) or "embedded"."""

    client: Any
    kind: str
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __iter__(self):  # client, url = toxiproxy
        return iter((self.client, self.url))


@pytest.fixture(scope="session")
def toxiproxy(request: pytest.FixtureRequest) -> Iterator[ToxiproxyHandle]:
    """Toxiproxy for the session: ``--toxiproxy-url``, else ``toxiproxy-server`` on PATH (started on a
    free loopback port), else the embedded server. Every proxy is deleted at the end of the session."""
    from toxiproxy import Toxiproxy
    from toxiproxy.api import APIConsumer

    from pytest_stress.errors import StressError
    from pytest_stress.faults.servers import toxiproxy_server

    url = request.config.getoption("toxiproxy_url")
    try:
        context = toxiproxy_server(url, seed=request.config.getoption("stress_seed"))
        server = context.__enter__()
    except StressError as exc:
        pytest.fail(str(exc), pytrace=False)
    saved = (APIConsumer.host, APIConsumer.port)  # the client keeps its address class-wide
    client = Toxiproxy()
    client.update_api_consumer(server.host, server.port)
    try:
        yield ToxiproxyHandle(client, server.kind, server.host, server.port)
    finally:
        try:
            client.destroy_all()
        finally:
            APIConsumer.host, APIConsumer.port = saved
            context.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _stress_inject_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """Apply the test's ``inject_failure`` markers once the test's own fixtures are set up (the stack
    connects to a healthy service), and remove them before those fixtures are torn down."""
    markers = list(request.node.iter_markers("inject_failure"))
    if not markers:
        yield
        return
    import contextlib

    from pytest_stress.certify.session import FAULT_PROPERTY
    from pytest_stress.faults.inject import FaultSpec, FaultSpecError, applied
    from pytest_stress.plugin import time_scale

    try:
        specs = [FaultSpec.from_marker(m.args, m.kwargs, request.node.nodeid) for m in markers]
    except FaultSpecError as exc:
        pytest.fail(str(exc), pytrace=False)
    for name in request.fixturenames:  # set up everything the test asked for before the fault goes on
        if name not in ("request", "_stress_inject_failure"):
            request.getfixturevalue(name)
    tp = request.getfixturevalue("toxiproxy")
    scale = time_scale(request.config)
    with contextlib.ExitStack() as stack:
        for spec in specs:
            try:
                target = request.getfixturevalue(f"{spec.service}_service")
            except pytest.FixtureLookupError:
                pytest.fail(
                    f"{request.node.nodeid}: inject_failure({spec.service!r}) needs a fixture named "
                    f"{spec.service}_service returning the service (with proxy_name or feed_faults)",
                    pytrace=False,
                )
            try:
                log = stack.enter_context(applied(spec, target, tp.client, scale))
            except FaultSpecError as exc:
                pytest.fail(str(exc), pytrace=False)
            request.node.user_properties.append(
                (
                    FAULT_PROPERTY,
                    {
                        "service": spec.service,
                        "mode": spec.mode,
                        "rate": spec.rate,
                        "window": spec.window,
                        "value": spec.value,
                        "time_scale": scale,
                        "log": log,
                    },
                )
            )
        yield


def _service_frame(request: pytest.FixtureRequest):
    """The stressed market of the test's stress_scenario (flash_crash_lite on 5 symbols without one)."""
    from pytest_stress.replay.harness import stressed_frame
    from pytest_stress.scenario import load_scenario

    if "stress_scenario" in request.fixturenames:
        sc = request.getfixturevalue("stress_scenario")
    else:
        sc = load_scenario("flash_crash_lite").with_overrides(symbols=5)
    return sc, stressed_frame(sc)[1]


@pytest.fixture
def market_data_service(request: pytest.FixtureRequest, toxiproxy: ToxiproxyHandle):
    """The WebSocket feed of the test's scenario (at runbook time / --stress-time-scale), behind the
    Toxiproxy proxy ``market_data``: the service ``inject_failure("market_data", ...)`` acts on."""
    from pytest_stress.faults.services import market_data_service as serve
    from pytest_stress.plugin import time_scale

    sc, frame = _service_frame(request)
    with serve(
        toxiproxy.client, frame, time_scale=time_scale(request.config), seed=sc.market.seed
    ) as service:
        yield service


@pytest.fixture
def feed(market_data_service, event_bus):
    """The stack's feed adapter, reading the scenario's feed through Toxiproxy; override it to certify
    your own (it must publish DataGapDetected, serve a cached book on a stall, and reconnect)."""
    from pytest_stress.faults.feed_adapter import FeedAdapter

    adapter = FeedAdapter(market_data_service.url, bus=event_bus)
    adapter.start()
    try:
        yield adapter
    finally:
        adapter.close()


@pytest.fixture
def broker_service(request: pytest.FixtureRequest, toxiproxy: ToxiproxyHandle):
    """The FIX 4.4 broker service behind the Toxiproxy proxy ``broker``: the service
    ``inject_failure("broker", ...)`` acts on. With a ``stress_scenario`` its fills are priced from the
    scenario's stressed market as it replays (one tick per tick_ms / --stress-time-scale); without one it
    quotes the runbook suite's symbols."""
    from pytest_stress.faults.services import ReplayPrices
    from pytest_stress.faults.services import broker_service as serve
    from pytest_stress.plugin import time_scale
    from pytest_stress.runbook.market import SUITE_PRICES

    prices: object = dict(SUITE_PRICES)
    if "stress_scenario" in request.fixturenames:
        sc, frame = _service_frame(request)
        prices = ReplayPrices(frame, sc.market.tick_ms / 1000 / time_scale(request.config))
    with serve(toxiproxy.client, prices) as service:
        yield service
