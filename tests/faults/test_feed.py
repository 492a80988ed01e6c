"""The market-data WebSocket feed, its application-level faults and the stack's feed adapter, over loopback
sockets and an embedded Toxiproxy (seed 000: fault-injection matrix and FTX replay; seed 001: data feed loss).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from toxiproxy.proxy import Proxy

from pytest_stress.faults.feed_adapter import FeedAdapter, MarketHalt
from pytest_stress.faults.feed_faults import FeedFaultError, FeedFaultKind, FeedFaults
from pytest_stress.faults.ws_feed import WebSocketFeedServer
from pytest_stress.market.frame import MarketFrame
from pytest_stress.stack.bus import EventBus, EventType
from pytest_stress.stack.model import Bar

N_TICKS = 300
TICK_NS = 10_000_000  # 10 ms between ticks
FAST = float("inf")
WAIT_S = 5.0  # bound on every wait; a healthy run needs a fraction of it


def make_frame(n: int = N_TICKS, *, funding: bool = False, seed: int = 5) -> MarketFrame:
    rng = np.random.default_rng(seed)
    symbols = ("BTC-PERP", "ETH-PERP", "SOL-PERP") if funding else ("AAA", "BBB", "CCC")
    mid = 100.0 + np.cumsum(rng.standard_normal((n, 3)) * 0.1, axis=0)
    bid, ask = mid - 0.01, mid + 0.01
    bid[7, 1] = ask[7, 1] = np.nan  # a symbol without a quote for a tick travels as null
    volume = rng.integers(1, 50, (n, 3)).astype(np.float64)
    rate = np.full((n, 3), 0.0001) + 1e-6 * rng.standard_normal((n, 3)) if funding else None
    return MarketFrame(
        np.arange(n, dtype=np.int64) * TICK_NS + 1_700_000_000_000_000_000,
        np.ascontiguousarray(bid),
        np.ascontiguousarray(ask),
        symbols,
        volume=volume,
        funding_rate=rate,
        asset_class=("crypto_perp",) * 3 if funding else (),
    )


def column(tape, name: str) -> np.ndarray:
    return np.array([getattr(row, name) for row in tape])


def assert_tape_is_frame(tape, frame: MarketFrame) -> None:
    assert [row.tick for row in tape] == list(range(frame.n_ticks))
    assert not any(row.filled for row in tape)
    np.testing.assert_array_equal(column(tape, "ts"), frame.timestamps_ns)
    for name in ("bid", "ask", "last", "volume"):
        np.testing.assert_array_equal(column(tape, name), getattr(frame, name))  # NaN == NaN here


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    """Runs its check after every other fixture of the test has stopped what it started."""
    before = set(threading.enumerate())
    yield
    assert wait_until(lambda: not set(threading.enumerate()) - before, 2.0), (
        f"threads left running: {set(threading.enumerate()) - before}"
    )


@pytest.fixture(scope="module")
def frame() -> MarketFrame:
    return make_frame()


@pytest.fixture
def serve() -> Iterator[Callable[..., WebSocketFeedServer]]:
    started: list[WebSocketFeedServer] = []

    def start(frame: MarketFrame, **kwargs) -> WebSocketFeedServer:
        started.append(WebSocketFeedServer(frame, **{"time_scale": FAST, **kwargs}).start())
        return started[-1]

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def adapter() -> Iterator[Callable[..., FeedAdapter]]:
    started: list[FeedAdapter] = []

    def start(url: str, **kwargs) -> FeedAdapter:
        started.append(FeedAdapter(url, **{"bus": EventBus(), **kwargs}).start())
        return started[-1]

    try:
        yield start
    finally:
        for feed in started:
            feed.close()


@pytest.fixture
def proxy_to(toxiproxy) -> Iterator[Callable[[WebSocketFeedServer], Proxy]]:
    """Proxies on the plugin's session Toxiproxy (--toxiproxy-url, a binary on PATH, else embedded)."""
    made: list[Proxy] = []

    def make(server: WebSocketFeedServer) -> Proxy:
        made.append(toxiproxy.client.create(upstream=f"127.0.0.1:{server.port}", name=f"ws_feed_{len(made)}"))
        return made[-1]

    try:
        yield make
    finally:
        for proxy in made:
            proxy.destroy()


def run_to_end(serve, adapter, frame: MarketFrame, faults: FeedFaults | None = None, **kwargs):
    server = serve(frame, faults=faults)
    feed = adapter(server.url, **kwargs)
    assert feed.wait_finished(WAIT_S), "the adapter never saw the end of the stream"
    return server, feed


