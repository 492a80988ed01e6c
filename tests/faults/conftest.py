"""Fixtures for the fault-injection tests: Toxiproxy servers (embedded, or the real binary) and tiny upstreams.

Every server a fixture starts is stopped in a ``finally``, so a failing test leaves no port or thread behind.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from faults_support import ServerUnderTest, Upstream, run_server
from fix_support import ServiceFactory
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

from pytest_stress.faults.fix_broker import FixBrokerService
from pytest_stress.faults.toxiproxy_server import EmbeddedToxiproxy


@pytest.fixture(scope="module", params=["embedded", "toxiproxy-server"])
def toxiproxy_server(request: pytest.FixtureRequest) -> Iterator[ServerUnderTest]:
    """The server under test: the embedded one, and the real binary when it is on PATH."""
    with run_server(request.param) as server:
        yield server


@pytest.fixture
def embedded() -> Iterator[EmbeddedToxiproxy]:
    server = EmbeddedToxiproxy(seed=11).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(embedded: EmbeddedToxiproxy) -> Iterator[Toxiproxy]:
    """A toxiproxy-python client on the embedded server; its class-wide address is restored after."""
    saved = (APIConsumer.host, APIConsumer.port)
    tp = Toxiproxy()
    tp.update_api_consumer(embedded.host, embedded.port)
    try:
        yield tp
    finally:
        APIConsumer.host, APIConsumer.port = saved


@pytest.fixture
def upstream() -> Iterator[Callable[[Callable[[socket.socket], None]], Upstream]]:
    """Factory for upstream servers; every one made is closed at teardown."""
    made: list[Upstream] = []

    def make(serve: Callable[[socket.socket], None]) -> Upstream:
        made.append(Upstream(serve))
        return made[-1]

    try:
        yield make
    finally:
        for server in made:
            server.close()


@pytest.fixture
def make_service() -> Iterator[ServiceFactory]:
    """Factory for FIX broker services; every one made is stopped at teardown."""
    factory = ServiceFactory()
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def service(make_service: ServiceFactory) -> FixBrokerService:
    return make_service()
