"""What a batch of scenario runs returns per scenario, and the summary across them (seed 003's
``generate_summary`` / ``print_summary``): counts, averages and totals, the weakest scenarios."""

from __future__ import annotations

import dataclasses
import math
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Union

from pytest_stress.specs.waivers import Waiver
from pytest_stress.verdict import GO, INCOMPLETE, NO_GO, decide_result

if TYPE_CHECKING:
    from pytest_stress.run.result import ScenarioResult

# Fields of a result that describe the run's set-up, not something it measured; the summary skips them.
_SETUP_FIELDS = frozenset(
    {"seed", "symbols", "n_ticks", "tick_ms", "initial_capital", "gross_leverage", "var_confidence",
     "kill_switch_tick", "events_dropped"}
)  # fmt: skip
# Seed 003's metric names, read as attributes from a result that has no ``metrics`` mapping to list them.
_SEED_003_NAMES = (
    "total_trades", "winrate", "profit_factor", "sharpe_ratio", "emergency_stops", "execution_failures",
    "failed_models", "failed_strategies", "data_quality_issues", "latency_spikes", "max_dd_duration",
)  # fmt: skip
WEAKEST = 5
ERROR = "ERROR"


@dataclass(frozen=True)
class ScenarioFailure:
    """A scenario of a batch that produced no result: its file did not load, or its replay raised."""

    name: str
    error_type: str  # the exception's class name, e.g. "ScenarioError", "ReplayError"
    message: str

    passed = False  # never GO, so code that reads ``.passed`` on every outcome needs no special case
    success = False  # seed 003's name

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.name, "error_type": self.error_type, "message": self.message}


Outcome = Union["ScenarioResult", ScenarioFailure]


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def verdict(outcome: Outcome, waivers: Sequence[Waiver] = ()) -> str:
    """GO, NO-GO or INCOMPLETE by the one decision function; ERROR for a scenario that could not run."""
    if isinstance(outcome, ScenarioFailure):
        return ERROR
    return decide_result(outcome, waivers).decision


def _numbers(result: Any) -> dict[str, float | int | bool]:
    """Every numeric or yes/no metric a result offers: its fields, its ``metrics`` mapping, seed 003 names.

    Read with getattr so that results with more (or fewer) metrics than this module knows still summarise.
    None (not measured) and NaN are left out.
    """
    found: dict[str, Any] = {}
    if dataclasses.is_dataclass(result):
        for f in dataclasses.fields(result):
            if f.name not in _SETUP_FIELDS:
                found[f.name] = getattr(result, f.name, None)
    metrics = getattr(result, "metrics", None)
    if isinstance(metrics, Mapping):
        for k, v in metrics.items():
            found.setdefault(k, v)
    extra = ("final_equity",) if isinstance(metrics, Mapping) else ("final_equity", *_SEED_003_NAMES)
    for name in extra:
        if name not in found:
            try:
                found[name] = getattr(result, name, None)
            except Exception:  # a property that cannot be computed (e.g. final_equity of an empty curve)
                found[name] = None
    out: dict[str, float | int | bool] = {}
    for k, v in found.items():
        if type(v).__module__ == "numpy" and getattr(v, "shape", None) == ():  # a NumPy scalar
            v = v.item()
        if isinstance(v, (bool, int)) or (isinstance(v, float) and not math.isnan(v)):
            out[k] = v
    return out


def _stats(values: list[float | int | bool]) -> dict[str, float | int]:
    if all(isinstance(v, bool) for v in values):
        return {"count": len(values), "true": sum(bool(v) for v in values)}
    total = sum(values) if all(isinstance(v, int) for v in values) else math.fsum(values)  # counts stay ints
    return {"count": len(values), "mean": math.fsum(values) / len(values), "min": min(values),
            "max": max(values), "total": total}  # fmt: skip


def _failed_checks(result: Any) -> int:
    failed = getattr(result, "failed_checks", None)
    if failed is not None:
        return len(failed)
    return sum(1 for c in getattr(result, "checks", ()) or () if getattr(c, "passed", True) is False)


def _drawdown_rank(result: Any) -> float:
    dd = getattr(result, "max_drawdown_pct", None)
    if dd is None or (isinstance(dd, float) and math.isnan(dd)):
        return math.inf  # unknown drawdown cannot be shown safe: rank it with the worst
    return float(dd)