# --- the server ------------------------------------------------------------------------------------
def test_server_numbers_ticks_from_seq_one_sends_nan_as_null_and_resumes_from_a_tick(serve, frame):
    from websockets.sync.client import connect

    server = serve(frame)
    # close_timeout: the stream is not read to its end, so the closing handshake cannot complete
    with connect(server.url, proxy=None, open_timeout=WAIT_S, close_timeout=0.1) as ws:
        hello = json.loads(ws.recv(timeout=WAIT_S))
        ticks = [json.loads(ws.recv(timeout=WAIT_S)) for _ in range(10)]
    assert hello["symbols"] == list(frame.symbols)
    assert [m["seq"] for m in ticks] == list(range(1, 11))
    assert ticks[7]["bid"][1] is None
    assert ticks[7]["ask"][1] is None
    assert ticks[3]["ts"] == int(frame.timestamps_ns[3])
    with connect(f"{server.url}?from_tick=250", proxy=None, open_timeout=WAIT_S, close_timeout=0.1) as ws:
        ws.recv(timeout=WAIT_S)
        first = json.loads(ws.recv(timeout=WAIT_S))
    assert (first["seq"], first["tick"]) == (1, 250)


def test_server_paces_at_real_time_divided_by_time_scale(serve, adapter):
    frame = make_frame(60)  # 0.6 s of market time
    server = serve(frame, time_scale=2.0)
    start = time.monotonic()
    feed = adapter(server.url)
    assert feed.wait_finished(WAIT_S)
    assert 0.25 <= time.monotonic() - start <= 1.5  # 0.3 s at x2, plus connection set-up


# --- clean stream ----------------------------------------------------------------------------------
def test_clean_stream_reproduces_the_frame_exactly(serve, adapter, frame):
    bars: list[Bar] = []
    _, feed = run_to_end(serve, adapter, frame, on_bar=bars.append)
    assert_tape_is_frame(feed.tape(), frame)
    book = feed.book()
    for i, symbol in enumerate(frame.symbols):
        assert (book[symbol].bid, book[symbol].ask, book[symbol].last) == (
            frame.bid[-1, i],
            frame.ask[-1, i],
            frame.last[-1, i],
        )
        assert not book[symbol].stale
    stats = feed.stats
    assert (stats.gaps, stats.quarantined, stats.duplicates, stats.reordered) == (0, 0, 0, 0)
    assert not feed.degraded
    assert feed.market_halt is MarketHalt.NONE
    assert len(bars) == 3 * N_TICKS - 1  # one bar per symbol and tick, none for the unquoted one


def test_a_symbol_without_quotes_beyond_the_tolerance_is_stale_and_keeps_its_last_quote(serve, adapter):
    frame = make_frame()
    frame.bid[250:, 2] = frame.ask[250:, 2] = np.nan
    _, feed = run_to_end(serve, adapter, frame, gap_fill_tolerance=10)
    quote = feed.book()["CCC"]
    assert quote.stale
    assert (quote.tick, quote.bid) == (249, frame.bid[249, 2])
    assert not feed.book()["AAA"].stale


def test_fault_plan_is_repeatable_for_a_seed_and_bad_settings_are_refused():
    faults = FeedFaults(seed=11, random_drops=2, reorder_fraction=0.1, duplicate_fraction=0.02)
    assert faults.plan(500, 0) == faults.plan(500, 0)
    assert faults.plan(500, 0) != FeedFaults(seed=12, reorder_fraction=0.1).plan(500, 0)
    with pytest.raises(FeedFaultError, match="reorder_fraction"):
        FeedFaults(reorder_fraction=1.5)


# --- seed 000: market data gaps ----------------------------------------------------------------------
def test_dropped_ticks_raise_data_gap_with_their_range_and_fill_only_within_tolerance(serve, adapter, frame):
    faults = FeedFaults(drops=((51, 8), (201, 20)))  # seq 51 is tick 50
    server, feed = run_to_end(serve, adapter, frame, faults, gap_fill_tolerance=10)
    gaps = feed.bus.of_type(EventType.DATA_GAP)
    assert [(e.data["first_tick"], e.data["last_tick"], e.data["filled"]) for e in gaps] == [
        (50, 57, True),
        (200, 219, False),
    ]
    assert [(e.data["first_seq"], e.data["last_seq"]) for e in gaps] == [(51, 58), (201, 220)]
    assert gaps[0].type.value == "DataGapDetected"
    assert feed.degraded
    assert feed.stats.gaps == 2
    assert feed.stats.filled == 8
    tape = {row.tick: row for row in feed.tape()}
    for tick in range(50, 58):  # forward-filled: the last book before the gap, nothing traded
        assert tape[tick].filled
        assert tape[tick].bid == tuple(frame.bid[49])
        assert tape[tick].volume == (0.0, 0.0, 0.0)
        assert tape[49].ts < tape[tick].ts < tape[58].ts
    assert not any(t in tape for t in range(200, 220))  # beyond tolerance: no fill
    assert tape[220].bid == tuple(frame.bid[220])
    assert [(f.tick, f.count) for f in server.faults_of(FeedFaultKind.DROP)] == [(50, 8), (200, 20)]


