"""What a scenario run returns: measured risk, breaches, the kill switch, the equity curve, the checks."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_stress.certify.checks import Check, CheckStatus
from pytest_stress.errors import CertificationError
from pytest_stress.replay.transforms import AppliedStress


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
    var_1d: float  # normal 1-day historical VaR of the book, currency, positive loss
    var_confidence: float
    worst_loss: float  # largest fall of equity below its starting value, currency
    breaches: tuple[Breach, ...]
    kill_switch_triggered: bool
    kill_switch_tick: int | None
    runtime_ms: float
    equity_curve: np.ndarray = field(repr=False)
    drawdown_curve: np.ndarray = field(repr=False)
    stresses: tuple[AppliedStress, ...] = ()
    checks: tuple[Check, ...] = ()
    source: str = ""
    # Set by the pytest plugin so that certify() is recorded for the report (whether it passes or not).
    certify_hook: Callable[[ScenarioResult], None] | None = field(default=None, repr=False, compare=False)

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

    def to_dict(self, curve_points: int = 600) -> dict[str, Any]:
        """JSON-ready data; the equity curve is reduced to about ``curve_points`` (min/max per bucket)."""
        idx = envelope_indices(self.equity_curve, curve_points)
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
            "worst_loss": _finite_or_text(self.worst_loss),
            "breaches": [b.to_dict() for b in self.breaches],
            "kill_switch_triggered": self.kill_switch_triggered,
            "kill_switch_tick": self.kill_switch_tick,
            "runtime_ms": self.runtime_ms,
            "stresses": [
                {"type": s.type, "start_tick": s.start_tick, "end_tick": s.end_tick, **s.params}
                for s in self.stresses
            ],
            "checks": [c.to_dict() for c in self.checks],
            "equity_curve": {"tick": idx.tolist(), "equity": self.equity_curve[idx].round(2).tolist()},
        }


def _finite_or_text(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


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
