"""@pytest.mark.inject_failure on a real TCP service behind Toxiproxy: the fault is on during the test (or
its window) and gone after it, also when the test fails."""

from __future__ import annotations

import pytest

from pytest_stress.faults.inject import FaultSpec, FaultSpecError

ECHO_SERVICE = """
import socket, time
from dataclasses import dataclass

import pytest
from faults_support import LOOPBACK, Upstream, echo


@dataclass
class EchoService:
    proxy_name: str
    address: tuple


@pytest.fixture
def echo_service(toxiproxy):
    up = Upstream(echo)
    proxy = toxiproxy.client.create(upstream=f"{LOOPBACK}:{up.port}", name="echo", listen=f"{LOOPBACK}:0")
    host, port = proxy.listen.rsplit(":", 1)
    try:
        yield EchoService("echo", (host, int(port)))
    finally:
        proxy.destroy()
        up.close()


def round_trip(service, timeout=3.0):
    t0 = time.monotonic()
    with socket.create_connection(service.address, timeout=timeout) as conn:
        conn.sendall(b"ping")
        assert conn.recv(4) == b"ping"
    return time.monotonic() - t0
"""


@pytest.fixture
def echo_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.syspathinsert(str(__import__("pathlib").Path(__file__).parent))
    pytester.makeconftest(ECHO_SERVICE)
    return pytester


def test_latency_is_added_during_the_test_and_removed_after(echo_suite: pytest.Pytester) -> None:
    echo_suite.makepyfile(
        """
        import pytest
        from conftest import round_trip

        @pytest.mark.inject_failure("echo", mode="latency", value=300)
        def test_slow(echo_service):
            assert round_trip(echo_service) >= 0.3

        def test_fast_again(echo_service, toxiproxy):
            assert toxiproxy.client.get_proxy("echo") is not None
            assert round_trip(echo_service) < 0.3
        """
    )
    echo_suite.runpytest("-p", "no:randomly", "--stress-report=json:c.json").assert_outcomes(passed=2)


def test_outage_refuses_connections_and_is_lifted_even_when_the_test_fails(
    echo_suite: pytest.Pytester,
) -> None:
    echo_suite.makepyfile(
        """
        import socket
        import pytest
        from conftest import round_trip

        @pytest.mark.inject_failure("echo", mode="outage")
        def test_down(echo_service):
            with pytest.raises(OSError):
                round_trip(echo_service, timeout=1.0)
            raise AssertionError("the test fails while the proxy is down")

        def test_after(echo_service):
            assert round_trip(echo_service) < 1.0
        """
    )
    result = echo_suite.runpytest("--stress-report=json:c.json", "--stress-report=html:c.html")
    result.assert_outcomes(passed=1, failed=1)
    html = (echo_suite.path / "c.html").read_text()
    assert "<h2>Fault injection</h2>" in html
    assert "<code>outage</code>" in html
    import json

    doc = json.loads((echo_suite.path / "c.json").read_text())
    [down] = [t for t in doc["tests"] if t["nodeid"].endswith("test_down")]
    assert down["faults"][0]["mode"] == "outage"
    assert down["faults"][0]["log"] == ["proxy echo disabled", "proxy echo enabled"]


def test_a_window_turns_the_fault_on_and_off_in_scaled_time(echo_suite: pytest.Pytester) -> None:
    """window=(1, 8) runbook seconds at --stress-time-scale 10: on from 0.1 s to 0.8 s of the test."""
    echo_suite.makepyfile(
        """
        import time
        import pytest
        from conftest import round_trip

        @pytest.mark.inject_failure("echo", mode="latency", value=250, window=(1, 8))
        def test_windowed(echo_service):
            assert round_trip(echo_service) < 0.25      # before the window
            time.sleep(0.15)
            assert round_trip(echo_service) >= 0.25     # inside it
            time.sleep(0.5)
            assert round_trip(echo_service) < 0.25      # after it
        """
    )
    echo_suite.runpytest("--stress-time-scale=10").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "explode"}, "mode 'explode' is not one of"),
        ({"rate": 1.5}, "rate must be within 0..1"),
        ({"window": (3, 1)}, "0 <= start < end"),
        ({"window": (0, 1), "duration_s": 5}, "either window"),
        ({"colour": "red"}, "unknown argument(s) colour"),
    ],
)
def test_bad_markers_are_refused_naming_the_test(kwargs, message):
    with pytest.raises(FaultSpecError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        FaultSpec.from_marker(("broker",), kwargs, "tests/x.py::test_y")
    assert str(err.value).startswith("tests/x.py::test_y: ")


def test_marker_values_map_onto_the_toxic():
    spec = FaultSpec.from_marker(("broker",), {"mode": "reset_peer", "value": 50, "rate": 0.25}, "t")
    assert spec.toxic() == {
        "name": "inject_reset_peer_downstream",
        "type": "reset_peer",
        "stream": "downstream",
        "toxicity": 0.25,
        "attributes": {"timeout": 50},
    }
    assert FaultSpec.from_marker(("broker",), {"duration_s": 10}, "t").window == (0.0, 10.0)
