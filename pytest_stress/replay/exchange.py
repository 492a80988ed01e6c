"""The simulated exchange: order latency, halts, fills against the L2 book or a slippage model, fees.

Orders are struct-of-arrays: ``of`` (N_OF, capacity) float64 and ``oi`` (N_OI, capacity) int64, one row per
field; ``active`` lists the indices of orders in flight or working, in submission order. Fills go to
``fills = (ff, fi)`` the same way. Per-symbol state is ``xs`` (N_XS, n_symbols), counters ``xc``, parameters
``xp``. Kernels take the frame's row arrays as ``quotes = (bid, ask, volume)`` and the L2 book as
``book = (bid_px, bid_sz, ask_px, ask_sz)`` (0 levels when there is none), events as ``ev``.

The rules, with their units:

- Latency. An order sent at time ts reaches the exchange at ts + ``ack_latency_ms`` (plus
  ``latency_spike_ms`` with probability ``latency_spike_prob``) and is first handled at the first tick whose
  timestamp is at or after that; never at the tick it was decided on (that quote is gone).
- Rejects. Each order is refused with probability ``failure_rate`` when it arrives (``ExchangeStatus.EXCHANGE_REJECT``).
  Both draws per order are uniforms taken in order from a pool the caller fills from its
  ``numpy.random.Generator``: order k always uses pool values 2k and 2k+1, so a run is bit-identical
  however it is chunked.
- Halts, per symbol. Liquidity is the displayed L2 size (both sides, every level) when the frame has a
  book, else mid / spread; its ratio to the pre-stress mean is smoothed (EWMA, halflife
  ``liquidity_halflife_s``). Below ``halt_partial_liquidity`` the symbol is in ``HaltMode.PARTIAL``: only
  orders that reduce our position are accepted or matched (seed 000); below ``halt_full_liquidity``,
  ``HaltMode.FULL``: none are. A halt eases only once the ratio is back above 1.5x its threshold
  (hysteresis). Orders arriving into a halt are refused (``REJECTED_HALT``); working ones
  wait. A tick with an unusable quote (NaN, not positive, crossed) matches nothing.
- Fills. With a book, an order walks it level by level ("next-level pricing", seed 004): each level's price
  for its displayed size, less what our earlier orders took this tick; a limit order stops at its limit.
  Without a book it trades at the touch (buy at the ask, sell at the bid) plus slippage, a fraction of
  price: ``base_slippage_pct x max(1, sigma / sigma_normal) x (1 + q / V)`` (sigma: EWMA volatility of the
  symbol's mid, sigma_normal: its pre-stress level; q: quantity filled, V: the tick's volume, the term is 0
  when volume is unknown), at most ``max_slippage_pct``, never beyond a limit order's price; the tick's
  volume caps q at
  ``max_participation x V`` (no cap when unknown, NaN). So no buy fills below the ask and no sell above
  the bid, before slippage.
- Partial fills. What is not filled stays working and keeps taking liquidity on later ticks (market orders
  too) unless ``cancel_unfilled`` is set, which makes every order immediate-or-cancel.
- Fees. ``fee_bps`` of the filled value, per fill.
"""

from __future__ import annotations

import enum

import numpy as np
from numba import njit

from pytest_stress.replay.events import (
    HALT_END,
    HALT_FULL,
    HALT_PARTIAL,
    LATENCY_SPIKE,
    ORDER_CANCELLED_KILL_SWITCH,
    ORDER_REJECTED,
    ORDER_REJECTED_HALT,
    PARTIAL_FILL,
    emit,
)


class OrderKind(enum.IntEnum):
    MARKET = 0
    LIMIT = 1
    CANCEL = 2  # cancels our working orders on the symbol that were sent before it


