"""Proof that the runbook suite has teeth: run it (``--stress-runbook``) against stacks that each break
one promise (examples/broken_stacks) and check it fails on exactly that promise, with a NO-GO report;
against the reference stack it passes with a GO."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_support import read_report

BROKEN = Path(__file__).resolve().parents[2] / "examples" / "broken_stacks"

# module -> the runbook tests that must fail, and only these
EXPECTED_FAILURES = {
    "oms_retries_once": {
        "test_broker_timeout_fails_the_order_after_three_retries",
        "test_retries_back_off_exponentially",
    },
    "strategy_trades_on_nan": {
        "test_strategy_abstains_when_features_are_nan",
        "test_nan_abstention_is_logged_to_the_prediction_log",
    },
    "kill_switch_never_fires": {
        "test_kill_switch_blocks_orders_keeps_positions_until_reset",
        "test_reconciliation_mismatch_pauses_trading_and_reports_it",
        "test_portfolio_breaker_fires_the_kill_switch_at_10pct",
    },
    "drift_never_alerts": {
        "test_two_sigma_shift_is_detected_as_drift",
        "test_drift_never_pauses_trading_by_itself",
        "test_model_older_than_90_days_raises_a_drift_alert",
    },
    "governor_ignores_halt": {"test_strategy_breaker_trips_at_5pct_drawdown"},
}


def _run(pytester: pytest.Pytester, *specs: str) -> tuple[pytest.RunResult, dict]:
    pytester.syspathinsert(BROKEN)
    args = ["--stress-runbook", "-m", "stress", "-p", "no:cacheprovider", "--stress-report=json:cert.json"]
    result = pytester.runpytest(*args, *(f"--stress-stack={s}" for s in specs))
    return result, read_report(pytester.path / "cert.json")


def _failures(doc: dict) -> dict[str, set[str]]:
    """stack id -> names of the runbook tests that failed for it."""
    out: dict[str, set[str]] = {}
    for test in doc["tests"]:
        name, _, stack = test["nodeid"].rpartition("::")[2].partition("[")
        out.setdefault(stack.rstrip("]"), set())
        if test["outcome"] in ("failed", "error"):
            out[stack.rstrip("]")].add(name)
    return out


def test_suite_fails_each_broken_stack_on_exactly_its_broken_promise(pytester: pytest.Pytester) -> None:
    result, doc = _run(pytester, *(f"{m}:make_stack" for m in EXPECTED_FAILURES))
    failures = _failures(doc)
    assert set(failures) == set(EXPECTED_FAILURES), f"stacks in the report: {sorted(failures)}"
    for stack, expected in EXPECTED_FAILURES.items():
        assert failures[stack] == expected, f"{stack}: failed {sorted(failures[stack])}"
    assert doc["verdict"]["decision"] == "NO-GO"
    reasons = "\n".join(doc["verdict"]["reasons"])
    for stack, expected in EXPECTED_FAILURES.items():
        for name in expected:
            assert f"{name}[{stack}]" in reasons
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_suite_passes_the_reference_stack_with_a_go(pytester: pytest.Pytester) -> None:
    result, doc = _run(pytester, "reference")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    assert doc["verdict"]["decision"] == "GO"
    assert doc["verdict"]["counts"]["tests_passed"] >= 30
    assert _failures(doc) == {"reference": set()}


def test_a_bad_stack_spec_fails_with_a_message_naming_it(pytester: pytest.Pytester) -> None:
    result, _ = _run(pytester, "no_such_module:make_stack")
    result.stdout.fnmatch_lines(
        ["*--stress-stack=no_such_module:make_stack: cannot import 'no_such_module'*"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_factory_returning_the_wrong_type_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(not_a_stack="def make_stack(ctx):\n    return object()\n")
    pytester.syspathinsert()
    result, _ = _run(pytester, "not_a_stack:make_stack")
    result.stdout.fnmatch_lines(["*the factory returned object, not a TradingStack*"])


def _copy_example(pytester: pytest.Pytester, name: str) -> None:
    for f in (BROKEN.parent / name).iterdir():
        if f.suffix in (".py", ".ini"):
            (pytester.path / f.name).write_text(f.read_text())


def test_shipped_factory_example_is_certified_by_the_bundled_suite(pytester: pytest.Pytester) -> None:
    """examples/stack_factory: a factory named in pytest.ini, no test file in the folder."""
    _copy_example(pytester, "stack_factory")
    result = pytester.runpytest("--stress-runbook", "-m", "stress", "-p", "no:cacheprovider", "-v")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(
        ["*test_kill_switch_blocks_orders_keeps_positions_until_reset[[]my_stack[]] PASSED*"]
    )
    assert "[reference]" not in result.stdout.str()


def test_shipped_fixture_example_runs_the_suite_on_its_own_parts(pytester: pytest.Pytester) -> None:
    """examples/stack_fixtures: conftest.py overrides the governor and OMS; the suite runs on them."""
    _copy_example(pytester, "stack_fixtures")
    pytester.makeconftest(
        (pytester.path / "conftest.py").read_text()
        + "\n\n@pytest.fixture(autouse=True)\ndef _uses_override(trading_stack, oms):\n"
        "    assert trading_stack.oms is oms and oms.backoff_cap_s == 2.0\n"
    )
    result = pytester.runpytest("-m", "stress", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=30)
