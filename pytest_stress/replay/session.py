"""The Python side of the replay loop: state arrays, buffer growth, and the session a harness drives.

``ReplaySession`` holds every state array of ``pytest_stress.replay.core`` and feeds it frame chunks
(``feed``), growing the order, fill and event buffers when ``run_chunk`` stops for room; a bar-by-bar
harness can also reset the kill switch between chunks. ``replay`` runs one whole frame; ``OrderSchedule``
carries explicit orders; ``ReplayOutput`` is what a run leaves for ``pytest_stress.run.result``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_stress.errors import ReplayError
from pytest_stress.market.frame import MarketFrame, empty_block
from pytest_stress.metrics import RISK_LIMIT_METRICS
from pytest_stress.replay import accounting as acc
from pytest_stress.replay import exchange as ex
from pytest_stress.replay import risk
from pytest_stress.replay.core import (
    BASELINE_TICKS,
    CC_PREV_TS,
    CC_ROW,
    CC_SCHED,
    GAP_FACTOR,
    N_CC,
    N_SERIES,
    S_DRAWDOWN,
    S_EQUITY,
    SI_SYMBOL,
    run_chunk,
)
from pytest_stress.replay.events import EventBuffer
from pytest_stress.specs.execution import ExecutionSpec
from pytest_stress.specs.risk import RiskSpec


@dataclass(frozen=True, eq=False)
class OrderSchedule:
    """Explicit orders, struct of arrays: the global tick they are decided at, symbol index, signed
    quantity (> 0 buys), kind (``OrderKind``) and limit price (NaN for market orders and cancels)."""

    tick: np.ndarray
    symbol: np.ndarray
    qty: np.ndarray
    kind: np.ndarray
    limit_px: np.ndarray

    @classmethod
    def empty(cls) -> OrderSchedule:
        return cls.from_rows([])

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, int, float, int, float]]) -> OrderSchedule:
        """``[(tick, symbol, qty, kind, limit_px), ...]``, in any order (sorted by tick, stably)."""
        rows = sorted(rows, key=lambda r: r[0])
        cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
        return cls(
            np.asarray(cols[0], dtype=np.int64),
            np.asarray(cols[1], dtype=np.int64),
            np.asarray(cols[2], dtype=np.float64),
            np.asarray(cols[3], dtype=np.int64),
            np.asarray(cols[4], dtype=np.float64),
        )

    def __len__(self) -> int:
        return int(self.tick.shape[0])

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.tick, kind="stable")
        ints = np.ascontiguousarray(np.stack([self.tick, self.symbol, self.kind])[:, order])
        floats = np.ascontiguousarray(np.stack([self.qty, self.limit_px])[:, order])
        return ints, floats


@dataclass(eq=False)
class ReplayState:
    """Every array the loop carries from one tick (and one chunk) to the next."""

    ls: np.ndarray
    lg: np.ndarray
    base_qty: np.ndarray
    xs: np.ndarray
    xp: np.ndarray
    of: np.ndarray
    oi: np.ndarray
    active: np.ndarray
    ff: np.ndarray
    fi: np.ndarray
    xc: np.ndarray
    upool: np.ndarray
    rs: np.ndarray
    rp: np.ndarray
    rm: np.ndarray
    cc: np.ndarray
    cp: np.ndarray
    sched_i: np.ndarray
    sched_f: np.ndarray
    valid: np.ndarray
    events: EventBuffer

    def grow(self, n_symbols: int, rng: np.random.Generator, fills_ahead: int = 0) -> None:
        """Make room for the worst tick (``run_chunk``'s own test), doubling what is short. The fill buffer
        grows at least by ``fills_ahead`` (the caller's projection of the fills still to come), so a busy
        replay grows it once or twice instead of ten times.
        Buffers hold nothing beyond their counters: only the used part is copied into the new ones."""
        sched_due = self.sched_i.shape[1] - int(self.cc[CC_SCHED])
        new = n_symbols + sched_due
        active = int(self.xc[ex.XC_ACTIVE])
        orders = int(self.xc[ex.XC_ORDERS])
        if orders + new > self.oi.shape[1]:
            extra = max(self.oi.shape[1], new)
            self.of = np.concatenate([self.of, np.zeros((ex.N_OF, extra))], axis=1)
            self.oi = np.concatenate([self.oi, np.zeros((ex.N_OI, extra), dtype=np.int64)], axis=1)
            self.active = np.concatenate([self.active, np.zeros(extra, dtype=np.int64)])
        n_fills = int(self.xc[ex.XC_FILLS])
        if n_fills + active > self.ff.shape[1]:
            cap = self.ff.shape[1] + max(self.ff.shape[1], active)
            cap = max(cap, n_fills + active + fills_ahead)
            ff, fi = empty_block([((ex.N_FF, cap), np.float64), ((ex.N_FI, cap), np.int64)])
            ff[:, :n_fills] = self.ff[:, :n_fills]
            fi[:, :n_fills] = self.fi[:, :n_fills]
            self.ff, self.fi = ff, fi
        cursor = int(self.xc[ex.XC_UCURSOR])
        if cursor + 2 * new > self.upool.shape[0]:
            # the pool continues the same stream: order k keeps using uniforms 2k and 2k+1
            self.upool = np.concatenate([self.upool[cursor:], rng.random(max(self.upool.shape[0], 2 * new))])
            self.xc[ex.XC_UCURSOR] = 0
        self.events.ensure_free(3 * n_symbols + 2 * active + 2 * new + 32)


class ReplaySession:
    """A replay fed chunk by chunk: the book opens on the first row it sees, state carries over; a Python
    harness can reset the kill switch between chunks.

    ``limits``: metric name (metrics.RISK_LIMIT_METRICS) -> max, the live limits; ``var_1d``/``cvar_1d``:
    the book's normal 1-day VaR and CVaR (currency); ``vol_prior``: per-second variance of the base book's
    return before the replay (NaN: none); ``tick_ms``: the feed's tick, for gap detection (default: the
    first chunk's median step); ``year_s``: seconds in the market's trading year, to annualise volatility;
    ``rng`` fills the exchange's pool of uniforms. The pre-stress baselines
    (liquidity, each symbol's normal volatility, the top-of-book size) come from ``observe_calm`` (the
    unstressed market's first BASELINE_TICKS rows), else from the first chunk fed.
    """

    def __init__(
        self,
        weights: np.ndarray,
        capital: float,
        *,
        execution: ExecutionSpec,
        risk_spec: RiskSpec,
        rng: np.random.Generator,
        limits: Mapping[str, float] | None = None,
        kill_on_breach: bool = True,
        var_1d: float = 0.0,
        cvar_1d: float = 0.0,
        vol_prior: float = np.nan,
        schedule: OrderSchedule | None = None,
        tick_ms: float | None = None,
        manage_book: bool | None = None,
        year_s: float = risk.YEAR_S,
    ) -> None:
        self.weights = np.ascontiguousarray(weights, dtype=np.float64)
        self.capital = float(capital)
        self.execution = execution
        self.risk_spec = risk_spec
        self.rng = rng
        self.limits = dict(limits or {})
        self.kill_on_breach = kill_on_breach
        self.var_1d, self.cvar_1d, self.vol_prior = float(var_1d), float(cvar_1d), float(vol_prior)
        self.schedule = schedule if schedule is not None else OrderSchedule.empty()
        self.tick_ms = tick_ms
        self.manage_book = risk_spec.manage_book if manage_book is None else manage_book
        self.year_s = float(year_s)
        self.state: ReplayState | None = None
        self.symbols: tuple[str, ...] = ()
        self._baseline = np.zeros((ex.N_BA, self.weights.shape[0]))
        self._baseline_rows = 0
        self._top = [0.0, 0]  # sum and count of the calm top-of-book size
        self._timestamps: list[np.ndarray] = []
        self._series: list[np.ndarray] = []

    def observe_calm(self, calm: MarketFrame) -> None:
        """Add the unstressed market's rows to the pre-stress baselines (up to BASELINE_TICKS in all)."""
        if self.state is not None:
            raise ReplayError("observe_calm() must come before the first feed()")
        take = min(calm.n_ticks, BASELINE_TICKS - self._baseline_rows)
        if take <= 0:
            return
        calm = calm.rows(0, take)
        book = _book(calm)
        ex.baseline_add(calm.timestamps_ns, calm.bid, calm.ask, book[1], book[3], self._baseline)
        if calm.depth is not None:
            top = ex.top_of_book_size(book[1], book[3])
            self._top = [self._top[0] + float(top.sum()), self._top[1] + top.shape[0]]
        self._baseline_rows += take

    @property
    def top_size_baseline(self) -> float:
        return self._top[0] / self._top[1] if self._top[1] else np.nan

    def _open(self, frame: MarketFrame) -> None:
        n_symbols = frame.n_symbols
        if self.weights.shape[0] != n_symbols:
            raise ReplayError(
                f"the book has {self.weights.shape[0]} weights but the market has {n_symbols} symbols"
            )
        bid0, ask0 = frame.bid[0], frame.ask[0]
        unusable = ~((bid0 > 0) & (ask0 >= bid0) & np.isfinite(ask0)) & (self.weights != 0)
        if unusable.any():
            i = int(np.flatnonzero(unusable)[0])
            raise ReplayError(
                f"cannot open the book: the tick-{frame.start_tick} quote of {frame.symbols[i]} is unusable "
                f"(bid {bid0[i]}, ask {ask0[i]}); start the replay on a clean tick"
            )
        sched_i, sched_f = self.schedule.arrays()
        if len(self.schedule) and not (0 <= sched_i[SI_SYMBOL].min() <= sched_i[SI_SYMBOL].max() < n_symbols):
            raise ReplayError(f"the order schedule names a symbol outside 0..{n_symbols - 1}")
        if self._baseline_rows == 0:
            self.observe_calm(frame)
        self.symbols = frame.symbols
        ts0 = int(frame.timestamps_ns[0])

        ls, lg = np.zeros((acc.N_LS, n_symbols)), np.zeros(acc.N_LG)
        base_qty = acc.open_ledger(self.weights, self.capital, bid0, ask0, float(ts0), ls, lg)
        xs = np.zeros((ex.N_XS, n_symbols))
        ex.baseline_set(self._baseline, xs)
        xs[ex.XS_POSITION] = base_qty

        rs, rp = (
            np.zeros(risk.N_RS),
            risk.risk_params(self.risk_spec, self.kill_on_breach, self.manage_book, self.year_s),
        )
        rm = np.zeros((risk.N_RM, risk.N_RISK_METRICS))
        rm[risk.RM_LIMIT] = [self.limits.get(m, np.nan) for m in RISK_LIMIT_METRICS]
        rm[risk.RM_BREACH_ROW] = -1.0
        rm[risk.RM_BREACH_VALUE] = np.nan
        mid0 = 0.5 * (bid0 + ask0)
        net0 = float(np.sum(base_qty * mid0))
        gross0 = float(np.sum(np.abs(base_qty) * mid0))
        risk.init_risk(
            float(ts0), self.capital, net0, gross0, net0, self.var_1d, self.cvar_1d, self.vol_prior, rs, rp
        )

        tick_ms = self.tick_ms
        if tick_ms is None:
            steps = np.diff(frame.timestamps_ns)
            tick_ms = float(np.median(steps)) / 1e6 if steps.size else 0.0
        cc = np.zeros(N_CC, dtype=np.int64)
        cc[CC_PREV_TS] = ts0
        cap = 64 + 4 * n_symbols + len(self.schedule)
        self.state = ReplayState(
            ls=ls,
            lg=lg,
            base_qty=base_qty,
            xs=xs,
            xp=ex.execution_params(self.execution),
            of=np.zeros((ex.N_OF, cap)),
            oi=np.zeros((ex.N_OI, cap), dtype=np.int64),
            active=np.zeros(cap, dtype=np.int64),
            ff=np.zeros((ex.N_FF, 2 * cap)),
            fi=np.zeros((ex.N_FI, 2 * cap), dtype=np.int64),
            xc=np.zeros(ex.N_XC, dtype=np.int64),
            upool=self.rng.random(2 * cap),
            rs=rs,
            rp=rp,
            rm=rm,
            cc=cc,
            cp=np.array([tick_ms * 1e6, GAP_FACTOR]),
            sched_i=sched_i,
            sched_f=sched_f,
            valid=np.ones(n_symbols, dtype=np.int8),
            events=EventBuffer.empty(1024 + 8 * n_symbols),
        )

    def feed(self, frame: MarketFrame) -> None:
        """Replay the rows of ``frame``, the next chunk of the session in time order."""
        if self.state is None:
            self._open(frame)
        st = self.state
        assert st is not None
        if frame.symbols != self.symbols:
            raise ReplayError("every chunk of a session must have the same symbols, in the same order")
        n = frame.n_ticks
        b_px, b_sz, a_px, a_sz = _book(frame)
        series = np.empty((n, N_SERIES))
        r = 0
        fills0 = int(st.xc[ex.XC_FILLS])
        while r < n:
            done = run_chunk(
                frame.timestamps_ns[r:],
                (frame.bid[r:], frame.ask[r:], frame.volume[r:]),
                (b_px[r:], b_sz[r:], a_px[r:], a_sz[r:]),
                st.ls, st.lg, st.base_qty, st.xs, st.xp, (st.of, st.oi, st.active), (st.ff, st.fi), st.xc,
                st.upool, st.rs, st.rp, st.rm, st.cc, st.cp, (st.sched_i, st.sched_f), series[r:], st.valid,
                st.events.arrays(),
            )  # fmt: skip
            r += done
            if r < n:
                # the fill rate of this chunk so far, with a margin: a short guess only costs another grow
                ahead = (int(st.xc[ex.XC_FILLS]) - fills0) * (n - r) // max(r, 1) * 5 // 4
                st.grow(frame.n_symbols, self.rng, ahead)
        self._timestamps.append(frame.timestamps_ns)
        self._series.append(series)

    def submit(self, symbol: int, qty: float, kind: int, limit_px: float = np.nan) -> int:
        """Queue an order decided now (by a Python harness between chunks): it goes through the same
        pre-trade checks and latency as a scheduled one at the next tick fed. Returns its schedule index;
        the k-th schedule entry becomes the k-th order whose source is ``exchange.SCHEDULE``."""
        st = self._require()
        if not 0 <= symbol < len(self.symbols):
            raise ReplayError(f"no symbol {symbol}: the session has {len(self.symbols)}")
        row = int(st.cc[CC_ROW])
        st.sched_i = np.concatenate([st.sched_i, np.array([[row], [symbol], [kind]], dtype=np.int64)], axis=1)
        st.sched_f = np.concatenate([st.sched_f, np.array([[qty], [limit_px]], dtype=np.float64)], axis=1)
        return int(st.sched_i.shape[1] - 1)

    def reset_kill_switch(self) -> bool:
        """Reset the kill switch before the next tick (seed 002: reset_circuit); True when it was on."""
        st = self._require()
        st.events.ensure_free(4)
        return bool(risk.reset_kill_switch(int(st.cc[CC_ROW]), st.rs, st.events.arrays()))

    @property
    def kill_switch_on(self) -> bool:
        return bool(self._require().rs[risk.RS_KILL] > 0)

    def _require(self) -> ReplayState:
        if self.state is None:
            raise ReplayError("the session has not seen a tick yet: feed() a frame first")
        return self.state

    def output(self) -> ReplayOutput:
        """Everything the replay measured so far; the session can go on. The fills and the series are
        read-only views, not copies: the session only ever appends to them (a fill, a row, once written,
        stays); the rest are copies."""
        st = self._require()
        n_orders, n_fills = int(st.xc[ex.XC_ORDERS]), int(st.xc[ex.XC_FILLS])
        if len(self._series) > 1:  # the next call does not concatenate again
            self._series = [np.concatenate(self._series)]
        e = st.events
        return ReplayOutput(
            symbols=self.symbols,
            timestamps_ns=np.concatenate(self._timestamps),
            series=_read_only(self._series[0]) if self._series else np.empty((0, N_SERIES)),
            orders_f=st.of[:, :n_orders].copy(),
            orders_i=st.oi[:, :n_orders].copy(),
            fills_f=_read_only(st.ff[:, :n_fills]),
            fills_i=_read_only(st.fi[:, :n_fills]),
            ls=st.ls.copy(),
            lg=st.lg.copy(),
            base_qty=st.base_qty.copy(),
            xs=st.xs.copy(),
            xc=st.xc.copy(),
            rs=st.rs.copy(),
            rp=st.rp.copy(),
            rm=st.rm.copy(),
            cc=st.cc.copy(),
            events=EventBuffer(e.tick.copy(), e.code.copy(), e.symbol.copy(), e.value.copy(), e.count.copy()),
            top_size_baseline=self.top_size_baseline,
        )


def replay(
    frame: MarketFrame,
    weights: np.ndarray,
    capital: float = 1e6,
    *,
    execution: ExecutionSpec | None = None,
    risk_spec: RiskSpec | None = None,
    seed: int = 0,
    chunk_ticks: int | None = None,
    calm: MarketFrame | None = None,
    **session: Any,
) -> ReplayOutput:
    """Replay ``frame`` (whole, or ``chunk_ticks`` rows at a time) through a new session; the shortest way
    to drive the core from a test or a notebook. The pre-stress baselines come from ``calm`` (default: the
    frame itself); ``session``: ReplaySession's other keywords."""
    if "tick_ms" not in session:  # from the whole frame: a chunk of one row has no step to read
        steps = np.diff(frame.timestamps_ns)
        session["tick_ms"] = float(np.median(steps)) / 1e6 if steps.size else 0.0
    s = ReplaySession(
        weights,
        capital,
        execution=execution or ExecutionSpec(),
        risk_spec=risk_spec or RiskSpec(),
        rng=np.random.default_rng(seed),
        **session,
    )
    s.observe_calm(calm if calm is not None else frame)  # the same baselines whatever the chunking
    step = chunk_ticks or max(frame.n_ticks, 1)
    for lo in range(0, frame.n_ticks, step):
        s.feed(frame.rows(lo, lo + step))
    return s.output()


@dataclass(frozen=True, eq=False)
class ReplayOutput:
    """The arrays a replay leaves behind; ``replay.result`` turns them into metrics."""

    symbols: tuple[str, ...]
    timestamps_ns: np.ndarray
    series: np.ndarray
    orders_f: np.ndarray
    orders_i: np.ndarray
    fills_f: np.ndarray
    fills_i: np.ndarray
    ls: np.ndarray
    lg: np.ndarray
    base_qty: np.ndarray
    xs: np.ndarray
    xc: np.ndarray
    rs: np.ndarray
    rp: np.ndarray
    rm: np.ndarray
    cc: np.ndarray
    events: EventBuffer
    top_size_baseline: float

    @property
    def equity(self) -> np.ndarray:
        return self.series[:, S_EQUITY]

    @property
    def drawdown(self) -> np.ndarray:
        return self.series[:, S_DRAWDOWN]


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


def _book(frame: MarketFrame) -> tuple[np.ndarray, ...]:
    d = frame.depth
    if d is None:
        empty = np.empty((frame.n_ticks, frame.n_symbols, 0))
        return empty, empty, empty, empty
    return d.bid_px, d.bid_sz, d.ask_px, d.ask_sz
