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
    )
}

# The risk limits the replay enforces tick by tick (breach -> on_breach action). Their thresholds come
# from the scenario's `expect:` block, so the limit a risk officer reads is the limit the replay applies.
RISK_LIMIT_METRICS: tuple[str, ...] = ("max_drawdown_pct", "var_multiple", "position_delta_pct")
