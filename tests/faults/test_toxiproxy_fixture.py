"""The plugin's ``toxiproxy`` fixture and the ``toxiproxy`` CLI command."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from faults_support import LOOPBACK, echo, free_port

from pytest_stress.faults.servers import toxiproxy_server


def test_fixture_gives_a_connected_client_on_loopback(toxiproxy, upstream):
    client, url = toxiproxy
    assert url.startswith(f"http://{LOOPBACK}:")
    assert toxiproxy.kind in ("embedded", "toxiproxy-server", "url")
    up = upstream(echo)
    proxy = client.create(upstream=f"{LOOPBACK}:{up.port}", name="fixture_echo", listen=f"{LOOPBACK}:0")
    try:
        host, port = proxy.listen.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=2) as conn:
            conn.sendall(b"ping")
            assert conn.recv(4) == b"ping"
        assert "fixture_echo" in client.proxies()
    finally:
        proxy.destroy()


def test_url_is_used_when_given_and_refused_when_nothing_answers():
    with toxiproxy_server() as started, toxiproxy_server(started.url) as given:
        assert (given.kind, given.port) == ("url", started.port)
    port = free_port()
    with (
        pytest.raises(ConnectionError, match=f"{LOOPBACK}:{port}"),
        toxiproxy_server(f"http://{LOOPBACK}:{port}"),
    ):
        pass


def test_cli_serves_until_terminated():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_stress", "toxiproxy", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection((LOOPBACK, port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the embedded server did not start listening")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"listening on http://{LOOPBACK}:{port}" in out
