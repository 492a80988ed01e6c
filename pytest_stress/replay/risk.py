"""The risk engine: historical VaR / CVaR, live limits, circuit breakers, the kill switch, the Kelly clamp,
volatility targeting and the pre-trade checks. Compiled; its state is the array ``rs`` (N_RS,), its limits
``rm`` (N_RM, N_RISK_METRICS), its parameters ``rp`` (N_RP,).

Units: drawdown and position delta in percent; VaR and CVaR in currency, as positive losses; multiples
are the loss since tick 0 divided by the 1-day VaR (CVaR) of the book (seed 002: trip above 2x); volatility
an annualised fraction (0.18 = 18 %) over the market's trading year (``year_s`` seconds; by default
``YEAR_S``, 252 days x 6.5 h, the equity calendar).

What each control does, evaluated every tick after the book is marked (every activation is an event):

- Limits (``rm``): max_drawdown_pct, var_multiple, position_delta_pct, cvar_multiple. A value strictly
  above its limit is a breach, recorded at its first tick (DRAWDOWN_TRIP, VAR_TRIP, POSITION_DELTA_TRIP,
  CVAR_TRIP); with ``kill_on_breach`` it fires the kill switch. Each limit trips once per run.
- Strategy circuit breaker (``strategy_drawdown_pct``, 5 %): from then on no order that increases a
  position is accepted (ORDER_BLOCKED_BREAKER); reducing ones still are. Cleared by a reset (and back at
  the next tick while the drawdown stays above it).
- Portfolio circuit breaker (``portfolio_drawdown_pct``, 10 %): fires the kill switch. Once per run.
  With ``on_breach: record`` (``kill_on_breach`` off) it and the limits are recorded only.
- Kill switch: every new order is blocked (ORDER_BLOCKED_KILL_SWITCH), open orders are cancelled,
  positions are kept. It stays on until ``reset_kill_switch`` (seed 002: reset_circuit).
- Kelly clamp (seed 000): once the maximum drawdown passes ``kelly_clamp_after_drawdown_pct`` the book's
  utilisation (held gross exposure / the base book's gross exposure) is capped at ``kelly_max_utilisation``.
- Volatility targeting (seed 000): an EWMA (halflife ``vol_halflife_s``) of the base book's per-second
  return variance, seeded from its history; every ``vol_rebalance_s`` the book is resized to
  ``clip(vol_target_annual / sigma, vol_floor_scale, 1)`` of its base size. A slow control: it resizes, it
  does not stop.
- Price collar (``max_price_deviation_pct``): an order priced (limit, or the touch for a market order)
  further than that fraction from the mid is refused (PRICE_COLLAR_REJECT).

The target scale of the book is min(vol-target scale, Kelly cap); the replay loop turns it into orders.
"""

from __future__ import annotations

import enum

import numpy as np
from numba import njit

from pytest_stress.replay.events import (
    CVAR_TRIP,
    DRAWDOWN_TRIP,
    KELLY_CLAMP,
    KILL_SWITCH_ON,
    KILL_SWITCH_RESET,
    ORDER_BLOCKED_BREAKER,
    ORDER_BLOCKED_KILL_SWITCH,
    POLICY_CHANGE,
    PORTFOLIO_BREAKER,
    POSITION_DELTA_TRIP,
    PRICE_COLLAR_REJECT,
    STRATEGY_BREAKER,
    VAR_TRIP,
    VOL_TARGET_SCALE,
    emit,
)

# Order of the risk metrics in ``rm`` (and of metrics.RISK_LIMIT_METRICS).
DRAWDOWN, VAR_MULTIPLE, POSITION_DELTA, CVAR_MULTIPLE = 0, 1, 2, 3
N_RISK_METRICS = 4
_TRIP_CODES = (DRAWDOWN_TRIP, VAR_TRIP, POSITION_DELTA_TRIP, CVAR_TRIP)

