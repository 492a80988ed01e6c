"""Replays every HTTP exchange recorded from toxiproxy-server 2.12.0 and checks the server answers the same.

Status, content type, body shape, then the body itself with ports mapped (ports differ from run to run).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from faults_support import LOOPBACK, ServerUnderTest, free_port

DATA = Path(__file__).parent / "data" / "toxiproxy-2.12.0-transcripts.json"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "toxiproxy-contract" / "transcripts.json"
EXCHANGES: list[dict[str, Any]] = json.loads(DATA.read_text())["http"]

# The recording ran as one session; between these ranges the recorder cleaned up or set state up
# without recording it. Each group starts from a server with no proxies.
GROUPS = {
    "api": range(0, 120),
    "populate": range(120, 134),
    "routing": range(134, 143),
    "order": range(143, 151),
}
RECORDED_UPSTREAMS = (34957, 34215)  # the recording's echo and closer servers
ORDER_PROXY_PORT = 41361  # listen port of proxy "ex" that the `order:` cases were run against
# Unrecorded requests the recorder made before a case, visible in later answers.
SETUP_BEFORE: dict[int, list[tuple[str, str, Any]]] = {
    121: [
        (
            "POST",
            "/proxies/pop_a/toxics",
            {"name": "pop_lat", "type": "latency", "attributes": {"latency": 1}},
        )
    ],
}
ADDRESS = re.compile(r"(127\.0\.0\.1|localhost|\[::\]):(\d+)")
FIXED_PORTS = {0, 1, 99999}  # meaningful as they are: any port, a dead upstream, an invalid port


def _group_of(index: int) -> str:
    return next(name for name, span in GROUPS.items() if index in span)


def _case_id(index: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", EXCHANGES[index]["case"].lower()).strip("-")
    return f"{index:03d}-{slug[:60]}"


@dataclass
class Answer:
    status: int
    content_type: str | None
    raw: str
    has_request_id: bool


def request(server: ServerUnderTest, method: str, path: str, body: bytes | None) -> Answer:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        raw = resp.read().decode()
        return Answer(
            resp.status,
            resp.getheader("Content-Type"),
            raw,
            resp.getheader("X-Toxiproxy-Request-Id") is not None,
        )
    finally:
        conn.close()


@dataclass
class PortMap:
    """Recorded port -> live port. Unknown request ports get a fresh free port; answers teach the rest."""

    known: dict[int, int] = field(default_factory=dict)

    def to_live(self, text: str) -> str:
        def swap(m: re.Match[str]) -> str:
            port = int(m.group(2))
            if port not in FIXED_PORTS and port not in self.known:
                self.known[port] = free_port()
            return f"{m.group(1)}:{self.known.get(port, port)}"

        return ADDRESS.sub(swap, text)

    def expected(self, text: str) -> str:
        return ADDRESS.sub(lambda m: f"{m.group(1)}:{self.known.get(int(m.group(2)), m.group(2))}", text)

    def learn(self, recorded: Any, live: Any) -> None:
        """Pair the addresses of the recorded answer with the live one, where the structures line up."""
        if isinstance(recorded, dict) and isinstance(live, dict):
            for key in recorded.keys() & live.keys():
                self.learn(recorded[key], live[key])
        elif isinstance(recorded, list) and isinstance(live, list):
            for a, b in zip(recorded, live, strict=False):
                self.learn(a, b)
        elif isinstance(recorded, str) and isinstance(live, str):
            pairs = zip(ADDRESS.finditer(recorded), ADDRESS.finditer(live), strict=False)
            for rec, got in pairs:
                port = int(rec.group(2))
                if port not in FIXED_PORTS:
                    self.known.setdefault(port, int(got.group(2)))


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, (int, float)):
        return "number"  # Go prints toxicity 1 and 0.5 alike as JSON numbers
    return type(value).__name__


class GroupReplay:
    """Drives one group's exchanges in order on one server, so any single case can run on its own."""

    def __init__(self, server: ServerUnderTest, group: str, upstreams: list[socket.socket]) -> None:
        self.server, self.group = server, group
        self.upstream_ports = [s.getsockname()[1] for s in upstreams]
        self.next = GROUPS[group].start
        self.ports = PortMap()

    def _clean(self) -> None:
        names = json.loads(request(self.server, "GET", "/proxies", None).raw)
        for name in names:
            request(self.server, "DELETE", f"/proxies/{name}", None)
        request(self.server, "POST", "/reset", None)
        self.ports = PortMap(dict(zip(RECORDED_UPSTREAMS, self.upstream_ports, strict=True)))
        if self.group == "order":
            body = {
                "name": "ex",
                "listen": f"{LOOPBACK}:0",
                "upstream": f"{LOOPBACK}:{self.upstream_ports[0]}",
            }
            created = json.loads(request(self.server, "POST", "/proxies", json.dumps(body).encode()).raw)
            self.ports.known[ORDER_PROXY_PORT] = int(created["listen"].rsplit(":", 1)[1])
            lat = {"name": "lat", "type": "latency", "attributes": {"latency": 1}}
            request(self.server, "POST", "/proxies/ex/toxics", json.dumps(lat).encode())
        self.next = GROUPS[self.group].start

    def exchange(self, index: int) -> tuple[Answer, PortMap]:
        if index < self.next or self.next == GROUPS[self.group].start:
            self._clean()
        while self.next <= index:
            self._send(self.next)
            answer = self._last
            self.next += 1
        return answer, self.ports

    def _send(self, index: int) -> None:
        for method, path, body in SETUP_BEFORE.get(index, []):
            request(self.server, method, path, self.ports.to_live(json.dumps(body)).encode())
        case = EXCHANGES[index]
        if case["request_body"] is None:
            body_bytes = None
        elif case["request_body_is_raw_text"]:
            body_bytes = self.ports.to_live(case["request_body"]).encode()
        else:
            body_bytes = self.ports.to_live(json.dumps(case["request_body"])).encode()
        self._last = request(self.server, case["method"], case["path"], body_bytes)
        if case["response_body_is_json"] and self._last.raw:
            with contextlib.suppress(json.JSONDecodeError):  # the comparison reports a bad body
                self.ports.learn(case["response_body"], json.loads(self._last.raw))


