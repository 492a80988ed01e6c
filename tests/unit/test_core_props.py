"""Invariants of the compiled replay on random markets, books, order schedules and settings (Hypothesis).

- equity is cash plus the positions marked at the last usable quote (longs at the bid, shorts at the ask),
  at every tick, and the books never lose a cent: cash moves only by fills and fees, equity minus capital
  is realised plus unrealised P&L minus fees, and the exchange's positions agree with the ledger's;
- no buy fills below the ask and no sell above the bid, before slippage;
- the same seed gives bit-identical results, whatever the chunking;
- once the kill switch is on, every later order is blocked and nothing fills.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pytest_stress.market.frame import Depth, MarketFrame
from pytest_stress.replay import accounting as acc
from pytest_stress.replay import core, risk
from pytest_stress.replay import exchange as ex
from pytest_stress.replay.exchange import ExchangeStatus, OrderKind
from pytest_stress.replay.session import OrderSchedule, replay
from pytest_stress.specs.execution import ExecutionSpec
from pytest_stress.specs.risk import RiskSpec

PROPS = settings(max_examples=80, deadline=None)
CAPITAL = 1e6


@dataclasses.dataclass
class Case:
    frame: MarketFrame
    weights: np.ndarray
    schedule: OrderSchedule
    execution: ExecutionSpec
    risk_spec: RiskSpec
    limits: dict
    seed: int

    def run(self, **kw):
        return replay(self.frame, self.weights, CAPITAL, execution=self.execution, risk_spec=self.risk_spec,
                      schedule=self.schedule, limits=self.limits, seed=self.seed, **kw)  # fmt: skip


@st.composite
def cases(draw, kill_limits: bool = False) -> Case:
    """A random walk per symbol (some cells unusable after tick 0), a book of 0-3 levels or none, a
    signed book, random market / limit / cancel orders, random execution settings and live limits."""
    n = draw(st.integers(3, 25))
    s = draw(st.integers(1, 3))
    levels = draw(st.integers(0, 3))
    steps = draw(arrays(np.float64, (n, s), elements=st.floats(-0.04, 0.04)))
    steps[0] = 0.0
    mid = 100.0 * np.exp(np.cumsum(steps, axis=0))
    half = mid * draw(arrays(np.float64, (n, s), elements=st.floats(1e-4, 0.02)))
    bid, ask = mid - half, mid + half
    if draw(st.booleans()):  # data corruption after the opening tick: NaN or crossed cells
        bad = draw(arrays(np.bool_, (n, s), elements=st.booleans()))
        bad[0] = False
        bid = np.where(bad, np.where(np.arange(s) % 2 == 0, np.nan, ask + 1.0), bid)
    step = np.cumsum(draw(arrays(np.float64, (n, s, levels), elements=st.floats(0.0, 0.01))), axis=2)
    step -= step[..., :1]
    size = st.one_of(st.just(0.0), st.floats(0.5, 200.0))
    depth = Depth(
        np.ascontiguousarray(bid[..., None] - mid[..., None] * step),
        draw(arrays(np.float64, (n, s, levels), elements=size)),
        np.ascontiguousarray(ask[..., None] + mid[..., None] * step),
        draw(arrays(np.float64, (n, s, levels), elements=size)),
    )
    volume = draw(st.one_of(st.none(), arrays(np.float64, (n, s), elements=st.floats(0.0, 500.0))))
    frame = MarketFrame(
        np.arange(n, dtype=np.int64) * draw(st.sampled_from([10, 100])) * 1_000_000,
        np.ascontiguousarray(bid),
        ask,
        tuple(f"S{i}" for i in range(s)),
        volume=volume,
        depth=depth if levels else None,
    )
    order = st.tuples(
        st.integers(0, n - 1),
        st.integers(0, s - 1),
        st.floats(-300.0, 300.0).filter(lambda q: abs(q) > 0.01),
        st.sampled_from([OrderKind.MARKET, OrderKind.LIMIT, OrderKind.CANCEL]),
        st.floats(0.97, 1.03),
    )
    rows = [
        (t, i, 0.0 if k == OrderKind.CANCEL else q, k, 100.0 * u if k == OrderKind.LIMIT else np.nan)
        for t, i, q, k, u in draw(st.lists(order, max_size=30))
    ]
    execution = ExecutionSpec(
        failure_rate=draw(st.sampled_from([0.0, 0.2])),
        latency_spike_prob=draw(st.sampled_from([0.0, 0.5])),
        latency_spike_ms=draw(st.sampled_from([20.0, 250.0])),
        fee_bps=draw(st.floats(0.0, 20.0)),
        cancel_unfilled=draw(st.booleans()),
        max_participation=draw(st.floats(0.05, 1.0)),
        liquidity_halflife_s=draw(st.sampled_from([0.0, 0.5])),
    )
    risk_spec = RiskSpec(
        strategy_drawdown_pct=draw(st.floats(0.5, 10.0)),
        portfolio_drawdown_pct=draw(st.floats(1.0, 20.0)),
        kelly_clamp_after_drawdown_pct=draw(st.floats(0.5, 10.0)),
        vol_rebalance_s=draw(st.sampled_from([0.0, 0.3, 300.0])),
    )
    limits = {"max_drawdown_pct": draw(st.floats(0.1, 2.0))} if kill_limits else {}
    weights = draw(arrays(np.float64, s, elements=st.floats(-1.0, 1.0)))
    return Case(
        frame, weights, OrderSchedule.from_rows(rows), execution, risk_spec, limits, draw(st.integers(0, 99))
    )


def positions_by_row(out) -> np.ndarray:
    """Quantity held after each row: the base book plus the fills up to it."""
    n, s = out.series.shape[0], out.base_qty.shape[0]
    q = np.zeros((n, s))
    np.add.at(q, (out.fills_i[ex.FI_ROW], out.fills_i[ex.FI_SYMBOL]), out.fills_f[ex.FF_QTY])
    return out.base_qty + np.cumsum(q, axis=0)


def last_usable(frame: MarketFrame) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask forward-filled over unusable cells (NaN, not positive, crossed)."""
    ok = (frame.bid > 0) & (frame.ask >= frame.bid) & np.isfinite(frame.ask)
    idx = np.where(ok, np.arange(frame.n_ticks)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    cols = np.arange(frame.n_symbols)
    return frame.bid[idx, cols], frame.ask[idx, cols]


@PROPS
@given(cases())
def test_equity_is_cash_plus_marked_positions_at_every_tick(case):
    out = case.run()
    q = positions_by_row(out)
    bid, ask = last_usable(case.frame)
    marked = np.where(q > 0, q * bid, q * ask).sum(axis=1)
    np.testing.assert_allclose(
        out.series[:, core.S_EQUITY], out.series[:, core.S_CASH] + marked, rtol=0, atol=1e-6
    )


@PROPS
@given(cases())
def test_the_books_never_lose_a_cent(case):
    out = case.run()
    s = out.series
    # cash moves only by fills and their fees
    spent = np.zeros(s.shape[0])
    np.add.at(
        spent,
        out.fills_i[ex.FI_ROW],
        out.fills_f[ex.FF_QTY] * out.fills_f[ex.FF_PRICE] + out.fills_f[ex.FF_FEE],
    )
    bid0, ask0 = case.frame.bid[0], case.frame.ask[0]
    cash0 = CAPITAL - np.sum(out.base_qty * np.where(out.base_qty > 0, bid0, ask0))
    np.testing.assert_allclose(s[:, core.S_CASH], cash0 - np.cumsum(spent), rtol=0, atol=1e-6)
    # equity - capital = realised + unrealised - fees
    pnl = s[:, core.S_REALISED] + s[:, core.S_UNREALISED] - s[:, core.S_FEES]
    np.testing.assert_allclose(s[:, core.S_EQUITY] - CAPITAL, pnl, rtol=0, atol=0.01)
    np.testing.assert_allclose(
        s[:, core.S_FEES],
        np.cumsum(np.bincount(out.fills_i[ex.FI_ROW], out.fills_f[ex.FF_FEE], s.shape[0])),
        atol=1e-9,
    )
    # the exchange's view of our positions reconciles with the ledger's
    np.testing.assert_allclose(out.xs[ex.XS_POSITION], out.ls[acc.LS_QTY], rtol=1e-12, atol=1e-9)


@PROPS
@given(cases())
def test_no_buy_fills_below_the_ask_and_no_sell_above_the_bid(case):
    out = case.run()
    row, sym = out.fills_i[ex.FI_ROW], out.fills_i[ex.FI_SYMBOL]
    qty, price, ref = out.fills_f[ex.FF_QTY], out.fills_f[ex.FF_PRICE], out.fills_f[ex.FF_REF_PX]
    buy = qty > 0
    np.testing.assert_array_equal(ref[buy], case.frame.ask[row[buy], sym[buy]])
    np.testing.assert_array_equal(ref[~buy], case.frame.bid[row[~buy], sym[~buy]])
    assert np.all(price[buy] >= ref[buy] * (1 - 1e-12))
    assert np.all(price[~buy] <= ref[~buy] * (1 + 1e-12))
    # and limit orders never fill beyond their limit
    limit = out.orders_f[ex.OF_LIMIT_PX, out.fills_i[ex.FI_ORDER]]
    is_limit = out.orders_i[ex.OI_KIND, out.fills_i[ex.FI_ORDER]] == OrderKind.LIMIT
    assert np.all(np.where(is_limit & buy, price <= limit * (1 + 1e-12), True))
    assert np.all(np.where(is_limit & ~buy, price >= limit * (1 - 1e-12), True))


@PROPS
@given(cases(), st.integers(1, 7))
def test_the_same_seed_gives_bit_identical_results_whatever_the_chunking(case, chunk):
    a, b = case.run(), case.run(chunk_ticks=chunk)
    np.testing.assert_array_equal(a.series, b.series)
    np.testing.assert_array_equal(a.orders_i, b.orders_i)
    np.testing.assert_array_equal(a.fills_f, b.fills_f)
    np.testing.assert_array_equal(a.events.tick[: a.events.size], b.events.tick[: b.events.size])
    np.testing.assert_array_equal(a.events.codes(), b.events.codes())


@PROPS
@given(cases(kill_limits=True))
def test_once_the_kill_switch_is_on_every_later_order_is_blocked_and_nothing_fills(case):
    out = case.run()
    kill = int(out.rs[risk.RS_FIRST_KILL_ROW])
    if kill < 0:
        return
    later = out.orders_i[ex.OI_SUBMIT_ROW] > kill
    assert np.all(out.orders_i[ex.OI_STATUS, later] == ExchangeStatus.BLOCKED)
    assert np.all(out.orders_i[ex.OI_REASON, later] == risk.ORDER_BLOCKED_KILL_SWITCH)
    assert np.all(out.fills_i[ex.FI_ROW] <= kill)
    assert not np.any(np.isin(out.orders_i[ex.OI_STATUS], [ExchangeStatus.PENDING, ExchangeStatus.WORKING]))
