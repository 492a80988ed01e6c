"""The simulated exchange on hand-made books: next-level pricing, the slippage formula, partial fills,
latency in ticks, seeded rejects, halts, spread cost, fees, cancels.

Runbooks: seed 004 (L2 replay, next-level slippage, 30 ms broker ACK), seed 003 (ExchangeSimulator: slippage
from volatility and liquidity, spread costs, failures, partial fills, latency spikes), seed 000
(HaltMode.PARTIAL when liquidity collapses; fill latency, queue depth, cancel ratio).
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_stress.market.frame import Depth, MarketFrame
from pytest_stress.replay import exchange as ex
from pytest_stress.replay.exchange import ExchangeStatus, OrderKind
from pytest_stress.replay.session import OrderSchedule, ReplayOutput, replay
from pytest_stress.run.measure import measure
from pytest_stress.run.result import Fills
from pytest_stress.specs.execution import ExecutionSpec

M, L, C = OrderKind.MARKET, OrderKind.LIMIT, OrderKind.CANCEL
NAN = float("nan")
# No random rejects, no smoothing: every number below is exact.
EXACT = ExecutionSpec(failure_rate=0.0, liquidity_halflife_s=0.0)


def hand_frame(bid, ask, *, tick_ms=100, volume=None, depth=None):
    """A frame from per-tick quotes; ``bid``/``ask``: (ticks, symbols) or a flat list for one symbol."""
    bid = np.atleast_2d(np.asarray(bid, dtype=np.float64))
    ask = np.atleast_2d(np.asarray(ask, dtype=np.float64))
    if bid.shape[0] == 1 and bid.shape[1] > 1 and np.ndim(bid) == 2:
        bid, ask = bid.T.copy(), ask.T.copy()
    n, s = bid.shape
    ts = np.arange(n, dtype=np.int64) * tick_ms * 1_000_000
    vol = None if volume is None else np.ascontiguousarray(np.broadcast_to(volume, (n, s)), dtype=np.float64)
    return MarketFrame(ts, bid, ask, tuple(f"S{i}" for i in range(s)), volume=vol, depth=depth)


def ladder(n, bid_px, bid_sz, ask_px, ask_sz):
    """The same one-symbol book at every tick: level prices and sizes best first."""

    def cube(levels):
        return np.ascontiguousarray(
            np.broadcast_to(np.asarray(levels, dtype=np.float64), (n, 1, len(levels)))
        )

    return Depth(cube(bid_px), cube(bid_sz), cube(ask_px), cube(ask_sz))


def book_frame(n=4, sizes=(10.0, 20.0, 30.0)):
    depth = ladder(n, [99.5, 99.0, 98.5], sizes, [100.0, 100.5, 101.0], sizes)
    return hand_frame([99.5] * n, [100.0] * n, depth=depth)


def run(frame, orders, weights=(0.0,), execution=EXACT, **kw) -> ReplayOutput:
    return replay(frame, np.asarray(weights, dtype=np.float64), execution=execution,
                  schedule=OrderSchedule.from_rows(orders), **kw)  # fmt: skip


def status(out: ReplayOutput) -> list[ExchangeStatus]:
    return [ExchangeStatus(int(s)) for s in out.orders_i[ex.OI_STATUS]]


# --- next-level pricing (seed 004) -------------------------------------------------------------------


def test_a_market_buy_walks_the_ask_levels_one_tick_after_it_was_sent():
    out = run(book_frame(), [(0, 0, 25.0, M, NAN)])
    fills = Fills.from_output(out)
    # 30 ms ACK: sent at tick 0 (0 ms), handled at tick 1 (100 ms): 10 @ 100 and 15 @ 100.5
    assert list(fills.tick) == [1]
    assert fills.price[0] == pytest.approx((10 * 100.0 + 15 * 100.5) / 25)
    assert fills.ref_px[0] == 100.0  # the touch: the ask
    assert status(out) == [ExchangeStatus.FILLED]


def test_a_second_order_in_the_same_tick_only_gets_what_the_first_left():
    out = run(book_frame(), [(0, 0, 25.0, M, NAN), (0, 0, 25.0, M, NAN)])
    fills = Fills.from_output(out)
    assert fills.price[1] == pytest.approx((5 * 100.5 + 20 * 101.0) / 25)


def test_a_sell_walks_the_bid_levels_down():
    out = run(book_frame(), [(0, 0, -30.0, M, NAN)], weights=(0.5,))
    (price,) = Fills.from_output(out).price
    assert price == pytest.approx((10 * 99.5 + 20 * 99.0) / 30)


def test_a_limit_order_stops_at_its_limit_and_the_rest_stays_working():
    out = run(book_frame(n=4), [(0, 0, 50.0, L, 100.5)])
    fills = Fills.from_output(out)
    # tick 1: 10 @ 100 + 20 @ 100.5 (101 is beyond the limit); tick 2: the book refreshed, 20 more
    assert list(fills.tick) == [1, 2]
    assert list(fills.qty) == [30.0, 20.0]
    assert fills.price[0] == pytest.approx((10 * 100.0 + 20 * 100.5) / 30)
    assert fills.price[1] == pytest.approx((10 * 100.0 + 10 * 100.5) / 20)
    assert status(out) == [ExchangeStatus.FILLED]
    assert out.events.codes().tolist().count(ex.PARTIAL_FILL) == 1


def test_with_cancel_unfilled_the_rest_of_a_partial_fill_is_cancelled():
    spec = ExecutionSpec(failure_rate=0.0, cancel_unfilled=True)
    out = run(book_frame(n=4), [(0, 0, 50.0, L, 100.5)], execution=spec)
    assert Fills.from_output(out).qty.tolist() == [30.0]
    assert status(out) == [ExchangeStatus.CANCELLED]
    assert measure(out)["limit_cancel_ratio"] == 1.0


def test_a_limit_order_below_the_ask_rests_until_the_ask_comes_down_to_it():
    ask = [101.0, 101.0, 101.0, 100.0, 100.0]
    out = run(hand_frame([99.0] * 5, ask), [(0, 0, 1.0, L, 100.0)])
    fills = Fills.from_output(out)
    assert list(fills.tick) == [3]
    assert fills.price[0] >= fills.ref_px[0] == 100.0  # never below the ask
    assert fills.price[0] == 100.0  # slippage is capped by the limit


# --- slippage without a book (seed 003) --------------------------------------------------------------


def test_without_a_book_a_buy_pays_the_ask_plus_base_slippage():
    out = run(hand_frame([99.0] * 3, [101.0] * 3), [(0, 0, 10.0, M, NAN)])
    (price,) = Fills.from_output(out).price
    assert price == pytest.approx(101.0 * (1 + 0.001))


def test_slippage_grows_with_order_size_over_tick_volume():
    spec = ExecutionSpec(failure_rate=0.0, max_participation=1.0)
    out = run(hand_frame([99.0] * 3, [101.0] * 3, volume=100.0), [(0, 0, -50.0, M, NAN)], weights=(0.5,),
              execution=spec)  # fmt: skip
    (price,) = Fills.from_output(out).price
    assert price == pytest.approx(99.0 * (1 - 0.001 * (1 + 50 / 100)))


@pytest.mark.parametrize(
    ("var_ratio", "qty", "volume", "expected"),
    [
        (1.0, 10.0, NAN, 0.001),  # normal volatility, volume unknown: the base
        (4.0, 10.0, NAN, 0.002),  # twice the normal volatility: twice the base
        (0.25, 10.0, NAN, 0.001),  # calmer than normal: never below the base
        (4.0, 50.0, 100.0, 0.001 * 2 * 1.5),  # both terms
        (1e6, 10.0, NAN, 0.01),  # capped at max_slippage_pct
    ],
)
def test_the_slippage_formula(var_ratio, qty, volume, expected):
    """base x max(1, sigma / sigma_normal) x (1 + q / V), at most max_slippage_pct."""
    xp = ex.execution_params(ExecutionSpec())
    assert ex.slippage(1e-8 * var_ratio, 1e-8, qty, volume, xp) == pytest.approx(expected)


def test_tick_volume_caps_each_fill_and_the_rest_keeps_working():
    spec = ExecutionSpec(failure_rate=0.0, max_participation=0.1)
    out = run(hand_frame([99.0] * 8, [101.0] * 8, volume=100.0), [(0, 0, 35.0, M, NAN)], execution=spec)
    fills = Fills.from_output(out)
    assert fills.qty.tolist() == [10.0, 10.0, 10.0, 5.0]
    assert fills.tick.tolist() == [1, 2, 3, 4]
    assert status(out) == [ExchangeStatus.FILLED]


# --- spread cost and fees ----------------------------------------------------------------------------


def test_a_round_trip_pays_the_spread_and_the_fees():
    spec = ExecutionSpec(failure_rate=0.0, base_slippage_pct=0.0, fee_bps=10.0)
    out = run(
        hand_frame([99.0] * 4, [101.0] * 4), [(0, 0, 2.0, M, NAN), (1, 0, -2.0, M, NAN)], execution=spec
    )
    fills = Fills.from_output(out)
    assert fills.price.tolist() == [101.0, 99.0]  # buy at the ask, sell at the bid
    assert fills.fee.tolist() == pytest.approx([2 * 101 * 0.001, 2 * 99 * 0.001])
    from pytest_stress.replay import accounting as acc

    assert out.lg[acc.LG_REALISED] == pytest.approx(-4.0)
    assert out.lg[acc.LG_CASH] == pytest.approx(1e6 - 4.0 - 0.4)


# --- latency (seed 004: 30 ms ACK) -------------------------------------------------------------------


def test_a_30_ms_ack_on_10_ms_ticks_delays_the_fill_by_three_ticks():
    out = run(hand_frame([99.0] * 12, [101.0] * 12, tick_ms=10), [(2, 0, 1.0, M, NAN)])
    assert Fills.from_output(out).tick.tolist() == [5]
    assert measure(out)["fill_latency_p50_ms"] == pytest.approx(30.0)


def test_a_latency_spike_adds_its_delay_and_is_counted():
    spec = ExecutionSpec(failure_rate=0.0, latency_spike_prob=1.0, latency_spike_ms=50.0)
    out = run(hand_frame([99.0] * 12, [101.0] * 12, tick_ms=10), [(2, 0, 1.0, M, NAN)], execution=spec)
    assert Fills.from_output(out).tick.tolist() == [10]
    m = measure(out)
    assert m["latency_spikes"] == 1
    assert m["fill_latency_p99_ms"] == pytest.approx(80.0)
    assert ex.LATENCY_SPIKE in out.events.codes()


def test_an_ack_shorter_than_a_tick_still_trades_on_the_next_tick_at_the_earliest():
    spec = ExecutionSpec(failure_rate=0.0, ack_latency_ms=0.0)
    out = run(hand_frame([99.0] * 3, [101.0] * 3), [(0, 0, 1.0, M, NAN)], execution=spec)
    assert Fills.from_output(out).tick.tolist() == [1]


# --- rejects (seed 003: failure_rate) ----------------------------------------------------------------


def test_every_order_fails_at_failure_rate_one_and_is_counted():
    spec = ExecutionSpec(failure_rate=1.0)
    out = run(hand_frame([99.0] * 3, [101.0] * 3), [(0, 0, 1.0, M, NAN)] * 3, execution=spec)
    assert status(out) == [ExchangeStatus.EXCHANGE_REJECT] * 3
    assert measure(out)["execution_failures"] == 3
    assert out.events.codes().tolist().count(ex.ORDER_REJECTED) == 3


def test_random_rejects_follow_the_seed():
    spec = ExecutionSpec(failure_rate=0.3)
    orders = [(0, 0, 1.0, M, NAN)] * 400
    frame = hand_frame([99.0] * 3, [101.0] * 3)
    a, b, c = (run(frame, orders, execution=spec, seed=s) for s in (1, 1, 2))
    failed = [np.asarray(status(x)) == ExchangeStatus.EXCHANGE_REJECT for x in (a, b, c)]
    np.testing.assert_array_equal(failed[0], failed[1])
    assert not np.array_equal(failed[0], failed[2])
    assert 0.2 < failed[0].mean() < 0.4


# --- halts (seed 000: HaltMode.PARTIAL when liquidity collapses) -------------------------------------


def collapsing_book(n=10, collapse=(5, 8), size_in_collapse=10.0):
    """One symbol, 100 units a level, falling to ``size_in_collapse`` over ticks [collapse)."""
    sizes = np.full((n, 1, 2), 100.0)
    sizes[collapse[0] : collapse[1]] = size_in_collapse
    px_b = np.broadcast_to([99.5, 99.0], (n, 1, 2)).copy()
    px_a = np.broadcast_to([100.0, 100.5], (n, 1, 2)).copy()
    frame = hand_frame([99.5] * n, [100.0] * n, depth=Depth(px_b, sizes.copy(), px_a, sizes.copy()))
    calm = hand_frame(
        [99.5] * n, [100.0] * n, depth=Depth(px_b, np.full((n, 1, 2), 100.0), px_a, np.full((n, 1, 2), 100.0))
    )
    return frame, calm


def halt_events(out):
    names = {ex.HALT_PARTIAL: "PARTIAL", ex.HALT_FULL: "FULL", ex.HALT_END: "END"}
    codes = out.events.codes()
    return [(int(out.events.tick[k]), names[int(c)]) for k, c in enumerate(codes) if int(c) in names]


def test_liquidity_below_a_quarter_of_normal_is_a_partial_halt_that_accepts_only_reducing_orders():
    frame, calm = collapsing_book(size_in_collapse=10.0)  # 10 % of the pre-stress depth
    # a long book; during the halt a buy (adds) and a sell (reduces) arrive at tick 6
    out = run(frame, [(5, 0, 1.0, M, NAN), (5, 0, -1.0, M, NAN)], weights=(0.5,), calm=calm)
    assert halt_events(out) == [(5, "PARTIAL"), (8, "END")]
    assert status(out) == [ExchangeStatus.REJECTED_HALT, ExchangeStatus.FILLED]
    assert Fills.from_output(out).tick.tolist() == [6]
    m = measure(out)
    assert m["halt_partial_triggered"] is True
    assert m["halt_full_triggered"] is False
    assert m["execution_failures"] == 1


def test_an_empty_book_is_a_full_halt_that_refuses_every_order():
    frame, calm = collapsing_book(size_in_collapse=0.0)
    out = run(frame, [(5, 0, -1.0, M, NAN), (8, 0, -1.0, M, NAN)], weights=(0.5,), calm=calm)
    assert halt_events(out) == [(5, "FULL"), (8, "END")]
    assert status(out) == [ExchangeStatus.REJECTED_HALT, ExchangeStatus.FILLED]
    assert measure(out)["halt_full_triggered"] is True


def test_without_a_book_a_spread_five_times_wider_is_a_partial_halt():
    bid = [99.0] * 3 + [95.0] * 3 + [99.0] * 2
    ask = [101.0] * 3 + [105.0] * 3 + [101.0] * 2
    out = run(hand_frame(bid, ask), [], weights=(0.5,), calm=hand_frame([99.0] * 8, [101.0] * 8))
    assert halt_events(out) == [(3, "PARTIAL"), (6, "END")]


def test_a_halt_lifts_only_when_liquidity_is_well_back_not_at_the_threshold():
    # depth 10 % of normal (PARTIAL), then 30 %: above the 25 % entry threshold but below the 37.5 % exit
    # one, so the halt holds; at 40 % it lifts. Without hysteresis it would have ended at tick 4.
    n = 10
    sizes = np.full((n, 1, 2), 100.0)
    sizes[2:4], sizes[4:7], sizes[7:] = 10.0, 30.0, 40.0
    px_b = np.broadcast_to([99.5, 99.0], (n, 1, 2)).copy()
    px_a = np.broadcast_to([100.0, 100.5], (n, 1, 2)).copy()
    frame = hand_frame([99.5] * n, [100.0] * n, depth=Depth(px_b, sizes.copy(), px_a, sizes.copy()))
    calm = hand_frame(
        [99.5] * n, [100.0] * n, depth=Depth(px_b, np.full((n, 1, 2), 100.0), px_a, np.full((n, 1, 2), 100.0))
    )
    out = run(frame, [], weights=(0.5,), calm=calm)
    assert halt_events(out) == [(2, "PARTIAL"), (7, "END")]


def test_queue_depth_deviation_is_the_worst_top_of_book_change_from_pre_stress():
    frame, calm = collapsing_book(size_in_collapse=10.0)
    out = run(frame, [], weights=(0.5,), calm=calm)
    assert measure(out)["queue_depth_deviation_pct"] == pytest.approx(90.0)


# --- cancels (seed 000: limit-order cancel ratio) ----------------------------------------------------


def test_a_cancel_takes_the_ack_latency_and_only_cancels_earlier_orders():
    orders = [(0, 0, 1.0, L, 98.0), (0, 0, 1.0, L, 97.0), (2, 0, 0.0, C, NAN), (2, 0, 1.0, L, 96.0)]
    out = run(hand_frame([99.0] * 6, [101.0] * 6), orders)
    assert status(out) == [
        ExchangeStatus.CANCELLED,
        ExchangeStatus.CANCELLED,
        ExchangeStatus.DONE,
        ExchangeStatus.WORKING,
    ]
    assert out.orders_i[ex.OI_DONE_NS, 0] == 300_000_000  # sent at 200 ms, handled at tick 3
    assert measure(out)["limit_cancel_ratio"] == pytest.approx(2 / 3)


# --- unusable quotes ---------------------------------------------------------------------------------


def test_an_order_waits_through_unusable_quotes_and_they_are_counted():
    bid = [99.0, 99.0, NAN, 102.0, 99.0]  # tick 2 NaN, tick 3 crossed
    ask = [101.0, 101.0, NAN, 101.0, 101.0]
    out = run(hand_frame(bid, ask), [(1, 0, 1.0, M, NAN)], weights=(0.5,))
    assert Fills.from_output(out).tick.tolist() == [4]
    assert measure(out)["data_quality_issues"] == 2
