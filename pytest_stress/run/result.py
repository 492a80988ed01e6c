"""What a scenario run returns: measured risk, breaches, the kill switch, fills, events, the seed 003 metrics,
the equity curve, the checks, as frozen values (what is measured, and how, is ``run.measure``).

Metrics a run could not measure are None and their checks "not evaluated", never 0-as-pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_stress.checks import Check, CheckStatus
from pytest_stress.errors import CertificationError
from pytest_stress.replay import exchange as ex
from pytest_stress.replay.events import Event
from pytest_stress.replay.session import ReplayOutput
from pytest_stress.replay.transforms import AppliedStress
from pytest_stress.verdict import Verdict, decide


@dataclass(frozen=True)
class Breach:
    """A risk limit crossed: the first tick its metric went above the limit."""

    metric: str
    tick: int
    time_ms: float
    limit: float
    measured: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "tick": self.tick,
            "time_ms": self.time_ms,
            "limit": self.limit,
            "measured": _finite_or_text(self.measured),
        }


@dataclass(frozen=True)
class PolicyTransition:
    """The risk policy the book runs under changed (``risk.RiskPolicy`` names)."""

    tick: int
    time_ms: float
    before: str
    after: str

    def to_dict(self) -> dict[str, Any]:
        return {"tick": self.tick, "time_ms": self.time_ms, "from": self.before, "to": self.after}


@dataclass(frozen=True, eq=False)
class Fills:
    """Every execution, struct of arrays: tick, symbol index, signed quantity, price paid (after slippage),
    the touch before slippage (ask for buys, bid for sells), fee, and the order it filled."""

    tick: np.ndarray
    symbol: np.ndarray
    qty: np.ndarray
    price: np.ndarray
    ref_px: np.ndarray
    fee: np.ndarray
    order: np.ndarray

    def __len__(self) -> int:
        return int(self.tick.shape[0])

    @classmethod
    def from_output(cls, out: ReplayOutput) -> Fills:
        fi, ff = out.fills_i, out.fills_f
        return cls(
            fi[ex.FI_ROW], fi[ex.FI_SYMBOL], ff[ex.FF_QTY], ff[ex.FF_PRICE], ff[ex.FF_REF_PX], ff[ex.FF_FEE],
            fi[ex.FI_ORDER],
        )  # fmt: skip

    def records(self, symbols: tuple[str, ...], limit: int) -> list[dict[str, Any]]:
        return [
            {
                "tick": int(self.tick[k]),
                "symbol": symbols[int(self.symbol[k])],
                "qty": float(self.qty[k]),
                "price": float(self.price[k]),
                "touch": float(self.ref_px[k]),
                "fee": float(self.fee[k]),
            }
            for k in range(min(len(self), limit))
        ]


@dataclass(frozen=True, eq=False)
class ScenarioResult:
    scenario: str
    seed: int
    symbols: int
    n_ticks: int
    tick_ms: int
    initial_capital: float
    gross_leverage: float
    max_drawdown_pct: float
    var_multiple: float
    position_delta_pct: float
    var_1d: float  # normal 1-day historical VaR of the book at var_confidence, currency, positive loss
    var_confidence: float
    worst_loss: float  # largest fall of equity below its starting value, currency
    breaches: tuple[Breach, ...]
    kill_switch_triggered: bool
    kill_switch_tick: int | None  # the first time it fired
    runtime_ms: float
    equity_curve: np.ndarray = field(repr=False)
    drawdown_curve: np.ndarray = field(repr=False)
    stresses: tuple[AppliedStress, ...] = ()
    checks: tuple[Check, ...] = ()
    source: str = ""
    # --- tail risk, seed 003 metrics, execution (defaults keep hand-built results short) ---
    cvar_1d: float = 0.0
    cvar_multiple: float = 0.0
    tail_risk: Mapping[str, float] = field(default_factory=dict)  # var_95, var_99, cvar_95, cvar_99
    metrics: Mapping[str, Any] = field(default_factory=dict)  # every metrics.METRICS name measured
    policy_transitions: tuple[PolicyTransition, ...] = ()
    fills: Fills | None = field(default=None, repr=False)
    events: tuple[Event, ...] = field(default=(), repr=False)
    events_dropped: int = 0
    notes: tuple[str, ...] = ()
    provenance: Mapping[str, Any] = field(default_factory=dict)
    symbol_names: tuple[str, ...] = field(default=(), repr=False)
    # the market's price path, one value per tick: equal-weight mean of mid / the calm first mid (run.scenario)
    price_index: np.ndarray | None = field(default=None, repr=False)
    # Set by the pytest plugin so that certify() is recorded for the report (whether it passes or not).
    certify_hook: Callable[[ScenarioResult], None] | None = field(default=None, repr=False, compare=False)

    # --- seed 003's names, read off ``metrics`` (None: not measurable in this run) ---

    @property
    def total_trades(self) -> int:
        return int(self.metrics.get("total_trades", 0))

    @property
    def profit_factor(self) -> float | None:
        return self.metrics.get("profit_factor")

    @property
    def sharpe_ratio(self) -> float | None:
        return self.metrics.get("sharpe_ratio")

    @property
    def emergency_stops(self) -> int:
        return int(self.metrics.get("emergency_stops", 0))

    @property
    def execution_failures(self) -> int:
        return int(self.metrics.get("execution_failures", 0))

    @property
    def failed_models(self) -> int | None:
        return self.metrics.get("failed_models")

    @property
    def failed_strategies(self) -> int | None:
        return self.metrics.get("failed_strategies")

    @property
    def data_quality_issues(self) -> int:
        return int(self.metrics.get("data_quality_issues", 0))

    @property
    def latency_spikes(self) -> int:
        return int(self.metrics.get("latency_spikes", 0))

    @property
    def max_drawdown(self) -> float:
        """Seed 003's name: the worst drawdown, in percent."""
        return self.max_drawdown_pct

    @property
    def max_dd_duration(self) -> float:
        """Seed 003's name: the longest time under water, in seconds."""
        return float(self.metrics.get("max_dd_duration_s", 0.0))

    @property
    def winrate(self) -> float | None:
        return self.metrics.get("winrate_pct")

    @property
    def fill_latency_ms(self) -> dict[str, float | None]:
        return {p: self.metrics.get(f"fill_latency_{p}_ms") for p in ("p50", "p95", "p99")}

    @property
    def success(self) -> bool:
        """Seed 003's name: every evaluated expectation held (see ``passed``)."""
        return self.passed

    @property
    def final_equity(self) -> float:
        return float(self.equity_curve[-1])

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status is CheckStatus.FAILED)

    @property
    def passed(self) -> bool:
        """True when every evaluated check passed and at least one check was evaluated."""
        evaluated = [c for c in self.checks if c.status is not CheckStatus.NOT_EVALUATED]
        return bool(evaluated) and all(c.passed for c in evaluated)

    @property
    def verdict(self) -> Verdict:
        """GO / NO-GO / INCOMPLETE of this run, certified (``pytest_stress.verdict.decide``)."""
        return decide([self.verdict_record()])

    def verdict_record(self) -> dict[str, Any]:
        """What the verdict reads of this run (the same keys as in ``to_dict``)."""
        return {
            "scenario": self.scenario,
            "checks": [c.to_dict() for c in self.checks],
            "kill_switch_triggered": self.kill_switch_triggered,
            "kill_switch_tick": self.kill_switch_tick,
            "tick_ms": self.tick_ms,
        }

    def event_records(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.events]

    def certify(self) -> None:
        """Fail (CertificationError, an AssertionError) unless every expectation of the scenario holds.

        The message lists each failed expectation with its threshold and the measured value.
        """
        if self.certify_hook is not None:
            self.certify_hook(self)
        if not self.checks:
            raise CertificationError(
                f"scenario '{self.scenario}' has no expect: block, so nothing was "
                "certified; add the thresholds the run must meet"
            )
        failed = self.failed_checks
        if failed:
            lines = "\n".join(f"  - {c.line()}" for c in failed)
            kill = (
                f"\nKILL_SWITCH fired at tick {self.kill_switch_tick} "
                f"({self.kill_switch_tick * self.tick_ms / 1000:g} s)"
                if self.kill_switch_triggered
                else ""
            )
            raise CertificationError(
                f"scenario '{self.scenario}' (seed {self.seed}, {self.symbols} symbols) "
                f"failed {len(failed)} of {len(self.checks)} expectations:\n{lines}{kill}"
            )

    def to_dict(self, curve_points: int = 600, max_records: int = 500) -> dict[str, Any]:
        """JSON-ready data; the equity curve is reduced to about ``curve_points`` (min/max per bucket),
        fills and events to the first ``max_records`` (their totals are given)."""
        idx = envelope_indices(self.equity_curve, curve_points)
        fills = self.fills
        return {
            "scenario": self.scenario,
            "source": self.source,
            "seed": self.seed,
            "symbols": self.symbols,
            "n_ticks": self.n_ticks,
            "tick_ms": self.tick_ms,
            "initial_capital": self.initial_capital,
            "gross_leverage": self.gross_leverage,
            "final_equity": _finite_or_text(self.final_equity),
            "max_drawdown_pct": _finite_or_text(self.max_drawdown_pct),
            "var_multiple": _finite_or_text(self.var_multiple),
            "position_delta_pct": _finite_or_text(self.position_delta_pct),
            "var_1d": _finite_or_text(self.var_1d),
            "var_confidence": self.var_confidence,
            "cvar_1d": _finite_or_text(self.cvar_1d),
            "cvar_multiple": _finite_or_text(self.cvar_multiple),
            "tail_risk": {k: _finite_or_text(v) for k, v in self.tail_risk.items()},
            "worst_loss": _finite_or_text(self.worst_loss),
            "breaches": [b.to_dict() for b in self.breaches],
            "kill_switch_triggered": self.kill_switch_triggered,
            "kill_switch_tick": self.kill_switch_tick,
            "runtime_ms": self.runtime_ms,
            "success": self.success,
            "verdict": self.verdict.decision,
            "metrics": {k: _json_value(v) for k, v in self.metrics.items()},
            "policy_transitions": [p.to_dict() for p in self.policy_transitions],
            "fills": fills.records(self.symbol_names, max_records) if fills is not None else [],
            "fills_total": len(fills) if fills is not None else 0,
            "events": [
                {k: _json_value(v) for k, v in e.to_dict().items()} for e in self.events[:max_records]
            ],
            "events_total": len(self.events) + self.events_dropped,
            "notes": list(self.notes),
            "provenance": {k: _json_value(v) for k, v in self.provenance.items()},
            "stresses": [
                {"type": s.type, "start_tick": s.start_tick, "end_tick": s.end_tick, **s.params}
                for s in self.stresses
            ],
            "checks": [c.to_dict() for c in self.checks],
            "equity_curve": {"tick": idx.tolist(), "equity": self.equity_curve[idx].round(2).tolist()},
            **self._price_curve(curve_points),
        }

    def _price_curve(self, points: int) -> dict[str, Any]:
        """``price_curve: {tick, index}``, reduced like the equity curve (NaN: no usable quote yet -> null)."""
        price = self.price_index
        if price is None or price.shape[0] == 0:
            return {}
        idx = envelope_indices(np.nan_to_num(price, nan=1.0), points)
        values = price[idx].round(6)
        return {
            "price_curve": {
                "tick": idx.tolist(),
                "index": [float(v) if math.isfinite(v) else None for v in values],
            }
        }


def _finite_or_text(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def _json_value(v: Any) -> Any:
    if isinstance(v, float):
        return _finite_or_text(v)
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    return v


def envelope_indices(series: np.ndarray, points: int) -> np.ndarray:
    """Indices of at most ~``points`` samples that keep each bucket's min and max (troughs stay visible)."""
    n = series.shape[0]
    if n <= points:
        return np.arange(n)
    buckets = max(points // 2, 1)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = {0, n - 1}
    for lo, hi in itertools.pairwise(edges):
        if hi > lo:
            chunk = series[lo:hi]
            keep.add(int(lo + np.argmin(chunk)))
            keep.add(int(lo + np.argmax(chunk)))
    return np.array(sorted(keep), dtype=np.int64)
