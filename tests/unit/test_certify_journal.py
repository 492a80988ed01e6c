"""The certification journal (one entry appended per session, nothing earlier ever lost) and the atomic
report write that keeps the last good report when a session dies while writing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_stress.certify import journal
from pytest_stress.certify.atomic import write_atomic
from pytest_stress.errors import ReportError


def _check(name, status, measured, threshold="<= 5%", unit="%", detail=""):
    return {"scenario": "flash_crash_lite", "check": name, "threshold": threshold, "measured": measured,
            "unit": unit, "status": status, "detail": detail}  # fmt: skip


def _doc(decision="NO-GO", runs=(), tests=(), measured=(), not_run=(), finished="2025-01-02T03:04:05+00:00"):
    return {
        "started_at": "2025-01-02T03:00:00+00:00",
        "finished_at": finished,
        "verdict": {
            "decision": decision,
            "reasons": ["3 checks passed across 1 scenario run; 1 stress test passed"],
            "caveats": [],
            "counts": {"checks_passed": 3, "checks_failed": 1, "tests_failed": 1},
        },
        "session": {"exit_status": 1, "interrupted": False, "collected": 3, "not_run": list(not_run)},
        "environment": {
            "git_sha": "abc123",
            "git_dirty": True,
            "package": "pytest-trading-stress",
            "version": "0.1.0",
            "profile": "ci",
        },
        "runs": list(runs),
        "measured_checks": list(measured),
        "tests": list(tests),
        "reproduce": {"session": "python -m pytest -m stress", "runs": [], "failures": []},
    }


def test_an_entry_lists_every_deviation_with_threshold_and_measured_value():
    run = {
        "scenario": "flash_crash_lite",
        "nodeid": "t.py::test_run",
        "certified": True,
        "kill_switch_triggered": True,
        "kill_switch_tick": 120,
        "checks": [
            _check("max_drawdown_pct", "failed", 7.25),
            _check("var_multiple", "passed", 1.0, "<= 3x", "x"),
            _check("failed_strategies", "not_evaluated", None, "<= 0", "", "needs the Python stack"),
            _check("position_delta_pct", "waived", 12.0, "<= 10%"),
        ],
    }
    failed = {**_check("oms_retries_per_order", "failed", 1, ">= 3", ""), "measured_by": ["t.py::m"]}
    failed["reproduce"] = "python -m pytest t.py::m -p no:randomly"
    tests = [
        {"nodeid": "t.py::test_run", "outcome": "passed", "message": ""},
        {
            "nodeid": "t.py::test_bad",
            "outcome": "failed",
            "message": "assert 1 == 2\nmore",
            "reproduce": "python -m pytest t.py::test_bad -p no:randomly",
        },
        {
            "nodeid": "t.py::test_late",
            "outcome": "not_run",
            "message": "not run: the session ended before it ran",
        },
    ]
    text = journal.entry(_doc(runs=[run], tests=tests, measured=[failed], not_run=["t.py::test_late"]))
    lines = text.splitlines()
    assert lines[0] == "## 2025-01-02T03:04:05+00:00 NO-GO"
    assert "- revision: abc123 (with uncommitted changes); pytest-trading-stress 0.1.0; profile ci" in lines
    assert "- counts: checks_passed 3, checks_failed 1, tests_failed 1, tests_not_run 1" in lines
    expected = [
        "- check failed: flash_crash_lite `max_drawdown_pct`: threshold <= 5%, measured 7.25% (by `t.py::test_run`)",
        "- check not evaluated: flash_crash_lite `failed_strategies`: threshold <= 0, measured not measured "
        "(needs the Python stack) (by `t.py::test_run`)",
        "- check waived: flash_crash_lite `position_delta_pct`: threshold <= 10%, measured 12% (by `t.py::test_run`)",
        "- check failed: flash_crash_lite `oms_retries_per_order`: threshold >= 3, measured 1 (by `t.py::m`); "
        "reproduce: `python -m pytest t.py::m -p no:randomly`",
        "- kill switch fired: flash_crash_lite at tick 120 (by `t.py::test_run`)",
        "- test failed: `t.py::test_bad`: assert 1 == 2 more; reproduce: `python -m pytest t.py::test_bad -p no:randomly`",
        "- test not run: `t.py::test_late`: not run: the session ended before it ran",
    ]
    assert [line for line in lines if line.startswith(("- check", "- kill", "- test"))] == expected
    assert "var_multiple" not in text  # a passed check is no deviation


def test_uncertified_runs_are_no_deviation():
    run = {"scenario": "s", "nodeid": "t::a", "certified": False, "kill_switch_triggered": True,
           "checks": [_check("max_drawdown_pct", "failed", 9.0)]}  # fmt: skip
    text = journal.entry(_doc(decision="INCOMPLETE", runs=[run]))
    assert "Deviations: none." in text
    assert "- verdict: 3 checks passed" in text


def test_backticks_in_a_message_stay_inside_the_code_span():
    assert journal._code("a `b` c") == "``a `b` c``"
    assert journal._code("`x`") == "`` `x` ``"


def test_entries_are_appended_and_earlier_ones_kept(tmp_path):
    path = tmp_path / "reports" / "journal.md"
    first = journal.entry(_doc(decision="GO", finished="2025-01-01T00:00:00+00:00"))
    journal.append(path, first)
    before = path.read_bytes()
    second = journal.entry(_doc(decision="NO-GO", finished="2025-01-02T00:00:00+00:00"))
    journal.append(path, second)
    text = path.read_text()
    assert path.read_bytes().startswith(before)  # never rewritten, only extended
    assert text.startswith(journal.HEADER)
    assert text.count(journal.HEADER) == 1
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## 2025-01-01T00:00:00+00:00 GO",
        "## 2025-01-02T00:00:00+00:00 NO-GO",
    ]


def test_an_entry_after_a_hand_edit_without_newline_starts_on_its_own_line(tmp_path):
    path = tmp_path / "journal.md"
    path.write_text("my notes")
    journal.append(path, journal.entry(_doc()))
    assert path.read_text().startswith("my notes\n\n## ")


def test_a_journal_that_cannot_be_written_is_a_report_error(tmp_path):
    (tmp_path / "journal.md").mkdir()
    with pytest.raises(ReportError, match=r"journal\.md: cannot append to the journal"):
        journal.append(tmp_path / "journal.md", "entry\n")


def test_a_report_interrupted_while_written_leaves_the_last_good_one(tmp_path, monkeypatch):
    """Ctrl-C (or a kill) between writing the new text and renaming it: the old report is intact and no
    temporary file is left beside it."""
    path = tmp_path / "certification.json"
    write_atomic(path, '{"good": true}')

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, '{"half": ')
    assert path.read_text() == '{"good": true}'
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["certification.json"]
