"""The pytest face, run through pytester: markers, selection, fixtures, overrides, the report and verdict."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from report_support import STRICT_SCENARIO, read_report

CERTIFY_LITE = """
    import pytest

    @pytest.mark.stress_scenario("flash_crash_lite", symbols=10)
    def test_lite_certifies(stress_run):
        stress_run.certify()
"""


def _report(path: Path) -> dict:
    return read_report(path)  # validated against the shipped JSON Schema


def test_markers_are_registered_and_strict_markers_is_clean(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress
        def test_a(): pass

        @pytest.mark.stress_scenario("flash_crash_lite", symbols=3)
        def test_b(stress_run): pass

        @pytest.mark.inject_failure("broker", mode="outage", duration_s=10)
        def test_c(): pass
    """)
    result = pytester.runpytest("--strict-markers", "-m", "not inject_failure")
    result.assert_outcomes(passed=2)
    markers = pytester.runpytest("--markers").stdout.str()
    for name in ("@pytest.mark.stress:", "@pytest.mark.stress_scenario(", "@pytest.mark.inject_failure("):
        assert name in markers


def test_stress_selection_includes_implied_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        def test_unit(): pass

        @pytest.mark.stress
        def test_explicit(): pass

        @pytest.mark.stress_scenario("flash_crash_lite", symbols=3)
        def test_scenario(stress_run): pass
    """)
    selected = pytester.runpytest("-m", "stress", "-v")
    selected.assert_outcomes(passed=2, deselected=1)
    selected.stdout.fnmatch_lines(["*test_explicit PASSED*", "*test_scenario PASSED*"])
    others = pytester.runpytest("-m", "not stress", "-v")
    others.assert_outcomes(passed=1, deselected=2)
    others.stdout.fnmatch_lines(["*test_unit PASSED*"])


def test_html_report_at_given_path_shows_go_verdict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CERTIFY_LITE)
    out = pytester.path / "out" / "go.html"
    result = pytester.runpytest(f"--stress-report=html:{out}")
    result.assert_outcomes(passed=1)
    page = out.read_text(encoding="utf-8")
    assert '<div class="decision">GO</div>' in page
    assert "max_drawdown_pct" in page
    assert "&lt;= 5%" in page
    # nothing is fetched: no reference leaves the page (SVG's xmlns names a namespace, it is not fetched)
    import re

    assert not re.search(r"""(?:href|src)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""", page)
    assert "default-src 'none'" in page
    result.stdout.fnmatch_lines(["*stress certification*", "verdict: GO", "report: out/go.html"])
    assert not list(out.parent.glob("*.tmp")), "atomic write left a temp file behind"


def test_default_report_paths_are_under_reports_stress(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CERTIFY_LITE)
    pytester.runpytest("--stress-report=html", "--stress-report=json").assert_outcomes(passed=1)
    doc = _report(pytester.path / "reports" / "stress" / "certification.json")
    assert (pytester.path / "reports" / "stress" / "certification.html").is_file()
    assert doc["verdict"]["decision"] == "GO"
    [run] = doc["runs"]
    assert run["certified"] is True
    assert run["symbols"] == 10
    assert run["seed"] == 42
    assert {c["check"] for c in run["checks"]} == {"max_drawdown_pct", "var_multiple", "position_delta_pct"}
    assert all(c["status"] == "passed" for c in run["checks"])
    assert doc["reproduce"]["runs"] == ["python -m pytest_stress run flash_crash_lite --seed 42 --symbols 10"]
    env = doc["environment"]
    assert env["package"] == "pytest-trading-stress"
    assert env["python"]
    assert env["profile"] == "ci"


def test_failing_expectation_turns_verdict_to_no_go(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("my_scenarios")
    (scenarios / "strict_crash.yaml").write_text(textwrap.dedent(STRICT_SCENARIO))
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress_scenario("strict_crash")
        def test_strict(stress_run):
            stress_run.certify()
    """)
    result = pytester.runpytest(
        "--stress-scenarios=my_scenarios", "--stress-report=json:c.json", "--stress-report=html:c.html"
    )
    result.assert_outcomes(failed=1)
    # the failure message lists the failed expectation with threshold and measured value
    result.stdout.fnmatch_lines(
        [
            "*strict_crash*failed 1 of 2 expectations*",
            "*max_drawdown_pct: measured *% breaches <= 1%*",
            "*KILL_SWITCH fired at tick*",
        ]
    )
    doc = _report(pytester.path / "c.json")
    assert doc["verdict"]["decision"] == "NO-GO"
    assert any("max_drawdown_pct" in r and "breaches <= 1%" in r for r in doc["verdict"]["reasons"])
    assert any("KILL_SWITCH" in r for r in doc["verdict"]["reasons"])
    page = (pytester.path / "c.html").read_text()
    assert '<div class="decision">NO-GO</div>' in page
    # the run's risk-control events are listed with the time of the first one and the reason
    (run,) = doc["runs"]
    kill = next(e for e in run["events"] if e["event"] == "KILL_SWITCH")
    assert kill["tick"] == run["kill_switch_tick"]
    assert (
        f'<td><code>KILL_SWITCH</code></td><td class="num">1</td><td class="num">{kill["time_ms"]:g} ms</td>'
        in page
    )
    result.stdout.fnmatch_lines(["verdict: NO-GO"])