class ExchangeStatus(enum.IntEnum):
    """An order's state at the simulated exchange. Not the stack's ``OrderStatus``: there FAILED means the
    OMS gave up after every retry to an unreachable broker; here an exchange refusal is EXCHANGE_REJECT."""

    PENDING = 0  # in flight to the exchange
    WORKING = 1  # at the exchange, not (fully) filled
    FILLED = 2
    CANCELLED = 3
    EXCHANGE_REJECT = 4  # rejected by the exchange at random (failure_rate)
    REJECTED_HALT = 5  # refused because of a halt
    BLOCKED = 6  # refused by the pre-trade risk checks, never sent
    DONE = 7  # a cancel request, handled


class OrderSource(enum.IntEnum):
    REBALANCE = 0  # the risk engine resizing the book
    SCHEDULE = 1  # an order of the caller's explicit schedule


class HaltMode(enum.IntEnum):
    NONE = 0
    PARTIAL = 1  # only position-reducing orders
    FULL = 2  # no orders


# The same values as plain ints, for kernels.
MARKET, LIMIT, CANCEL = 0, 1, 2
PENDING, WORKING, FILLED, CANCELLED, EXCHANGE_REJECT, REJECTED_HALT, BLOCKED, DONE = range(8)
REBALANCE, SCHEDULE = 0, 1
HALT_NONE, HALT_MODE_PARTIAL, HALT_MODE_FULL = 0, 1, 2  # ordered by severity
# A halt eases only once the liquidity ratio is this many times its threshold (a halt entered below 0.25
# of normal liquidity lifts above 0.375), so noise around a threshold does not flap it on and off.
HALT_RESUME_FACTOR = 1.5

# --- order fields (OI_REASON: the event code of the check that BLOCKED an order) ---
OF_QTY, OF_REMAINING, OF_LIMIT_PX, OF_FILLED_VALUE, OF_FEES = range(5)
N_OF = 5
OI_SYMBOL, OI_KIND, OI_STATUS, OI_SOURCE, OI_SUBMIT_ROW, OI_SUBMIT_NS, OI_ARRIVE_NS = range(7)
OI_FIRST_FILL_NS, OI_DONE_NS, OI_WILL_FAIL, OI_SPIKED, OI_PARTIAL, OI_REASON = range(7, 13)
N_OI = 13
# --- fill fields ---
FF_QTY, FF_PRICE, FF_REF_PX, FF_FEE = range(4)
N_FF = 4
FI_ROW, FI_TS, FI_ORDER, FI_SYMBOL = range(4)
N_FI = 4
# --- per-symbol state (XS_PENDING: signed open quantity of our orders; XS_POSITION: our position as the
# exchange sees it, which must always agree with the ledger's) ---
XS_HALT, XS_LIQ_BASE, XS_LIQ_RATIO, XS_VOL_VAR, XS_NORMAL_VAR, XS_PREV_MID, XS_PREV_TS = range(7)
XS_TAKEN_BID, XS_TAKEN_ASK, XS_PENDING, XS_POSITION = range(7, 11)
N_XS = 11
# --- parameters ---
XP_ACK_NS, XP_SPIKE_PROB, XP_SPIKE_NS, XP_FAILURE_RATE, XP_BASE_SLIP, XP_FEE_BPS = range(6)
XP_PARTICIPATION, XP_HALT_PARTIAL, XP_HALT_FULL, XP_CANCEL_UNFILLED = range(6, 10)
XP_VOL_HALFLIFE_NS, XP_LIQ_HALFLIFE_NS, XP_MAX_SLIP = range(10, 13)
N_XP = 13
# --- counters ---
XC_ORDERS, XC_FILLS, XC_ACTIVE, XC_UCURSOR, XC_ACTIVE_REBAL, XC_DIRTY = range(6)
XC_FAILURES, XC_LATENCY_SPIKES, XC_LIMIT_SENT, XC_LIMIT_CANCELLED, XC_PARTIAL_EVER, XC_FULL_EVER = range(
    6, 12
)
N_XC = 12

_LN2 = np.log(2.0)


