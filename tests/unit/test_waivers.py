"""Waivers: a named check, a stated reason, an expiry date; a waived check leaves the verdict until then and
the verdict says so; nothing about a waiver is guessed (DESIGN: "unless a named waiver with a reason says
otherwise, and the report shows the waiver")."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from pytest_stress.cli import main
from pytest_stress.errors import ScenarioError
from pytest_stress.specs.waivers import Waiver, load_waivers
from pytest_stress.verdict import GO, INCOMPLETE, NO_GO, decide

TODAY = dt.date(2026, 12, 8)


def _write(tmp_path, text: str):
    path = tmp_path / "waivers.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _run(status: str, check: str = "cvar_alert_raised") -> dict:
    checks = [
        {"check": "max_drawdown_pct", "status": "passed", "measured": 2.0, "unit": "%", "threshold": "<= 5%"},
        {"check": check, "status": status, "measured": None if status == "not_evaluated" else False,
         "unit": "", "threshold": "== true", "detail": "needs the heat-check"},
    ]  # fmt: skip
    return {"scenario": "covid_fx_2020", "checks": checks, "kill_switch_triggered": False}


def test_a_waivers_file_loads_with_its_line_for_the_report(tmp_path):
    path = _write(
        tmp_path,
        """\
        waivers:
          - check: covid_fx_2020.cvar_alert_raised
            reason: the heat-check alert is wired in the next release
            until: 2027-03-31
            approved_by: J. Doe, CRO
    """,
    )
    (w,) = load_waivers(path)
    assert (w.check, w.until, w.approved_by) == (
        "covid_fx_2020.cvar_alert_raised",
        dt.date(2027, 3, 31),
        "J. Doe, CRO",
    )
    assert w.source == f"{path}:2"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("check: covid_fx_2020.cvar_alert_raised\n    reason: x\n    until: 31/03/2027",
         ":4: waivers[0].until: expected a date as YYYY-MM-DD (an ISO date, never day/month), got '31/03/2027'"),
        ("check: covid_fx_2020.cvar_alert_raised\n    reason: x\n    until: 2027-02-30", ":4:"),
        ("check: covid_fx_2020.cvar_alert_raised\n    until: 2027-03-31", "waivers[0]: missing required key 'reason'"),
        ("check: covid_fx_2020.cvar_alert_raised\n    reason: '  '\n    until: 2027-03-31", "waivers[0].reason"),
        ("check: covid_fx_2020.cvar_alert_raise\n    reason: x\n    until: 2027-03-31",
         "unknown metric 'cvar_alert_raise'"),
        ("check: cvar_alert_raised\n    reason: x\n    until: 2027-03-31", "expected SCENARIO.METRIC"),
        ("check: a.max_drawdown_pct\n    reason: x\n    until: 2027-03-31\n    signed: yes", "signed"),
    ],
)  # fmt: skip
def test_a_bad_waiver_is_refused_naming_file_line_and_key(tmp_path, entry, message):
    path = _write(tmp_path, "waivers:\n  - " + entry + "\n")
    with pytest.raises(ScenarioError) as info:
        load_waivers(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_the_same_check_waived_twice_is_an_error(tmp_path):
    entry = "  - {check: a.max_drawdown_pct, reason: x, until: 2027-01-01}\n"
    with pytest.raises(ScenarioError, match="waived twice"):
        load_waivers(_write(tmp_path, "waivers:\n" + entry + entry))


def test_a_waiver_takes_an_unevaluated_check_out_of_the_decision_and_says_so():
    w = Waiver("covid_fx_2020", "cvar_alert_raised", "wired next release", dt.date(2027, 3, 31), "J. Doe")
    assert decide([_run("not_evaluated")], today=TODAY).decision == INCOMPLETE
    v = decide([_run("not_evaluated")], waivers=[w], today=TODAY)
    assert v.decision == GO
    assert v.counts["checks_waived"] == 1
    assert v.waived == (
        "covid_fx_2020: cvar_alert_raised waived until 2027-03-31 (not evaluated; required == true): "
        "wired next release, approved by J. Doe",
    )
    assert v.reasons == ("1 check passed across 1 scenario run; 0 stress tests passed; 1 check waived",)


def test_a_failed_check_can_be_waived_and_the_line_keeps_what_was_measured():
    w = Waiver("covid_fx_2020", "cvar_alert_raised", "known gap", dt.date(2027, 3, 31))
    assert decide([_run("failed")], today=TODAY).decision == NO_GO
    v = decide([_run("failed")], waivers=[w], today=TODAY)
    assert v.decision == GO
    assert "(failed: measured false; required == true)" in v.waived[0]


def test_an_expired_waiver_no_longer_counts_and_is_listed():
    w = Waiver("covid_fx_2020", "cvar_alert_raised", "r", dt.date(2026, 12, 7), source="w.yaml:2")
    v = decide([_run("not_evaluated")], waivers=[w], today=TODAY)
    assert v.decision == INCOMPLETE
    assert (
        "waiver for covid_fx_2020.cvar_alert_raised expired on 2026-12-07 (w.yaml:2); the check counts again"
        in (v.caveats)
    )
    assert decide([_run("not_evaluated")], waivers=[w], today=dt.date(2026, 12, 7)).decision == GO  # last day


def test_a_waiver_that_matches_nothing_is_reported_not_ignored():
    w = Waiver("covid_fx_2020", "max_drawdown_pct", "r", dt.date(2027, 1, 1), source="w.yaml:2")
    v = decide([_run("not_evaluated")], waivers=[w], today=TODAY)  # max_drawdown_pct passed: evidence stays
    assert v.decision == INCOMPLETE
    assert any("matched no failed or unevaluated check" in c for c in v.caveats)


def test_the_command_line_honours_a_waivers_file(tmp_path, capsys):
    assert main(["run", "covid_fx_2020"]) == 3
    path = _write(
        tmp_path,
        """\
        waivers:
          - {check: covid_fx_2020.cvar_alert_raised, reason: heat-check alert comes next release, until: 2099-12-31}
    """,
    )
    capsys.readouterr()
    assert main(["run", "covid_fx_2020", "--waivers", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  covid_fx_2020: cvar_alert_raised waived until 2099-12-31 (not evaluated" in out
    assert out.splitlines()[-1] == "verdict: GO"


def test_the_command_line_refuses_a_bad_waivers_file_with_exit_2(tmp_path, capsys):
    path = _write(
        tmp_path, "waivers:\n  - {check: covid_fx_2020.cvar_alert_raised, reason: r, until: 03/04/27}\n"
    )
    assert main(["run", "covid_fx_2020", "--waivers", str(path)]) == 2
    err = capsys.readouterr().err
    assert "invalid waivers file (1 problem)" in err
    assert f"{path}:2: waivers[0].until" in err
