"""The go/no-go decision over everything a stress session recorded.

NO-GO when any check failed, any stress test failed or errored, or nothing at all was certified.
Checks that were not evaluated and skipped stress tests never count as passed: they are listed as
caveats under a GO, so a reviewer sees what the verdict does not cover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

GO, NO_GO = "GO", "NO-GO"


@dataclass(frozen=True)
class Verdict:
    decision: str
    reasons: tuple[str, ...]
    caveats: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def go(self) -> bool:
        return self.decision == GO

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "caveats": list(self.caveats),
            "counts": dict(self.counts),
        }


def decide(
    runs: Sequence[Mapping[str, Any]],
    tests: Sequence[Mapping[str, Any]],
    measures: Sequence[Mapping[str, Any]] = (),
) -> Verdict:
    """``runs``: ScenarioResult.to_dict() records (with "nodeid", "certified"); ``tests``: stress test outcomes;
    ``measures``: checks judged by tests against a scenario's ``expect:`` that complete no run's check.

    Only certified runs (the test called ``certify()``) count: a test that replays an over-leveraged book
    to check that the kill switch fires is exercising the safety net, not certifying a book.
    """
    runs = [r for r in runs if r.get("certified", True)]
    checks = [(r, c) for r in runs for c in r["checks"]]
    checks += [({"scenario": m["scenario"]}, m) for m in measures]
    failed = [(r, c) for r, c in checks if c["status"] == "failed"]
    passed = [c for _, c in checks if c["status"] == "passed"]
    unevaluated = [(r, c) for r, c in checks if c["status"] == "not_evaluated"]
    bad_tests = [t for t in tests if t["outcome"] in ("failed", "error")]
    skipped = [t for t in tests if t["outcome"] == "skipped"]
    ok_tests = [t for t in tests if t["outcome"] == "passed"]
    counts = {
        "checks_passed": len(passed),
        "checks_failed": len(failed),
        "checks_not_evaluated": len(unevaluated),
        "runs": len(runs),
        "kill_switches": sum(1 for r in runs if r["kill_switch_triggered"]),
        "tests_passed": len(ok_tests),
        "tests_failed": len(bad_tests),
        "tests_skipped": len(skipped),
    }

    reasons: list[str] = []
    for r, c in failed:
        reasons.append(
            f"{r['scenario']}: {c['check']} measured {_fmt(c['measured'], c['unit'])} "
            f"breaches {c['threshold']}"
        )
    for r in runs:
        if r["kill_switch_triggered"]:
            reasons.append(
                f"{r['scenario']}: KILL_SWITCH fired at {r['kill_switch_tick'] * r['tick_ms'] / 1000:g} s "
                f"(tick {r['kill_switch_tick']})"
            )
    for t in bad_tests:
        first = (t.get("message") or "").strip().splitlines()
        reasons.append(f"{t['nodeid']} {t['outcome']}" + (f": {first[0][:200]}" if first else ""))
    caveats = [f"{r['scenario']}: {c['check']} not evaluated ({c['detail']})" for r, c in unevaluated]
    caveats += [
        f"{t['nodeid']} skipped" + (f": {t['message'].strip()[:200]}" if t.get("message") else "")
        for t in skipped
    ]

    if reasons:
        return Verdict(NO_GO, tuple(dict.fromkeys(reasons)), tuple(caveats), counts)
    if not passed and not ok_tests:
        return Verdict(
            NO_GO,
            ("nothing was certified: no stress check passed and no stress test ran",),
            tuple(caveats),
            counts,
        )
    summary = (
        f"{_n(len(passed), 'check')} passed across {_n(len(runs), 'scenario run')}; "
        f"{_n(len(ok_tests), 'stress test')} passed"
    )
    return Verdict(GO, (summary,), tuple(caveats), counts)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _fmt(value: Any, unit: str) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:.4g}{unit}"
    return f"{value}{unit}"