def execution_params(spec) -> np.ndarray:  # spec: specs.execution.ExecutionSpec
    """The ``execution:`` section as ``xp`` (ms and s become ns)."""
    xp = np.zeros(N_XP)
    xp[XP_ACK_NS] = spec.ack_latency_ms * 1e6
    xp[XP_SPIKE_PROB] = spec.latency_spike_prob
    xp[XP_SPIKE_NS] = spec.latency_spike_ms * 1e6
    xp[XP_FAILURE_RATE] = spec.failure_rate
    xp[XP_BASE_SLIP] = spec.base_slippage_pct
    xp[XP_FEE_BPS] = spec.fee_bps
    xp[XP_PARTICIPATION] = spec.max_participation
    xp[XP_HALT_PARTIAL] = spec.halt_partial_liquidity
    xp[XP_HALT_FULL] = spec.halt_full_liquidity
    xp[XP_CANCEL_UNFILLED] = 1.0 if spec.cancel_unfilled else 0.0
    xp[XP_VOL_HALFLIFE_NS] = spec.vol_halflife_s * 1e9
    xp[XP_LIQ_HALFLIFE_NS] = spec.liquidity_halflife_s * 1e9
    xp[XP_MAX_SLIP] = spec.max_slippage_pct
    return xp


# --- market state ------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def liquidity_row(t, bid, ask, bid_sz, ask_sz, out):
    """Liquidity of every symbol at row t into ``out``: the book's displayed size (both sides, every level)
    when there is a book, else mid / spread; NaN when unreadable."""
    for i in range(bid.shape[1]):
        out[i] = symbol_liquidity(t, i, bid[t, i], ask[t, i], bid_sz, ask_sz)


@njit(cache=True, inline="always")
def symbol_liquidity(t, i, b, a, bid_sz, ask_sz):
    """Liquidity of symbol i at row t (bid ``b``, ask ``a``): displayed size of both sides, every level,
    when there is a book, else mid / spread; NaN when the spread is not positive."""
    levels = bid_sz.shape[2]
    if levels > 0:
        total = 0.0
        for lv in range(levels):
            if bid_sz[t, i, lv] > 0.0:
                total += bid_sz[t, i, lv]
            if ask_sz[t, i, lv] > 0.0:
                total += ask_sz[t, i, lv]
        return total
    spread = a - b
    return 0.5 * (b + a) / spread if spread > 0.0 else np.nan


# Rows of the pre-stress baseline accumulator (``baseline_add`` / ``baseline_set``).
BA_LIQ_SUM, BA_LIQ_N, BA_VAR_SUM, BA_VAR_N, BA_PREV_MID, BA_PREV_TS = range(6)
N_BA = 6


@njit(cache=True)
def baseline_add(ts, bid, ask, bid_sz, ask_sz, ba):
    """Add calm rows to the baseline accumulator ``ba`` (N_BA, n_symbols): liquidity (``liquidity_row``) and
    the per-second variance of mid returns. Chunks can be added one after the other."""
    liq = np.empty(bid.shape[1])
    for t in range(bid.shape[0]):
        liquidity_row(t, bid, ask, bid_sz, ask_sz, liq)
        for i in range(bid.shape[1]):
            if liq[i] == liq[i] and liq[i] < np.inf:
                ba[BA_LIQ_SUM, i] += liq[i]
                ba[BA_LIQ_N, i] += 1.0
            mid = 0.5 * (bid[t, i] + ask[t, i])
            if not (mid > 0.0):
                continue
            prev = ba[BA_PREV_MID, i]
            if prev > 0.0 and ts[t] > ba[BA_PREV_TS, i]:
                r = mid / prev - 1.0
                ba[BA_VAR_SUM, i] += r * r / ((ts[t] - ba[BA_PREV_TS, i]) * 1e-9)
                ba[BA_VAR_N, i] += 1.0
            ba[BA_PREV_MID, i] = mid
            ba[BA_PREV_TS, i] = ts[t]


