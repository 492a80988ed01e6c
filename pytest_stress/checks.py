"""Checks: each ``expect:`` line of a scenario evaluated against what the run measured."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_stress.metrics import METRICS
from pytest_stress.specs.scenario import Expectation

_SLACK = 1e-9  # relative tolerance of a bound against float rounding, far below any meaningful difference


class CheckStatus(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_EVALUATED = "not_evaluated"  # the metric is not measured (yet); never counted as passed


@dataclass(frozen=True)
class Check:
    scenario: str
    name: str
    threshold: str
    measured: float | bool | None
    status: CheckStatus
    unit: str = ""
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status is CheckStatus.PASSED

    def measured_text(self) -> str:
        if self.measured is None:
            return "not measured"
        if isinstance(self.measured, bool):
            return str(self.measured).lower()
        return f"{self.measured:.4g}{self.unit}"

    def line(self) -> str:
        """``max_drawdown_pct: measured 6.12% breaches <= 5%`` - one line of a failure message."""
        if self.status is CheckStatus.NOT_EVALUATED:
            return f"{self.name}: not evaluated ({self.detail or 'not measured'}); required {self.threshold}"
        verb = "within" if self.passed else "breaches"
        return f"{self.name}: measured {self.measured_text()} {verb} {self.threshold}"

    def to_dict(self) -> dict[str, Any]:
        m = self.measured
        if isinstance(m, float) and not math.isfinite(m):
            m = str(m)  # JSON has no inf/nan
        return {
            "scenario": self.scenario,
            "check": self.name,
            "threshold": self.threshold,
            "measured": m,
            "unit": self.unit,
            "status": self.status.value,
            "detail": self.detail,
        }


def evaluate(
    scenario: str,
    expectations: tuple[Expectation, ...],
    measured: Mapping[str, float | bool | None],
    not_measured: Mapping[str, str] | None = None,
) -> tuple[Check, ...]:
    """One Check per expectation. A metric missing from ``measured`` or measured as None is NOT_EVALUATED,
    with the reason from ``not_measured`` when it gives one."""
    out = []
    for e in expectations:
        unit = METRICS[e.metric].unit
        if measured.get(e.metric) is None:
            detail = "this version of the suite does not measure it"
            if e.metric in measured:
                detail = (not_measured or {}).get(e.metric, "not measured in this run")
            out.append(
                Check(scenario, e.metric, e.threshold_text(), None, CheckStatus.NOT_EVALUATED, unit, detail)
            )
            continue
        value = measured[e.metric]
        if e.equals is not None:
            ok = bool(value) == e.equals
        else:
            v = float(value)
            # a bound reached exactly must hold even when the measurement carries float noise in its last
            # digits (a clamp to 0.5 measured as 0.5000000000000001)
            ok = (
                not math.isnan(v)
                and (e.max is None or v <= e.max + _SLACK * max(1.0, abs(e.max)))
                and (e.min is None or v >= e.min - _SLACK * max(1.0, abs(e.min)))
            )
        status = CheckStatus.PASSED if ok else CheckStatus.FAILED
        out.append(Check(scenario, e.metric, e.threshold_text(), value, status, unit))
    return tuple(out)
