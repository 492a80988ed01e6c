"""The compiled replay loop: each tick, the quote scan, the exchange, the ledger, the risk engine and the
book's own orders, as separate kernels a Python harness could also call one bar at a time.

What trades: the scenario's book is carried in at tick 0 (``accounting.open_ledger``) and then managed.
The risk engine sets a target scale (vol targeting, Kelly clamp); when it moves, the rebalancer sends
market orders for the difference (per symbol, beyond ``rebalance_band`` of the base quantity) through the
pre-trade checks and the exchange, with latency. An optional explicit ``OrderSchedule`` adds orders at
given ticks (tests, a bar-by-bar harness). The kill switch blocks both.

One tick, in order: ``scan_quotes`` (usable quotes, data-quality events, forward-fill of marks) ->
``exchange.exchange_step`` (halts, arrivals, matching) -> ``accounting.apply_fill`` per fill ->
``accounting.mark`` -> ``risk.risk_on_tick`` (-> ``exchange.cancel_all`` when the kill switch fires) ->
``schedule_step`` -> ``rebalance_step``. A decision at tick t trades at t + 1 at the earliest.

Streaming: ``run_chunk`` takes one frame chunk and the state arrays, advances them in place, and returns
how many rows it did; it stops early (before a tick) when a buffer could overflow, so the Python layer
grows it and calls again. A whole 6.5 h session replays chunk by chunk with bit-identical results.

Speed: the per-tick steps are inlined into ``run_chunk`` and the rare ones (schedule, rebalance, matching)
are only called when they have work: numba reference-counts every array it passes to a call, which costs
more than the step itself. Numba's cache is keyed on each kernel's own file, and ``run_chunk`` inlines
kernels from exchange.py, accounting.py, risk.py and events.py: after editing one of them, delete
``pytest_stress/replay/__pycache__/*.nb[ic]`` (or touch this file) or the old code keeps running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from pytest_stress.errors import ReplayError
from pytest_stress.market.frame import MarketFrame
from pytest_stress.metrics import RISK_LIMIT_METRICS
from pytest_stress.replay import accounting as acc
from pytest_stress.replay import exchange as ex
from pytest_stress.replay import risk
from pytest_stress.replay.events import CROSSED_BOOK, DATA_CORRUPT_TICK, DATA_GAP, EventBuffer, emit
from pytest_stress.specs.execution import ExecutionSpec
from pytest_stress.specs.risk import RiskSpec

# --- core counters ``cc`` (int64) ---
CC_ROW, CC_SCHED, CC_PREV_TS, CC_DATA_ISSUES, CC_GAPS, CC_BAD_TIMESTAMPS = 0, 1, 2, 3, 4, 5
N_CC = 6
# --- core parameters ``cp`` (float64) ---
CP_TICK_NS, CP_GAP_FACTOR = 0, 1
N_CP = 2
GAP_FACTOR = 1.5  # a step longer than this many ticks is a DATA_GAP
BASELINE_TICKS = 600  # pre-stress baselines: the unstressed market's first 600 ticks (1 min at 100 ms)
# --- per-row output ``series`` (n_rows, N_SERIES) ---
S_EQUITY, S_DRAWDOWN, S_NET, S_GROSS, S_CASH, S_SCALE, S_VOL, S_UTIL = 0, 1, 2, 3, 4, 5, 6, 7
S_TOP_SIZE, S_REALISED, S_UNREALISED, S_FEES, S_BASE_VALUE = 8, 9, 10, 11, 12
N_SERIES = 13
# --- schedule rows ---
SI_TICK, SI_SYMBOL, SI_KIND = 0, 1, 2
SF_QTY, SF_LIMIT_PX = 0, 1


@njit(cache=True, inline="always")
def scan_quotes(row, t, bid, ask, valid, ls, cc, ev):
    """Mark which quotes of row t are usable (finite, positive, bid <= ask) and forward-fill the last
    usable bid/ask into the ledger; unusable cells are data-quality issues (one event per kind per tick)."""
    bad = 0
    crossed = 0
    last_bad = -1
    for i in range(bid.shape[1]):
        b = bid[t, i]
        a = ask[t, i]
        if b > 0.0 and a >= b and a < np.inf:
            valid[i] = 1
            ls[acc.LS_LAST_BID, i] = b
            ls[acc.LS_LAST_ASK, i] = a
        else:
            valid[i] = 0
            if b > 0.0 and a > 0.0 and a < b:
                crossed += 1
            else:
                bad += 1
                last_bad = i
    if bad > 0:
        emit(ev, row, DATA_CORRUPT_TICK, last_bad if bad == 1 else -1, bad)
    if crossed > 0:
        emit(ev, row, CROSSED_BOOK, -1, crossed)
    cc[CC_DATA_ISSUES] += bad + crossed


@njit(cache=True, inline="always")
def base_book(ls, base_qty):
    """Net and gross value of the base (unscaled) book at the last usable mids."""
    net = 0.0
    gross = 0.0
    for i in range(base_qty.shape[0]):
        q = base_qty[i]
        if q != 0.0:
            mid = 0.5 * (ls[acc.LS_LAST_BID, i] + ls[acc.LS_LAST_ASK, i])
            net += q * mid
            gross += abs(q) * mid
    return net, gross


@njit(cache=True)
def submit_checked(row, ts, i, qty, kind, limit_px, source, ls, xs, xp, orders, xc, upool, rs, rp, ev):
    """Pre-trade checks, then the exchange; a refused order is kept as BLOCKED, with an event."""
    of, oi, active = orders
    open_position = ls[acc.LS_QTY, i] + xs[ex.XS_PENDING, i]
    bid, ask = ls[acc.LS_LAST_BID, i], ls[acc.LS_LAST_ASK, i]
    code = risk.pre_trade_check(kind, qty, limit_px, open_position, bid, ask, rs, rp)
    if code != 0:
        ex.record_order(row, ts, i, qty, kind, limit_px, source, ex.BLOCKED, code, of, oi, xc)
        emit(ev, row, code, i, qty)
        return -1
    return ex.submit_order(row, ts, i, qty, kind, limit_px, source, of, oi, active, xs, xp, xc, upool, ev)


@njit(cache=True)
def schedule_step(row, ts, schedule, cc, ls, xs, xp, orders, xc, upool, rs, rp, ev):
    """Send the schedule's orders due at this row (``schedule = (ints, floats)``, sorted by tick)."""
    si, sf = schedule
    k = cc[CC_SCHED]
    while k < si.shape[1] and si[SI_TICK, k] <= row:
        i, kind = si[SI_SYMBOL, k], si[SI_KIND, k]
        submit_checked(row, ts, i, sf[SF_QTY, k], kind, sf[SF_LIMIT_PX, k], ex.SCHEDULE, ls, xs, xp, orders,
                       xc, upool, rs, rp, ev)  # fmt: skip
        k += 1
    cc[CC_SCHED] = k


