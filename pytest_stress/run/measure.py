"""The measurements of a replay: every metrics.METRICS quantity the compiled core can give, read off its
output arrays, the breaches of the live limits and the risk-policy transitions.

Metrics the compiled replay cannot measure (failed models and strategies need the Python stack; fill
latency without fills; win rate without a closing fill) are None, with the reason in NOT_MEASURED, so
their checks are "not evaluated", never 0-as-pass.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pytest_stress.replay import accounting as acc
from pytest_stress.replay import exchange as ex
from pytest_stress.replay import risk
from pytest_stress.replay.core import CC_DATA_ISSUES, CC_GAPS, S_TOP_SIZE
from pytest_stress.replay.events import POLICY_CHANGE
from pytest_stress.replay.session import ReplayOutput
from pytest_stress.run.result import Breach, PolicyTransition

# Why a metric can be None, for the "not evaluated" line of its check.
NOT_MEASURED: dict[str, str] = {
    "failed_models": "needs the Python stack; the compiled replay runs no models",
    "failed_strategies": "needs the Python stack; the compiled replay runs no strategies",
    "winrate_pct": "no position was reduced, so no trade was closed",
    "profit_factor": "no closing trade, or no losing one (division by zero)",
    "sharpe_ratio": "the equity did not move",
    "fill_latency_p50_ms": "no order was filled",
    "fill_latency_p95_ms": "no order was filled",
    "fill_latency_p99_ms": "no order was filled",
    "limit_cancel_ratio": "no limit order was sent",
    "queue_depth_deviation_pct": "the market has no L2 book",
    "kelly_utilisation_max": "the Kelly clamp never engaged",
}


def measure(out: ReplayOutput) -> dict[str, Any]:
    """The metrics of a replay, by metrics.METRICS name (None: not measurable in this run)."""
    lg, rs, rm, xc, cc = out.lg, out.rs, out.rm, out.xc, out.cc
    closing = lg[acc.LG_CLOSING_FILLS]
    loss = lg[acc.LG_GROSS_LOSS]
    first, submit = out.orders_i[ex.OI_FIRST_FILL_NS], out.orders_i[ex.OI_SUBMIT_NS]
    latency_ms = (first[first >= 0] - submit[first >= 0]) / 1e6
    sent = xc[ex.XC_LIMIT_SENT]
    kelly = rs[risk.RS_KELLY_UTIL_MAX]
    p50, p95, p99 = (
        (float(v) for v in np.percentile(latency_ms, [50, 95, 99])) if latency_ms.size else (None,) * 3
    )
    return {
        "max_drawdown_pct": float(rm[risk.RM_WORST, risk.DRAWDOWN]),
        "var_multiple": float(rm[risk.RM_WORST, risk.VAR_MULTIPLE]),
        "position_delta_pct": float(rm[risk.RM_WORST, risk.POSITION_DELTA]),
        "cvar_multiple": float(rm[risk.RM_WORST, risk.CVAR_MULTIPLE]),
        "kill_switch_triggered": bool(rs[risk.RS_EMERGENCY_STOPS] > 0),
        "breach_count": float(np.sum(rm[risk.RM_BREACH_ROW] >= 0)),
        "total_trades": int(lg[acc.LG_N_FILLS]),
        "winrate_pct": float(lg[acc.LG_WINNING_FILLS] / closing * 100.0) if closing else None,
        "profit_factor": float(lg[acc.LG_GROSS_PROFIT] / loss) if closing and loss > 0 else None,
        "sharpe_ratio": sharpe_ratio(out.equity, out.timestamps_ns, float(out.rp[risk.RP_YEAR_S])),
        "emergency_stops": int(rs[risk.RS_EMERGENCY_STOPS]),
        "execution_failures": int(xc[ex.XC_FAILURES]),
        "failed_models": None,
        "failed_strategies": None,
        "data_quality_issues": int(cc[CC_DATA_ISSUES]),
        "data_gaps": int(cc[CC_GAPS]),
        "max_dd_duration_s": float(lg[acc.LG_MAX_DD_NS] / 1e9),
        "policy_transitions": int(rs[risk.RS_POLICY_CHANGES]),
        "latency_spikes": int(xc[ex.XC_LATENCY_SPIKES]),
        "fill_latency_p50_ms": p50,
        "fill_latency_p95_ms": p95,
        "fill_latency_p99_ms": p99,
        "limit_cancel_ratio": float(xc[ex.XC_LIMIT_CANCELLED] / sent) if sent else None,
        "queue_depth_deviation_pct": queue_depth_deviation(out),
        "kelly_utilisation_max": None if math.isnan(kelly) else float(kelly),
        "realised_vol_annual_max": float(rs[risk.RS_MAX_VOL]),
        "halt_partial_triggered": bool(xc[ex.XC_PARTIAL_EVER]),
        "halt_full_triggered": bool(xc[ex.XC_FULL_EVER]),
    }


def sharpe_ratio(equity: np.ndarray, timestamps_ns: np.ndarray, year_s: float = risk.YEAR_S) -> float | None:
    """Mean over standard deviation of per-tick equity returns, times sqrt(ticks per trading year)."""
    if equity.shape[0] < 3:
        return None
    returns = equity[1:] / equity[:-1] - 1.0
    sd = float(returns.std())
    step_s = float(timestamps_ns[-1] - timestamps_ns[0]) / 1e9 / (equity.shape[0] - 1)
    if not sd > 0.0 or not step_s > 0.0:
        return None
    return float(returns.mean() / sd * math.sqrt(year_s / step_s))


def queue_depth_deviation(out: ReplayOutput) -> float | None:
    """Largest |displayed top-of-book size / its pre-stress mean - 1|, in percent (None without a book)."""
    top = out.series[:, S_TOP_SIZE]
    base = out.top_size_baseline
    if not (base > 0.0) or np.all(np.isnan(top)):
        return None
    return float(np.nanmax(np.abs(top / base - 1.0)) * 100.0)


def policy_transitions(out: ReplayOutput) -> tuple[PolicyTransition, ...]:
    ev = out.events
    codes = ev.codes()
    policy = risk.RiskPolicy.NORMAL
    transitions = []
    for k in np.flatnonzero(codes == POLICY_CHANGE):
        tick = int(ev.tick[k])
        new = risk.RiskPolicy(int(ev.value[k]))
        transitions.append(PolicyTransition(tick, _time_ms(out, tick), policy.name, new.name))
        policy = new
    return tuple(transitions)


def _time_ms(out: ReplayOutput, tick: int) -> float:
    ts = out.timestamps_ns
    return float(ts[min(tick, ts.shape[0] - 1)] - ts[0]) / 1e6


def breaches(out: ReplayOutput, limit_metrics: tuple[str, ...]) -> tuple[Breach, ...]:
    rm = out.rm
    found = [
        Breach(
            metric,
            int(rm[risk.RM_BREACH_ROW, m]),
            _time_ms(out, int(rm[risk.RM_BREACH_ROW, m])),
            float(rm[risk.RM_LIMIT, m]),
            float(rm[risk.RM_BREACH_VALUE, m]),
        )
        for m, metric in enumerate(limit_metrics)
        if rm[risk.RM_BREACH_ROW, m] >= 0
    ]
    return tuple(sorted(found, key=lambda b: b.tick))