@pytest.fixture(scope="module")
def replays(toxiproxy_server: ServerUnderTest) -> Iterator[dict[str, GroupReplay]]:
    # Listening sockets standing in for the recording's upstreams; nothing connects to them here.
    upstreams = []
    try:
        for _ in RECORDED_UPSTREAMS:
            sock = socket.socket()
            sock.bind((LOOPBACK, 0))
            sock.listen(8)
            upstreams.append(sock)
        yield {name: GroupReplay(toxiproxy_server, name, upstreams) for name in GROUPS}
    finally:
        for sock in upstreams:
            sock.close()


# Where the embedded server knowingly answers differently, and why.
EMBEDDED_DIFFERENCES = {
    # An empty `listen` makes the real server bind every interface ("[::]:P"); the embedded one only
    # ever binds 127.0.0.1, so it shows "127.0.0.1:P" there.
    "list proxies after reset (all enabled, created-disabled ones too)": ("[::]:", "127.0.0.1:"),
}


@pytest.mark.parametrize("index", range(len(EXCHANGES)), ids=_case_id)
def test_answers_like_toxiproxy_2_12_0(
    index: int, replays: dict[str, GroupReplay], toxiproxy_server: ServerUnderTest
) -> None:
    case = EXCHANGES[index]
    answer, ports = replays[_group_of(index)].exchange(index)

    assert answer.status == case["status"], answer.raw
    assert answer.content_type == case["response_content_type"]
    assert answer.has_request_id == case["response_has_request_id_header"]
    expected_raw = ports.expected(case["response_body_raw"])
    if toxiproxy_server.kind == "embedded" and case["case"] in EMBEDDED_DIFFERENCES:
        old, new = EMBEDDED_DIFFERENCES[case["case"]]
        expected_raw = expected_raw.replace(old, new)
    if case["response_body_is_json"]:
        live = json.loads(answer.raw)
        assert shape(live) == shape(case["response_body"])
        assert live == json.loads(expected_raw)
    assert answer.raw == expected_raw  # byte for byte: key order, compact form, trailing newline


def test_transcripts_copy_matches_the_shared_contract() -> None:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is not present (only in the project workspace)")
    assert json.loads(SHARED.read_text()) == json.loads(DATA.read_text())


def test_keep_alive_serves_several_requests_on_one_connection(toxiproxy_server: ServerUnderTest) -> None:
    conn = http.client.HTTPConnection(toxiproxy_server.host, toxiproxy_server.port, timeout=5)
    try:
        for _ in range(3):
            conn.request("GET", "/version")
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["version"]
        conn.request("POST", "/proxies", body=b"{", headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 400
        assert json.loads(resp.read()) == {"error": "bad request body: unexpected EOF", "status": 400}
    finally:
        conn.close()