@njit(cache=True)
def baseline_set(ba, xs):
    """Pre-stress baselines into ``xs``: mean liquidity, and sigma_normal squared (per-second variance),
    which also seeds each symbol's EWMA volatility."""
    for i in range(xs.shape[1]):
        xs[XS_LIQ_BASE, i] = ba[BA_LIQ_SUM, i] / ba[BA_LIQ_N, i] if ba[BA_LIQ_N, i] > 0 else np.nan
        xs[XS_LIQ_RATIO, i] = 1.0
        xs[XS_NORMAL_VAR, i] = ba[BA_VAR_SUM, i] / ba[BA_VAR_N, i] if ba[BA_VAR_N, i] > 0 else np.nan
        xs[XS_VOL_VAR, i] = xs[XS_NORMAL_VAR, i]
        xs[XS_PREV_MID, i] = np.nan
        xs[XS_HALT, i] = HALT_NONE


@njit(cache=True, inline="always")
def decay(dt_ns, halflife_ns):
    """The EWMA weight kept over ``dt_ns`` (``scan_market``'s lam_vol and lam_liq)."""
    return np.exp(-_LN2 * dt_ns / halflife_ns) if halflife_ns > 0.0 and dt_ns > 0 else 0.0


@njit(cache=True, inline="always", error_model="numpy")
def quote_ratios(ts, t, bid, ask, prev_mid, prev_ts, liq_base, has_book, sample, liq_ratio):
    """``scan_market``'s divisions for every symbol at row t, in a branch-free pass the compiler turns
    into SIMD code (with ``error_model="numpy"`` in the caller: a division by 0 gives inf or NaN, not an
    exception): the volatility sample r^2 / gap_s (r: the mid's return since the symbol's previous
    usable mid) and, without a book, the liquidity ratio (mid / spread) / its baseline. Values for
    unusable quotes are garbage that ``scan_market`` never reads."""
    for i in range(bid.shape[1]):
        b = bid[t, i]
        a = ask[t, i]
        mid = 0.5 * (b + a)
        r = mid / prev_mid[i] - 1.0
        sample[i] = r * r / ((ts - prev_ts[i]) * 1e-9)
    if not has_book:
        for i in range(bid.shape[1]):
            b = bid[t, i]
            a = ask[t, i]
            liq_ratio[i] = 0.5 * (b + a) / (a - b) / liq_base[i]


@njit(cache=True, inline="always")
def scan_market(ts, dt_ns, t, bid, ask, bid_sz, ask_sz, valid, last_bid, last_ask, lam_vol, lam_liq, changed,
                xs, xp, sample, liq_ratio):  # fmt: skip
    """The market at row t, in one pass over the symbols: which quotes
    are usable (``valid``; the last usable bid/ask forward-filled into ``last_bid``/``last_ask``), then for
    the usable ones the EWMA volatility, the liquidity ratio and the halt mode. ``lam_vol``/``lam_liq``:
    ``decay(dt_ns, ...)`` of the two halflives; ``sample``/``liq_ratio``: this row's ``quote_ratios``.
    Events cannot be sent from the pass (the quote scan's come first): returns ``(bad, crossed, last_bad, n_changed)``, the symbols whose halt mode changed being
    ``changed[:n_changed]`` in order, for ``emit_halts``."""
    vol_hl = xp[XP_VOL_HALFLIFE_NS]
    has_book = bid_sz.shape[2] > 0
    partial, full = xp[XP_HALT_PARTIAL], xp[XP_HALT_FULL]
    bad = 0
    crossed = 0
    last_bad = -1
    n_changed = 0
    for i in range(bid.shape[1]):
        b = bid[t, i]
        a = ask[t, i]
        xs[XS_TAKEN_BID, i] = 0.0
        xs[XS_TAKEN_ASK, i] = 0.0
        if not (b > 0.0 and a >= b and a < np.inf):
            valid[i] = 0
            if b > 0.0 and a > 0.0 and a < b:
                crossed += 1
            else:
                bad += 1
                last_bad = i
            continue
        valid[i] = 1
        last_bid[i] = b
        last_ask[i] = a
        mid = 0.5 * (b + a)
        prev = xs[XS_PREV_MID, i]
        gap = ts - xs[XS_PREV_TS, i]
        if prev == prev and gap > 0:
            lam = lam_vol
            if gap != dt_ns:  # the symbol missed ticks: decay over its own gap
                lam = np.exp(-_LN2 * gap / vol_hl) if vol_hl > 0.0 else 0.0
            var = xs[XS_VOL_VAR, i]
            xs[XS_VOL_VAR, i] = sample[i] if var != var else lam * var + (1.0 - lam) * sample[i]
        xs[XS_PREV_MID, i] = mid
        xs[XS_PREV_TS, i] = ts
        base = xs[XS_LIQ_BASE, i]
        if not (base > 0.0):
            continue
        if has_book:
            liq = symbol_liquidity(t, i, b, a, bid_sz, ask_sz)
            if liq != liq:
                continue
            observed = liq / base
        elif a - b > 0.0:
            observed = liq_ratio[i]
        else:
            continue  # no spread: mid / spread is NaN
        ratio = lam_liq * xs[XS_LIQ_RATIO, i] + (1.0 - lam_liq) * observed
        xs[XS_LIQ_RATIO, i] = ratio
        mode = HALT_MODE_FULL if ratio < full else (HALT_MODE_PARTIAL if ratio < partial else HALT_NONE)
        current = xs[XS_HALT, i]
        if mode < current:
            eased = (
                HALT_MODE_FULL
                if ratio < full * HALT_RESUME_FACTOR
                else (HALT_MODE_PARTIAL if ratio < partial * HALT_RESUME_FACTOR else HALT_NONE)
            )
            mode = max(mode, min(eased, current))
        if mode != current:
            xs[XS_HALT, i] = mode
            changed[n_changed] = i
            n_changed += 1
    return bad, crossed, last_bad, n_changed