def test_conftest_can_override_the_portfolio_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import numpy as np
        import pytest
        from pytest_stress import Portfolio

        @pytest.fixture
        def stress_portfolio():
            # a book levered 2.5x: a 3 % crash takes it past the 5 % drawdown limit
            return Portfolio(initial_capital=2_000_000, weights=np.full(10, 0.25))
    """)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress_scenario("flash_crash_lite", symbols=10)
        def test_book(stress_run):
            assert stress_run.initial_capital == 2_000_000
            assert stress_run.gross_leverage == pytest.approx(2.5)
            assert stress_run.kill_switch_triggered
            stress_run.certify()
    """)
    result = pytester.runpytest("--stress-report=json:c.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*max_drawdown_pct: measured *% breaches <= 5%*"])
    assert _report(pytester.path / "c.json")["verdict"]["decision"] == "NO-GO"


def test_conftest_can_override_the_scenario_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import pytest
        from pytest_stress import load_scenario

        @pytest.fixture
        def stress_scenario():
            return load_scenario("flash_crash_lite").with_overrides(symbols=4, seed=9)
    """)
    pytester.makepyfile("""
        def test_uses_override(stress_run):
            assert (stress_run.symbols, stress_run.seed) == (4, 9)
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_uncertified_runs_do_not_enter_the_verdict(pytester: pytest.Pytester) -> None:
    """A test that checks the kill switch fires on a levered book exercises the safety net, not the book."""
    pytester.makeconftest("""
        import numpy as np
        import pytest
        from pytest_stress import Portfolio

        @pytest.fixture
        def stress_portfolio():
            return Portfolio(initial_capital=1e6, weights=np.full(5, 0.6))
    """)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress_scenario("flash_crash_lite", symbols=5)
        def test_kill_switch_fires_on_levered_book(stress_run):
            assert stress_run.kill_switch_triggered
    """)
    pytester.runpytest("--stress-report=json:c.json").assert_outcomes(passed=1)
    doc = _report(pytester.path / "c.json")
    # the fired kill switch is not a NO-GO (the run was not certified), and nothing else was certified
    assert doc["verdict"]["decision"] == "INCOMPLETE"
    assert doc["verdict"]["reasons"][0].startswith("nothing was certified")
    assert not any("KILL_SWITCH" in r for r in doc["verdict"]["reasons"])
    assert doc["runs"][0]["certified"] is False
    assert doc["verdict"]["counts"]["checks_failed"] == 0


def test_library_marker_runs_every_library_scenario(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("extra")
    (scenarios / "strict_crash.yaml").write_text(textwrap.dedent(STRICT_SCENARIO))
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress_scenario(library=True, symbols=3)
        def test_each(stress_run):
            assert stress_run.n_ticks > 0
    """)
    result = pytester.runpytest("-v", "--stress-scenarios=extra")
    result.stdout.fnmatch_lines(["*test_each?flash_crash_lite? PASSED*", "*test_each?strict_crash? PASSED*"])