def generate_summary(results: Mapping[str, Outcome], waivers: Sequence[Waiver] = ()) -> dict[str, Any]:
    """Counts, per-metric statistics, seed 003's headline figures and the weakest scenarios of a batch.

    ``passed``/``failed``/``incomplete`` count scenarios that ran by their verdict (GO / NO-GO / INCOMPLETE, the
    one decision function), ``errored`` those that gave a
    ScenarioFailure. ``metrics`` maps each numeric metric any result has to count, mean, min, max, total
    (yes/no metrics: count and how many were true), over the results that measured it. Headline keys are
    None when no result measured them. ``weakest``: up to 5 scenarios that ran, most failed checks first,
    then deepest drawdown. ``total_runtime_ms`` sums the replays' own times (not the batch's wall time).
    """
    ran = {k: r for k, r in results.items() if not isinstance(r, ScenarioFailure)}
    errors = {k: r for k, r in results.items() if isinstance(r, ScenarioFailure)}
    collected: dict[str, list[float | int | bool]] = {}
    for r in ran.values():
        for name, value in _numbers(r).items():
            collected.setdefault(name, []).append(value)
    table = {name: _stats(values) for name, values in sorted(collected.items())}

    def stat(metric: str, key: str) -> Any:
        return table.get(metric, {}).get(key)

    stops = 0
    for r in ran.values():
        n = getattr(r, "emergency_stops", None)
        if isinstance(n, (int, float)) and math.isfinite(n):
            stops += int(n)
        else:  # a result without an emergency-stop count still tells whether its kill switch fired
            stops += int(bool(getattr(r, "kill_switch_triggered", False)))
    decisions = Counter(verdict(r, waivers) for r in ran.values())
    weakest = sorted(ran.items(), key=lambda kv: (-_failed_checks(kv[1]), -_drawdown_rank(kv[1]), kv[0]))
    return {
        "scenarios": len(results),
        "passed": decisions[GO],
        "failed": decisions[NO_GO],
        "incomplete": decisions[INCOMPLETE],
        "errored": len(errors),
        "avg_max_drawdown": stat("max_drawdown_pct", "mean"),
        "worst_max_drawdown": stat("max_drawdown_pct", "max"),
        "avg_var_multiple": stat("var_multiple", "mean"),
        "worst_var_multiple": stat("var_multiple", "max"),
        "avg_position_delta_pct": stat("position_delta_pct", "mean"),
        "worst_position_delta_pct": stat("position_delta_pct", "max"),
        "avg_sharpe_ratio": stat("sharpe_ratio", "mean"),
        "total_trades": stat("total_trades", "total"),
        "total_emergency_stops": stops if ran else None,
        "kill_switches_fired": sum(1 for r in ran.values() if getattr(r, "kill_switch_triggered", False)),
        "total_breaches": sum(len(getattr(r, "breaches", ()) or ()) for r in ran.values()),
        "total_runtime_ms": math.fsum(float(getattr(r, "runtime_ms", 0.0) or 0.0) for r in ran.values()),
        "weakest": [
            {
                "scenario": k,
                "verdict": verdict(r, waivers),
                "failed_checks": _failed_checks(r),
                "max_drawdown_pct": getattr(r, "max_drawdown_pct", None),
            }
            for k, r in weakest[:WEAKEST]
        ],
        "errors": [{"key": k, **f.to_dict()} for k, f in errors.items()],
        "metrics": table,
    }


def _num(value: Any, spec: str = ".2f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:{spec}}"


def print_summary(
    results: Mapping[str, Outcome], file: IO[str] | None = None, waivers: Sequence[Waiver] = ()
) -> None:
    """A table of the batch (one row per scenario), its headline figures and its weakest scenarios."""
    out = file if file is not None else sys.stdout
    s = generate_summary(results, waivers)
    header = ("SCENARIO", "VERDICT", "DRAWDOWN %", "VAR x", "KILL", "FAILED", "RUNTIME ms")
    rows = []
    for key, r in results.items():
        if isinstance(r, ScenarioFailure):
            rows.append((key, "ERROR", f"{r.error_type}: {first_line(r.message)}"))
            continue
        rows.append((
            key, verdict(r, waivers), _num(getattr(r, "max_drawdown_pct", None)), _num(getattr(r, "var_multiple", None)),
            "yes" if getattr(r, "kill_switch_triggered", False) else "no", str(_failed_checks(r)),
            _num(getattr(r, "runtime_ms", None), ".1f"),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(2)]
    widths += [
        max([len(h), *(len(row[i]) for row in rows if len(row) > 3)]) for i, h in enumerate(header) if i >= 2
    ]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        if len(row) == 3:  # an error: its message takes the metric columns
            cells.append(row[2])
        else:
            cells += [c.rjust(w) for c, w in zip(row[2:], widths[2:], strict=True)]
        print("  ".join(cells).rstrip(), file=out)
    print(file=out)
    print(
        f"scenarios: {s['scenarios']} ({s['passed']} GO, {s['failed']} NO-GO, {s['incomplete']} INCOMPLETE, "
        f"{s['errored']} errored)",
        file=out,
    )
    lines = [
        ("max drawdown", f"avg {_num(s['avg_max_drawdown'])} %, worst {_num(s['worst_max_drawdown'])} %"),
        ("VaR multiple", f"avg {_num(s['avg_var_multiple'])}x, worst {_num(s['worst_var_multiple'])}x"),
        ("emergency stops", f"{_num(s['total_emergency_stops'], 'd')} "
                            f"(kill switch fired in {s['kill_switches_fired']} scenarios)"),
        ("breaches", str(s["total_breaches"])),
        ("replay time", f"{s['total_runtime_ms']:.1f} ms in total"),
    ]  # fmt: skip
    for label, text in lines:
        print(f"{label + ':':<17}{text}", file=out)
    if s["weakest"]:
        print("weakest:", file=out)
        for w in s["weakest"]:
            print(
                f"  {w['scenario']}: {w['verdict']}, {w['failed_checks']} failed checks, "
                f"drawdown {_num(w['max_drawdown_pct'])} %",
                file=out,
            )
