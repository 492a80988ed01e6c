"""The compiled replay loop: each tick, the quote scan, the exchange, the ledger, the risk engine and the
book's own orders, as separate kernels a Python harness could also call one bar at a time.

What trades: the scenario's book is carried in at tick 0 (``accounting.open_ledger``) and then managed.
The risk engine sets a target scale (vol targeting, Kelly clamp); when it moves, the rebalancer sends
market orders for the difference (per symbol, beyond ``rebalance_band`` of the base quantity) through the
pre-trade checks and the exchange, with latency. An optional explicit ``OrderSchedule`` adds orders at
given ticks (tests, a bar-by-bar harness). The kill switch blocks both.

One tick, in order: ``exchange.quote_ratios`` (the row's divisions, in a SIMD pass) ->
``exchange.scan_market`` (usable quotes, data-quality events, forward-fill of marks,
volatility, liquidity and halts, in one pass over the row) -> ``exchange.match_orders`` (arrivals,
matching, only when orders are open) -> ``accounting.apply_fills`` (the tick's fills) -> ``_marks``
and ``accounting.mark_totals`` (equity, exposures, the base book and top-of-book size) ->
``risk.risk_on_tick`` (-> ``exchange.cancel_all`` when the kill switch fires) -> ``schedule_step`` ->
``rebalance_step``. A decision at tick t trades at t + 1 at the earliest.

Streaming: ``run_chunk`` takes one frame chunk and the state arrays, advances them in place, and returns
how many rows it did; it stops early (before a tick) when a buffer could overflow, so the Python layer
grows it and calls again. A whole 6.5 h session replays chunk by chunk with bit-identical results.

Speed: the per-tick steps are inlined into ``run_chunk`` and the rare ones (schedule, rebalance, matching)
are only called when they have work: numba reference-counts every array it passes to a call, which costs
more than the step itself. ``run_chunk`` compiles with ``error_model="numpy"`` (a division by 0 gives inf
or NaN instead of raising; the loop guards every division whose result it uses) so that
``quote_ratios`` vectorises. Numba's cache is keyed on each kernel's own file, and ``run_chunk`` inlines
kernels from exchange.py, accounting.py, risk.py and events.py: after editing one of them, delete
``pytest_stress/replay/__pycache__/*.nb[ic]`` (or touch this file) or the old code keeps running.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pytest_stress.replay import accounting as acc
from pytest_stress.replay import exchange as ex
from pytest_stress.replay import risk
from pytest_stress.replay.events import CROSSED_BOOK, DATA_CORRUPT_TICK, DATA_GAP, emit

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


@njit(cache=True, error_model="numpy")
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
    bid, ask = quotes[0], quotes[1]
    bid_sz, ask_sz = book[1], book[3]
    of, oi, active = orders
    ff, fi = fills
    si = schedule[0]
    n_sched = si.shape[1]
    n, n_symbols = bid.shape
    ev_count = ev[4]
    orders_cap = min(oi.shape[1], active.shape[0])
    fills_cap, pool_size, events_cap = ff.shape[1], upool.shape[0], ev[0].shape[0]
    changed = np.empty(n_symbols, dtype=np.int64)
    sample, liq_ratio = np.empty(n_symbols), np.empty(n_symbols)
    prev_mid, prev_ts, liq_base = xs[ex.XS_PREV_MID], xs[ex.XS_PREV_TS], xs[ex.XS_LIQ_BASE]
    has_book = bid_sz.shape[2] > 0
    fill_symbol, fill_qty = fi[ex.FI_SYMBOL], ff[ex.FF_QTY]
    fill_price, fill_fee = ff[ex.FF_PRICE], ff[ex.FF_FEE]
    qty, avg_px = ls[acc.LS_QTY], ls[acc.LS_AVG_PX]
    last_bid, last_ask = ls[acc.LS_LAST_BID], ls[acc.LS_LAST_ASK]
    vol_hl, liq_hl = xp[ex.XP_VOL_HALFLIFE_NS], xp[ex.XP_LIQ_HALFLIFE_NS]
    lam_dt = np.int64(-1)
    lam_vol = lam_liq = 0.0
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
        if dt != lam_dt:  # the decays change only with the step
            lam_dt = dt
            lam_vol = ex.decay(dt, vol_hl)
            lam_liq = ex.decay(dt, liq_hl)
        # quotes, volatility, liquidity and halts: the divisions in a SIMD pass, then the rest in one pass;
        # the quote events first, then the halts
        ex.quote_ratios(now, t, bid, ask, prev_mid, prev_ts, liq_base, has_book, sample, liq_ratio)
        bad, crossed, last_bad, n_changed = ex.scan_market(now, dt, t, bid, ask, bid_sz, ask_sz, valid, last_bid,
                                                           last_ask, lam_vol, lam_liq, changed, xs, xp, sample,
                                                           liq_ratio)  # fmt: skip
        if bad > 0:
            emit(ev, row, DATA_CORRUPT_TICK, last_bad if bad == 1 else -1, bad)
        if crossed > 0:
            emit(ev, row, CROSSED_BOOK, -1, crossed)
        cc[CC_DATA_ISSUES] += bad + crossed
        if n_changed > 0:
            ex.emit_halts(row, changed, n_changed, xs, xc, ev)

        f0 = xc[ex.XC_FILLS]
        if xc[ex.XC_ACTIVE] > 0:
            ex.match_orders(row, now, t, quotes, book, valid, xs, xp, of, oi, active, fills, xc, ev)
        if xc[ex.XC_FILLS] > f0:
            acc.apply_fills(ls, lg, fill_symbol, fill_qty, fill_price, fill_fee, f0, xc[ex.XC_FILLS])
        # equity, exposures, the base book and the top-of-book size in one pass
        value, net, gross, unrealised, base_value, base_gross, top = _marks(
            t, qty, avg_px, last_bid, last_ask, base_qty, bid_sz, ask_sz, valid
        )
        equity = acc.mark_totals(row, now, lg, value, net, gross, unrealised)
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
        _write_series(series, t, lg, rs, rp, top, base_value)
        cc[CC_PREV_TS] = now
        cc[CC_ROW] = row + 1
    return n


@njit(cache=True, inline="always")
def _marks(t, qty, avg_px, last_bid, last_ask, base_qty, bid_sz, ask_sz, valid):
    """One pass over the symbols at the last usable quotes: liquidation value (longs at the bid, shorts at
    the ask), net and gross exposure at the mid, unrealised P&L against the average price, the base book's
    value and gross, and the displayed top-of-book size (for ``accounting.mark_totals``)."""
    value = 0.0
    net = 0.0
    gross = 0.0
    unrealised = 0.0
    base_net = 0.0
    base_gross = 0.0
    has_book = bid_sz.shape[2] > 0
    top = 0.0
    for i in range(qty.shape[0]):
        q = qty[i]
        bq = base_qty[i]
        if q != 0.0 or bq != 0.0:
            b = last_bid[i]
            a = last_ask[i]
            mid = 0.5 * (b + a)
            if q != 0.0:
                m = b if q > 0.0 else a
                value += q * m
                net += q * mid
                gross += abs(q) * mid
                unrealised += q * (m - avg_px[i])
            if bq != 0.0:
                base_net += bq * mid
                base_gross += abs(bq) * mid
        if has_book and valid[i] == 1:
            top += max(bid_sz[t, i, 0], 0.0) + max(ask_sz[t, i, 0], 0.0)
    return value, net, gross, unrealised, base_net, base_gross, top if has_book else np.nan


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
