"""Risk measures and limits: historical VaR, drawdown, VaR multiple, position delta, the kill switch.

Units: drawdown and position delta in percent; VaR in currency, as a positive loss; the VaR multiple
is the worst loss since the start divided by the normal 1-day VaR (seed 002: breach above 2x).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Order of the risk metrics in the kernels' limit and breach arrays.
DRAWDOWN, VAR_MULTIPLE, POSITION_DELTA = 0, 1, 2
N_RISK_METRICS = 3


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
def historical_var(pnl, confidence):
    """Historical-simulation VaR: the loss at the (1 - confidence) empirical quantile of ``pnl``.

    Takes the floor((1 - c) * n)-th worst outcome (0-based), so 250 days at 99 % reads the third worst
    day. Returned as a positive loss; 0 when even that day made money.
    """
    ordered = np.sort(pnl)
    k = int(np.floor((1.0 - confidence) * ordered.shape[0]))
    k = min(max(k, 0), ordered.shape[0] - 1)
    return max(-ordered[k], 0.0)


@njit(cache=True)
def risk_pass(equity, net_exposure, gross_exposure0, var_1d, limits, kill_on_breach, drawdown_out):
    """One pass over the equity curve: drawdown series, worst values, first breach of each limit.

    limits[m] is the maximum allowed for metric m (NaN: no limit). A value strictly above its limit is
    a breach at that tick. With ``kill_on_breach`` the kill switch fires at the first breach of any
    limit and stays on (it is only reset explicitly, outside the replay).
    Returns (worst, breach_tick, breach_value, kill_tick); ticks are -1 when nothing happened.
    """
    n = equity.shape[0]
    worst = np.zeros(N_RISK_METRICS)
    breach_tick = np.full(N_RISK_METRICS, -1, dtype=np.int64)
    breach_value = np.full(N_RISK_METRICS, np.nan)
    value = np.zeros(N_RISK_METRICS)
    start_equity = equity[0]
    start_exposure = net_exposure[0]
    peak = equity[0]
    for t in range(n):
        e = equity[t]
        if e > peak:
            peak = e
        value[DRAWDOWN] = (peak - e) / peak * 100.0 if peak > 0.0 else 100.0
        drawdown_out[t] = value[DRAWDOWN]
        loss = max(start_equity - e, 0.0)
        if var_1d > 0.0:
            value[VAR_MULTIPLE] = loss / var_1d
        else:
            value[VAR_MULTIPLE] = np.inf if loss > 0.0 else 0.0
        if gross_exposure0 > 0.0:
            value[POSITION_DELTA] = abs(net_exposure[t] - start_exposure) / gross_exposure0 * 100.0
        for m in range(N_RISK_METRICS):
            if value[m] > worst[m]:
                worst[m] = value[m]
            if breach_tick[m] < 0 and value[m] > limits[m]:
                breach_tick[m] = t
                breach_value[m] = value[m]
    kill_tick = -1
    if kill_on_breach:
        for m in range(N_RISK_METRICS):
            if breach_tick[m] >= 0 and (kill_tick < 0 or breach_tick[m] < kill_tick):
                kill_tick = breach_tick[m]
    return worst, breach_tick, breach_value, kill_tick
