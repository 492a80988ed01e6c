"""The go/no-go decision: one function for the certification report, ``run``, ``batch`` and every other caller.

- **NO-GO**: a check failed, a certified run fired its kill switch, a stress test failed or errored, or a
  scenario could not run.
- **INCOMPLETE**: nothing failed, but a required check was not evaluated, a stress test did not run (an
  interrupted session), or nothing was certified at all.
- **GO**: at least one check was certified, every required check of every certified run was evaluated and
  held, and no stress test failed.

A check that was not run is not a pass (seed 004's validators: ``all(checks.values())``). Skipped stress tests
do not decide anything; they are listed as caveats so a reviewer sees what the verdict does not cover. A
risk officer's waiver (``specs.waivers``: a named check, a reason, an expiry date) takes a failed or not
evaluated check out of the decision until it expires; the verdict lists every waiver it used, and every
waiver that expired or matched no check.
Records are plain data (``ScenarioResult.verdict_record()``, ``to_dict()``, pytest's reports), so this module
sits low in the house and imports nothing of the run or of pytest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_stress.specs.waivers import Waiver

GO, NO_GO, INCOMPLETE = "GO", "NO-GO", "INCOMPLETE"
DECISIONS = (GO, NO_GO, INCOMPLETE)
# the process exit code of each decision, everywhere (2 is kept for bad input or usage)
EXIT_CODES = {GO: 0, NO_GO: 1, INCOMPLETE: 3}


@dataclass(frozen=True)
class Verdict:
    """``reasons``: one line per failure (NO-GO), per missing measurement (INCOMPLETE), or the summary (GO);
    ``caveats``: what the verdict does not cover without deciding it (skipped tests, and under NO-GO the
    checks that were not evaluated as well)."""

    decision: str
    reasons: tuple[str, ...]
    caveats: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    waived: tuple[str, ...] = ()  # one line per check a waiver took out of the decision

    @property
    def go(self) -> bool:
        return self.decision == GO

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.decision]

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "caveats": list(self.caveats),
            "counts": dict(self.counts),
            "waived": list(self.waived),
        }


def decide(
    runs: Sequence[Mapping[str, Any]],
    tests: Sequence[Mapping[str, Any]] = (),
    measures: Sequence[Mapping[str, Any]] = (),
    errors: Sequence[Mapping[str, Any]] = (),
    waivers: Sequence[Waiver] = (),
    today: dt.date | None = None,
) -> Verdict:
    """The decision over everything a session or a batch recorded.

    ``runs``: scenario runs (``scenario``, ``checks``, ``kill_switch_triggered``, ``kill_switch_tick``,
    ``tick_ms``; ``certified`` false leaves a run out); ``tests``: stress test outcomes (``nodeid``,
    ``outcome``, ``message``); ``measures``: checks judged by tests against a scenario's ``expect:`` that
    complete no run's check; ``errors``: scenarios that could not run (``scenario``, ``error_type``,
    ``message``); ``waivers``: the session's waivers, in force until their ``until`` date (``today``: the
    date to judge expiry by, the current UTC date by default).

    Only certified runs count: a test that replays an over-leveraged book to see the kill switch fire is
    exercising the safety net, not certifying a book.
    """
    runs = [r for r in runs if r.get("certified", True)]
    runs, measures, waiver_notes = apply_waivers(runs, measures, waivers, today)
    checks = [(r["scenario"], c) for r in runs for c in r["checks"]]
    checks += [(m["scenario"], m) for m in measures]
    waived = [(s, c) for s, c in checks if c["status"] == "waived"]
    failed = [(s, c) for s, c in checks if c["status"] == "failed"]
    passed = [c for _, c in checks if c["status"] == "passed"]
    unevaluated = [(s, c) for s, c in checks if c["status"] == "not_evaluated"]
    bad_tests = [t for t in tests if t["outcome"] in ("failed", "error")]
    skipped = [t for t in tests if t["outcome"] == "skipped"]
    ok_tests = [t for t in tests if t["outcome"] == "passed"]
    not_run = [t for t in tests if t["outcome"] == "not_run"]
    kills = [r for r in runs if r["kill_switch_triggered"]]
    counts = {
        "checks_passed": len(passed),
        "checks_failed": len(failed),
        "checks_not_evaluated": len(unevaluated),
        "runs": len(runs),
        "kill_switches": len(kills),
        "tests_passed": len(ok_tests),
        "tests_failed": len(bad_tests),
        "tests_skipped": len(skipped),
        "scenarios_errored": len(errors),
        "checks_waived": len(waived),
        "tests_not_run": len(not_run),
    }

    failures = [
        f"{s}: {c['check']} measured {_fmt(c['measured'], c['unit'])} breaches {c['threshold']}"
        for s, c in failed
    ]
    failures += [f"{r['scenario']}: KILL_SWITCH fired{_when(r)}" for r in kills]
    failures += [f"{t['nodeid']} {t['outcome']}" + _first_line(t.get("message"), ": ") for t in bad_tests]
    failures += [
        f"{e['scenario']} could not run: {e['error_type']}" + _first_line(e.get("message"), ": ")
        for e in errors
    ]
    missing = [
        f"{s}: {c['check']} not evaluated ({c.get('detail') or 'not measured'}); required {c['threshold']}"
        for s, c in unevaluated
    ]
    if not_run:
        missing.append(
            f"{_n(len(not_run), 'stress test')} did not run (the session ended early): "
            + ", ".join(t["nodeid"] for t in not_run[:5])
            + (", ..." if len(not_run) > 5 else "")
        )
    caveats = [f"{t['nodeid']} skipped" + _first_line(t.get("message"), ": ") for t in skipped]
    caveats += waiver_notes
    used = tuple(_waived_line(s, c) for s, c in waived)

    if failures:
        return Verdict(NO_GO, _unique(failures), _unique(missing + caveats), counts, used)
    if missing:
        return Verdict(INCOMPLETE, _unique(missing), _unique(caveats), counts, used)
    if not passed:
        why = "nothing was certified: no scenario check was evaluated"
        if not runs and not measures:
            why += (
                f" ({_n(len(ok_tests), 'stress test')} passed, but no test called certify() on a run"
                " or measured a scenario's check)"
            )
        return Verdict(INCOMPLETE, (why,), _unique(caveats), counts, used)
    summary = (
        f"{_n(len(passed), 'check')} passed across {_n(len(runs), 'scenario run')}; "
        f"{_n(len(ok_tests), 'stress test')} passed"
    )
    if waived:
        summary += f"; {_n(len(waived), 'check')} waived"
    return Verdict(GO, (summary,), _unique(caveats), counts, used)


def apply_waivers(
    runs: Sequence[Mapping[str, Any]],
    measures: Sequence[Mapping[str, Any]],
    waivers: Sequence[Waiver],
    today: dt.date | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Runs and measured checks with each waived check's status set to "waived" (its own status kept as
    ``waived_status``, the waiver under ``waiver``), and one note per waiver that expired or matched no
    failed or not-evaluated check. A passed check is never waived: it stays evidence."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    by_check = {w.check: w for w in waivers}
    matched: set[str] = set()

    def waive(scenario: str, c: Mapping[str, Any]) -> dict[str, Any]:
        w = by_check.get(f"{scenario}.{c['check']}")
        if w is None or c["status"] not in ("failed", "not_evaluated"):
            return dict(c)
        matched.add(w.check)
        if not w.active(today):
            return dict(c)
        return {**c, "status": "waived", "waived_status": c["status"], "waiver": w.to_dict()}

    out_runs = [{**r, "checks": [waive(r["scenario"], c) for c in r["checks"]]} for r in runs]
    out_measures = [waive(m["scenario"], m) for m in measures]
    notes = [
        f"waiver for {w.check} expired on {w.until.isoformat()} ({w.source}); the check counts again"
        for w in waivers
        if not w.active(today)
    ]
    notes += [
        f"waiver for {w.check} ({w.source}) matched no failed or unevaluated check of this session"
        for w in waivers
        if w.active(today) and w.check not in matched
    ]
    return out_runs, out_measures, notes


def _waived_line(scenario: str, c: Mapping[str, Any]) -> str:
    w = c["waiver"]
    was = (
        "not evaluated"
        if c.get("waived_status") == "not_evaluated"
        else (f"failed: measured {_fmt(c['measured'], c['unit'])}")
    )
    by = f", approved by {w['approved_by']}" if w.get("approved_by") else ""
    return (
        f"{scenario}: {c['check']} waived until {w['until']} ({was}; required {c['threshold']}): "
        f"{w['reason']}{by}"
    )


def _when(run: Mapping[str, Any]) -> str:
    tick, tick_ms = run.get("kill_switch_tick"), run.get("tick_ms")
    if tick is None:
        return ""
    return f" at {tick * tick_ms / 1000:g} s (tick {tick})" if tick_ms else f" at tick {tick}"


def record_of(result: Any) -> dict[str, Any]:
    """The verdict's view of one scenario result: its own ``verdict_record()``, else read off the attributes
    any result type has (scenario, checks with a status or ``passed``, the kill switch)."""
    own = getattr(result, "verdict_record", None)
    if callable(own):
        return own()
    checks = []
    for c in getattr(result, "checks", ()) or ():
        status = getattr(c, "status", None)
        status = getattr(status, "value", status) or ("passed" if getattr(c, "passed", False) else "failed")
        checks.append(
            {
                "check": getattr(c, "name", "check"),
                "status": status,
                "measured": getattr(c, "measured", None),
                "unit": getattr(c, "unit", ""),
                "threshold": getattr(c, "threshold", ""),
                "detail": getattr(c, "detail", ""),
            }
        )
    return {
        "scenario": getattr(result, "scenario", "?"),
        "checks": checks,
        "kill_switch_triggered": bool(getattr(result, "kill_switch_triggered", False)),
        "kill_switch_tick": getattr(result, "kill_switch_tick", None),
        "tick_ms": getattr(result, "tick_ms", None),
    }


def decide_result(result: Any, waivers: Sequence[Waiver] = ()) -> Verdict:
    """The verdict of one scenario run, certified: what ``run`` prints and a batch reports per scenario."""
    return decide([record_of(result)], waivers=waivers)


def _unique(lines: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(lines))


def _first_line(text: str | None, prefix: str) -> str:
    lines = (text or "").strip().splitlines()
    return f"{prefix}{lines[0][:200]}" if lines else ""


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _fmt(value: Any, unit: str) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:.4g}{unit}"
    return f"{value}{unit}"