@njit(cache=True)
def rebalance_step(row, ts, valid, base_qty, ls, xs, xp, orders, xc, upool, rs, rp, ev):
    """Move the book toward ``RS_SCALE`` x base quantities when something changed (the target, a halt
    ending, a rebalancing order ending unfilled). The book's own strategy respects its controls: nothing
    is sent while the kill switch is on (it resumes after a reset), no position grows while the strategy
    breaker is on, and a halted symbol waits (its orders would be refused)."""
    if (rs[risk.RS_DIRTY] == 0.0 and xc[ex.XC_DIRTY] == 0) or rs[risk.RS_KILL] > 0.0:
        return
    rs[risk.RS_DIRTY] = 0.0
    xc[ex.XC_DIRTY] = 0
    if rp[risk.RP_MANAGE] == 0.0:
        return
    scale = rs[risk.RS_SCALE]
    band = rp[risk.RP_REBALANCE_BAND]
    breaker = rs[risk.RS_STRATEGY_BREAKER] > 0.0
    wait = False
    for i in range(base_qty.shape[0]):
        bq = base_qty[i]
        held = ls[acc.LS_QTY, i]
        open_position = held + xs[ex.XS_PENDING, i]
        d = scale * bq - open_position
        if bq == 0.0 or abs(d) <= band * abs(bq):
            continue
        if breaker and abs(open_position + d) > abs(open_position):
            continue
        halt = xs[ex.XS_HALT, i]
        if (
            valid[i] == 0
            or halt == ex.HALT_MODE_FULL
            or (halt == ex.HALT_MODE_PARTIAL and not ex.reducing(held, d))
        ):
            wait = True
            continue
        submit_checked(
            row, ts, i, d, ex.MARKET, np.nan, ex.REBALANCE, ls, xs, xp, orders, xc, upool, rs, rp, ev
        )
    if wait:
        rs[risk.RS_DIRTY] = 1.0