# Rows of ``rm``: the limit (NaN: none), the value now, the worst value, the first breach (row, value).
RM_LIMIT, RM_VALUE, RM_WORST, RM_BREACH_ROW, RM_BREACH_VALUE = 0, 1, 2, 3, 4
N_RM = 5


class RiskPolicy(enum.IntEnum):
    """What the book is allowed to do, most severe active control first."""

    NORMAL = 0
    VOL_SCALED = 1
    KELLY_CLAMPED = 2
    STRATEGY_BREAKER = 3
    KILL_SWITCH = 4


# --- state slots ---
RS_START_EQUITY, RS_START_NET, RS_START_GROSS, RS_VAR, RS_CVAR = 0, 1, 2, 3, 4
RS_KILL, RS_KILL_ROW, RS_EMERGENCY_STOPS, RS_STRATEGY_BREAKER, RS_PORTFOLIO_BREAKER = 5, 6, 7, 8, 9
RS_KELLY, RS_KELLY_ROW, RS_BASE_VAR, RS_HELD_VAR, RS_VOL_SCALE, RS_NEXT_REBAL_NS = 10, 11, 12, 13, 14, 15
RS_SCALE, RS_POLICY, RS_POLICY_CHANGES, RS_MAX_VOL, RS_KELLY_UTIL_MAX, RS_UTIL = 16, 17, 18, 19, 20, 21
RS_PREV_TS, RS_PREV_EQUITY, RS_PREV_BASE_VALUE, RS_DIRTY, RS_FIRST_KILL_ROW = 22, 23, 24, 25, 26
N_RS = 27
# --- parameter slots ---
RP_STRATEGY_DD, RP_PORTFOLIO_DD, RP_KELLY_AFTER_DD, RP_KELLY_MAX, RP_VOL_TARGET = 0, 1, 2, 3, 4
RP_VOL_HALFLIFE_NS, RP_VOL_REBALANCE_NS, RP_VOL_FLOOR, RP_COLLAR, RP_KILL_ON_BREACH = 5, 6, 7, 8, 9
RP_YEAR_S, RP_MANAGE, RP_REBALANCE_BAND = 10, 11, 12
N_RP = 13

# Seconds in an equity trading year (252 days x 6.5 h), the default that annualises volatility.
YEAR_S = 252 * 6.5 * 3600.0
_LN2 = np.log(2.0)


def risk_params(spec, kill_on_breach: bool, manage_book: bool, year_s: float = YEAR_S) -> np.ndarray:
    """The ``risk:`` section (a specs.risk.RiskSpec) as ``rp``: percent stays percent except the collar and
    the rebalance band, which become fractions; seconds become ns; ``year_s`` annualises volatility."""
    rp = np.zeros(N_RP)
    rp[RP_STRATEGY_DD] = spec.strategy_drawdown_pct
    rp[RP_PORTFOLIO_DD] = spec.portfolio_drawdown_pct
    rp[RP_KELLY_AFTER_DD] = spec.kelly_clamp_after_drawdown_pct
    rp[RP_KELLY_MAX] = spec.kelly_max_utilisation
    rp[RP_VOL_TARGET] = spec.vol_target_annual
    rp[RP_VOL_HALFLIFE_NS] = spec.vol_halflife_s * 1e9
    rp[RP_VOL_REBALANCE_NS] = spec.vol_rebalance_s * 1e9
    rp[RP_VOL_FLOOR] = spec.vol_floor_scale
    rp[RP_COLLAR] = spec.max_price_deviation_pct / 100.0
    rp[RP_KILL_ON_BREACH] = 1.0 if kill_on_breach else 0.0
    rp[RP_YEAR_S] = year_s
    rp[RP_MANAGE] = 1.0 if manage_book else 0.0
    rp[RP_REBALANCE_BAND] = spec.rebalance_band_pct / 100.0
    return rp


