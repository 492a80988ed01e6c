"""The measured quantities a scenario's ``expect:`` block may name, with units and meaning.

A metric that a later part of the suite measures can be listed here before that part exists:
its checks are then reported as "not evaluated", never as passed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    description: str
    kind: str = "number"  # "number" or "bool"


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "max_drawdown_pct",
            "%",
            "largest peak-to-trough fall of the portfolio's liquidation value, in percent of the peak",
        ),
        Metric(
            "var_multiple",
            "x",
            "worst loss during the scenario divided by the portfolio's normal 1-day historical VaR",
        ),
        Metric(
            "position_delta_pct",
            "%",
            "largest change of the portfolio's net exposure from its pre-stress value, in percent of gross exposure",
        ),
        Metric(
            "kill_switch_triggered",
            "",
            "whether the kill switch fired during the run",
            kind="bool",
        ),
        Metric(
            "breach_count",
            "",
            "number of risk limits breached during the run",
        ),
        Metric(
            "cvar_multiple",
            "x",
            "worst loss during the scenario divided by the portfolio's normal 1-day historical CVaR",
        ),
        # --- seed 003: the ScenarioResult metrics ---
        Metric("total_trades", "", "number of fills (executions) during the run"),
        Metric(
            "winrate_pct",
            "%",
            "share of position-reducing fills whose realised P&L net of fees was positive; not measured "
            "when nothing was closed",
        ),
        Metric(
            "profit_factor",
            "",
            "gross profit / gross loss of the position-reducing fills; not measured when nothing was closed",
        ),
        Metric(
            "sharpe_ratio",
            "",
            "mean / standard deviation of the per-tick equity returns, annualised over trading time",
        ),
        Metric("emergency_stops", "", "how many times the kill switch fired"),
        Metric("execution_failures", "", "orders the exchange refused (random failures and halts)"),
        Metric(
            "failed_models",
            "",
            "models that crashed; needs the Python stack, never measured by the compiled replay",
        ),
        Metric(
            "failed_strategies",
            "",
            "strategies that failed; needs the Python stack, never measured by the compiled replay",
        ),
        Metric(
            "data_quality_issues",
            "",
            "unusable quotes (NaN, not positive, crossed) plus duplicate or out-of-order ticks",
        ),
        Metric("data_gaps", "", "jumps in the feed's timestamps longer than 1.5 ticks"),
        Metric("max_dd_duration_s", "s", "longest time the equity stayed below a previous peak"),
        Metric("policy_transitions", "", "changes of the risk policy the book ran under"),
        Metric("latency_spikes", "", "orders delayed by a latency spike"),
        # --- seed 000 / 004: execution and risk controls ---
        Metric(
            "fill_latency_p50_ms",
            "ms",
            "median time from sending an order to its first fill; not measured without fills",
        ),
        Metric(
            "fill_latency_p95_ms", "ms", "95th percentile of the time from sending an order to its first fill"
        ),
        Metric(
            "fill_latency_p99_ms", "ms", "99th percentile of the time from sending an order to its first fill"
        ),
        Metric(
            "limit_cancel_ratio",
            "",
            "cancelled limit orders / limit orders sent; not measured without limit orders",
        ),
        Metric(
            "queue_depth_deviation_pct",
            "%",
            "largest deviation of the displayed top-of-book size (all symbols) from its pre-stress mean; "
            "needs an L2 book",
        ),
        Metric(
            "kelly_utilisation_max",
            "",
            "largest share of the base book held after the Kelly clamp engaged (ticks with none of its "
            "orders open); not measured when the clamp never engaged",
        ),
        Metric(
            "realised_vol_annual_max",
            "",
            "highest EWMA estimate of the held book's annualised volatility (fraction, 0.18 = 18 %)",
        ),
        Metric(
            "halt_partial_triggered",
            "",
            "whether any symbol entered HaltMode.PARTIAL (only position-reducing orders)",
            kind="bool",
        ),
        Metric("halt_full_triggered", "", "whether any symbol entered HaltMode.FULL", kind="bool"),
    )
}

# The risk limits the replay enforces tick by tick (breach -> on_breach action), in the order of the risk
# engine's arrays. Their thresholds come from the scenario's `expect:` block when it names them, else from
# its `risk:` section (var_trip_multiple, position_delta_trip_pct, cvar_trip_multiple), so the limit a risk
# officer reads is the limit the replay applies.
RISK_LIMIT_METRICS: tuple[str, ...] = (
    "max_drawdown_pct",
    "var_multiple",
    "position_delta_pct",
    "cvar_multiple",
)