@njit(cache=True)
def emit_halts(row, changed, n_changed, xs, xc, ev):
    """The HALT_* events of ``scan_market``'s changes, in symbol order."""
    for k in range(n_changed):
        i = changed[k]
        mode = xs[XS_HALT, i]
        ratio = xs[XS_LIQ_RATIO, i]
        if mode == HALT_MODE_PARTIAL:
            xc[XC_PARTIAL_EVER] = 1
            emit(ev, row, HALT_PARTIAL, i, ratio)
        elif mode == HALT_MODE_FULL:
            xc[XC_FULL_EVER] = 1
            emit(ev, row, HALT_FULL, i, ratio)
        else:
            emit(ev, row, HALT_END, i, ratio)
            xc[XC_DIRTY] = 1  # orders the halt kept out can go now


# --- orders ------------------------------------------------------------------------------------------


@njit(cache=True)
def record_order(row, ts, symbol, qty, kind, limit_px, source, status, reason, of, oi, xc):
    """Append an order with ``status`` and return its index (the caller made room). BLOCKED orders stop
    here, ``reason`` being the event code of the check that refused them."""
    o = xc[XC_ORDERS]
    xc[XC_ORDERS] = o + 1
    of[OF_QTY, o] = qty
    of[OF_REMAINING, o] = qty
    of[OF_LIMIT_PX, o] = limit_px
    of[OF_FILLED_VALUE, o] = 0.0
    of[OF_FEES, o] = 0.0
    oi[OI_SYMBOL, o] = symbol
    oi[OI_KIND, o] = kind
    oi[OI_STATUS, o] = status
    oi[OI_SOURCE, o] = source
    oi[OI_SUBMIT_ROW, o] = row
    oi[OI_SUBMIT_NS, o] = ts
    oi[OI_ARRIVE_NS, o] = -1
    oi[OI_FIRST_FILL_NS, o] = -1
    oi[OI_DONE_NS, o] = ts if status == BLOCKED else -1
    oi[OI_WILL_FAIL, o] = 0
    oi[OI_SPIKED, o] = 0
    oi[OI_PARTIAL, o] = 0
    oi[OI_REASON, o] = reason
    return o