@njit(cache=True)
def portfolio_pnl(exposures, returns):
    """P&L per history day of holding ``exposures`` (currency per symbol) through ``returns`` (days x symbols)."""
    n_days, n_symbols = returns.shape
    out = np.zeros(n_days)
    for d in range(n_days):
        acc = 0.0
        for i in range(n_symbols):
            acc += exposures[i] * returns[d, i]
        out[d] = acc
    return out


@njit(cache=True)
def _tail_index(n, confidence):
    k = int(np.floor((1.0 - confidence) * n))
    return min(max(k, 0), n - 1)


@njit(cache=True)
def historical_var(pnl, confidence):
    """Historical-simulation VaR: the loss at the (1 - confidence) empirical quantile of ``pnl``.

    Takes the floor((1 - c) * n)-th worst outcome (0-based), so 250 days at 99 % reads the third worst
    day. Returned as a positive loss; 0 when even that day made money.
    """
    ordered = np.sort(pnl)
    return max(-ordered[_tail_index(ordered.shape[0], confidence)], 0.0)


@njit(cache=True)
def historical_cvar(pnl, confidence):
    """Historical CVaR (expected shortfall): the mean loss of the outcomes at or beyond the VaR quantile
    (the k + 1 worst days, k as in ``historical_var``). A positive loss; 0 when their mean made money."""
    ordered = np.sort(pnl)
    k = _tail_index(ordered.shape[0], confidence)
    return max(-ordered[: k + 1].mean(), 0.0)


@njit(cache=True)
def init_risk(ts0, equity, net, gross, base_value, var_1d, cvar_1d, prior_var, rs, rp):
    """Risk state at tick 0: reference equity and exposures, VaR, the volatility prior (per-second
    variance of the base book's return), the first volatility rebalance."""
    rs[:] = 0.0
    rs[RS_START_EQUITY] = equity
    rs[RS_START_NET] = net
    rs[RS_START_GROSS] = gross
    rs[RS_VAR] = var_1d
    rs[RS_CVAR] = cvar_1d
    rs[RS_KILL_ROW] = -1.0
    rs[RS_FIRST_KILL_ROW] = -1.0
    rs[RS_KELLY_ROW] = -1.0
    rs[RS_BASE_VAR] = prior_var
    rs[RS_HELD_VAR] = prior_var
    rs[RS_VOL_SCALE] = 1.0
    rs[RS_SCALE] = 1.0
    rs[RS_NEXT_REBAL_NS] = ts0 + rp[RP_VOL_REBALANCE_NS]
    rs[RS_MAX_VOL] = np.sqrt(prior_var * rp[RP_YEAR_S]) if prior_var == prior_var else 0.0
    rs[RS_KELLY_UTIL_MAX] = np.nan
    rs[RS_UTIL] = 1.0
    rs[RS_PREV_TS] = ts0
    rs[RS_PREV_EQUITY] = equity
    rs[RS_PREV_BASE_VALUE] = base_value


@njit(cache=True, inline="always")
def _multiple(loss, base):
    if base > 0.0:
        return loss / base
    return np.inf if loss > 0.0 else 0.0


@njit(cache=True)
def fire_kill_switch(row, rs, value, ev):
    """Turn the kill switch on (no-op when it is on). Returns True when it fired now."""
    if rs[RS_KILL] > 0.0:
        return False
    rs[RS_KILL] = 1.0
    rs[RS_KILL_ROW] = row
    if rs[RS_FIRST_KILL_ROW] < 0.0:
        rs[RS_FIRST_KILL_ROW] = row
    rs[RS_EMERGENCY_STOPS] += 1.0
    emit(ev, row, KILL_SWITCH_ON, -1, value)
    return True


@njit(cache=True)
def reset_kill_switch(row, rs, ev):
    """Explicit reset (seed 002: POST /api/v1/risk/reset_circuit): the kill switch and the strategy breaker
    go off and the rebalancer looks again. The portfolio breaker and the limits stay spent (they trip once
    per run); the strategy breaker comes back at the next tick if the drawdown is still above its limit.
    Returns True when the kill switch was on."""
    was_on = rs[RS_KILL] > 0.0
    rs[RS_KILL] = 0.0
    rs[RS_STRATEGY_BREAKER] = 0.0
    rs[RS_DIRTY] = 1.0
    if was_on:
        emit(ev, row, KILL_SWITCH_RESET, -1, 0.0)
    _policy(row, rs, ev)
    return was_on


