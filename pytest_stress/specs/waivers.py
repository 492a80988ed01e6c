"""Waivers: a risk officer's signed exception for a named check, with a reason and an expiry date.

A waivers file is YAML (``--stress-waivers FILE``, ini ``stress_waivers``)::

    waivers:
      - check: nvda_2023_10_17.decision_latency_p99_ms
        reason: the decision-flood harness is not built yet; measured by hand on 2026-12-01 at 9 ms
        until: 2027-03-31
        approved_by: J. Doe, CRO       # optional, shown in the report

``check`` is ``SCENARIO.METRIC`` (a metric of metrics.METRICS); ``until`` is an ISO date (YYYY-MM-DD), the
last day the waiver counts. Every problem is reported as ``FILE:LINE: key.path: what``; nothing is guessed
(no other date formats, no unknown keys, no empty reason).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_stress.errors import Problem, ScenarioError, WaiversError
from pytest_stress.metrics import METRICS
from pytest_stress.schema import INVALID, Checker, Custom, KeyPath, Spec, Text, closest, read_yaml


@dataclass(frozen=True)
class Waiver:
    scenario: str
    metric: str
    reason: str
    until: dt.date
    approved_by: str = ""
    source: str = ""  # FILE:LINE of the entry, for the report

    @property
    def check(self) -> str:
        return f"{self.scenario}.{self.metric}"

    def active(self, today: dt.date) -> bool:
        return today <= self.until

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "scenario": self.scenario,
            "metric": self.metric,
            "reason": self.reason,
            "until": self.until.isoformat(),
            "approved_by": self.approved_by,
            "source": self.source,
        }


_CHECK = re.compile(r"([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)")


def _parse_check(chk: Checker, path: KeyPath, raw: Any) -> tuple[str, str] | Any:
    if not isinstance(raw, str) or not _CHECK.fullmatch(raw):
        return chk.fail(
            path, f"expected SCENARIO.METRIC (e.g. flash_crash_lite.max_drawdown_pct), got {raw!r}"
        )
    scenario, metric = raw.split(".")
    if metric not in METRICS:
        return chk.fail(path, f"unknown metric '{metric}'{closest(metric, METRICS)}")
    return scenario, metric


def _parse_date(chk: Checker, path: KeyPath, raw: Any) -> dt.date | Any:
    if isinstance(raw, dt.datetime) or not isinstance(raw, (dt.date, str)):
        return chk.fail(path, f"expected a date as YYYY-MM-DD, got {raw!r}")
    if isinstance(raw, dt.date):
        return raw
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        return chk.fail(path, f"expected a date as YYYY-MM-DD (an ISO date, never day/month), got {raw!r}")
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        return chk.fail(path, f"{raw!r} is not a date: {exc}")


WAIVER_FIELDS: dict[str, Spec] = {
    "check": Custom(fn=_parse_check, what="SCENARIO.METRIC"),
    "reason": Text(pattern=r"(?s).*\S.*", pattern_help="that says why (not empty)"),
    "until": Custom(fn=_parse_date, what="a date as YYYY-MM-DD"),
    "approved_by": Text(default=""),
}


def parse_waivers(data: Any, lines: dict[KeyPath, int], source: str) -> tuple[Waiver, ...]:
    chk = Checker(source=source, lines=lines)
    top = chk.mapping((), data, {"waivers": Custom(fn=lambda c, p, raw: raw, what="a list of waivers")})
    if top is None:
        chk.raise_if_any()
    raw = (top or {}).get("waivers")
    if not isinstance(raw, list):
        chk.fail(("waivers",), "expected a list of waivers, each with check, reason and until")
        chk.raise_if_any()
    out: list[Waiver] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw):
        path = ("waivers", i)
        values = chk.mapping(path, entry, WAIVER_FIELDS)
        if values is None or INVALID in values.values():
            continue
        scenario, metric = values.pop("check")
        name = f"{scenario}.{metric}"
        if name in seen:
            chk.fail((*path, "check"), f"{name} is waived twice (also entry {seen[name]}); keep one")
            continue
        seen[name] = i
        out.append(Waiver(scenario, metric, source=f"{source}:{chk.line(path)}", **values))
    chk.raise_if_any()
    return tuple(out)


def load_waivers(path: str | Path) -> tuple[Waiver, ...]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(
            [Problem(str(p), 0, "", f"cannot read the waivers file ({exc.strerror})")]
        ) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError([Problem(str(p), 1, "", f"not UTF-8 text ({exc.reason})")]) from None
    try:
        data, lines = read_yaml(text, str(p))
        return parse_waivers(data, lines, str(p))
    except ScenarioError as exc:
        raise WaiversError(exc.problems) from None