@njit(cache=True)
def submit_order(row, ts, symbol, qty, kind, limit_px, source, of, oi, active, xs, xp, xc, upool, ev):
    """Send an order (qty signed, > 0 buys; a CANCEL has qty 0): draw its two uniforms, set its arrival
    time, put it in flight. Returns its index."""
    o = record_order(row, ts, symbol, qty, kind, limit_px, source, PENDING, 0, of, oi, xc)
    c = xc[XC_UCURSOR]
    u_fail, u_spike = upool[c], upool[c + 1]
    xc[XC_UCURSOR] = c + 2
    latency = xp[XP_ACK_NS]
    if u_spike < xp[XP_SPIKE_PROB]:
        latency += xp[XP_SPIKE_NS]
        oi[OI_SPIKED, o] = 1
        xc[XC_LATENCY_SPIKES] += 1
        emit(ev, row, LATENCY_SPIKE, symbol, latency / 1e6)
    oi[OI_ARRIVE_NS, o] = ts + np.int64(latency)
    oi[OI_WILL_FAIL, o] = 1 if (kind != CANCEL and u_fail < xp[XP_FAILURE_RATE]) else 0
    active[xc[XC_ACTIVE]] = o
    xc[XC_ACTIVE] += 1
    xs[XS_PENDING, symbol] += qty
    if source == REBALANCE:
        xc[XC_ACTIVE_REBAL] += 1
    if kind == LIMIT:
        xc[XC_LIMIT_SENT] += 1
    return o


@njit(cache=True)
def reducing(position, qty):
    """True when an order of ``qty`` only reduces ``position`` (never opens or flips it)."""
    if position == 0.0 or qty == 0.0 or (position > 0.0) == (qty > 0.0):
        return False
    return abs(qty) <= abs(position) * (1.0 + 1e-12)


@njit(cache=True)
def _finish(o, status, ts, of, oi, xs, xc):
    """Move order o to a final status; what it had not filled stops being open."""
    oi[OI_STATUS, o] = status
    oi[OI_DONE_NS, o] = ts
    xs[XS_PENDING, oi[OI_SYMBOL, o]] -= of[OF_REMAINING, o]
    if oi[OI_SOURCE, o] == REBALANCE:
        xc[XC_ACTIVE_REBAL] -= 1
        if status != FILLED:
            xc[XC_DIRTY] = 1  # the risk engine's target was not reached: look again
    if status == CANCELLED and oi[OI_KIND, o] == LIMIT:
        xc[XC_LIMIT_CANCELLED] += 1


@njit(cache=True)
def cancel_all(row, ts, of, oi, active, xs, xc, ev):
    """The kill switch's mass cancel: every order in flight or working is cancelled at once (our gateway
    holds them; nothing fills after this tick). Returns how many."""
    k = 0
    for j in range(xc[XC_ACTIVE]):
        o = active[j]
        if oi[OI_STATUS, o] == PENDING or oi[OI_STATUS, o] == WORKING:
            _finish(o, CANCELLED, ts, of, oi, xs, xc)
            k += 1
    xc[XC_ACTIVE] = 0
    xc[XC_DIRTY] = 0
    if k > 0:
        emit(ev, row, ORDER_CANCELLED_KILL_SWITCH, -1, k)
    return k


# --- matching ----------------------------------------------------------------------------------------


@njit(cache=True)
def walk_book(px, sz, t, i, skip, want, limit, buy):
    """Take up to ``want`` units from one side of the book at row t (levels best first; a level with size
    0 or NaN does not exist), after skipping ``skip`` units our earlier orders took this tick, never at a
    price beyond ``limit`` (NaN: none). Returns (quantity, value)."""
    got = 0.0
    value = 0.0
    for lv in range(px.shape[2]):
        size = sz[t, i, lv]
        p = px[t, i, lv]
        if not (size > 0.0) or not (p > 0.0):
            continue
        if limit == limit and ((buy and p > limit) or (not buy and p < limit)):
            break
        if skip >= size:
            skip -= size
            continue
        q = min(size - skip, want - got)
        skip = 0.0
        got += q
        value += q * p
        if got >= want:
            break
    return got, value


