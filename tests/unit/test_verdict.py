"""One decision for every caller: GO only for what was measured (DESIGN: "A verdict is GO only when
everything it claims was measured"), NO-GO on any failure, INCOMPLETE when a required check was not run."""

from __future__ import annotations

import pytest

from pytest_stress.run import run_scenario
from pytest_stress.run.summary import verdict as batch_verdict
from pytest_stress.scenario import load_scenario
from pytest_stress.verdict import EXIT_CODES, GO, INCOMPLETE, NO_GO, decide, decide_result


def _check(name: str, status: str, measured=1.0) -> dict:
    return {"check": name, "status": status, "measured": measured, "unit": "%", "threshold": "<= 5%",
            "detail": "needs the Python stack" if status == "not_evaluated" else ""}  # fmt: skip


def _run(*checks: dict, kill: bool = False, certified: bool = True) -> dict:
    return {"scenario": "s", "checks": list(checks), "kill_switch_triggered": kill,
            "kill_switch_tick": 3 if kill else None, "tick_ms": 100, "certified": certified}  # fmt: skip


def test_every_evaluated_check_passing_is_go():
    v = decide([_run(_check("a", "passed"), _check("b", "passed"))], [{"nodeid": "t", "outcome": "passed"}])
    assert (v.decision, v.exit_code) == (GO, 0)
    assert v.reasons == ("2 checks passed across 1 scenario run; 1 stress test passed",)


def test_a_check_that_was_not_run_is_not_a_pass():
    v = decide([_run(_check("a", "passed"), _check("b", "not_evaluated"))])
    assert (v.decision, v.exit_code) == (INCOMPLETE, 3)
    assert v.reasons == ("s: b not evaluated (needs the Python stack); required <= 5%",)


def test_a_failure_outranks_what_was_not_evaluated_which_stays_listed():
    v = decide([_run(_check("a", "failed", 6.5), _check("b", "not_evaluated"))])
    assert (v.decision, v.exit_code) == (NO_GO, 1)
    assert v.reasons == ("s: a measured 6.5% breaches <= 5%",)
    assert v.caveats == ("s: b not evaluated (needs the Python stack); required <= 5%",)


@pytest.mark.parametrize(
    ("runs", "tests", "errors", "reason"),
    [
        ([_run(_check("a", "passed"), kill=True)], [], [], "s: KILL_SWITCH fired at 0.3 s (tick 3)"),
        ([], [{"nodeid": "t::x", "outcome": "failed", "message": "boom\nmore"}], [], "t::x failed: boom"),
        ([], [], [{"scenario": "x.yaml", "error_type": "ScenarioError", "message": "x.yaml:3: bad"}],
         "x.yaml could not run: ScenarioError: x.yaml:3: bad"),
    ],
)  # fmt: skip
def test_each_kind_of_failure_is_no_go_with_its_reason(runs, tests, errors, reason):
    v = decide(runs, tests, errors=errors)
    assert v.decision == NO_GO
    assert reason in v.reasons


def test_a_session_that_certified_nothing_is_incomplete_not_go():
    """The README's promise: a stress test that asserts nothing, or a run never certified, is no GO."""
    v = decide(
        [_run(_check("a", "failed"), kill=True, certified=False)], [{"nodeid": "t", "outcome": "passed"}]
    )
    assert v.decision == INCOMPLETE
    assert v.reasons[0].startswith("nothing was certified")
    assert decide([], []).decision == INCOMPLETE


def test_skipped_tests_are_caveats_and_do_not_decide():
    v = decide(
        [_run(_check("a", "passed"))], [{"nodeid": "t", "outcome": "skipped", "message": "no chromium"}]
    )
    assert v.decision == GO
    assert v.caveats == ("t skipped: no chromium",)


def test_exit_codes_are_the_command_lines():
    assert EXIT_CODES == {GO: 0, NO_GO: 1, INCOMPLETE: 3}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("flash_crash_lite", GO), ("broker_api_outage", INCOMPLETE), ("volatility_spike", NO_GO)],
)
def test_a_run_a_batch_row_and_a_session_record_get_the_same_verdict(name, expected):
    """The disagreement this replaced: batch --all called broker_api_outage NO-GO and the suite GO."""
    res = run_scenario(load_scenario(name), symbols=None if name != "flash_crash_lite" else 10)
    assert res.verdict.decision == expected
    assert decide_result(res).decision == expected
    assert batch_verdict(res) == expected
    assert decide([{**res.to_dict(), "certified": True}]).decision == expected
    assert res.to_dict()["verdict"] == expected


def test_a_report_is_written_readable_by_the_review_and_never_half(tmp_path):
    import os
    import stat

    from pytest_stress.certify.atomic import write_atomic

    path = write_atomic(tmp_path / "r" / "certification.json", "{}")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert path.read_text() == "{}"
    assert [p.name for p in path.parent.iterdir()] == ["certification.json"]  # no temp file left


def test_a_session_cut_short_is_never_go_even_when_all_that_ran_passed():
    v = decide(
        [_run(_check("a", "passed"))],
        [{"nodeid": "t::ran", "outcome": "passed"}, {"nodeid": "t::later", "outcome": "not_run"}],
    )
    assert v.decision == INCOMPLETE
    assert v.reasons == ("1 stress test did not run (the session ended early): t::later",)
    assert v.counts["tests_not_run"] == 1