def test_stress_seed_overrides_every_scenario(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress_scenario("flash_crash_lite", symbols=3, seed=5)
        def test_seed(stress_run):
            assert stress_run.seed == 1234
    """)
    pytester.runpytest("--stress-seed=1234").assert_outcomes(passed=1)


def test_inject_failure_without_a_service_fixture_fails_naming_it(pytester: pytest.Pytester) -> None:
    """A fault that has nothing to act on is an error of the test, never a pass or a silent skip."""
    pytester.makepyfile(
        CERTIFY_LITE
        + """
    @pytest.mark.inject_failure("payments", mode="outage", duration_s=10)
    def test_fault():
        pass
    """
    )
    result = pytester.runpytest("--stress-report=json:c.json")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*inject_failure('payments') needs a fixture named payments_service*"])
    assert _report(pytester.path / "c.json")["verdict"]["decision"] == "NO-GO"


def test_bad_scenario_file_fails_its_test_and_keeps_other_results(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("bad")
    (scenarios / "broken.yaml").write_text(
        "name: broken\nmarket: {source: synthetic, duration_s: 10}\nportfolio: {initial_capital: lots}\n"
    )
    pytester.makepyfile(
        CERTIFY_LITE
        + """
    @pytest.mark.stress_scenario("broken")
    def test_broken(stress_run):
        stress_run.certify()
    """
    )
    result = pytester.runpytest("--stress-scenarios=bad", "--stress-report=json:c.json")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*broken.yaml:3: portfolio.initial_capital: expected a number*"])
    doc = _report(pytester.path / "c.json")
    assert doc["verdict"]["decision"] == "NO-GO"
    assert len(doc["runs"]) == 1
    assert doc["runs"][0]["scenario"] == "flash_crash_lite"
    outcomes = {t["nodeid"].split("::")[1]: t["outcome"] for t in doc["tests"]}
    assert outcomes == {"test_lite_certifies": "passed", "test_broken": "error"}


def test_user_strings_are_escaped_in_html(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress_scenario("flash_crash_lite", symbols=3)
        @pytest.mark.parametrize("tag", ["<script>alert(1)</script>"])
        def test_tagged(stress_run, tag):
            raise AssertionError("<img src=x onerror=alert(2)>")
    """)
    pytester.runpytest("--stress-report=html:r.html").assert_outcomes(failed=1)
    page = (pytester.path / "r.html").read_text()
    assert "<script>" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page


def test_unknown_report_format_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CERTIFY_LITE)
    result = pytester.runpytest("--stress-report=pdf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--stress-report=pdf: unknown format 'pdf'; use html or json*"])


def test_unwritable_report_path_fails_the_session_loudly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CERTIFY_LITE)
    (pytester.path / "blocker").write_text("a file where a directory should be")
    result = pytester.runpytest("--stress-report=json:blocker/c.json")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*report NOT written:*blocker/c.json*"])


def test_unknown_stress_scenario_marker_argument_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress_scenario("flash_crash_lite", symbol=3)
        def test_typo(stress_run): pass
    """)
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*stress_scenario marker got unknown argument(s) symbol*"])


def test_one_report_from_xdist_workers(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress_scenario("flash_crash_lite", symbols=4)
        @pytest.mark.parametrize("seed", range(4))
        def test_seeds(stress_scenario, seed):
            from pytest_stress import run_scenario
            run_scenario(stress_scenario, seed=seed).certify()

        @pytest.mark.stress_scenario("flash_crash_lite", symbols=4)
        @pytest.mark.parametrize("n", range(3))
        def test_runs(stress_run, n):
            stress_run.certify()
    """)
    result = pytester.runpytest("-n", "2", "--stress-report=json:c.json")
    result.assert_outcomes(passed=7)
    doc = _report(pytester.path / "c.json")
    assert len(doc["runs"]) == 3  # runs recorded by the stress_run fixture, shipped from both workers
    assert len(doc["tests"]) == 7
    assert doc["verdict"]["decision"] == "GO"


def test_shipped_example_certifies_a_custom_book(pytester: pytest.Pytester) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "my_book"
    for f in example.glob("*.py"):
        (pytester.path / f.name).write_text(f.read_text())
    result = pytester.runpytest("-m", "stress", "--stress-report=json:c.json")
    result.assert_outcomes(passed=1)
    [run] = _report(pytester.path / "c.json")["runs"]
    assert run["initial_capital"] == 5_000_000
    assert run["gross_leverage"] == pytest.approx(1.2)
    assert run["certified"] is True