@njit(cache=True, inline="always")
def _room(row, n_symbols, si, cc, xc, ev_count, orders_cap, fills_cap, pool_size, events_cap):
    """Whether every buffer can take the worst case of one more tick."""
    due = 0
    k = cc[CC_SCHED]
    while k < si.shape[1] and si[SI_TICK, k] <= row:
        due += 1
        k += 1
    new = n_symbols + due
    return (
        xc[ex.XC_ORDERS] + new <= orders_cap
        and xc[ex.XC_ACTIVE] + new <= orders_cap
        and xc[ex.XC_FILLS] + xc[ex.XC_ACTIVE] <= fills_cap
        and xc[ex.XC_UCURSOR] + 2 * new <= pool_size
        and ev_count[0] + 3 * n_symbols + 2 * xc[ex.XC_ACTIVE] + 2 * new + 32 <= events_cap
    )


@njit(cache=True)
def run_chunk(
    ts,
    quotes,
    book,
    ls,
    lg,
    base_qty,
    xs,
    xp,
    orders,
    fills,
    xc,
    upool,
    rs,
    rp,
    rm,
    cc,
    cp,
    schedule,
    series,
    valid,
    ev,
):
    """Replay the rows of one chunk (``ts``, ``quotes = (bid, ask, volume)``, ``book`` = the L2 arrays),
    advancing every state array in place; ``series`` gets one row per frame row. Returns the rows done:
    fewer than the chunk when a buffer must grow first (the caller grows it and calls again)."""
    # tuples are unpacked once here: unpacking one every tick costs reference counting on each array
    bid, ask, volume = quotes
    bid_sz, ask_sz = book[1], book[3]
    of, oi, active = orders
    ff, fi = fills
    si = schedule[0]
    n_sched = si.shape[1]
    n, n_symbols = bid.shape
    ev_count = ev[4]
    orders_cap = min(oi.shape[1], active.shape[0])
    fills_cap, pool_size, events_cap = ff.shape[1], upool.shape[0], ev[0].shape[0]
    liq = np.empty(n_symbols)
    tick_ns = cp[CP_TICK_NS]
    for t in range(n):
        row = cc[CC_ROW]
        if not _room(row, n_symbols, si, cc, xc, ev_count, orders_cap, fills_cap, pool_size, events_cap):
            return t
        now = ts[t]
        prev = cc[CC_PREV_TS]
        if row > 0 and now <= prev:
            # a duplicate or out-of-order tick: recorded and skipped, the book carries over
            cc[CC_BAD_TIMESTAMPS] += 1
            cc[CC_DATA_ISSUES] += 1
            emit(ev, row, DATA_CORRUPT_TICK, -1, (now - prev) / 1e6)
            _write_series(series, t, lg, rs, rp, np.nan, np.nan)
            cc[CC_ROW] = row + 1
            continue
        dt = now - prev if row > 0 else np.int64(tick_ns)
        if row > 0 and tick_ns > 0.0 and dt > cp[CP_GAP_FACTOR] * tick_ns:
            cc[CC_GAPS] += 1
            emit(ev, row, DATA_GAP, -1, round(dt / tick_ns) - 1.0)
        scan_quotes(row, t, bid, ask, valid, ls, cc, ev)

        f0 = xc[ex.XC_FILLS]
        ex.exchange_step(
            row, now, dt, t, bid, ask, volume, book, valid, liq, xs, xp, of, oi, active, fills, xc, ev
        )
        for f in range(f0, xc[ex.XC_FILLS]):
            acc.apply_fill(
                ls, lg, fi[ex.FI_SYMBOL, f], ff[ex.FF_QTY, f], ff[ex.FF_PRICE, f], ff[ex.FF_FEE, f]
            )
        equity = acc.mark(row, now, ls, lg)

        base_value, base_gross = base_book(ls, base_qty)
        fired = risk.risk_on_tick(row, now, equity, lg[acc.LG_DRAWDOWN], lg[acc.LG_MAX_DRAWDOWN],
                                  lg[acc.LG_NET_EXPOSURE], lg[acc.LG_GROSS_EXPOSURE], base_value, base_gross,
                                  xc[ex.XC_ACTIVE_REBAL], rs, rp, rm, ev)  # fmt: skip
        if fired:
            ex.cancel_all(row, now, of, oi, active, xs, xc, ev)
        # the checks are here, not in the steps: calling a step that passes the whole state costs more
        # than the test that tells it has nothing to do
        if cc[CC_SCHED] < n_sched and si[SI_TICK, cc[CC_SCHED]] <= row:
            schedule_step(row, now, schedule, cc, ls, xs, xp, orders, xc, upool, rs, rp, ev)
        if (rs[risk.RS_DIRTY] != 0.0 or xc[ex.XC_DIRTY] != 0) and rs[risk.RS_KILL] == 0.0:
            rebalance_step(row, now, valid, base_qty, ls, xs, xp, orders, xc, upool, rs, rp, ev)
        _write_series(series, t, lg, rs, rp, _top_size(t, bid_sz, ask_sz, valid), base_value)
        cc[CC_PREV_TS] = now
        cc[CC_ROW] = row + 1
    return n


