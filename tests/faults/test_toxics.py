"""Toxic behaviour of the embedded Toxiproxy measured through real loopback sockets (contract section 3).

Each test compares with a no-toxic baseline where timing matters and allows generous tolerance for CI.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable

import pytest
from faults_support import LOOPBACK, Upstream, closer, echo, source
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.proxy import Proxy

SLACK_MS = 5.0  # "within a few ms of the setting": the real server adds ~0.5 ms, asyncio timers ~1 ms more
RECV_TIMEOUT_S = 3.0

MakeUpstream = Callable[[Callable[[socket.socket], None]], Upstream]


def connect(proxy: Proxy) -> socket.socket:
    host, port = proxy.listen.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=RECV_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trip_ms(sock: socket.socket, payload: bytes = b"p" * 64) -> float:
    start = time.perf_counter()
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        data = sock.recv(65536)
        assert data, "connection closed during a round trip"
        got += data
    return (time.perf_counter() - start) * 1000.0


def outcome(sock: socket.socket, wait_s: float) -> str:
    """What the client sees next: 'eof', 'reset', 'open' (nothing within wait_s) or 'data'."""
    sock.settimeout(wait_s)
    try:
        data = sock.recv(65536)
    except TimeoutError:
        return "open"
    except ConnectionResetError:
        return "reset"
    return "data" if data else "eof"


def read_all(sock: socket.socket) -> tuple[list[int], bytes]:
    """Sizes of successive reads and the bytes, until EOF (bounded by the socket timeout)."""
    sizes, chunks = [], []
    while data := sock.recv(65536):
        sizes.append(len(data))
        chunks.append(data)
    return sizes, b"".join(chunks)


def median_rtt(sock: socket.socket, n: int = 8) -> float:
    return statistics.median(round_trip_ms(sock) for _ in range(n))


def test_latency_adds_the_setting_on_each_stream_and_the_two_add_up(
    client: Toxiproxy, upstream: MakeUpstream
):
    proxy = client.create(upstream=upstream(echo).address, name="lat")
    with connect(proxy) as sock:
        baseline = median_rtt(sock)
        proxy.add_toxic(type="latency", name="down", attributes={"latency": 40})
        down = median_rtt(sock) - baseline  # applies to the already-open connection
        proxy.add_toxic(type="latency", name="up", stream="upstream", attributes={"latency": 20})
        both = median_rtt(sock) - baseline
        proxy.destroy_toxic("down")
        up = median_rtt(sock) - baseline
    assert 40 <= down <= 40 + SLACK_MS
    assert 20 <= up <= 20 + SLACK_MS
    assert 60 <= both <= 60 + 2 * SLACK_MS


def test_latency_jitter_spreads_round_trips_within_latency_plus_minus_jitter(
    client: Toxiproxy, upstream: MakeUpstream
):
    proxy = client.create(upstream=upstream(echo).address, name="jit")
    proxy.add_toxic(type="latency", attributes={"latency": 40, "jitter": 20})
    with connect(proxy) as sock:
        rtts = [round_trip_ms(sock) for _ in range(20)]
    assert min(rtts) >= 20
    assert max(rtts) <= 60 + SLACK_MS
    assert max(rtts) - min(rtts) > 10  # it does spread


def test_latency_update_applies_to_an_open_connection(client: Toxiproxy, upstream: MakeUpstream, embedded):
    proxy = client.create(upstream=upstream(echo).address, name="live")
    with connect(proxy) as sock:
        baseline = median_rtt(sock, 5)
        proxy.add_toxic(type="latency", name="l", attributes={"latency": 60})
        before = median_rtt(sock, 5) - baseline
        APIConsumer.post("/proxies/live/toxics/l", json={"attributes": {"latency": 10}})
        after = median_rtt(sock, 5) - baseline
    # the promise is that the open connection takes the new setting: 60 ms, then 10 ms. The lower bounds
    # are exact (a toxic never delivers early); the upper ones leave room for a loaded 2-core box, where
    # one median of five round trips was seen 6 ms late, while the 50 ms step stays unmistakable.
    assert 60 - 1 <= before <= 60 + 3 * SLACK_MS
    assert 10 - 1 <= after <= 10 + 3 * SLACK_MS
    assert before - after >= 50 - 2 * SLACK_MS


def test_toxicity_zero_never_applies(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(echo).address, name="tox0")
    proxy.add_toxic(type="latency", toxicity=0.0, attributes={"latency": 300})
    for _ in range(5):
        with connect(proxy) as sock:
            # an applied toxic delays every round trip by >= 300 ms; the fastest of three under it proves the
            # toxic is off even when a loaded box stalls one round trip (684 ms was seen once in CI)
            assert min(round_trip_ms(sock) for _ in range(3)) < 300


def test_toxicity_decides_per_connection(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(echo).address, name="tox_half")
    proxy.add_toxic(type="latency", toxicity=0.5, attributes={"latency": 30})
    delayed = []
    for _ in range(12):
        with connect(proxy) as sock:
            rtts = [round_trip_ms(sock) >= 30 for _ in range(2)]
        assert rtts[0] == rtts[1]  # the whole connection or none of it
        delayed.append(rtts[0])
    assert 0 < sum(delayed) < 12  # seed 11 gives a mix; 2**-12 chance of a false failure otherwise


def test_bandwidth_caps_the_rate_within_ten_percent(client: Toxiproxy, upstream: MakeUpstream):
    n_bytes, rate_kbps = 300_000, 300  # one second at the cap
    proxy = client.create(upstream=upstream(source(n_bytes)).address, name="bw")
    proxy.add_toxic(type="bandwidth", attributes={"rate": rate_kbps})
    with connect(proxy) as sock:
        start = time.perf_counter()
        _, data = read_all(sock)
        seconds = time.perf_counter() - start
    assert len(data) == n_bytes
    measured_kbps = n_bytes / 1000 / seconds
    assert measured_kbps == pytest.approx(rate_kbps, rel=0.10)


def test_bandwidth_zero_stalls_and_keeps_the_connection_open(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(source(1000)).address, name="bw0")
    proxy.add_toxic(type="bandwidth", attributes={"rate": 0})
    with connect(proxy) as sock:
        assert outcome(sock, 0.4) == "open"


def test_timeout_closes_the_connection_at_the_set_time_and_drops_data(
    client: Toxiproxy, upstream: MakeUpstream
):
    proxy = client.create(upstream=upstream(echo).address, name="to")
    proxy.add_toxic(type="timeout", attributes={"timeout": 300})
    with connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(b"ping")
        seen = outcome(sock, RECV_TIMEOUT_S)
        elapsed_ms = (time.perf_counter() - start) * 1000
    assert seen == "eof"
    assert 300 - SLACK_MS <= elapsed_ms <= 300 + 100


def test_timeout_zero_holds_forever_until_the_toxic_is_removed(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(echo).address, name="to0")
    proxy.add_toxic(type="timeout", name="hold", attributes={"timeout": 0})
    with connect(proxy) as sock:
        sock.sendall(b"ping")
        assert outcome(sock, 0.4) == "open"  # swallowed, not closed
        proxy.destroy_toxic("hold")
        start = time.perf_counter()
        assert outcome(sock, RECV_TIMEOUT_S) == "eof"
        assert time.perf_counter() - start < 0.2


def test_timeout_zero_upstream_keeps_client_data_from_the_upstream(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(echo).address, name="to0up")
    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    with connect(proxy) as sock:
        sock.sendall(b"ping")
        assert outcome(sock, 0.3) == "open"


def test_reset_peer_resets_new_connections_and_ends_older_ones_with_eof(
    client: Toxiproxy, upstream: MakeUpstream
):
    proxy = client.create(upstream=upstream(echo).address, name="rp")
    with connect(proxy) as older:
        round_trip_ms(older)
        proxy.add_toxic(type="reset_peer", attributes={"timeout": 0})
        with connect(proxy) as newer:
            assert outcome(newer, 0.2) == "open"  # idle: nothing happens yet
            newer.sendall(b"ping")
            assert outcome(newer, RECV_TIMEOUT_S) == "reset"
        older.sendall(b"ping")
        assert outcome(older, RECV_TIMEOUT_S) == "eof"


def test_reset_peer_waits_its_timeout_after_the_first_data(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(echo).address, name="rp200")
    proxy.add_toxic(type="reset_peer", stream="upstream", attributes={"timeout": 200})
    with connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(b"ping")
        assert outcome(sock, RECV_TIMEOUT_S) == "reset"
        elapsed_ms = (time.perf_counter() - start) * 1000
    assert 200 - SLACK_MS <= elapsed_ms <= 200 + 100


def test_slicer_delivers_the_same_bytes_in_smaller_writes(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(source(2000)).address, name="sl")
    # 5 ms between slices gives the reader time to see each slice on its own, even on a busy machine.
    proxy.add_toxic(type="slicer", attributes={"average_size": 100, "size_variation": 10, "delay": 5000})
    with connect(proxy) as sock:
        sizes, data = read_all(sock)
    assert data == b"s" * 2000
    assert len(sizes) >= 10
    small = [s for s in sizes if s <= 110]
    assert len(small) >= 0.8 * len(sizes)  # a late reader may see two slices as one read


def test_slicer_on_upstream_keeps_the_bytes_intact(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(echo).address, name="slup")
    proxy.add_toxic(type="slicer", stream="upstream", attributes={"average_size": 7, "size_variation": 3})
    payload = bytes(range(256)) * 4
    with connect(proxy) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            got += sock.recv(65536)
    assert got == payload


def test_limit_data_passes_exactly_the_limit_then_closes(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(source(100_000)).address, name="ld")
    proxy.add_toxic(type="limit_data", attributes={"bytes": 1500})
    with connect(proxy) as sock:
        _, data = read_all(sock)
    assert len(data) == 1500


def test_limit_data_upstream_closes_the_whole_connection(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(echo).address, name="ldup")
    proxy.add_toxic(type="limit_data", stream="upstream", attributes={"bytes": 8})
    with connect(proxy) as sock:
        sock.sendall(b"0123456789abcdef")
        _, data = read_all(sock)
    assert data == b""  # not even the first 8 bytes come back, as observed on the real server


def test_slow_close_holds_back_the_eof(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(closer).address, name="sc")

    def eof_after_reply_ms() -> float:
        with connect(proxy) as sock:
            sock.sendall(b"x")
            assert sock.recv(10) == b"x"
            start = time.perf_counter()
            assert outcome(sock, RECV_TIMEOUT_S) == "eof"
            return (time.perf_counter() - start) * 1000

    baseline = eof_after_reply_ms()
    proxy.add_toxic(type="slow_close", attributes={"delay": 250})
    delayed = eof_after_reply_ms() - baseline
    assert 250 - SLACK_MS <= delayed <= 250 + 100


def test_disable_closes_connections_and_refuses_until_enabled(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(echo).address, name="dis")
    proxy.add_toxic(type="latency", attributes={"latency": 20})
    with connect(proxy) as sock:
        round_trip_ms(sock)
        with proxy.down():
            assert outcome(sock, RECV_TIMEOUT_S) == "eof"
            with pytest.raises(ConnectionRefusedError):
                connect(proxy)
        assert list(proxy.toxics()) == ["latency_downstream"]  # kept while disabled
    with connect(proxy) as again:
        assert 20 <= median_rtt(again, 3) <= 20 + SLACK_MS  # same port, toxic still active


def test_reset_removes_toxics_reenables_and_releases_held_connections(
    client: Toxiproxy, upstream: MakeUpstream
):
    echo_up = upstream(echo).address
    held = client.create(upstream=echo_up, name="held")
    slow = client.create(upstream=echo_up, name="slow")
    held.add_toxic(type="timeout", attributes={"timeout": 0})
    slow.add_toxic(type="latency", attributes={"latency": 80})
    with connect(held) as held_sock, connect(slow) as slow_sock:
        assert round_trip_ms(slow_sock) >= 80
        held_sock.sendall(b"x")
        assert outcome(held_sock, 0.2) == "open"
        slow.disable()
        slow.enable()
        client.get_proxy("slow").disable()
        assert client.reset() is True
        assert outcome(held_sock, RECV_TIMEOUT_S) == "eof"
    assert all(p.enabled for p in client.proxies().values())
    assert held.toxics() == {}
    assert slow.toxics() == {}
    with connect(slow) as sock:
        assert round_trip_ms(sock) < 40


def test_reset_keeps_open_connections_but_drops_their_toxics(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(echo).address, name="keep")
    proxy.add_toxic(type="latency", attributes={"latency": 80})
    with connect(proxy) as sock:
        assert round_trip_ms(sock) >= 80
        client.reset()
        assert median_rtt(sock, 3) < 40


def test_upstream_change_ends_open_connections_and_keeps_the_port(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(echo).address, name="move")
    other = upstream(closer)
    with connect(proxy) as sock:
        round_trip_ms(sock)
        APIConsumer.post("/proxies/move", json={"upstream": other.address})
        assert outcome(sock, RECV_TIMEOUT_S) == "eof"
    assert client.get_proxy("move").listen == proxy.listen
    with connect(proxy) as sock:
        sock.sendall(b"hi")
        _, data = read_all(sock)  # the closer answers once then closes: it is the new upstream
    assert data == b"hi"


def test_delete_ends_open_connections_then_refuses(client: Toxiproxy, upstream: MakeUpstream):
    proxy = client.create(upstream=upstream(echo).address, name="gone")
    with connect(proxy) as sock:
        round_trip_ms(sock)
        proxy.destroy()
        assert outcome(sock, RECV_TIMEOUT_S) == "eof"
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)


def test_dead_upstream_and_half_close_end_in_eof_as_observed(client: Toxiproxy, upstream: MakeUpstream):
    dead = client.create(upstream=f"{LOOPBACK}:1", name="dead")
    with connect(dead) as sock:
        assert outcome(sock, RECV_TIMEOUT_S) == "eof"
    proxy = client.create(upstream=upstream(echo).address, name="half")
    with connect(proxy) as sock:
        sock.sendall(b"abc")
        sock.shutdown(socket.SHUT_WR)  # a client FIN ends the whole proxied connection
        _, data = read_all(sock)
    assert data in (b"", b"abc")  # the echo may beat the FIN; the real server loses a reply sent after