def test_gap_tolerance_in_ms_refuses_a_fill_that_the_tick_count_allows(serve, adapter, frame):
    faults = FeedFaults(drops=((101, 6),))
    _, feed = run_to_end(serve, adapter, frame, faults, gap_fill_tolerance=10, gap_fill_tolerance_ms=50.0)
    assert [(g.ticks, g.filled) for g in feed.gaps] == [(6, False)]  # 70 ms between the neighbours


def test_random_drop_runs_are_5_to_30_ticks_and_the_adapter_reports_each(serve, adapter, frame):
    faults = FeedFaults(seed=7, random_drops=3)
    server, feed = run_to_end(serve, adapter, frame, faults, gap_fill_tolerance=15)
    drops = server.faults_of(FeedFaultKind.DROP)
    assert len(drops) == 3
    assert all(5 <= d.count <= 30 for d in drops)
    assert sorted((g.first_tick, g.ticks, g.filled) for g in feed.gaps) == sorted(
        (d.tick, d.count, d.count <= 15) for d in drops
    )


# --- seed 000: event reorder -------------------------------------------------------------------------
def test_ten_percent_reorder_is_restored_to_the_clean_tape(serve, adapter, frame):
    faults = FeedFaults(seed=3, reorder_fraction=0.10, reorder_window=3)
    server, feed = run_to_end(serve, adapter, frame, faults, reorder_buffer=8)
    moved = server.faults_of(FeedFaultKind.REORDER)
    assert len(moved) == round(0.10 * N_TICKS)
    assert feed.stats.reordered == len(moved)
    assert feed.stats.quarantined == 0
    assert feed.stats.gaps == 0
    assert_tape_is_frame(feed.tape(), frame)


def test_reorder_beyond_the_buffer_is_quarantined_and_replayed_from_the_checkpoint(serve, adapter, frame):
    faults = FeedFaults(seed=4, reorder_fraction=0.02, reorder_window=12)
    server, feed = run_to_end(serve, adapter, frame, faults, reorder_buffer=2, checkpoint_every=8)
    assert any(f.delay > 2 for f in server.faults_of(FeedFaultKind.REORDER))
    assert feed.stats.quarantined >= 1
    assert feed.stats.replays == feed.stats.quarantined
    first = feed.quarantines[0]
    assert "beyond the reorder buffer" in first.reason
    assert_tape_is_frame(feed.tape(), frame)  # the replay is clean: nothing lost, nothing twice


def test_duplicates_are_dropped_and_counted(serve, adapter, frame):
    faults = FeedFaults(seed=9, duplicate_fraction=0.05)
    server, feed = run_to_end(serve, adapter, frame, faults)
    assert feed.stats.duplicates == len(server.faults_of(FeedFaultKind.DUPLICATE)) == 15
    assert_tape_is_frame(feed.tape(), frame)


@pytest.mark.parametrize("kind", [FeedFaultKind.CORRUPT_JSON, FeedFaultKind.CORRUPT_TYPE])
def test_a_corrupt_message_is_quarantined_and_the_stream_continues_from_the_checkpoint(
    serve, adapter, frame, kind
):
    faults = FeedFaults(corrupt=(120,), corrupt_kind=kind)
    server, feed = run_to_end(serve, adapter, frame, faults, checkpoint_every=16)
    assert [(f.kind, f.tick) for f in server.applied] == [(kind, 119)]
    [quarantine] = feed.quarantines
    assert quarantine.replay_from_tick <= 119
    assert feed.bus.of_type(EventType.ALERT)[0].data["kind"] == "quarantine"
    assert_tape_is_frame(feed.tape(), frame)
    assert not feed.degraded  # replayed from the checkpoint: no tick is missing


