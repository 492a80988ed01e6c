"""validate_data (seed 003: ``is_valid, issues = loader.validate_data(df)``): every kind of bad data is found,
said where (tick, timestamp, symbol) and what, counted once per kind and symbol; clean data passes."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_stress.market.frame import Depth, MarketFrame
from pytest_stress.market.synthetic import synthetic_chunks, synthetic_frame
from pytest_stress.market.validate import DataIssue, IssueKind, validate_data
from pytest_stress.scenario import MarketSpec

TICK_NS = 100_000_000


def hand_frame(n: int = 6, start_tick: int = 0) -> MarketFrame:
    """Two symbols, bid 99 / ask 101, three book levels a price unit apart, size 1 everywhere."""
    bid, ask = np.full((n, 2), 99.0), np.full((n, 2), 101.0)
    steps = np.arange(3.0)
    depth = Depth(bid[..., None] - steps, np.ones((n, 2, 3)), ask[..., None] + steps, np.ones((n, 2, 3)))
    return MarketFrame(
        np.arange(n, dtype=np.int64) * TICK_NS,
        bid,
        ask,
        ("AAA", "BBB"),
        volume=np.ones((n, 2)),
        depth=depth,
        start_tick=start_tick,
    )


def only_issue(frame: MarketFrame, **kw) -> DataIssue:
    ok, issues = validate_data(frame, **kw)
    assert not ok
    (issue,) = issues
    return issue


def test_a_clean_hand_frame_is_valid():
    assert validate_data(hand_frame()) == (True, [])


@pytest.mark.parametrize("chunk_ticks", [None, 250])
def test_a_synthetic_market_with_book_and_funding_is_valid(chunk_ticks):
    spec = MarketSpec(
        source="synthetic", symbols=30, duration_s=60, tick_ms=100, seed=1, depth_levels=5,
        asset_class="crypto_perp", tails="student_t", round_to_tick=True,
    )  # fmt: skip
    if chunk_ticks is None:
        assert validate_data(synthetic_frame(spec, np.random.default_rng(1))[0]) == (True, [])
    else:
        for chunk in synthetic_chunks(spec, np.random.default_rng(1), chunk_ticks):
            assert validate_data(chunk) == (True, [])


def test_nan_prices_are_counted_per_symbol_and_field():
    frame = hand_frame()
    frame.bid[2, 1] = np.nan
    frame.last[4, 1] = np.nan
    frame.depth.ask_px[5, 1, 2] = np.nan
    issue = only_issue(frame)
    assert (issue.kind, issue.tick, issue.symbol, issue.count) == (IssueKind.NAN, 2, "BBB", 3)
    assert issue.message == "BBB: 3 NaN values (bid 1, last 1, depth 1); first at tick 2 (t = 0.200 s)"


def test_a_crossed_book_names_the_tick_and_both_prices():
    frame = hand_frame()
    frame.bid[3, 0] = 102.0
    issue = only_issue(frame)
    assert (issue.kind, issue.tick, issue.symbol, issue.count) == (IssueKind.CROSSED_BOOK, 3, "AAA", 1)
    assert "tick 3 (t = 0.300 s): bid 102 > ask 101" in issue.message


def test_a_locked_book_is_not_crossed():
    frame = hand_frame()
    frame.bid[3, 0] = 101.0
    frame.depth.bid_px[3, 0] = [101.0, 98.0, 97.0]
    assert validate_data(frame) == (True, [])


def test_prices_at_or_below_zero_are_found_in_quotes_trades_and_book():
    frame = hand_frame()
    frame.last[4, 1] = -1.0
    frame.depth.bid_px[5, 1, 2] = 0.0
    issue = only_issue(frame)
    assert (issue.kind, issue.tick, issue.symbol, issue.count) == (IssueKind.NON_POSITIVE_PRICE, 4, "BBB", 2)
    assert "first at tick 4 (t = 0.400 s): last -1" in issue.message


def test_negative_volume_is_found_and_unknown_volume_is_not_an_issue():
    frame = hand_frame()
    frame.volume[1, 0] = -5.0
    frame.volume[2, 1] = np.nan
    issue = only_issue(frame)
    assert (issue.kind, issue.tick, issue.symbol) == (IssueKind.NEGATIVE_VOLUME, 1, "AAA")
    assert issue.message.endswith(": -5")


def test_duplicate_timestamps_are_found():
    frame = hand_frame()
    frame.timestamps_ns[3] = frame.timestamps_ns[2]
    issue = only_issue(frame)
    assert (issue.kind, issue.tick, issue.symbol, issue.count) == (IssueKind.DUPLICATE_TIMESTAMP, 3, None, 1)
    assert "first at tick 3 (t = 0.200 s), after tick 2 (t = 0.200 s)" in issue.message


def test_timestamps_going_back_are_found():
    frame = hand_frame()
    frame.timestamps_ns[3] = frame.timestamps_ns[1]
    issue = only_issue(frame)
    assert (issue.kind, issue.tick, issue.count) == (IssueKind.UNSORTED_TIMESTAMP, 3, 1)
    assert "tick 3 (t = 0.100 s), after tick 2 (t = 0.200 s)" in issue.message


def test_a_gap_beyond_five_median_intervals_is_a_data_gap():
    frame = hand_frame(n=10)
    frame.timestamps_ns[4:] += 400_000_000  # 500 ms between ticks 3 and 4: exactly the tolerance, fine
    frame.timestamps_ns[7:] += 700_000_000  # 800 ms between ticks 6 and 7
    issue = only_issue(frame)
    assert (issue.kind, issue.tick, issue.symbol, issue.count) == (IssueKind.DATA_GAP, 6, None, 1)
    assert "longer than 500 ms (5x the median tick interval of 100 ms)" in issue.message
    assert "first after tick 6 (t = 1.000 s): 800 ms" in issue.message


def test_max_gap_ms_sets_the_tolerance():
    frame = hand_frame(n=10)
    frame.timestamps_ns[4:] += 200_000_000
    frame.timestamps_ns[7:] += 300_000_000
    assert validate_data(frame) == (True, [])
    issue = only_issue(frame, max_gap_ms=250)
    assert (issue.kind, issue.tick, issue.count) == (IssueKind.DATA_GAP, 3, 2)
    assert "longest after tick 6: 400 ms" in issue.message


def test_book_levels_out_of_order_are_found_and_missing_levels_are_ignored():
    frame = hand_frame()
    frame.depth.bid_px[2, 0, 2] = frame.depth.bid_px[2, 0, 1]  # two bid levels at one price
    frame.depth.ask_px[4, 0, 1] = 100.5  # an ask level better than the best ask
    frame.depth.bid_sz[1, 1, 1] = 0.0  # level 1 does not exist: its price does not matter
    frame.depth.bid_px[1, 1, 1] = 500.0
    issue = only_issue(frame)
    assert (issue.kind, issue.tick, issue.symbol, issue.count) == (IssueKind.DEPTH_UNORDERED, 2, "AAA", 2)


def test_negative_book_sizes_are_found():
    frame = hand_frame()
    frame.depth.ask_sz[5, 1, 1] = -1.0
    issue = only_issue(frame)
    assert (issue.kind, issue.tick, issue.symbol, issue.count) == (IssueKind.DEPTH_NEGATIVE_SIZE, 5, "BBB", 1)


def test_ticks_are_global_in_a_chunk():
    frame = hand_frame(start_tick=1000)
    frame.bid[2, 1] = np.nan
    assert only_issue(frame).tick == 1002
    assert "first at tick 1002 (t = 0.200 s)" in only_issue(frame).message


def test_epoch_timestamps_are_shown_as_utc_times():
    frame = hand_frame()
    frame.timestamps_ns[:] += 1_700_000_000 * 10**9
    frame.bid[1, 0] = np.nan
    assert "tick 1 (2023-11-14T22:13:20.100+00:00)" in only_issue(frame).message


def test_every_kind_at_once_gives_one_issue_per_kind_and_symbol():
    frame = hand_frame(n=10)
    frame.bid[2, 1] = np.nan
    frame.bid[3, 0] = 102.0
    frame.volume[1, 0] = -5.0
    frame.timestamps_ns[5] = frame.timestamps_ns[4]
    frame.timestamps_ns[8:] += 10**9
    frame.depth.ask_sz[5, 1, 1] = -1.0
    ok, issues = validate_data(frame)
    assert not ok
    kinds = sorted((i.kind.value, i.symbol or "") for i in issues)
    assert kinds == [
        ("crossed_book", "AAA"),
        ("data_gap", ""),
        ("depth_negative_size", "BBB"),
        ("duplicate_timestamp", ""),
        ("nan", "BBB"),
        ("negative_volume", "AAA"),
    ]


def test_a_ten_million_cell_frame_with_one_percent_nans_gives_one_issue_per_symbol():
    n, s = 10_000, 1_000
    rng = np.random.default_rng(0)
    bid = np.full((n, s), 99.0)
    nan = rng.random((n, s)) < 0.01
    bid[nan] = np.nan
    frame = MarketFrame(
        np.arange(n, dtype=np.int64) * TICK_NS, bid, np.full((n, s), 101.0), tuple(f"S{i}" for i in range(s))
    )
    ok, issues = validate_data(frame)
    assert not ok
    assert len(issues) == s
    assert all(i.kind is IssueKind.NAN for i in issues)
    # bid NaN makes the default last (the mid) NaN too: two values per bad cell
    assert sum(i.count for i in issues) == 2 * int(nan.sum())
    firsts = nan.argmax(axis=0)
    assert [i.tick for i in issues] == firsts.tolist()
