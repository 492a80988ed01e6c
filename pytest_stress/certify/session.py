"""What a stress session recorded, gathered from pytest reports, and the certification it writes.

Scenario runs travel inside test reports (``user_properties``), which pytest-xdist ships from workers to
the controller, so the controller alone writes one report however many workers ran the tests.
This module reads reports by duck typing and never imports pytest.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_stress.certify.atomic import write_atomic
from pytest_stress.errors import StressError
from pytest_stress.specs.waivers import Waiver
from pytest_stress.verdict import Verdict, apply_waivers, decide

RUN_PROPERTY = "pytest_stress.run"
PROMISE_PROPERTY = "pytest_stress.promise"
MEASURE_PROPERTY = "pytest_stress.measure"
FAULT_PROPERTY = "pytest_stress.fault"
SCHEMA = "pytest-trading-stress/certification/v1"
FORMATS = {"html": "certification.html", "json": "certification.json"}
DEFAULT_DIR = Path("reports") / "stress"


@dataclass(frozen=True)
class ReportTarget:
    format: str
    path: Path


def parse_report_targets(values: list[str], base: Path) -> list[ReportTarget]:
    """``["html", "json:out/c.json"]`` -> targets; relative paths are taken from ``base`` (the invocation dir)."""
    targets: dict[str, ReportTarget] = {}
    for raw in values:
        fmt, _, path = raw.partition(":")
        fmt = fmt.strip().lower()
        if fmt not in FORMATS:
            raise StressError(
                f"--stress-report={raw}: unknown format '{fmt}'; use html or json, "
                "optionally with :PATH (html:reports/go.html)"
            )
        p = Path(path) if path else DEFAULT_DIR / FORMATS[fmt]
        targets[fmt] = ReportTarget(fmt, p if p.is_absolute() else base / p)
    return list(targets.values())


def _scenario_ref(run: dict[str, Any]) -> str:
    """The library name of a bundled scenario, else the path of its file (relative where possible)."""
    from pytest_stress.scenario import bundled_dir

    source = Path(run.get("source") or run["scenario"])
    if source.parent.resolve() == bundled_dir().resolve() and source.stem == run["scenario"]:
        return run["scenario"]
    try:
        return str(source.relative_to(Path.cwd()))
    except ValueError:
        return str(source)


def promise_of(func: Any) -> str:
    """The first paragraph of a test's docstring, on one line: what the test checks, for the report."""
    doc = getattr(func, "__doc__", None) or ""
    first = doc.strip().split("\n\n")[0].replace("``", "")  # reST literals read as plain text
    return " ".join(first.split())[:500]