@njit(cache=True)
def _price_without_book(ref, limit, want, taken, volume, vol_var, normal_var, buy, participation, base_slip,
                        max_slip):  # fmt: skip
    """Quantity and price of a fill at the touch ``ref`` when there is no book (see ``slippage``). Takes
    the parameters as numbers: an array argument costs reference counting on every call (every fill)."""
    got = min(want, participation * volume - taken) if volume == volume else want
    if not (got > 0.0):
        return 0.0, 0.0
    price = ref * (
        1.0 + _slippage(vol_var, normal_var, got, volume, base_slip, max_slip) * (1.0 if buy else -1.0)
    )
    if limit == limit:
        price = min(price, limit) if buy else max(price, limit)
    return got, price


@njit(cache=True)
def slippage(vol_var, normal_var, qty, volume, xp):
    """Slippage without a book, a fraction of price: base x max(1, sigma / sigma_normal) x (1 + qty / volume),
    at most ``max_slippage_pct``; the volume term is 0 when the volume is unknown."""
    return _slippage(vol_var, normal_var, qty, volume, xp[XP_BASE_SLIP], xp[XP_MAX_SLIP])


@njit(cache=True)
def _slippage(vol_var, normal_var, qty, volume, base_slip, max_slip):
    """``slippage`` with its parameters as numbers."""
    vol_ratio = 1.0
    if vol_var == vol_var and normal_var > 0.0:
        vol_ratio = max(1.0, np.sqrt(vol_var / normal_var))
    size_term = qty / volume if (volume == volume and volume > 0.0) else 0.0
    return min(base_slip * vol_ratio * (1.0 + size_term), max_slip)


@njit(cache=True)
def _arrive(o, row, ts, of, oi, active, xs, xc, ev):
    """An order reaches the exchange: a cancel is handled, a failed or halted one refused. Returns True
    when it is now working."""
    i = oi[OI_SYMBOL, o]
    if oi[OI_KIND, o] == CANCEL:
        for j in range(xc[XC_ACTIVE]):
            w = active[j]
            if w < o and oi[OI_SYMBOL, w] == i and oi[OI_STATUS, w] == WORKING:
                _finish(w, CANCELLED, ts, of, oi, xs, xc)
        _finish(o, DONE, ts, of, oi, xs, xc)
        return False
    if oi[OI_WILL_FAIL, o] == 1:
        _finish(o, EXCHANGE_REJECT, ts, of, oi, xs, xc)
        xc[XC_FAILURES] += 1
        emit(ev, row, ORDER_REJECTED, i, o)
        return False
    if _halted_for(xs[XS_HALT, i], xs[XS_POSITION, i], of[OF_REMAINING, o]):
        _finish(o, REJECTED_HALT, ts, of, oi, xs, xc)
        xc[XC_FAILURES] += 1
        emit(ev, row, ORDER_REJECTED_HALT, i, o)
        return False
    oi[OI_STATUS, o] = WORKING
    return True


@njit(cache=True)
def _halted_for(halt, position, qty):
    """Whether a halt keeps an order of ``qty`` out: FULL keeps every order, PARTIAL all but reducing ones."""
    return halt == HALT_MODE_FULL or (halt == HALT_MODE_PARTIAL and not reducing(position, qty))