def test_report_shows_what_each_stress_test_checks(pytester: pytest.Pytester) -> None:
    """The first paragraph of a stress test's docstring is recorded as the promise it checks."""
    pytester.makepyfile(
        '''
        import pytest

        @pytest.mark.stress
        def test_promise():
            """Runbook: ``KILL_SWITCH`` blocks
            every new order.

            Details that stay out of the report."""

        @pytest.mark.stress
        def test_silent():
            pass
        '''
    )
    pytester.runpytest("--stress-report=json:c.json").assert_outcomes(passed=2)
    tests = {t["nodeid"].rpartition("::")[2]: t for t in _report(pytester.path / "c.json")["tests"]}
    assert tests["test_promise"]["promise"] == "Runbook: KILL_SWITCH blocks every new order."
    assert "promise" not in tests["test_silent"]


def test_a_measured_value_completes_the_scenario_check_and_can_fail_the_verdict(
    pytester: pytest.Pytester,
) -> None:
    """stress_measure judges a test's measurement against the scenario's expect: line: a breach is a
    failed check and a NO-GO reason, with the threshold from the YAML (broker_api_outage: retries 3)."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.stress
        def test_retries(stress_measure):
            check = stress_measure("broker_api_outage", "oms_retries_per_order", 1)
            assert not check.passed

        @pytest.mark.stress
        def test_unknown_metric(stress_measure):
            stress_measure("broker_api_outage", "max_drawdown_pct", 1.0)
        """
    )
    result = pytester.runpytest("--stress-report=json:c.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*broker_api_outage has no expect: line for max_drawdown_pct*"])
    doc = _report(pytester.path / "c.json")
    [measured] = doc["measured_checks"]
    assert (measured["check"], measured["measured"], measured["status"]) == (
        "oms_retries_per_order",
        1,
        "failed",
    )
    assert doc["verdict"]["decision"] == "NO-GO"
    assert any("oms_retries_per_order measured 1" in r for r in doc["verdict"]["reasons"])


def test_a_session_that_certifies_nothing_is_incomplete_and_exits_3(pytester: pytest.Pytester) -> None:
    """A stress test that asserts nothing is no certification (README: such a session is not GO)."""
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress
        def test_nothing():
            pass
    """)
    result = pytester.runpytest("--stress-report=json:c.json")
    result.assert_outcomes(passed=1)
    assert result.ret == 3
    doc = _report(pytester.path / "c.json")
    assert doc["verdict"]["decision"] == "INCOMPLETE"
    result.stdout.fnmatch_lines(["verdict: INCOMPLETE", "  nothing was certified*"])
    # without a report there is no certification: the test run exits as pytest does
    assert pytester.runpytest().ret == pytest.ExitCode.OK


def test_a_waiver_shows_in_the_report_and_lets_the_rest_decide(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress_scenario("covid_fx_2020")
        def test_covid(stress_run):
            stress_run.certify()
    """)
    assert pytester.runpytest("--stress-report=json:before.json").ret == 3  # cvar_alert_raised: not evaluated
    pytester.path.joinpath("waivers.yaml").write_text(
        "waivers:\n"
        "  - check: covid_fx_2020.cvar_alert_raised\n"
        "    reason: the heat-check alert is measured by the desk's own monitor\n"
        "    until: 2099-12-31\n"
        "    approved_by: Risk Committee\n",
        encoding="utf-8",
    )
    result = pytester.runpytest("--stress-report=json:after.json", "--stress-waivers=waivers.yaml")
    assert result.ret == pytest.ExitCode.OK
    doc = _report(pytester.path / "after.json")
    assert doc["verdict"]["decision"] == "GO"
    (check,) = [c for c in doc["runs"][0]["checks"] if c["check"] == "cvar_alert_raised"]
    assert (check["status"], check["waived_status"]) == ("waived", "not_evaluated")
    assert check["waiver"]["reason"] == "the heat-check alert is measured by the desk's own monitor"
    assert doc["waivers"][0]["until"] == "2099-12-31"
    assert doc["verdict"]["waived"][0].startswith("covid_fx_2020: cvar_alert_raised waived until 2099-12-31")


def test_a_bad_waivers_file_is_a_usage_error_naming_file_and_line(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("w.yaml").write_text(
        "waivers:\n  - {check: covid_fx_2020.cvar_alert_raised, reason: r, until: 31.12.2099}\n",
        encoding="utf-8",
    )
    result = pytester.runpytest("--stress-waivers=w.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*w.yaml:2: waivers[[]0[]].until: expected a date as YYYY-MM-DD*"])
