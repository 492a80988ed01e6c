"""The embedded Toxiproxy as a component: toxiproxy-python works on it unchanged, and it starts and stops cleanly.

The client steps are the ones recorded against toxiproxy-server 2.12.0 (``toxiproxy_python_0_1_1``).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from faults_support import LOOPBACK, Upstream, echo
from toxiproxy import Toxiproxy

from pytest_stress.faults.toxiproxy_server import EmbeddedToxiproxy, ListenError, main

DATA = Path(__file__).parent / "data" / "toxiproxy-2.12.0-transcripts.json"
RECORDED = {s["step"]: s for s in json.loads(DATA.read_text())["toxiproxy_python_0_1_1"]}
PORT = re.compile(r"127\.0\.0\.1:\d+")


def _normalise(value: Any) -> Any:
    return json.loads(PORT.sub("127.0.0.1:PORT", json.dumps(value)))


class Steps:
    """Runs client steps and compares each result or exception with the recorded one."""

    def __init__(self) -> None:
        self.done: set[str] = set()

    def check(self, step: str, action: Callable[[], Any], view: Callable[[Any], Any] = lambda r: r) -> Any:
        recorded = RECORDED[step]
        self.done.add(step)
        raised: Exception | None = None
        try:
            result = action()
        except Exception as exc:  # compared below with the recorded exception text
            raised = exc
        if raised is not None:
            assert not recorded["ok"], f"{step}: unexpected {raised!r}"
            assert f"{type(raised).__name__}: {raised}" == recorded["exception"], step
            return None
        assert recorded["ok"], f"{step}: expected {recorded['exception']}, got {result!r}"
        assert _normalise(view(result)) == _normalise(recorded["result"]), step
        return result


def _connects(listen: str) -> str:
    host, port = listen.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return "refused(ECONNREFUSED)"
    return "connected"


@pytest.fixture
def echo_upstream() -> Iterator[Upstream]:
    server = Upstream(echo)
    try:
        yield server
    finally:
        server.close()


def test_toxiproxy_python_0_1_1_works_unchanged(client: Toxiproxy, echo_upstream: Upstream) -> None:
    steps = Steps()
    up = echo_upstream.address
    steps.check("running()", client.running)
    steps.check("version()", client.version, lambda r: str(r))
    steps.check("proxies() empty", client.proxies, list)
    proxy = steps.check(
        "create(upstream, name, listen='127.0.0.1:0')",
        lambda: client.create(upstream=up, name="py_echo", listen=f"{LOOPBACK}:0"),
        lambda p: {"name": p.name, "listen": p.listen, "upstream": p.upstream, "enabled": p.enabled},
    )
    steps.check(
        "create() default listen (client sends 127.0.0.1:0)",
        lambda: client.create(upstream=up, name="py_default"),
        lambda p: p.listen,
    )
    steps.check("create() duplicate name", lambda: client.create(upstream=up, name="py_echo"))
    assert client.get_proxy("py_echo").listen == proxy.listen
    steps.check("get_proxy('py_echo').listen", lambda: client.get_proxy("py_echo").listen)
    steps.check(
        "create() with a listen address already in use (server answers 500)",
        lambda: client.create(upstream=up, name="py_conflict", listen=proxy.listen),
    )
    steps.check("get_proxy('missing')", lambda: client.get_proxy("missing"))
    steps.check(
        "add_toxic(type='latency', attributes={'latency': 100})",
        lambda: proxy.add_toxic(type="latency", attributes={"latency": 100}),
    )
    host, port = proxy.listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=3) as sock:
        start = time.perf_counter()
        sock.sendall(b"ping")
        assert sock.recv(10) == b"ping"
        rtt_ms = (time.perf_counter() - start) * 1000
    steps.done.add("round trip with latency 100 (ms)")
    assert 100 <= rtt_ms <= RECORDED["round trip with latency 100 (ms)"]["result"] + 5
    steps.check("toxics()", proxy.toxics, lambda ts: {n: vars(t) for n, t in ts.items()})
    steps.check(
        "get_toxic('latency_downstream').attributes", lambda: proxy.get_toxic("latency_downstream").attributes
    )
    steps.check("add_toxic duplicate", lambda: proxy.add_toxic(type="latency"))
    steps.check("add_toxic invalid type", lambda: proxy.add_toxic(type="explode", name="x"))
    steps.check(
        "add_toxic invalid stream", lambda: proxy.add_toxic(type="latency", name="y", stream="sideways")
    )
    kinds = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "noop")

    def add_every_type() -> None:
        for kind in kinds:  # each returns None, as recorded; named so they do not clash
            assert proxy.add_toxic(type=kind, name=f"all_{kind}", stream="upstream") is None
        assert len(proxy.toxics()) == len(kinds) + 1

    steps.check("add_toxic every type with defaults", add_every_type)
    steps.check("destroy_toxic('latency_downstream')", lambda: proxy.destroy_toxic("latency_downstream"))
    steps.check("destroy_toxic('missing')", lambda: proxy.destroy_toxic("missing"))
    steps.check("reset()", client.reset)
    steps.check("toxics() after reset", proxy.toxics, list)
    steps.check("disable()", proxy.disable)
    steps.check("connect while disabled", lambda: _connects(proxy.listen))
    steps.check("enable()", proxy.enable)
    steps.check("connect after enable", lambda: _connects(proxy.listen))

    def down() -> dict[str, str]:
        with proxy.down():
            inside = _connects(proxy.listen)
        return {"inside": inside, "after": _connects(proxy.listen)}

    steps.check("with proxy.down()", down)
    pop = [{"name": "py_pop", "upstream": up, "listen": f"{LOOPBACK}:0"}]
    steps.check(
        "populate([...]) (client side; does not call /populate)",
        lambda: client.populate(pop),
        lambda ps: [p.name for p in ps],
    )
    steps.check("destroy(proxy)", lambda: client.destroy(proxy))
    steps.check("proxy.destroy() again", proxy.destroy)
    steps.check("destroy_all()", client.destroy_all)
    steps.check("proxies() after destroy_all", client.proxies, list)
    assert steps.done == set(RECORDED)


def test_stop_closes_every_listener_connection_and_thread(echo_upstream: Upstream) -> None:
    before = set(threading.enumerate())  # a session-wide server (the toxiproxy fixture) may be running
    server = EmbeddedToxiproxy().start()
    try:
        created = requests.post(
            f"{server.url}/proxies",
            json={"name": "p", "listen": f"{LOOPBACK}:0", "upstream": echo_upstream.address},
            timeout=5,
        ).json()
        host, port = created["listen"].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=3)
        sock.sendall(b"hi")
        assert sock.recv(10) == b"hi"
    finally:
        server.stop()
    with sock:
        assert sock.recv(10) == b""  # the open connection was closed
    for address in ((LOOPBACK, server.port), (host, int(port))):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address, timeout=2)
    assert not [t for t in set(threading.enumerate()) - before if t.name.startswith("embedded-toxiproxy")]
    server.stop()  # a second stop is harmless


def test_binds_loopback_only(embedded: EmbeddedToxiproxy, echo_upstream: Upstream) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        EmbeddedToxiproxy(host="0.0.0.0")
    answer = requests.post(
        f"{embedded.url}/proxies",
        json={"name": "wide", "listen": "0.0.0.0:0", "upstream": echo_upstream.address},
        timeout=5,
    )
    assert answer.status_code == 500
    assert answer.json() == {
        "error": "listen tcp 0.0.0.0:0: the embedded toxiproxy listens on 127.0.0.1 only",
        "status": 500,
    }


def test_start_on_a_taken_port_raises_listen_error(embedded: EmbeddedToxiproxy) -> None:
    second = EmbeddedToxiproxy(port=embedded.port)
    with pytest.raises(ListenError, match="address already in use"):
        second.start()
    second.stop()


def test_main_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    assert "127.0.0.1 only" in capsys.readouterr().err


def test_main_serves_until_terminated() -> None:
    cmd = [sys.executable, "-m", "pytest_stress.faults.toxiproxy_server", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        assert requests.get(f"{url.group(0)}/version", timeout=5).json() == {"version": "2.12.0"}
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
