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

from pytest_stress.certify import journal, trace
from pytest_stress.certify.atomic import write_atomic
from pytest_stress.errors import StressError
from pytest_stress.specs.waivers import Waiver
from pytest_stress.verdict import Verdict, apply_waivers, decide

RUN_PROPERTY = "pytest_stress.run"
PROMISE_PROPERTY = "pytest_stress.promise"
MEASURE_PROPERTY = "pytest_stress.measure"
FAULT_PROPERTY = "pytest_stress.fault"
TOXIPROXY_PROPERTY = "pytest_stress.toxiproxy"  # the server that served a test (fixtures.faults)
COLLECTED_PROPERTY = "pytest_stress.collected"  # a worker's collected stress tests, on its first report
SCHEMA = "pytest-trading-stress/certification/v1"
SCHEMA_VERSION = 1  # of certify/certification.schema.json; raised when a key changes meaning or goes
INTERRUPTED = 2  # pytest.ExitCode.INTERRUPTED (this module does not import pytest)
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
        self.toxiproxy: list[dict[str, Any]] = []  # one record per test a Toxiproxy server served
        # what the reproduce commands need: pytest's rootdir (test ids are relative to it) and the
        # session's stress options as given (trace.cli_options); set by the plugin
        self.rootdir: Path | None = None
        self.cli_options: dict[str, Any] = {}
        # the stress tests collected (None: not known), the session's exit status once it finished
        self.collected: dict[str, None] | None = None
        self.exit_status: int | None = None
        self._orphans: dict[str, list[Any]] = {}  # reports without keywords (an xdist crash report)
        self._ended: set[str] = set()  # tests whose last phase reported (teardown, or xdist's crash report)
        self._announced = False
        self.journal_written: Path | None = None

    @property
    def active(self) -> bool:
        return bool(self.runs or self.tests)

    def set_collected(self, nodeids: Any) -> None:
        """The stress tests this session will run (``session.items`` after selection), in order."""
        self.collected = dict.fromkeys([*(self.collected or {}), *nodeids])

    def announce_collected(self, report: Any) -> None:
        """On an xdist worker: put the worker's collected stress tests on its first report, so that the
        controller (which collects nothing itself) knows which tests a crash or an interrupt left unrun."""
        if self._announced or self.collected is None:
            return
        self._announced = True
        report.user_properties.append((COLLECTED_PROPERTY, list(self.collected)))

    def finish(self, exit_status: int | None) -> None:
        """The session ended with ``exit_status`` (pytest's ExitCode; INTERRUPTED after Ctrl-C)."""
        self.exit_status = None if exit_status is None else int(exit_status)

    @property
    def interrupted(self) -> bool:
        return self.exit_status == INTERRUPTED

    def add_report(self, report: Any) -> None:
        """Feed every TestReport; only stress tests are recorded: marked ``stress``, or collected as one."""
        nodeid = report.nodeid
        props = list(getattr(report, "user_properties", ()))
        for key, value in props:
            if key == COLLECTED_PROPERTY:
                self.set_collected(value)
        keywords = getattr(report, "keywords", None) or {}
        if "stress" not in keywords and nodeid not in self.tests and nodeid not in (self.collected or {}):
            if not keywords:  # xdist's report of a test whose worker crashed has no keywords: decide later
                self._orphans.setdefault(nodeid, []).append(report)
            return
        test = self.tests.setdefault(
            nodeid, {"nodeid": nodeid, "outcome": "passed", "duration_s": 0.0, "message": ""}
        )
        test["duration_s"] = round(test["duration_s"] + float(getattr(report, "duration", 0.0) or 0.0), 6)
        if report.when not in ("setup", "call"):
            self._ended.add(nodeid)
        outcome = self._outcome(report)
        # the worst phase decides: error/failed > skipped/xfailed > passed
        rank = {"passed": 0, "xfailed": 1, "skipped": 1, "failed": 2, "error": 2}
        if rank.get(outcome, 2) > rank.get(test["outcome"], 2):
            test["outcome"] = outcome
            test["message"] = _message(report) or str(getattr(report, "wasxfail", ""))
        for key, value in props:
            if key == RUN_PROPERTY and report.when == "teardown":
                self.runs.append({"nodeid": nodeid, **value})
            elif key == MEASURE_PROPERTY and report.when == "teardown":
                self.measures.append(dict(value))
            elif key == PROMISE_PROPERTY:
                test["promise"] = str(value)
            elif key == FAULT_PROPERTY and report.when == "teardown":
                test.setdefault("faults", []).append(dict(value))
            elif key == TOXIPROXY_PROPERTY and report.when == "teardown":
                self.toxiproxy.append(dict(value))

    @staticmethod
    def _outcome(report: Any) -> str:
        if getattr(report, "wasxfail", None) is not None and report.outcome == "skipped":
            return "xfailed"
        if report.outcome == "failed":
            return "failed" if report.when == "call" else "error"
        return str(report.outcome)

    def _adopt_orphans(self) -> None:
        for nodeid in [n for n in self._orphans if n in (self.collected or {})]:
            for report in self._orphans.pop(nodeid):
                self.add_report(report)

    def _cut_short(self, test: dict[str, Any]) -> bool:
        """A test that started but never reported its last phase, and had not failed by then: interrupted
        while it ran (Ctrl-C in its call), so it has no result."""
        return test["nodeid"] not in self._ended and test["outcome"] in ("passed", "skipped", "xfailed")

    def not_run(self) -> list[str]:
        """Collected stress tests without a result: the session was interrupted (before or while they ran),
        stopped early (-x, --maxfail) or lost the worker that was to run them."""
        self._adopt_orphans()
        started = [n for n, t in self.tests.items() if self._cut_short(t)]
        return [*started, *(n for n in self.collected or {} if n not in self.tests)]

    def test_records(self) -> list[dict[str, Any]]:
        """Every stress test: the recorded ones (crash reports of collected tests included), and a
        ``not_run`` record for each collected test without a result."""
        self._adopt_orphans()
        why = "the session was interrupted" if self.interrupted else "the session ended"
        records = []
        for t in self.tests.values():
            if self._cut_short(t):
                t = {**t, "outcome": "not_run", "message": f"not run to the end: {why} while it ran"}
            records.append(t)
        records += [
            {"nodeid": n, "outcome": "not_run", "duration_s": 0.0, "message": f"not run: {why} before it ran"}
            for n in self.collected or {}
            if n not in self.tests
        ]
        return records

    def verdict(self) -> Verdict:
        runs, measures = merge_measures(self.runs, self.measures)
        return decide(runs, self.test_records(), measures, waivers=self.waivers)

    def _rerun(self, nodeid: str, seed: int | None) -> str:
        node = trace.node_arg(nodeid, self.rootdir, self.cwd)
        return trace.pytest_command(nodeid, seed, self.cli_options, node)

    def _reproduce(
        self, runs: list[dict[str, Any]], standalone: list[dict[str, Any]], tests: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """Copies of runs, measured checks and tests with a ``reproduce`` command on each failure (failed
        check, failed or errored test; a test that did not run too), and the list of those failures."""
        seed_of: dict[str, int] = {}
        for r in self.runs:
            seed_of.setdefault(r["nodeid"], r["seed"])
        override = self.options.get("seed_override")
        failing = {}
        for m in self.measures:
            if m["status"] == "failed":
                failing.setdefault((m["scenario"], m["check"]), m["nodeid"])

        def command(nodeid: str) -> str:
            return self._rerun(nodeid, seed_of.get(nodeid, override))

        failures: list[dict[str, Any]] = []

        def check_copy(chk: dict[str, Any], run: dict[str, Any] | None, counts: bool) -> dict[str, Any]:
            if chk["status"] != "failed":
                return chk
            by = failing.get((chk["scenario"], chk["check"])) if "measured_by" in chk else None
            nodeid = by or (run["nodeid"] if run is not None else chk.get("nodeid", ""))
            chk = {**chk, "reproduce": command(nodeid)}
            entry = {
                "kind": "check",
                "nodeid": nodeid,
                "scenario": chk["scenario"],
                "check": chk["check"],
                "command": chk["reproduce"],
            }
            if run is not None and by is None:
                chk["reproduce_replay"] = entry["replay"] = trace.replay_command(_scenario_ref(run), run)
            if counts:
                failures.append(entry)
            return chk

        out_runs = []
        for r in runs:
            certified = r.get("certified", True)
            out_runs.append({**r, "checks": [check_copy(c, r, certified) for c in r["checks"]]})
        out_standalone = [check_copy(c, None, True) for c in standalone]
        out_tests = []
        for t in tests:
            t = dict(t)
            if t.get("faults"):
                t["faults"] = trace.applied_faults(t["faults"])
            if t["outcome"] in ("failed", "error", "not_run"):
                t["reproduce"] = command(t["nodeid"])
                if t["outcome"] != "not_run":
                    failures.append({"kind": "test", "nodeid": t["nodeid"], "command": t["reproduce"]})
            out_tests.append(t)
        return out_runs, out_standalone, out_tests, failures

    def document(self, environment: dict[str, Any]) -> dict[str, Any]:
        tests = sorted(self.test_records(), key=lambda t: t["nodeid"])
        runs, standalone = merge_measures(self.runs, self.measures)
        verdict = decide(runs, tests, standalone, waivers=self.waivers)
        # the document shows each waived check as "waived", with its waiver (certified runs only: an
        # exercised run's checks are not in the decision, so nothing there needs waiving)
        waived, standalone, _ = apply_waivers(runs, standalone, self.waivers)
        runs = [w if r.get("certified", True) else r for r, w in zip(runs, waived, strict=True)]
        runs.sort(key=lambda r: r["nodeid"])  # the same document whatever order workers finished in
        hashes: dict[str, str | None] = {}
        for r in runs:  # a run recorded by an older fixture carries no hash: take it now
            if "source_sha256" not in r:
                src = str(r.get("source") or "")
                r["source_sha256"] = hashes.setdefault(src, trace.file_sha256(src) if src else None)
        runs, standalone, tests, failures = self._reproduce(runs, standalone, tests)
        argv = environment.get("argv") or []
        faults = [f for t in tests for f in t.get("faults", ())]
        not_run = [t["nodeid"] for t in tests if t["outcome"] == "not_run"]
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "started_at": self.started_at,
            "finished_at": _now(),
            "verdict": verdict.to_dict(),
            "waivers": [w.to_dict() for w in self.waivers],
            "session": {
                "exit_status": self.exit_status,
                "interrupted": self.interrupted,
                "collected": None if self.collected is None else len(self.collected),
                "not_run": not_run,
            },
            "environment": {**environment, "toxiproxy_servers": trace.toxiproxy_servers(self.toxiproxy)},
            "runs": runs,
            "measurements": self.measures,  # as recorded, one per stress_measure call
            "measured_checks": standalone,  # measures that complete no certified run's check
            "tests": tests,
            "traceability": {
                "scenario_files": trace.scenario_files(runs),
                "datasets": trace.datasets(runs),
                "time_scale": trace.time_scale(self.options, self.cli_options, faults),
            },
            "reproduce": {
                "session": "python -m pytest " + shlex.join(argv[1:])
                if argv
                else "python -m pytest -m stress",
                "runs": sorted({trace.replay_command(_scenario_ref(r), r) for r in self.runs}),
                "failures": failures,
            },
        }

    def journal_path(self) -> Path | None:
        """``journal.md`` beside the JSON report (else beside the first report); None without reports."""
        if not self.targets:
            return None
        target = next((t for t in self.targets if t.format == "json"), self.targets[0])
        return target.path.parent / journal.JOURNAL_NAME

    def write(self, environment: dict[str, Any]) -> list[Path]:
        """Write every requested report atomically, JSON first as the record of truth, then append the
        session's entry to the journal."""
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
        entry = journal.entry(doc, [_relative(p, self.cwd) for p in written])
        self.journal_written = journal.append(self.journal_path() or self.cwd / journal.JOURNAL_NAME, entry)
        return written


def _relative(path: Path, base: Path) -> Path:
    try:
        return Path(path).relative_to(base)
    except ValueError:
        return Path(path)