@njit(cache=True)
def match_orders(row, ts, t, quotes, book, valid, xs, xp, of, oi, active, fills, xc, ev):
    """Every open order in submission order: arrivals, rejects, cancels, matching at row t.

    The loop is written out here and calls helpers that take few arrays: a call that passes the whole
    state costs more than the matching itself."""
    bid, ask, volume = quotes
    bid_px, bid_sz, ask_px, ask_sz = book
    ff, fi = fills
    has_book = bid_px.shape[2] > 0
    fee_rate = xp[XP_FEE_BPS] / 10_000.0
    participation, base_slip, max_slip = xp[XP_PARTICIPATION], xp[XP_BASE_SLIP], xp[XP_MAX_SLIP]
    cancel_unfilled = xp[XP_CANCEL_UNFILLED] > 0.0
    k = 0
    for j in range(xc[XC_ACTIVE]):
        o = active[j]
        st = oi[OI_STATUS, o]
        if st != PENDING and st != WORKING:
            continue  # made final by a cancel earlier in this tick
        if st == PENDING:
            if oi[OI_ARRIVE_NS, o] > ts:
                active[k] = o
                k += 1
                continue
            if not _arrive(o, row, ts, of, oi, active, xs, xc, ev):
                continue
        i = oi[OI_SYMBOL, o]
        rem = of[OF_REMAINING, o]
        if valid[i] == 0 or _halted_for(xs[XS_HALT, i], xs[XS_POSITION, i], rem):
            active[k] = o  # waits: no usable quote, or a halt keeps it out
            k += 1
            continue
        # --- matching: what the order can take at row t, at what price ---
        buy = rem > 0.0
        want = abs(rem)
        limit = of[OF_LIMIT_PX, o] if oi[OI_KIND, o] == LIMIT else np.nan
        ref = ask[t, i] if buy else bid[t, i]
        taken = XS_TAKEN_ASK if buy else XS_TAKEN_BID
        got = 0.0
        price = 0.0
        if limit == limit and ((buy and ref > limit) or (not buy and ref < limit)):
            pass  # not marketable: rests
        elif has_book:
            if buy:
                got, value = walk_book(ask_px, ask_sz, t, i, xs[taken, i], want, limit, True)
            else:
                got, value = walk_book(bid_px, bid_sz, t, i, xs[taken, i], want, limit, False)
            price = value / got if got > 0.0 else 0.0
        else:
            got, price = _price_without_book(ref, limit, want, xs[taken, i], volume[t, i], xs[XS_VOL_VAR, i],
                                             xs[XS_NORMAL_VAR, i], buy, participation, base_slip,
                                             max_slip)  # fmt: skip
        if got > 0.0:
            xs[taken, i] += got
            q = got if buy else -got
            fee = got * price * fee_rate
            # the fill is recorded inline: a call passing six arrays costs more than the fill itself
            f = xc[XC_FILLS]
            xc[XC_FILLS] = f + 1
            ff[FF_QTY, f] = q
            ff[FF_PRICE, f] = price
            ff[FF_REF_PX, f] = ref
            ff[FF_FEE, f] = fee
            fi[FI_ROW, f] = row
            fi[FI_TS, f] = ts
            fi[FI_ORDER, f] = o
            fi[FI_SYMBOL, f] = i
            rem = of[OF_REMAINING, o]
            left = rem - q if abs(rem - q) > 1e-9 * abs(rem) else 0.0  # no dust left working
            xs[XS_PENDING, i] -= rem - left
            xs[XS_POSITION, i] += q
            of[OF_REMAINING, o] = left
            of[OF_FILLED_VALUE, o] += q * price
            of[OF_FEES, o] += fee
            if oi[OI_FIRST_FILL_NS, o] < 0:
                oi[OI_FIRST_FILL_NS, o] = ts
        if of[OF_REMAINING, o] == 0.0:
            _finish(o, FILLED, ts, of, oi, xs, xc)
            continue
        if got > 0.0 and oi[OI_PARTIAL, o] == 0:
            oi[OI_PARTIAL, o] = 1
            emit(ev, row, PARTIAL_FILL, i, abs(of[OF_REMAINING, o]))
        if cancel_unfilled:
            _finish(o, CANCELLED, ts, of, oi, xs, xc)
            continue
        active[k] = o
        k += 1
    xc[XC_ACTIVE] = k


def top_of_book_size(bid_sz: np.ndarray, ask_sz: np.ndarray) -> np.ndarray:
    """Displayed size at level 0, both sides, summed over symbols per tick (the queue we would join)."""
    return np.nansum(np.maximum(bid_sz[:, :, 0], 0.0) + np.maximum(ask_sz[:, :, 0], 0.0), axis=1)