# --- seed 000 FTX replay: stale funding ----------------------------------------------------------------
def test_funding_that_stops_updating_flags_the_models_using_it_for_review(serve, adapter):
    frame = make_frame(funding=True)
    frame.funding_rate[100:, 0] = np.nan  # BTC-PERP's funding feed stops at tick 100
    _, feed = run_to_end(
        serve,
        adapter,
        frame,
        funding_stale_s=0.5,  # 50 ticks of feed time
        funding_models={"basis-arb": ("BTC-PERP",), "sol-carry": ("SOL-PERP",)},
    )
    assert feed.flagged_models == {"basis-arb"}
    assert feed.stale_funding == {"BTC-PERP"}
    [alert] = [e for e in feed.bus.of_type(EventType.ALERT) if e.data["kind"] == "stale_funding"]
    assert alert.data["symbol"] == "BTC-PERP"
    assert alert.data["models"] == ["basis-arb"]
    assert alert.data["tick"] == 150  # the first tick whose funding is more than 0.5 s old
    np.testing.assert_array_equal(column(feed.tape(), "funding_rate"), frame.funding_rate)


# --- through Toxiproxy: WS latency spike, outage ------------------------------------------------------
PACED = dict(time_scale=2.0)  # 300 ticks x 10 ms / 2: 1.5 s of stream, long enough to inject into


def test_ws_latency_spike_serves_the_cached_book_under_market_halt_delay(serve, adapter, proxy_to, frame):
    server = serve(frame, **PACED)
    proxy = proxy_to(server)
    feed = adapter(f"ws://{proxy.listen}", stall_s=1.0)
    assert wait_until(lambda: len(feed.tape()) >= 30)
    proxy.add_toxic(type="latency", name="spike", attributes={"latency": 1500})
    assert wait_until(lambda: feed.market_halt is MarketHalt.DELAY, 3.0)
    cached = feed.book()
    assert max(q.tick for q in cached.values()) == feed.tape()[-1].tick
    for i, quote in enumerate(cached.values()):  # the last quote each symbol had before the stall
        assert (quote.bid, quote.ask) == (frame.bid[quote.tick, i], frame.ask[quote.tick, i])
    [loss] = feed.bus.of_type(EventType.DATA_FEED_LOSS)
    assert loss.data["market_halt"] == "DELAY"
    assert loss.data["silence_s"] > 1.0
    proxy.destroy_toxic("spike")
    assert wait_until(lambda: feed.market_halt is MarketHalt.NONE, 3.0)
    assert feed.wait_finished(WAIT_S)
    assert_tape_is_frame(feed.tape(), frame)  # delayed, never lost
    start, end = feed.halts[0]
    assert end is not None
    assert end - start < 2.0


def test_a_disabled_proxy_is_a_feed_loss_and_the_adapter_resumes_when_it_is_back(
    serve, adapter, proxy_to, frame
):
    server = serve(frame, **PACED)
    proxy = proxy_to(server)
    feed = adapter(f"ws://{proxy.listen}", stall_s=0.3)
    assert wait_until(lambda: len(feed.tape()) >= 30)
    proxy.disable()
    try:
        assert wait_until(lambda: feed.market_halt is MarketHalt.DELAY, 2.0)
        assert feed.bus.of_type(EventType.DATA_FEED_LOSS)
        held = feed.book()
        time.sleep(0.2)
        assert feed.book() == held  # the cached book, unchanged while the feed is gone
    finally:
        proxy.enable()
    assert feed.wait_finished(WAIT_S)
    assert feed.market_halt is MarketHalt.NONE
    assert feed.stats.reconnects >= 1
    assert_tape_is_frame(feed.tape(), frame)  # resumed at the next tick: nothing lost, nothing twice


def test_a_timeout_toxic_stalls_the_feed_and_the_adapter_reconnects_once_it_is_removed(
    serve, adapter, proxy_to, frame
):
    server = serve(frame, **PACED)
    proxy = proxy_to(server)
    feed = adapter(f"ws://{proxy.listen}", stall_s=0.3, reconnect_after_s=0.6)
    assert wait_until(lambda: len(feed.tape()) >= 30)
    proxy.add_toxic(type="timeout", name="cut", attributes={"timeout": 200})
    try:
        assert wait_until(lambda: feed.market_halt is MarketHalt.DELAY, 2.0)
        stalled_at = len(feed.tape())
        time.sleep(0.3)
        assert len(feed.tape()) == stalled_at
    finally:
        proxy.destroy_toxic("cut")
    assert feed.wait_finished(WAIT_S)
    assert feed.stats.reconnects >= 1
    assert feed.market_halt is MarketHalt.NONE
    assert_tape_is_frame(feed.tape(), frame)
