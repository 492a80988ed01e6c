"""After a pytest session that used the fault fixtures, nothing they started is left: no thread, no
listening or connected socket, no child process (issue 7, hygiene)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest


def _sockets() -> set[str]:
    fds = Path("/proc/self/fd")
    out = set()
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out


def _children() -> set[int]:
    me = str(os.getpid())
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            kids.add(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs Linux /proc to list sockets")
def test_fault_fixtures_leave_nothing_behind(pytester: pytest.Pytester) -> None:
    pytester.syspathinsert(str(Path(__file__).parent))
    pytester.makepyfile(
        """
        import socket
        import pytest
        from faults_support import LOOPBACK, Upstream, echo


        @pytest.fixture
        def echo_service(toxiproxy):
            up = Upstream(echo)
            proxy = toxiproxy.client.create(upstream=f"{LOOPBACK}:{up.port}", name="echo", listen=f"{LOOPBACK}:0")
            try:
                yield type("S", (), {"proxy_name": "echo", "listen": proxy.listen})
            finally:
                proxy.destroy()
                up.close()


        @pytest.mark.inject_failure("echo", mode="latency", value=20)
        def test_through_the_proxy(echo_service):
            host, port = echo_service.listen.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=2) as conn:
                conn.sendall(b"x")
                assert conn.recv(1) == b"x"
        """
    )
    threads_before = {t.ident for t in threading.enumerate()}
    sockets_before, children_before = _sockets(), _children()
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    leftover_threads = [t.name for t in threading.enumerate() if t.ident not in threads_before]
    assert leftover_threads == []
    assert _sockets() - sockets_before == set()
    assert _children() - children_before == set()
