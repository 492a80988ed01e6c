"""Bars from ticks: OHLCV per interval aligned on the first tick, NaN-aware, at the mid or the last trade."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_stress.errors import ReplayError
from pytest_stress.market.bars import bars
from pytest_stress.market.frame import MarketFrame
from pytest_stress.market.synthetic import synthetic_frame
from pytest_stress.scenario import MarketSpec

MS = 1_000_000
T0 = 5_000 * MS + 123  # bars align on the first tick, not on round clock times


def hand_frame() -> MarketFrame:
    """One symbol, seven ticks; tick times in ms after T0: 0, 100, 250, 900 | 1000, 1999 | (none) | 3500."""
    ts = T0 + np.array([0, 100, 250, 900, 1000, 1999, 3500], dtype=np.int64) * MS
    last = np.array([[10.0], [12.0], [9.0], [11.0], [20.0], [np.nan], [30.0]])
    bid, ask = last - 1.0, last + 1.0
    volume = np.array([[1.0], [2.0], [3.0], [np.nan], [5.0], [6.0], [7.0]])
    return MarketFrame(ts, bid, ask, ("AAA",), last=last, volume=volume)


def test_ohlcv_of_hand_ticks_at_the_last_trade():
    b = bars(hand_frame(), 1000, price="last")
    np.testing.assert_array_equal(b.timestamps_ns, T0 + np.array([0, 1000, 2000, 3000]) * MS)
    nan = np.nan
    np.testing.assert_array_equal(b.open[:, 0], [10.0, 20.0, nan, 30.0])
    np.testing.assert_array_equal(b.high[:, 0], [12.0, 20.0, nan, 30.0])
    np.testing.assert_array_equal(b.low[:, 0], [9.0, 20.0, nan, 30.0])
    np.testing.assert_array_equal(b.close[:, 0], [11.0, 20.0, nan, 30.0])
    # the NaN volume at 900 ms is unknown (adds 0); the 1999 ms tick has no price, so it does not count
    np.testing.assert_array_equal(b.volume[:, 0], [6.0, 5.0, 0.0, 7.0])
    assert (b.n_bars, b.bar_ms, b.price, b.symbols) == (4, 1000.0, "last", ("AAA",))


def test_bars_at_the_mid_use_bid_and_ask():
    frame = hand_frame()
    frame.ask[1, 0] = 20.0  # mid of tick 1 becomes (11 + 20) / 2 = 15.5
    b = bars(frame, 1000)
    np.testing.assert_array_equal(b.high[:, 0], [15.5, 20.0, np.nan, 30.0])
    np.testing.assert_array_equal(b.close[:, 0], [11.0, 20.0, np.nan, 30.0])


def test_a_bar_with_only_invalid_ticks_is_nan_with_no_volume():
    frame = hand_frame()
    frame.last[4, 0] = np.inf
    b = bars(frame, 1000, price="last")
    assert np.isnan(b.open[1, 0])
    assert np.isnan(b.close[1, 0])
    assert b.volume[1, 0] == 0.0


def test_bars_of_a_synthetic_market_close_at_each_bar_s_last_mid_and_sum_its_volume():
    spec = MarketSpec(source="synthetic", symbols=5, duration_s=60, tick_ms=100, seed=3)
    frame, _ = synthetic_frame(spec, np.random.default_rng(3))
    b = bars(frame, 1000)
    assert b.n_bars == 61  # 600 ticks fill 60 bars; the tick at 60 s opens the 61st
    mid = frame.mid()
    np.testing.assert_array_equal(b.open[:60], mid[:600:10])
    np.testing.assert_array_equal(b.close[:60], mid[9:600:10])
    np.testing.assert_array_equal(b.high[:60], mid[:600].reshape(60, 10, 5).max(axis=1))
    np.testing.assert_allclose(b.volume.sum(axis=0), frame.volume.sum(axis=0), rtol=1e-12)


def test_timestamps_going_back_are_refused_with_the_tick():
    frame = hand_frame()
    frame.timestamps_ns[4] = frame.timestamps_ns[2]
    with pytest.raises(ReplayError, match="timestamps go backwards at tick 4"):
        bars(frame, 1000)


@pytest.mark.parametrize(("kw", "message"), [({"price": "vwap"}, "price must be one of mid, last"),
                                             ({"bar_ms": 0}, "bar_ms must be at least")])  # fmt: skip
def test_bad_arguments_are_refused(kw, message):
    with pytest.raises(ReplayError, match=message):
        bars(hand_frame(), **{"bar_ms": 1000, **kw})


def test_an_empty_frame_has_no_bars():
    empty = MarketFrame(np.empty(0, dtype=np.int64), np.empty((0, 1)), np.empty((0, 1)), ("AAA",))
    assert bars(empty, 1000).n_bars == 0
