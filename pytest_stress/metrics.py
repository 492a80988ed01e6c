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
        # --- measured by parts built in later issues (reference stack, fault matrix, load test). Until they
        # exist a scenario naming them gets "not evaluated" for these lines, never "passed". ---
        Metric(
            "cvar_alert_raised",
            "",
            "whether the portfolio heat-check raised its alert when the 1-day CVaR passed its limit (seed 000)",
            kind="bool",
        ),
        Metric(
            "market_halt_delay_triggered",
            "",
            "whether the feed adapter entered MarketHalt.DELAY when the WebSocket feed stalled over 1 s",
            kind="bool",
        ),
        Metric(
            "cached_book_fallback_used",
            "",
            "whether the feed adapter served the cached book while the feed stalled (seed 000, FTX)",
            kind="bool",
        ),
        Metric(
            "stale_funding_models_flagged",
            "",
            "whether models that relied on a stale funding feed were flagged for manual review",
            kind="bool",
        ),
        Metric(
            "funding_rate_swing_bps",
            "bps",
            "largest minus smallest perpetual funding rate seen, in bps per funding interval",
        ),
        Metric(
            "mark_spot_divergence_pct",
            "%",
            "largest gap between a perpetual's mark price and its spot index, in percent of the index",
        ),
        Metric(
            "liquidation_cascade_count", "", "liquidation cascades (runs of forced closes) during the run"
        ),
        Metric(
            "decision_latency_p99_ms",
            "ms",
            "99th percentile of the risk governor's decision time (model + filter), seed 004",
        ),
        Metric("decision_samples", "", "decision latencies collected by the flood generator (seed 004)"),
        Metric("decision_error_rate", "", "failed decisions / decisions (fraction, 0.01 = 1 %)"),
        Metric("decision_backlog", "", "decisions still queued when the flood ends"),
        Metric(
            "hard_limit_breaches",
            "",
            "orders the risk governor let through although they crossed a hard limit (seed 004)",
        ),
        Metric(
            "final_position_pct",
            "%",
            "absolute net position left at the end of the run, in percent of the starting gross exposure",
        ),
        Metric(
            "recovery_time_s",
            "s",
            "longest time from the broker connection coming back to trading resumed (seed 004: < 30 s)",
        ),
        Metric(
            "market_data_age_at_resume_ms",
            "ms",
            "age of the newest market data when trading resumed after an outage (seed 004: < 500 ms)",
        ),
        Metric("broker_outages_survived", "", "broker outages in the run after which trading resumed"),
        Metric(
            "positions_held",
            "",
            "whether every position was kept unchanged through the broker outage",
            kind="bool",
        ),
        Metric(
            "order_queue_intact",
            "",
            "whether the order queue came out of the outage with nothing lost and nothing duplicated",
            kind="bool",
        ),
        Metric(
            "portfolio_reconciliation_error",
            "",
            "largest difference between the local and the broker's portfolio value after recovery, in "
            "the portfolio's currency (seed 004: within $1)",
        ),
        Metric(
            "order_failure_rate",
            "",
            "orders marked FAILED / orders submitted (fraction; seed 001 alerts above 0.10)",
        ),
        Metric(
            "oms_retries_per_order", "", "submission attempts of an order before it was FAILED (seed 001: 3)"
        ),
        Metric(
            "trading_paused_on_broker_loss",
            "",
            "whether the stack stopped sending new orders while the broker was unreachable",
            kind="bool",
        ),
        Metric(
            "abstain_on_nan_features",
            "",
            "whether the strategy returned ABSTAIN (no trades) when its features held NaN (seed 001)",
            kind="bool",
        ),
        Metric(
            "abstention_rate_pct",
            "%",
            "share of the strategy's signals that were ABSTAIN during the run",
        ),
        Metric(
            "data_gap_events",
            "",
            "DataGapDetected events the feed adapter raised (seed 000: one per gap)",
        ),
        Metric(
            "drift_psi",
            "",
            "population stability index of the model's features against its training distribution",
        ),
        Metric(
            "model_health_score", "", "the drift detector's health score, 0-100 (seed 001 alerts below 70)"
        ),
        Metric(
            "drift_alert_raised",
            "",
            "whether 'Model drift detected' was raised (with no automatic trading pause)",
            kind="bool",
        ),
        Metric(
            "peak_memory_pct",
            "%",
            "largest memory use of the stack's process, in percent of its limit (seed 001 alerts above 80)",
        ),
        Metric(
            "signal_time_p99_ms",
            "ms",
            "99th percentile of the time to generate one signal (seed 001 alerts above 1 s)",
        ),
        Metric("price_history_bars_max", "", "largest price history buffer held (seed 001: 250 bars)"),
        Metric(
            "performance_records_max", "", "largest count of in-memory performance records (seed 001: 10,000)"
        ),
        Metric("process_restarts", "", "crashes / restarts of the stack's process during the run"),
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