@njit(cache=True, inline="always")
def _top_size(t, bid_sz, ask_sz, valid):
    """Displayed size at level 0, both sides, of the symbols with a usable quote (NaN without a book)."""
    if bid_sz.shape[2] == 0:
        return np.nan
    top = 0.0
    for i in range(bid_sz.shape[1]):
        if valid[i] == 1:
            top += max(bid_sz[t, i, 0], 0.0) + max(ask_sz[t, i, 0], 0.0)
    return top


@njit(cache=True, inline="always")
def _write_series(series, t, lg, rs, rp, top, base_value):
    series[t, S_EQUITY] = lg[acc.LG_EQUITY]
    series[t, S_DRAWDOWN] = lg[acc.LG_DRAWDOWN]
    series[t, S_NET] = lg[acc.LG_NET_EXPOSURE]
    series[t, S_GROSS] = lg[acc.LG_GROSS_EXPOSURE]
    series[t, S_CASH] = lg[acc.LG_CASH]
    series[t, S_SCALE] = rs[risk.RS_SCALE]
    series[t, S_VOL] = np.sqrt(rs[risk.RS_HELD_VAR] * rp[risk.RP_YEAR_S])
    series[t, S_UTIL] = rs[risk.RS_UTIL]
    series[t, S_TOP_SIZE] = top
    series[t, S_REALISED] = lg[acc.LG_REALISED]
    series[t, S_UNREALISED] = lg[acc.LG_UNREALISED]
    series[t, S_FEES] = lg[acc.LG_FEES]
    series[t, S_BASE_VALUE] = base_value


# --- the Python layer: state arrays, growth, the session a harness drives ---------------------------


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

    def grow(self, n_symbols: int, rng: np.random.Generator) -> None:
        """Make room for the worst tick (``run_chunk``'s own test), doubling what is short."""
        sched_due = self.sched_i.shape[1] - int(self.cc[CC_SCHED])
        new = n_symbols + sched_due
        active = int(self.xc[ex.XC_ACTIVE])
        orders = int(self.xc[ex.XC_ORDERS])
        if orders + new > self.oi.shape[1]:
            extra = max(self.oi.shape[1], new)
            self.of = np.concatenate([self.of, np.zeros((ex.N_OF, extra))], axis=1)
            self.oi = np.concatenate([self.oi, np.zeros((ex.N_OI, extra), dtype=np.int64)], axis=1)
            self.active = np.concatenate([self.active, np.zeros(extra, dtype=np.int64)])
        if int(self.xc[ex.XC_FILLS]) + active > self.ff.shape[1]:
            extra = max(self.ff.shape[1], active)
            self.ff = np.concatenate([self.ff, np.zeros((ex.N_FF, extra))], axis=1)
            self.fi = np.concatenate([self.fi, np.zeros((ex.N_FI, extra), dtype=np.int64)], axis=1)
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
                st.grow(frame.n_symbols, self.rng)
        self._timestamps.append(frame.timestamps_ns)
        self._series.append(series)

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
        """Everything the replay measured so far (copies; the session can go on)."""
        st = self._require()
        n_orders, n_fills = int(st.xc[ex.XC_ORDERS]), int(st.xc[ex.XC_FILLS])
        e = st.events
        return ReplayOutput(
            symbols=self.symbols,
            timestamps_ns=np.concatenate(self._timestamps),
            series=np.concatenate(self._series),
            orders_f=st.of[:, :n_orders].copy(),
            orders_i=st.oi[:, :n_orders].copy(),
            fills_f=st.ff[:, :n_fills].copy(),
            fills_i=st.fi[:, :n_fills].copy(),
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


def _book(frame: MarketFrame) -> tuple[np.ndarray, ...]:
    d = frame.depth
    if d is None:
        empty = np.empty((frame.n_ticks, frame.n_symbols, 0))
        return empty, empty, empty, empty
    return d.bid_px, d.bid_sz, d.ask_px, d.ask_sz
