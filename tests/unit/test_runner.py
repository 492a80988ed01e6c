"""Tests of the batch runner (seed 003's StressTestRunner) and of the summary of a batch.

The promises checked: the same seed gives bit-identical results wherever a scenario ran (in this process,
in a pool of 1 or 2 workers, on a Dask cluster); one broken scenario never costs the batch the others;
the summary's numbers are those computed by hand.
"""

from __future__ import annotations

import dataclasses
import io
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from pytest_stress.errors import ReplayError
from pytest_stress.run.batch import (
    BatchProgress,
    DaskNotInstalled,
    ScenarioFailure,
    StressTestRunner,
    generate_summary,
    print_summary,
)
from pytest_stress.scenario import MAX_SYMBOLS, bundled_dir, load_scenario

# flash_crash_lite on 5 symbols: a few ms per replay, so the pool's start-up dominates these tests.
SYMBOLS = 5

BROKEN = """\
name: broken_one
market: {source: synthetic, symbols: 5, duration_s: 10, tick_ms: 100, seed: 1}
portfolio:
  initial_capital: 1000000
  levrage: 2.0
"""


def _seeds(*seeds: int) -> list[Any]:
    sc = load_scenario("flash_crash_lite")
    return [sc.with_overrides(seed=s) for s in seeds]


def _same(a: Any, b: Any) -> None:
    """Bit-identical curves and identical measurements; only the replay's own runtime may differ."""
    assert type(a) is type(b)
    if isinstance(a, ScenarioFailure):
        assert a == b
        return
    assert a.equity_curve.tobytes() == b.equity_curve.tobytes()
    assert a.drawdown_curve.tobytes() == b.drawdown_curve.tobytes()
    da, db = a.to_dict(), b.to_dict()
    da.pop("runtime_ms")
    db.pop("runtime_ms")
    assert da == db