def merge_measures(
    runs: list[dict[str, Any]], measures: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Complete the replays' "not evaluated" checks with what tests measured (``stress_measure``).

    Measures of one scenario check are combined (failed if any failed). A run's check that the replay
    could not measure takes the combined measure; measures that complete no certified run's check are
    returned apart, as checks of their own. Returns (runs with merged checks, standalone checks).
    """
    combined: dict[tuple[str, str], dict[str, Any]] = {}
    for m in measures:
        key = (m["scenario"], m["check"])
        c = combined.setdefault(key, {**m, "measured_by": []})
        c["measured_by"].append(m["nodeid"])
        if m["status"] == "failed" and c["status"] != "failed":
            c.update(status="failed", measured=m["measured"])
    used: set[tuple[str, str]] = set()
    merged = []
    for run in runs:
        checks = []
        for chk in run["checks"]:
            key = (chk["scenario"], chk["check"])
            if chk["status"] == "not_evaluated" and key in combined:
                chk = {k: v for k, v in combined[key].items() if k != "nodeid"}
                if run.get("certified", True):
                    used.add(key)
            checks.append(chk)
        merged.append({**run, "checks": checks})
    return merged, [c for key, c in combined.items() if key not in used]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _message(report: Any) -> str:
    """The short reason of a failed or skipped report: the crash line, or the skip reason."""
    longrepr = getattr(report, "longrepr", None)
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, line, "Skipped: reason")
        return re.sub(r"^Skipped: ", "", str(longrepr[2]))
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    text = getattr(report, "longreprtext", "") or str(longrepr)
    return text.strip().splitlines()[-1] if text.strip() else ""


class CertificationSession:
    """Collects stress test outcomes and scenario runs; builds and writes the certification."""

    def __init__(
        self,
        targets: list[ReportTarget],
        options: dict[str, Any],
        cwd: Path,
        waivers: tuple[Waiver, ...] = (),
    ) -> None:
        self.targets = targets
        self.waivers = waivers
        self.options = options
        self.cwd = cwd
        self.started_at = _now()
        self.runs: list[dict[str, Any]] = []
        self.tests: dict[str, dict[str, Any]] = {}
        self.measures: list[dict[str, Any]] = []  # checks judged by tests (stress_measure), not by a replay

    @property
    def active(self) -> bool:
        return bool(self.runs or self.tests)

    def add_report(self, report: Any) -> None:
        """Feed every TestReport; only tests marked ``stress`` are recorded."""
        if "stress" not in getattr(report, "keywords", {}):
            return
        nodeid = report.nodeid
        test = self.tests.setdefault(
            nodeid, {"nodeid": nodeid, "outcome": "passed", "duration_s": 0.0, "message": ""}
        )
        test["duration_s"] = round(test["duration_s"] + float(getattr(report, "duration", 0.0)), 6)
        outcome = self._outcome(report)
        # the worst phase decides: error/failed > skipped/xfailed > passed
        rank = {"passed": 0, "xfailed": 1, "skipped": 1, "failed": 2, "error": 2}
        if rank[outcome] > rank[test["outcome"]]:
            test["outcome"] = outcome
            test["message"] = _message(report) or str(getattr(report, "wasxfail", ""))
        for key, value in getattr(report, "user_properties", ()):
            if key == RUN_PROPERTY and report.when == "teardown":
                self.runs.append({"nodeid": nodeid, **value})
            elif key == MEASURE_PROPERTY and report.when == "teardown":
                self.measures.append(dict(value))
            elif key == PROMISE_PROPERTY:
                test["promise"] = str(value)
            elif key == FAULT_PROPERTY and report.when == "teardown":
                test.setdefault("faults", []).append(dict(value))

    @staticmethod
    def _outcome(report: Any) -> str:
        if getattr(report, "wasxfail", None) is not None and report.outcome == "skipped":
            return "xfailed"
        if report.outcome == "failed":
            return "failed" if report.when == "call" else "error"
        return str(report.outcome)

    def verdict(self) -> Verdict:
        runs, measures = merge_measures(self.runs, self.measures)
        return decide(runs, list(self.tests.values()), measures, waivers=self.waivers)

    def document(self, environment: dict[str, Any]) -> dict[str, Any]:
        verdict = self.verdict()
        runs, standalone = merge_measures(self.runs, self.measures)
        # the document shows each waived check as "waived", with its waiver (certified runs only: an
        # exercised run's checks are not in the decision, so nothing there needs waiving)
        waived, standalone, _ = apply_waivers(runs, standalone, self.waivers)
        runs = [w if r.get("certified", True) else r for r, w in zip(runs, waived, strict=True)]
        argv = environment.get("argv") or []
        return {
            "schema": SCHEMA,
            "started_at": self.started_at,
            "finished_at": _now(),
            "verdict": verdict.to_dict(),
            "waivers": [w.to_dict() for w in self.waivers],
            "environment": environment,
            "runs": runs,
            "measurements": self.measures,  # as recorded, one per stress_measure call
            "measured_checks": standalone,  # measures that complete no certified run's check
            "tests": sorted(self.tests.values(), key=lambda t: t["nodeid"]),
            "reproduce": {
                "session": "python -m pytest " + shlex.join(argv[1:])
                if argv
                else "python -m pytest -m stress",
                "runs": sorted(
                    {
                        f"python -m pytest_stress run {shlex.quote(_scenario_ref(r))} "
                        f"--seed {r['seed']} --symbols {r['symbols']}"
                        for r in self.runs
                    }
                ),
            },
        }

    def write(self, environment: dict[str, Any]) -> list[Path]:
        """Write every requested report atomically; JSON first, as the record of truth."""
        if not self.targets:
            return []
        doc = self.document(environment)
        written = []
        for target in sorted(self.targets, key=lambda t: t.format != "json"):
            if target.format == "json":
                text = json.dumps(doc, indent=2, allow_nan=False, default=str)
            else:
                from pytest_stress.certify.html import render

                text = render(doc)
            written.append(write_atomic(target.path, text))
        return written