@njit(cache=True, inline="always")
def _policy(row, rs, ev):
    if rs[RS_KILL] > 0.0:
        p = 4.0
    elif rs[RS_STRATEGY_BREAKER] > 0.0:
        p = 3.0
    elif rs[RS_KELLY] > 0.0:
        p = 2.0
    elif rs[RS_VOL_SCALE] < 1.0:
        p = 1.0
    else:
        p = 0.0
    if p != rs[RS_POLICY]:
        rs[RS_POLICY] = p
        rs[RS_POLICY_CHANGES] += 1.0
        emit(ev, row, POLICY_CHANGE, -1, p)


@njit(cache=True, inline="always")
def risk_on_tick(
    row, ts, equity, drawdown, max_drawdown, net, gross, base_value, base_gross, rebalancing, rs, rp, rm, ev
):
    """One tick of the risk engine on the marked book. ``base_value`` / ``base_gross``: the base book's
    net and gross value at this tick's mids; ``rebalancing``: orders of the book's own rebalancing still
    open. Updates limits, breakers, the kill switch, the Kelly clamp and the target scale (``RS_SCALE``,
    ``RS_DIRTY`` set when it moved). Returns True when the kill switch fired at this tick."""
    fired = False
    # --- realised volatility: EWMA of per-second return variance, base book and held book ---
    dt = ts - rs[RS_PREV_TS]
    prev_equity = rs[RS_PREV_EQUITY]
    if dt > 0.0 and prev_equity > 0.0:
        hl = rp[RP_VOL_HALFLIFE_NS]
        lam = np.exp(-_LN2 * dt / hl) if hl > 0.0 else 0.0
        seconds = dt * 1e-9
        r_base = (base_value - rs[RS_PREV_BASE_VALUE]) / prev_equity
        r_held = equity / prev_equity - 1.0
        rs[RS_BASE_VAR] = _ewma(rs[RS_BASE_VAR], lam, r_base * r_base / seconds)
        rs[RS_HELD_VAR] = _ewma(rs[RS_HELD_VAR], lam, r_held * r_held / seconds)
        vol = np.sqrt(rs[RS_HELD_VAR] * rp[RP_YEAR_S])
        if vol > rs[RS_MAX_VOL]:
            rs[RS_MAX_VOL] = vol
    rs[RS_PREV_TS] = ts
    rs[RS_PREV_EQUITY] = equity
    rs[RS_PREV_BASE_VALUE] = base_value

    # --- live limits ---
    loss = max(rs[RS_START_EQUITY] - equity, 0.0)
    rm[RM_VALUE, DRAWDOWN] = drawdown
    rm[RM_VALUE, VAR_MULTIPLE] = _multiple(loss, rs[RS_VAR])
    rm[RM_VALUE, CVAR_MULTIPLE] = _multiple(loss, rs[RS_CVAR])
    g0 = rs[RS_START_GROSS]
    rm[RM_VALUE, POSITION_DELTA] = abs(net - rs[RS_START_NET]) / g0 * 100.0 if g0 > 0.0 else 0.0
    for m in range(N_RISK_METRICS):
        v = rm[RM_VALUE, m]
        if v > rm[RM_WORST, m]:
            rm[RM_WORST, m] = v
        if rm[RM_BREACH_ROW, m] < 0.0 and v > rm[RM_LIMIT, m]:
            rm[RM_BREACH_ROW, m] = row
            rm[RM_BREACH_VALUE, m] = v
            emit(ev, row, _TRIP_CODES[m], -1, v)
            if rp[RP_KILL_ON_BREACH] > 0.0 and fire_kill_switch(row, rs, v, ev):
                fired = True

    # --- circuit breakers and the Kelly clamp ---
    if rs[RS_PORTFOLIO_BREAKER] == 0.0 and drawdown > rp[RP_PORTFOLIO_DD]:
        rs[RS_PORTFOLIO_BREAKER] = 1.0
        emit(ev, row, PORTFOLIO_BREAKER, -1, drawdown)
        if rp[RP_KILL_ON_BREACH] > 0.0 and fire_kill_switch(row, rs, drawdown, ev):
            fired = True
    if rs[RS_STRATEGY_BREAKER] == 0.0 and drawdown > rp[RP_STRATEGY_DD]:
        rs[RS_STRATEGY_BREAKER] = 1.0
        emit(ev, row, STRATEGY_BREAKER, -1, drawdown)
    if rs[RS_KELLY] == 0.0 and max_drawdown > rp[RP_KELLY_AFTER_DD]:
        rs[RS_KELLY] = 1.0
        rs[RS_KELLY_ROW] = row
        emit(ev, row, KELLY_CLAMP, -1, rp[RP_KELLY_MAX])

    # --- volatility targeting, on its own cadence ---
    if ts >= rs[RS_NEXT_REBAL_NS]:
        step = rp[RP_VOL_REBALANCE_NS]
        if step > 0.0:
            while rs[RS_NEXT_REBAL_NS] <= ts:
                rs[RS_NEXT_REBAL_NS] += step
        sigma = np.sqrt(rs[RS_BASE_VAR] * rp[RP_YEAR_S])
        scale = 1.0
        if sigma > 0.0:
            scale = min(1.0, max(rp[RP_VOL_FLOOR], rp[RP_VOL_TARGET] / sigma))
        if scale != rs[RS_VOL_SCALE]:
            rs[RS_VOL_SCALE] = scale
            emit(ev, row, VOL_TARGET_SCALE, -1, scale)

    target = rs[RS_VOL_SCALE]
    if rs[RS_KELLY] > 0.0:
        target = min(target, rp[RP_KELLY_MAX])
    if target != rs[RS_SCALE]:
        rs[RS_SCALE] = target
        rs[RS_DIRTY] = 1.0

    # --- Kelly utilisation: measured after the clamp's tick whenever none of its orders is still open,
    # so a clamp that could not act (kill switch, halt, book not managed) shows as utilisation kept ---
    util = gross / base_gross if base_gross > 0.0 else 0.0
    rs[RS_UTIL] = util
    if rs[RS_KELLY] > 0.0 and row > rs[RS_KELLY_ROW] and rebalancing == 0:
        best = rs[RS_KELLY_UTIL_MAX]
        if best != best or util > best:
            rs[RS_KELLY_UTIL_MAX] = util
    _policy(row, rs, ev)
    return fired


@njit(cache=True, inline="always")
def _ewma(prev, lam, sample):
    return sample if prev != prev else lam * prev + (1.0 - lam) * sample


@njit(cache=True)
def pre_trade_check(kind, qty, limit_px, open_position, bid, ask, rs, rp):
    """0 when an order may be sent, else the event code of the check that refuses it. ``open_position``:
    our position plus what our open orders will add (signed); ``bid``/``ask``: the last usable quote."""
    if rs[RS_KILL] > 0.0:
        return ORDER_BLOCKED_KILL_SWITCH
    if kind == 2:  # a cancel request only ever reduces risk
        return 0
    if rs[RS_STRATEGY_BREAKER] > 0.0 and abs(open_position + qty) > abs(open_position) * (1.0 + 1e-12):
        return ORDER_BLOCKED_BREAKER
    collar = rp[RP_COLLAR]
    mid = 0.5 * (bid + ask)
    if collar > 0.0 and mid > 0.0:
        px = limit_px if kind == 1 else (ask if qty > 0.0 else bid)
        if abs(px / mid - 1.0) > collar:
            return PRICE_COLLAR_REJECT
    return 0