def _assert_same_batches(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert list(a) == list(b)
    for key in a:
        _same(a[key], b[key])


# --- where it runs does not change what it measures -----------------------------------------------


def test_serial_and_pools_of_one_and_two_workers_give_bit_identical_results():
    # DESIGN "Rules of the house": the same seed gives bit-identical results, whatever the worker count.
    scenarios = _seeds(1, 2, 3)
    runner = StressTestRunner(progress=False)
    serial = runner.run_batch(scenarios, parallel=False, symbols=SYMBOLS)
    one = runner.run_batch(scenarios, max_workers=1, symbols=SYMBOLS)
    two = runner.run_batch(scenarios, max_workers=2, symbols=SYMBOLS)

    assert list(serial) == ["flash_crash_lite", "flash_crash_lite#2", "flash_crash_lite#3"]
    assert [r.seed for r in serial.values()] == [1, 2, 3]
    # Different seeds really are different runs, so the equality below is not vacuous.
    assert not np.array_equal(
        serial["flash_crash_lite"].equity_curve, serial["flash_crash_lite#2"].equity_curve
    )
    _assert_same_batches(serial, one)
    _assert_same_batches(serial, two)


def test_spawn_workers_give_the_same_results_as_forkserver_ones():
    # 'spawn' is the only start method on Windows and the default on macOS.
    scenarios = _seeds(1, 2)
    serial = StressTestRunner(progress=False).run_batch(scenarios, parallel=False, symbols=SYMBOLS)
    spawned = StressTestRunner(progress=False, start_method="spawn").run_batch(scenarios, symbols=SYMBOLS)
    _assert_same_batches(serial, spawned)


def test_results_come_back_without_the_plugin_hook():
    result = StressTestRunner(progress=False).run_batch(["flash_crash_lite"], parallel=False, symbols=SYMBOLS)
    assert result["flash_crash_lite"].certify_hook is None


# --- one failure does not lose the others ---------------------------------------------------------


def test_broken_file_and_replay_error_become_failures_and_the_others_complete(tmp_path):
    bad = tmp_path / "broken_one.yaml"
    bad.write_text(BROKEN, encoding="utf-8")
    base = load_scenario("flash_crash_lite")
    with pytest.raises(ReplayError, match=f"<= {MAX_SYMBOLS}"):  # an override is checked where it is made
        base.with_overrides(symbols=MAX_SYMBOLS + 1)
    # built past the schema: the seed override re-validates it, inside the worker
    matrix = ((1.0, 0.3), (0.3, 1.0))
    too_wide = dataclasses.replace(base, market=dataclasses.replace(base.market, correlation_matrix=matrix))
    batch = ["flash_crash_lite", str(bad), too_wide, "no_such_scenario", "flash_crash_lite"]

    results = StressTestRunner(progress=False).run_batch(batch, max_workers=2, seed=5)

    assert list(results) == [
        "flash_crash_lite",
        str(bad),
        "flash_crash_lite#2",  # the too-wide copy: a failure, keyed by its name like any other run
        "no_such_scenario",
        "flash_crash_lite#3",
    ]
    file_error = results[str(bad)]
    assert isinstance(file_error, ScenarioFailure)
    assert file_error.error_type == "ScenarioError"
    assert file_error.message.startswith(f"{bad}:5: portfolio.levrage")  # where, as the CLI reports it
    # Raised inside a worker process by the replay core, and carried back as data.
    replay_error = results["flash_crash_lite#2"]
    assert isinstance(replay_error, ScenarioFailure)
    assert replay_error.error_type == ReplayError.__name__
    assert "correlation_matrix: the matrix is 2 x 2 but the market has 100 symbols" in replay_error.message
    assert results["no_such_scenario"].error_type == "ScenarioNotFound"
    assert results["flash_crash_lite"].passed is True  # a ScenarioResult, GO
    assert results["flash_crash_lite#3"].seed == 5
    assert not any(r.passed for r in (file_error, replay_error))


def test_a_single_name_is_one_scenario_not_a_list_of_letters():
    results = StressTestRunner(progress=False).run_batch("flash_crash_lite", parallel=False, symbols=SYMBOLS)
    assert list(results) == ["flash_crash_lite"]


def test_scenario_dirs_are_searched_for_names(tmp_path):
    text = (bundled_dir() / "flash_crash_lite.yaml").read_text(encoding="utf-8")
    (tmp_path / "my_crash.yaml").write_text(text.replace("name: flash_crash_lite", "name: my_crash"), "utf-8")
    results = StressTestRunner(progress=False).run_batch(
        ["my_crash"], parallel=False, symbols=SYMBOLS, scenario_dirs=[tmp_path]
    )
    assert results["my_crash"].scenario == "my_crash"


def test_a_file_keyed_like_a_duplicate_does_not_clash(tmp_path):
    # "flash_crash_lite#2" is not a valid scenario name, but it is a valid text for a missing file.
    results = StressTestRunner(progress=False).run_batch(
        ["flash_crash_lite#2", "flash_crash_lite", "flash_crash_lite"], parallel=False, symbols=SYMBOLS
    )
    assert list(results) == ["flash_crash_lite#2", "flash_crash_lite", "flash_crash_lite#3"]
    assert isinstance(results["flash_crash_lite#2"], ScenarioFailure)


def test_wrong_item_type_and_bad_options_are_refused_at_once():
    runner = StressTestRunner(progress=False)
    with pytest.raises(TypeError, match="scenario 1 of the batch is a int"):
        runner.run_batch(["flash_crash_lite", 3], parallel=False)
    with pytest.raises(ValueError, match="max_workers must be at least 1"):
        runner.run_batch(["flash_crash_lite"], max_workers=0)
    with pytest.raises(ValueError, match="max_workers must be at least 1"):
        StressTestRunner(max_workers=0)
    with pytest.raises(ValueError, match="start_method must be 'forkserver' or 'spawn'"):
        StressTestRunner(start_method="fork")


# --- memory and progress --------------------------------------------------------------------------


def test_keep_curves_false_keeps_only_the_final_value():
    runner = StressTestRunner(progress=False)
    full = runner.run_batch(_seeds(4), parallel=False, symbols=SYMBOLS)["flash_crash_lite"]
    slim = runner.run_batch(_seeds(4), max_workers=1, symbols=SYMBOLS, keep_curves=False)["flash_crash_lite"]
    assert slim.equity_curve.shape == (1,)
    assert slim.drawdown_curve.shape == (1,)
    assert slim.final_equity == full.final_equity
    assert slim.n_ticks == full.n_ticks == full.equity_curve.shape[0]
    assert slim.max_drawdown_pct == full.max_drawdown_pct
    assert slim.to_dict()["equity_curve"]["equity"] == [round(full.final_equity, 2)]


def test_progress_callable_sees_every_scenario_once_with_its_verdict(tmp_path):
    bad = tmp_path / "broken_one.yaml"
    bad.write_text(BROKEN, encoding="utf-8")
    events: list[BatchProgress] = []
    StressTestRunner(progress=events.append).run_batch(
        ["flash_crash_lite", str(bad), "flash_crash_lite"], max_workers=2, symbols=SYMBOLS
    )
    assert [e.done for e in events] == [1, 2, 3]
    assert {e.total for e in events} == {3}
    assert sorted(e.key for e in events) == sorted(["flash_crash_lite", "flash_crash_lite#2", str(bad)])
    verdicts = {e.key: e.verdict for e in events}
    assert verdicts == {"flash_crash_lite": "GO", "flash_crash_lite#2": "GO", str(bad): "ERROR"}
    assert all(e.seconds >= 0.0 for e in events)


def test_default_progress_prints_one_line_per_scenario_on_stderr(capsys):
    StressTestRunner().run_batch(["flash_crash_lite", "nowhere.yaml"], parallel=False, symbols=SYMBOLS)
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[1/2] ERROR  nowhere.yaml (")
    assert "ScenarioNotFound: nowhere.yaml: no such scenario file" in lines[0]
    assert lines[1].startswith("[2/2] GO     flash_crash_lite (")
    assert lines[1].endswith(" s)")


def test_progress_false_is_silent(capsys):
    StressTestRunner(progress=False).run_batch(["flash_crash_lite"], parallel=False, symbols=SYMBOLS)
    assert capsys.readouterr().err == ""


# --- summary --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Check:
    passed: bool


@dataclass(frozen=True)
class FakeResult:
    """Just what a summary reads; ``metrics`` holds the widened seed 003 names."""

    scenario: str
    max_drawdown_pct: float
    var_multiple: float
    kill_switch_triggered: bool
    runtime_ms: float
    checks: tuple[_Check, ...] = ()
    breaches: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def emergency_stops(self) -> int:
        return int(self.metrics.get("emergency_stops", 0))


@dataclass(frozen=True)
class BareResult:
    """An older, narrower result: no metrics mapping, no emergency-stop count, no breaches field."""

    scenario: str
    max_drawdown_pct: float
    var_multiple: float | None
    kill_switch_triggered: bool
    runtime_ms: float
    checks: tuple[_Check, ...] = ()

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)


OK, BAD = _Check(True), _Check(False)


def _fake_batch() -> dict[str, Any]:
    a_metrics = {"total_trades": 3, "emergency_stops": 0, "sharpe_ratio": 1.5}
    b_metrics = {"total_trades": 5, "emergency_stops": 2, "sharpe_ratio": None}
    return {
        # name: scenario, drawdown %, VaR multiple, kill switch, runtime ms, checks, breaches, metrics
        "a": FakeResult("a", 2.0, 1.0, False, 10.0, (OK, OK), metrics=a_metrics),
        "b": FakeResult("b", 6.0, 3.0, True, 20.0, (OK, BAD), ("dd",), b_metrics),
        "c": BareResult("c", 4.0, None, True, 30.0, (BAD, BAD)),
        "d": ScenarioFailure("d.yaml", "ScenarioError", "d.yaml:3: market: missing"),
    }


def test_summary_counts_and_averages_match_hand_computation():
    s = generate_summary(_fake_batch())
    assert (s["scenarios"], s["passed"], s["failed"], s["errored"]) == (4, 1, 2, 1)
    assert s["avg_max_drawdown"] == pytest.approx((2.0 + 6.0 + 4.0) / 3)
    assert s["worst_max_drawdown"] == 6.0
    # c measured no VaR multiple (None): the average is over the two that did.
    assert s["avg_var_multiple"] == pytest.approx(2.0)
    assert s["worst_var_multiple"] == 3.0
    assert s["metrics"]["var_multiple"]["count"] == 2
    # a: 0 stops, b: 2 stops, c has no count but its kill switch fired: 1.
    assert s["total_emergency_stops"] == 3
    assert s["kill_switches_fired"] == 2
    assert s["total_breaches"] == 1
    assert s["total_trades"] == 8
    assert isinstance(s["total_trades"], int)
    assert s["avg_sharpe_ratio"] == pytest.approx(1.5)  # b's None is "not measured", not 0
    assert s["total_runtime_ms"] == pytest.approx(60.0)
    assert s["metrics"]["kill_switch_triggered"] == {"count": 3, "true": 2}
    assert s["errors"] == [
        {
            "key": "d",
            "scenario": "d.yaml",
            "error_type": "ScenarioError",
            "message": "d.yaml:3: market: missing",
        }
    ]
    assert s["avg_position_delta_pct"] is None  # no result has it


def test_summary_skips_nan_and_survives_an_empty_batch():
    nan_batch = {
        "x": BareResult("x", math.nan, 1.0, False, 1.0, (OK,)),
        "y": BareResult("y", 3.0, 1.0, False, 1.0),
    }
    s = generate_summary(nan_batch)
    assert s["avg_max_drawdown"] == 3.0
    assert s["metrics"]["max_drawdown_pct"]["count"] == 1

    empty = generate_summary({})
    assert (empty["scenarios"], empty["passed"], empty["failed"], empty["errored"]) == (0, 0, 0, 0)
    assert empty["avg_max_drawdown"] is None
    assert empty["total_emergency_stops"] is None
    assert empty["weakest"] == []
    print_summary({}, file=io.StringIO())  # no division by zero on an empty batch


def test_weakest_orders_by_failed_checks_then_drawdown_and_keeps_five():
    batch: dict[str, Any] = {
        "calm": FakeResult("calm", 1.0, 1.0, False, 1.0, (OK,)),
        "deep": FakeResult("deep", 9.0, 1.0, False, 1.0, (OK,)),
        "one_fail_shallow": FakeResult("one_fail_shallow", 2.0, 1.0, False, 1.0, (BAD, OK)),
        "one_fail_deep": FakeResult("one_fail_deep", 7.0, 1.0, False, 1.0, (BAD, OK)),
        "two_fails": FakeResult("two_fails", 0.5, 1.0, False, 1.0, (BAD, BAD)),
        "unknown_dd": BareResult("unknown_dd", math.nan, 1.0, False, 1.0, (OK,)),
        "middle": FakeResult("middle", 5.0, 1.0, False, 1.0, (OK,)),
        "errored": ScenarioFailure("errored", "ReplayError", "boom"),
    }
    weakest = generate_summary(batch)["weakest"]
    assert [w["scenario"] for w in weakest] == [
        "two_fails",
        "one_fail_deep",
        "one_fail_shallow",
        "unknown_dd",
        "deep",
    ]
    assert weakest[0] == {
        "scenario": "two_fails",
        "verdict": "NO-GO",
        "failed_checks": 2,
        "max_drawdown_pct": 0.5,
    }


def test_summary_of_real_results_reads_the_widened_metrics():
    results = StressTestRunner(progress=False).run_batch(_seeds(1, 2), parallel=False, symbols=SYMBOLS)
    s = generate_summary(results)
    drawdowns = [r.max_drawdown_pct for r in results.values()]
    assert s["avg_max_drawdown"] == pytest.approx(sum(drawdowns) / 2)
    assert s["worst_max_drawdown"] == max(drawdowns)
    assert s["total_emergency_stops"] == sum(r.emergency_stops for r in results.values())
    assert s["metrics"]["max_drawdown_pct"]["count"] == 2
    assert "equity_curve" not in s["metrics"]  # arrays are not metrics
    assert "seed" not in s["metrics"]  # set-up, not a measurement


def test_print_summary_shows_one_row_per_scenario_and_the_headline():
    out = io.StringIO()
    print_summary(_fake_batch(), file=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == [
        "SCENARIO",
        "VERDICT",
        "DRAWDOWN",
        "%",
        "VAR",
        "x",
        "KILL",
        "FAILED",
        "RUNTIME",
        "ms",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:5]}
    assert rows["a"] == ["a", "GO", "2.00", "1.00", "no", "0", "10.0"]
    assert rows["b"][:2] == ["b", "NO-GO"]
    assert rows["c"] == ["c", "NO-GO", "4.00", "-", "yes", "2", "30.0"]
    assert rows["d"] == ["d", "ERROR", "ScenarioError:", "d.yaml:3:", "market:", "missing"]
    text = out.getvalue()
    assert "scenarios: 4 (1 GO, 2 NO-GO, 0 INCOMPLETE, 1 errored)" in text
    assert "max drawdown:    avg 4.00 %, worst 6.00 %" in text
    assert "emergency stops: 3 (kill switch fired in 2 scenarios)" in text
    assert "weakest:\n  c: NO-GO, 2 failed checks" in text


def test_runner_offers_seed_003_summary_methods(capsys):
    batch = _fake_batch()
    runner = StressTestRunner(progress=False)
    assert runner.generate_summary(batch) == generate_summary(batch)
    runner.print_summary(batch)
    assert "scenarios: 4" in capsys.readouterr().out


# --- Dask -----------------------------------------------------------------------------------------


def test_missing_dask_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` raise ImportError
    with pytest.raises(DaskNotInstalled, match=r"pip install pytest-trading-stress\[dask\]"):
        StressTestRunner(address="tcp://127.0.0.1:8786")


@pytest.fixture
def local_cluster():
    """A one-worker Dask cluster inside this process, on 127.0.0.1 only, no dashboard; closed afterwards."""
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install pytest-trading-stress[dask])"
    )
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        yield cluster
    finally:
        cluster.close()


def test_dask_cluster_gives_the_serial_results(local_cluster, tmp_path):
    import distributed

    bad = tmp_path / "broken_one.yaml"
    bad.write_text(BROKEN, encoding="utf-8")
    batch = [*_seeds(1, 2), str(bad), "flash_crash_lite"]
    serial = StressTestRunner(progress=False).run_batch(batch, parallel=False, symbols=SYMBOLS)

    with distributed.Client(local_cluster, set_as_default=False) as client:
        on_client = StressTestRunner(address=client, progress=False).run_batch(batch, symbols=SYMBOLS)
        assert client.status == "running"  # a client passed in is the caller's to close
    by_address = StressTestRunner(address=local_cluster.scheduler_address, progress=False).run_batch(
        batch, symbols=SYMBOLS
    )

    assert isinstance(serial[str(bad)], ScenarioFailure)
    _assert_same_batches(serial, on_client)
    _assert_same_batches(serial, by_address)


def test_unreachable_scheduler_is_a_clear_error():
    pytest.importorskip("distributed", reason="dask.distributed is not installed")
    from pytest_stress.run.batch import ClusterUnavailable

    runner = StressTestRunner(address="tcp://127.0.0.1:9", progress=False, connect_timeout_s=0.5)
    with pytest.raises(ClusterUnavailable, match=r"cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        runner.run_batch(_seeds(1), symbols=SYMBOLS)
