"""Under pytest-xdist (``-n 2``) the controller writes one report whose content equals a serial run's:
runs, checks, tests and the verdict travel from the workers as report data (DESIGN: "Works under
pytest -n auto")."""

from __future__ import annotations

import json
import textwrap

import pytest

pytest.importorskip("xdist")

SESSION = """
    import pytest

    @pytest.mark.stress_scenario("flash_crash_lite", symbols=10)
    def test_lite(stress_run):
        stress_run.certify()

    @pytest.mark.stress_scenario("covid_fx_2020")
    def test_covid(stress_run):
        stress_run.certify()

    @pytest.mark.stress_scenario("data_corruption_shock", symbols=5)
    def test_corruption(stress_run):
        stress_run.certify()

    @pytest.mark.stress_scenario("flash_crash_lite", symbols=5)
    def test_lite_uncertified(stress_run):
        assert stress_run.equity_curve.shape[0] > 0

    @pytest.mark.stress
    def test_fails():
        assert False, "a stress test that fails"
"""

# what differs between any two sessions, serial or not: clocks, durations, the command line, paths
_VOLATILE = {"started_at", "finished_at", "duration_s", "runtime_ms", "argv", "reproduce"}


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_two_workers_write_the_report_a_serial_run_writes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(textwrap.dedent(SESSION))
    serial = pytester.runpytest_subprocess("--stress-report=json:serial.json", "-p", "no:randomly")
    parallel = pytester.runpytest_subprocess(
        "-n", "2", "--stress-report=json:parallel.json", "-p", "no:randomly"
    )
    serial.assert_outcomes(passed=4, failed=1)
    parallel.assert_outcomes(passed=4, failed=1)
    a = json.loads((pytester.path / "serial.json").read_text(encoding="utf-8"))
    b = json.loads((pytester.path / "parallel.json").read_text(encoding="utf-8"))
    assert a["verdict"]["decision"] == "NO-GO"
    assert len(a["runs"]) == 4
    assert _stable(a) == _stable(b)
    assert serial.ret == parallel.ret == 1
