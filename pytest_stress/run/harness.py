"""A bar-by-bar harness: a scenario's market and fills come from the compiled core, the decisions from
Python components (strategy -> risk governor -> OMS -> broker) built by any stack factory.

Each bar the harness feeds the bar's ticks to a ``ReplaySession`` (stresses, latency, matching, ledger and
the core's own risk engine run compiled), shows the bar to the strategy, turns its signals into orders, and
hands them to the stack's OMS, whose broker (``ReplayBroker``) queues them into the session: they reach the
simulated exchange at the next tick, after their latency, exactly as a scheduled order would. Time spent in
Python and in the core is measured per bar.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pytest_stress.errors import ReplayError
from pytest_stress.market.frame import MarketFrame
from pytest_stress.replay import accounting as acc
from pytest_stress.replay import exchange as ex
from pytest_stress.replay.session import ReplaySession
from pytest_stress.run.scenario import live_limits, prepare_market, streams, warm_up
from pytest_stress.scenario import OnBreach, Scenario, load_scenario
from pytest_stress.stack.bus import EventBus, StackEvent
from pytest_stress.stack.clock import SimClock
from pytest_stress.stack.factory import StackContext, TradingStack, load_factory
from pytest_stress.stack.model import (
    Bar,
    BrokerAck,
    ConnectionState,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    PortfolioSnapshot,
    Side,
    SignalSide,
)

_RSS_EVERY_BARS = 100  # reading the process's memory costs ~20 us: not every bar


def _rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; 0 where it cannot be read)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


_FLAT_BOOK_UNDEFINED = ("var_multiple", "cvar_multiple", "position_delta_pct")


class ReplayBroker:
    """A BrokerClient whose exchange is the replay core: orders are queued into the session and filled
    there; fills and positions are read back from the session's arrays. Always connected (outages are
    injected over real sockets by the fault layer, not here)."""

    def __init__(self, session: ReplaySession, symbols: tuple[str, ...]) -> None:
        self.session = session
        self.index = {s: i for i, s in enumerate(symbols)}
        self.symbols = symbols
        self._acks: dict[str, BrokerAck] = {}
        self._sched_ids: list[str] = []  # schedule entry k -> client order id
        self._order_ids: list[str] = []  # core order index (SCHEDULE source only) -> client order id
        self._orders_seen = 0
        self._fills_seen = 0
        self.submitted = 0

    @property
    def connection_state(self) -> ConnectionState:
        return ConnectionState.CONNECTED

    def connect(self) -> None:
        return None

    def disconnect(self) -> None:
        return None

    def submit_order(self, order: Order) -> BrokerAck:
        if order.client_order_id in self._acks:  # a retry of an order we already queued
            return self._acks[order.client_order_id]
        i = self.index.get(order.symbol)
        if i is None:
            ack = BrokerAck(
                order.client_order_id,
                "",
                OrderStatus.REJECTED,
                reject_reason=f"unknown symbol {order.symbol}",
            )
        else:
            limit = order.limit_price if order.order_type is OrderType.LIMIT else np.nan
            kind = ex.LIMIT if order.order_type is OrderType.LIMIT else ex.MARKET
            k = self.session.submit(i, order.signed_quantity, kind, np.nan if limit is None else float(limit))
            self._sched_ids.append(order.client_order_id)
            self.submitted += 1
            ack = BrokerAck(order.client_order_id, f"replay-{k}", OrderStatus.SUBMITTED)
        self._acks[order.client_order_id] = ack
        return ack

    def cancel_order(self, client_order_id: str) -> BrokerAck:
        return BrokerAck(
            client_order_id,
            "",
            OrderStatus.REJECTED,
            reject_reason="the replay broker does not cancel single orders",
        )

    def get_positions(self) -> dict[str, float]:
        st = self.session.state
        if st is None:
            return {}
        qty = st.ls[acc.LS_QTY]
        return {s: float(qty[i]) for s, i in self.index.items() if qty[i] != 0.0}

    def poll_fills(self) -> list[Fill]:
        st = self.session.state
        if st is None:
            return []
        n_orders, n_fills = int(st.xc[ex.XC_ORDERS]), int(st.xc[ex.XC_FILLS])
        for o in range(self._orders_seen, n_orders):
            if st.oi[ex.OI_SOURCE, o] == ex.SCHEDULE:
                self._order_ids.append(self._sched_ids[len(self._order_ids)])
            else:
                self._order_ids.append("")
        self._orders_seen = n_orders
        out = []
        for f in range(self._fills_seen, n_fills):
            qty = float(st.ff[ex.FF_QTY, f])
            out.append(
                Fill(
                    self._order_ids[int(st.fi[ex.FI_ORDER, f])],
                    self.symbols[int(st.fi[ex.FI_SYMBOL, f])],
                    Side.BUY if qty > 0 else Side.SELL,
                    abs(qty),
                    float(st.ff[ex.FF_PRICE, f]),
                    float(st.ff[ex.FF_FEE, f]),
                    int(st.fi[ex.FI_TS, f]),
                )
            )
        self._fills_seen = n_fills
        return out


@dataclass
class HarnessResult:
    bars: int
    signals: int = 0
    abstentions: int = 0
    orders: int = 0
    rejected: int = 0
    fills: int = 0
    python_ns: int = 0  # time in the Python components (strategy, governor, OMS, bar building)
    core_ns: int = 0  # time in the compiled session (stresses already applied to the frame)
    events: tuple[StackEvent, ...] = ()
    final_positions: dict[str, float] = field(default_factory=dict)  # the core's ledger
    oms_positions: dict[str, float] = field(default_factory=dict)  # what the OMS booked from its fills
    core_refused: int = 0  # orders the simulated exchange or the core's risk checks refused or cancelled
    equity: float = float("nan")

    @property
    def python_us_per_bar(self) -> float:
        return self.python_ns / 1e3 / max(self.bars, 1)

    @property
    def core_us_per_bar(self) -> float:
        return self.core_ns / 1e3 / max(self.bars, 1)


def bars_of(frame: MarketFrame, lo: int, hi: int) -> list[Bar]:
    """One bar per symbol over ticks lo..hi-1: OHLC of the mid, volume summed (NaN mids stay NaN)."""
    mid = 0.5 * (frame.bid[lo:hi] + frame.ask[lo:hi])
    vol = frame.volume[lo:hi].sum(axis=0) if frame.volume is not None else np.zeros(frame.n_symbols)
    ts = int(frame.timestamps_ns[hi - 1])
    with np.errstate(invalid="ignore"):
        hi_px, lo_px = mid.max(axis=0), mid.min(axis=0)
    return [
        Bar(s, ts, float(mid[0, i]), float(hi_px[i]), float(lo_px[i]), float(mid[-1, i]), float(vol[i]))
        for i, s in enumerate(frame.symbols)
    ]


class BarHarness:
    """Replay ``frame`` through ``session`` one bar (``ticks_per_bar`` ticks) at a time, deciding in Python.

    Signals are targets: BUY -> hold +quantity, SELL -> hold -quantity, ABSTAIN -> keep the position;
    the order is the difference from the current position (fills so far, what is pending at the OMS is
    not double-counted because the OMS fills are polled every bar).
    """

    def __init__(
        self,
        session: ReplaySession,
        frame: MarketFrame,
        factory: Callable[[StackContext], TradingStack],
        *,
        ticks_per_bar: int = 1,
        log_dir: Path,
        capital: float = 1e6,
    ) -> None:
        if ticks_per_bar < 1:
            raise ReplayError(f"ticks_per_bar must be at least 1, got {ticks_per_bar}")
        self.session, self.frame, self.ticks_per_bar = session, frame, ticks_per_bar
        self.capital = capital
        self.broker = ReplayBroker(session, frame.symbols)
        self.clock = SimClock(start=float(frame.timestamps_ns[0]) / 1e9)
        self.bus = EventBus()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stack = factory(
            StackContext(broker=self.broker, bus=self.bus, clock=self.clock, log_dir=log_dir)
        )

    def _snapshot(self, marks: dict[str, float], ts: int) -> PortfolioSnapshot:
        st = self.session.state
        cash = float(st.lg[acc.LG_CASH]) if st is not None else self.capital
        return PortfolioSnapshot(cash, self.broker.get_positions(), marks, ts)

    def run(self) -> HarnessResult:
        frame, n, step = self.frame, self.frame.n_ticks, self.ticks_per_bar
        stack = self.stack
        res = HarnessResult(bars=0)
        prev_ts = int(frame.timestamps_ns[0])
        for lo in range(0, n, step):
            hi = min(lo + step, n)
            t0 = time.perf_counter_ns()
            self.session.feed(frame.rows(lo, hi))
            t1 = time.perf_counter_ns()
            ts = int(frame.timestamps_ns[hi - 1])
            self.clock.advance(max(0.0, (ts - prev_ts) / 1e9))
            prev_ts = ts
            self._decide(bars_of(frame, lo, hi), ts, res)
            res.python_ns += time.perf_counter_ns() - t1
            res.core_ns += t1 - t0
            res.bars += 1
        stack.oms.heartbeat()
        res.fills = len(stack.oms.fills())
        res.events = self.bus.events
        res.final_positions = self.broker.get_positions()
        st = self.session.state
        res.oms_positions = dict(getattr(stack.oms, "local_positions", stack.oms.positions)())
        if st is not None:
            status = st.oi[ex.OI_STATUS, : int(st.xc[ex.XC_ORDERS])]
            refused = (ex.CANCELLED, ex.EXCHANGE_REJECT, ex.REJECTED_HALT, ex.BLOCKED)
            res.core_refused = int(np.isin(status, refused).sum())
        res.equity = float(st.lg[acc.LG_EQUITY]) if st is not None else float("nan")
        close = getattr(stack.oms, "close", None)
        if callable(close):
            close()
        return res

    def _decide(self, bars: list[Bar], ts: int, res: HarnessResult) -> None:
        stack = self.stack
        stack.oms.heartbeat()  # collect the fills of the bar just replayed
        marks = {b.symbol: b.close for b in bars if np.isfinite(b.close)}
        self.marks = marks
        monitor = stack.feed_monitor
        for bar in bars:
            stack.strategy.on_market_data(bar)
            if monitor is not None and bar.is_finite():  # a NaN bar is no data: the silence goes on
                monitor.on_bar(bar)
        if monitor is not None:
            monitor.check()
        snapshot = self._snapshot(marks, ts)
        stack.risk_governor.on_equity(snapshot.equity)
        positions = dict(stack.oms.positions())
        t0 = time.perf_counter()
        signals = stack.strategy.generate_signals(snapshot)
        if stack.resource_guard is not None:  # seed 001 scenario 5: signal time and memory, every bar
            if res.bars % _RSS_EVERY_BARS == 0:
                self._rss = _rss_bytes()
            stack.resource_guard.observe(signal_seconds=time.perf_counter() - t0, memory_bytes=self._rss)
        for signal in signals:
            res.signals += 1
            if signal.side is SignalSide.ABSTAIN:
                res.abstentions += 1
                continue
            target = signal.quantity if signal.side is SignalSide.BUY else -signal.quantity
            delta = target - positions.get(signal.symbol, 0.0)
            px = marks.get(signal.symbol)
            if abs(delta) < 1e-12 or px is None:
                continue
            order = Order(
                signal.symbol,
                Side.BUY if delta > 0 else Side.SELL,
                abs(delta),
                reference_price=px,
                strategy=stack.strategy.name,
            )
            res.orders += 1
            result = stack.oms.submit_order(order)
            if result.status in (OrderStatus.REJECTED, OrderStatus.FAILED):
                res.rejected += 1
            else:
                positions[signal.symbol] = target


def run_harness(
    scenario: Scenario | str | Path,
    factory: str | Callable[[StackContext], TradingStack] = "reference",
    *,
    log_dir: Path,
    symbols: int | None = None,
    seed: int | None = None,
    ticks_per_bar: int = 1,
) -> HarnessResult:
    """Replay a scenario (Scenario, library name or path) bar by bar through the stack ``factory`` builds.

    The book starts flat: every position is the stack's own. The core's risk engine still enforces the
    scenario's drawdown limit and ``risk:`` controls on that book, after the stack's governor; the VaR,
    CVaR and position-delta trips are left to the stack's governor, since they are multiples of the
    starting book's VaR and exposure, which are 0 for a flat book.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    sc = sc.with_overrides(symbols=symbols, seed=seed)
    make = load_factory(factory) if isinstance(factory, str) else factory
    warm_up()
    rng = streams(sc.market.seed)
    prepared = prepare_market(sc, rng)
    sc = prepared.scenario
    calm, frame = prepared.whole()
    session = ReplaySession(
        np.zeros(frame.n_symbols),
        float(sc.portfolio.initial_capital),
        execution=sc.execution,
        risk_spec=sc.risk,
        rng=rng.exchange,
        limits={k: v for k, v in live_limits(sc).items() if k not in _FLAT_BOOK_UNDEFINED},
        kill_on_breach=sc.on_breach is OnBreach.KILL_SWITCH,
        tick_ms=sc.market.tick_ms,
        manage_book=False,
    )
    session.observe_calm(calm)
    harness = BarHarness(
        session,
        frame,
        make,
        ticks_per_bar=ticks_per_bar,
        log_dir=log_dir,
        capital=sc.portfolio.initial_capital,
    )
    return harness.run()
