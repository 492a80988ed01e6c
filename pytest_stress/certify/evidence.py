"""How the report groups checks: the check families of the first-screen grid, and which checks give evidence
for which regulatory control (a mapping aid for the reviewer, not legal advice).

Both are presentation: they read check records (``checks.Check.to_dict()``) and never change a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# family -> the metrics in it, in the grid's column order
FAMILIES: dict[str, tuple[str, ...]] = {
    "loss & risk limits": (
        "max_drawdown_pct", "var_multiple", "cvar_multiple", "position_delta_pct", "breach_count",
        "max_dd_duration_s", "kelly_utilisation_max", "realised_vol_annual_max", "final_position_pct",
        "hard_limit_breaches",
    ),
    "kill switch & halts": (
        "kill_switch_triggered", "emergency_stops", "halt_partial_triggered", "halt_full_triggered",
        "policy_transitions", "trading_paused_on_broker_loss",
    ),
    "execution": (
        "total_trades", "execution_failures", "fill_latency_p50_ms", "fill_latency_p95_ms",
        "fill_latency_p99_ms", "limit_cancel_ratio", "latency_spikes", "queue_depth_deviation_pct",
        "winrate_pct", "profit_factor", "sharpe_ratio", "order_failure_rate", "oms_retries_per_order",
    ),
    "broker & recovery": (
        "broker_outages_survived", "recovery_time_s", "market_data_age_at_resume_ms", "positions_held",
        "order_queue_intact", "portfolio_reconciliation_error",
    ),
    "market data": (
        "data_quality_issues", "data_gaps", "data_gap_events", "market_halt_delay_triggered",
        "cached_book_fallback_used", "stale_funding_models_flagged", "funding_rate_swing_bps",
        "mark_spot_divergence_pct", "liquidation_cascade_count", "abstain_on_nan_features",
        "abstention_rate_pct", "cvar_alert_raised",
    ),
    "models": ("failed_models", "failed_strategies", "drift_psi", "model_health_score", "drift_alert_raised"),
    "load & resources": (
        "decision_samples", "decision_latency_p99_ms", "decision_error_rate", "decision_backlog",
        "peak_memory_pct", "signal_time_p99_ms", "price_history_bars_max", "performance_records_max",
        "process_restarts",
    ),
}  # fmt: skip
OTHER = "other"
_FAMILY_OF = {m: family for family, metrics in FAMILIES.items() for m in metrics}

# worst first: the cell of a family shows the worst status among its checks
_RANK = {"failed": 4, "not_evaluated": 3, "waived": 2, "passed": 1}


def family_of(metric: str) -> str:
    return _FAMILY_OF.get(metric, OTHER)


def worst(statuses: Iterable[str]) -> str | None:
    found = [s for s in statuses if s in _RANK]
    return max(found, key=_RANK.__getitem__) if found else None


def grid(runs: Iterable[Mapping[str, Any]]) -> tuple[list[str], dict[str, dict[str, list[dict[str, Any]]]]]:
    """(the families that occur, in order; scenario -> family -> its checks), over every certified run."""
    cells: dict[str, dict[str, list[dict[str, Any]]]] = {}
    used: set[str] = set()
    for r in runs:
        row = cells.setdefault(r["scenario"], {})
        for c in r["checks"]:
            fam = family_of(c["check"])
            used.add(fam)
            row.setdefault(fam, []).append(c)
    order = [f for f in (*FAMILIES, OTHER) if f in used]
    return order, cells


@dataclass(frozen=True)
class Control:
    """A regulatory control and the metrics whose checks give evidence for it."""

    ref: str
    title: str
    asks: str
    metrics: tuple[str, ...]
    tests: tuple[str, ...] = ()  # words in a stress test's id or promise that make it evidence too


REGULATORY: tuple[Control, ...] = (
    Control(
        "MiFID II RTS 6 Art. 10",
        "Stress testing",
        "the algorithmic trading systems withstand stressed conditions, including twice the highest "
        "number of messages and volume of the previous six months",
        ("decision_samples", "decision_latency_p99_ms", "decision_error_rate", "decision_backlog",
         "fill_latency_p99_ms", "execution_failures", "max_drawdown_pct", "var_multiple"),
        ("flood", "load", "capacity"),
    ),
    Control(
        "MiFID II RTS 6 Art. 12",
        "Kill functionality",
        "the firm can cancel all unexecuted orders at once as an emergency measure",
        ("kill_switch_triggered", "emergency_stops", "trading_paused_on_broker_loss"),
        ("kill_switch", "kill switch"),
    ),
    Control(
        "MiFID II RTS 6 Art. 15",
        "Pre-trade controls",
        "price collars, maximum order value and volume, maximum messages, and position limits block "
        "orders before they reach the market",
        ("hard_limit_breaches", "position_delta_pct", "kelly_utilisation_max", "final_position_pct",
         "halt_partial_triggered", "halt_full_triggered"),
        ("pre-trade", "collar", "governor"),
    ),
    Control(
        "MiFID II RTS 6 Art. 16",
        "Real-time monitoring",
        "trading activity is monitored in real time, with alerts within five seconds of a relevant event",
        ("cvar_alert_raised", "drift_alert_raised", "data_gap_events", "market_halt_delay_triggered",
         "cached_book_fallback_used", "stale_funding_models_flagged", "model_health_score", "drift_psi"),
        ("alert", "monitor", "drift", "feed"),
    ),
    Control(
        "MiFID II RTS 6 Art. 17",
        "Post-trade controls",
        "positions, exposures and P&L are reconciled and monitored after the trade",
        ("portfolio_reconciliation_error", "positions_held", "order_queue_intact", "max_drawdown_pct",
         "max_dd_duration_s", "broker_outages_survived"),
        ("reconcil", "portfolio integrity"),
    ),
    Control(
        "SEC Rule 15c3-5",
        "Market access controls",
        "pre-set credit and capital thresholds, erroneous-order prevention and post-trade surveillance "
        "under the broker-dealer's direct control",
        ("hard_limit_breaches", "var_multiple", "cvar_multiple", "position_delta_pct", "kill_switch_triggered",
         "portfolio_reconciliation_error", "order_failure_rate"),
        ("pre-trade", "kill_switch", "reconcil"),
    ),
)  # fmt: skip

DISCLAIMER = (
    "A mapping aid for the reviewer: which checks of this session bear on which control. It is not legal "
    "advice and not a statement of compliance; the firm's compliance function decides what evidence suffices."
)


def evidence(
    control: Control, checks: Iterable[tuple[str, Mapping[str, Any]]], tests: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The checks (scenario, record) and stress tests of a session that bear on ``control``, by status."""
    mine = [(s, c) for s, c in checks if c["check"] in control.metrics]
    by_status: dict[str, int] = {}
    for _, c in mine:
        by_status[c["status"]] = by_status.get(c["status"], 0) + 1
    words = tuple(w.lower() for w in control.tests)
    hits = [t for t in tests if any(w in (t["nodeid"] + " " + t.get("promise", "")).lower() for w in words)]
    return {"checks": mine, "by_status": by_status, "tests": hits}
