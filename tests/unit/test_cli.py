"""Tests of the ``pytest-stress`` command line, called in-process through ``main()`` and once as a process.

They check what a user sees: exit codes, stdout/stderr separation, FILE:LINE error lines, the verdict.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_stress import __version__
from pytest_stress.cli import main
from pytest_stress.scenario import bundled_dir, library_names, load_scenario_file

FLASH = bundled_dir() / "flash_crash_lite.yaml"

# Small runs keep the suite quick; flash_crash_lite's drawdown barely depends on the symbol count.
FAST = ["--symbols", "10"]


def _strict_copy(tmp_path: Path) -> Path:
    """flash_crash_lite with a 1 % drawdown limit, which its 3 % down-spike must breach."""
    original = FLASH.read_text(encoding="utf-8")
    strict = original.replace("max_drawdown_pct: {max: 5.0}", "max_drawdown_pct: {max: 1.0}").replace(
        "name: flash_crash_lite", "name: flash_crash_strict"
    )
    # Guard against the bundled file changing shape: an unchanged copy would make the NO-GO tests vacuous.
    assert strict.count("{max: 1.0}") == 1
    assert "flash_crash_strict" in strict
    path = tmp_path / "flash_crash_strict.yaml"
    path.write_text(strict, encoding="utf-8")
    return path


SMALL_SCENARIO = """\
name: {name}
description: {description}
market: {{source: synthetic, symbols: 5, duration_s: 10, tick_ms: 100, seed: 3}}
portfolio: {{initial_capital: 100000}}
stress:
  - {{type: flash_crash, price_shock_pct: -0.02, spread_mult: 2.0, duration_s: 10}}
expect:
  max_drawdown_pct: {{max: 50.0}}
"""


# --- top level ------------------------------------------------------------------------------------


def test_version_prints_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pytest-stress {__version__}"


def test_no_subcommand_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: pytest-stress")
    for command in ("scenarios", "validate", "run"):
        assert command in err


def test_scenarios_without_action_prints_its_help(capsys):
    assert main(["scenarios"]) == 2
    err = capsys.readouterr().err
    assert "usage: pytest-stress scenarios" in err
    assert "list" in err
    assert "show" in err


def test_unknown_option_is_a_usage_error(capsys):
    assert main(["run", "flash_crash_lite", "--no-such-option"]) == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_run_help_states_units_and_defaults(capsys):
    assert main(["run", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines at the terminal width
    assert "default: the scenario's market.symbols" in out
    assert "default: the scenario's market.seed" in out
    assert "percentages are in percent" in out


def test_importing_the_cli_does_not_load_numba():
    # `scenarios list` and `validate` must start fast; only `run` needs the compiled replay core.
    code = "import sys, pytest_stress.cli; print('numba' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


# --- scenarios list / show ------------------------------------------------------------------------


def test_list_shows_flash_crash_lite(capsys):
    assert main(["scenarios", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "SYMBOLS", "DURATION", "SOURCE", "DESCRIPTION"]
    row = next(line for line in lines if line.startswith("flash_crash_lite "))
    assert row.split()[:5] == ["flash_crash_lite", "flash_crash", "100", "60s", "synthetic"]
    assert row.split()[5] == "60-second"  # the description, cut to fit the table
    row = next(line for line in lines if line.startswith("flash_crash_2010 "))
    assert row.split()[:5] == ["flash_crash_2010", "historic_replay", "2", "45m", "reconstruction"]
    assert all(len(line) <= 100 for line in lines)


def test_list_includes_extra_directory_and_truncates_long_descriptions(tmp_path, capsys):
    long_text = "a description far too long for one table row " * 4
    (tmp_path / "extra_one.yaml").write_text(
        SMALL_SCENARIO.format(name="extra_one", description=long_text), encoding="utf-8"
    )
    assert main(["scenarios", "list", "--scenarios", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines[1:]]
    assert "extra_one" in names
    assert "flash_crash_lite" in names
    assert names == sorted(names)
    extra = next(line for line in lines if line.startswith("extra_one "))
    assert extra.split()[:5] == ["extra_one", "flash_crash", "5", "10s", "synthetic"]
    assert extra.endswith("...")
    assert len(extra) <= 100


def test_list_with_missing_directory_exits_2(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["scenarios", "list", "--scenarios", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pytest-stress: error: ")
    assert "scenario directory does not exist" in err


def test_show_prints_yaml_that_round_trips(tmp_path, capsys):
    assert main(["scenarios", "show", "flash_crash_lite"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("# source: ")
    assert Path(first.removeprefix("# source: ")).resolve() == FLASH.resolve()

    data = yaml.safe_load(out)
    assert data["name"] == "flash_crash_lite"
    assert data["market"]["symbols"] == 100
    assert data["stress"][0]["type"] == "flash_crash"
    assert data["expect"]["max_drawdown_pct"] == {"max": 5.0}

    # The printed form is itself a valid scenario describing the same thing.
    copy = tmp_path / "flash_crash_lite.yaml"
    copy.write_text(out, encoding="utf-8")
    assert load_scenario_file(copy).to_dict() == load_scenario_file(FLASH).to_dict()


def test_show_by_path(capsys):
    assert main(["scenarios", "show", str(FLASH)]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["name"] == "flash_crash_lite"


def test_show_unknown_name_exits_2_with_suggestion(capsys):
    assert main(["scenarios", "show", "flash_crash"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("pytest-stress: error: no scenario named 'flash_crash'")
    assert "Did you mean: flash_crash_lite, " in captured.err


# --- validate -------------------------------------------------------------------------------------


def test_validate_good_file(capsys):
    assert main(["validate", str(FLASH)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{FLASH}: ok (flash_crash_lite)\n"
    assert captured.err == ""


UNKNOWN_KEY = """\
name: bad_key
market: {source: synthetic, symbols: 10, duration_s: 60, tick_ms: 100, seed: 1}
portfolio:
  initial_capital: 1000000
  levrage: 2.0
"""

WRONG_TYPE = """\
name: wrong_type
market:
  source: synthetic
  symbols: many
  duration_s: 60
portfolio: {initial_capital: 1000000}
"""

MALFORMED = """\
name: malformed
market:
  source: synthetic
   symbols: 10
portfolio: {initial_capital: 1000000}
"""


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param(
            UNKNOWN_KEY,
            5,
            "portfolio.levrage: unknown key (did you mean 'gross_leverage'?)",
            id="unknown-key",
        ),
        pytest.param(WRONG_TYPE, 4, "market.symbols: expected an integer", id="wrong-type"),
        pytest.param(MALFORMED, 4, "invalid YAML", id="malformed-yaml"),
    ],
)
def test_validate_bad_file_reports_file_and_line(tmp_path, capsys, text, line, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err_lines = captured.err.splitlines()
    assert err_lines, "a bad file must be reported on stderr"
    assert all(e.startswith(f"{path}:") for e in err_lines)
    assert err_lines[0].startswith(f"{path}:{line}: ")
    assert fragment in err_lines[0]
    assert "Traceback" not in captured.err


def test_validate_missing_file(tmp_path, capsys):
    missing = tmp_path / "absent.yaml"
    assert main(["validate", str(missing)]) == 2
    assert capsys.readouterr().err == f"{missing}: no such scenario file\n"


def test_validate_keeps_going_after_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(UNKNOWN_KEY, encoding="utf-8")
    also_bad = tmp_path / "also_bad.yaml"
    also_bad.write_text(WRONG_TYPE, encoding="utf-8")
    missing = tmp_path / "absent.yaml"

    assert main(["validate", str(bad), str(FLASH), str(also_bad), str(missing)]) == 2
    captured = capsys.readouterr()
    # The good file after the bad one is still checked and reported.
    assert captured.out == f"{FLASH}: ok (flash_crash_lite)\n"
    err = captured.err.splitlines()
    assert any(e.startswith(f"{bad}:5: ") for e in err)
    assert any(e.startswith(f"{also_bad}:4: ") for e in err)
    assert f"{missing}: no such scenario file" in err
    # Reported in the order given on the command line.
    order = [next(i for i, e in enumerate(err) if e.startswith(str(p))) for p in (bad, also_bad, missing)]
    assert order == sorted(order)


# --- run ------------------------------------------------------------------------------------------


def test_run_json_as_a_process():
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_stress", "run", "flash_crash_lite", "--symbols", "10", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # fails unless stdout is exactly one JSON document
    assert doc["verdict"] == "GO"
    assert doc["scenario"] == "flash_crash_lite"
    assert doc["symbols"] == 10
    assert 2.5 <= doc["max_drawdown_pct"] <= 4.0
    assert [c["check"] for c in doc["checks"]] == ["max_drawdown_pct", "var_multiple", "position_delta_pct"]
    assert all(c["status"] == "passed" for c in doc["checks"])
    assert doc["kill_switch_triggered"] is False


def test_run_json_in_process_honours_seed(capsys):
    assert main(["run", "flash_crash_lite", *FAST, "--seed", "7", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["seed"] == 7
    assert doc["verdict"] == "GO"


def test_run_summary_reports_metrics_checks_and_verdict(capsys):
    assert main(["run", "flash_crash_lite", *FAST]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    fields = dict(line.split(":", 1) for line in lines if not line.startswith(" ") and ":" in line)
    assert fields["scenario"].strip().startswith("flash_crash_lite")
    assert fields["seed"].strip() == "42"
    assert fields["symbols"].strip() == "10"
    assert fields["ticks"].strip().startswith("601 x 100 ms")
    assert fields["runtime"].strip().endswith("ms")
    drawdown = float(fields["max drawdown"].split("%")[0])
    assert 2.5 <= drawdown <= 4.0
    assert fields["kill switch"].strip() == "not fired"
    assert fields["breaches"].strip() == "none"
    assert "  PASS max_drawdown_pct: measured" in out
    assert "  PASS var_multiple: measured" in out
    assert lines[-1] == "verdict: GO"


def test_run_stricter_scenario_is_no_go_json(tmp_path, capsys):
    strict = _strict_copy(tmp_path)
    assert main(["run", str(strict), *FAST, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "NO-GO"
    assert doc["scenario"] == "flash_crash_strict"
    status = {c["check"]: c["status"] for c in doc["checks"]}
    assert status["max_drawdown_pct"] == "failed"
    assert doc["breaches"][0]["metric"] == "max_drawdown_pct"
    assert doc["kill_switch_triggered"] is True


def test_run_stricter_scenario_is_no_go_summary(tmp_path, capsys):
    strict = _strict_copy(tmp_path)
    assert main(["run", str(strict), *FAST]) == 1
    out = capsys.readouterr().out
    assert "  FAIL max_drawdown_pct: measured" in out
    assert "breaches <= 1%" in out
    assert "kill switch:    FIRED at tick " in out
    events = next(line for line in out.splitlines() if line.startswith("events:"))
    assert "DRAWDOWN_TRIP x1" in events
    assert "KILL_SWITCH x1" in events
    assert out.splitlines()[-1] == "verdict: NO-GO"


def test_run_scenario_from_extra_directory_by_name(tmp_path, capsys):
    (tmp_path / "extra_one.yaml").write_text(
        SMALL_SCENARIO.format(name="extra_one", description="small"), encoding="utf-8"
    )
    assert main(["run", "extra_one", "--scenarios", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["scenario"] == "extra_one"
    assert doc["n_ticks"] == 101


def test_run_unknown_scenario_exits_2(capsys):
    assert main(["run", "no_such_scenario", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("pytest-stress: error: no scenario named 'no_such_scenario'")
    assert "scenarios list" in captured.err  # tells the user how to find the right name


def test_run_invalid_file_exits_2_with_file_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(UNKNOWN_KEY, encoding="utf-8")
    assert main(["run", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.splitlines()
    assert err[0] == "pytest-stress: error: invalid scenario (1 problem):"
    assert err[1].startswith(f"{bad}:5: portfolio.levrage")
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--symbols", "0"], "--symbols must be at least 1, got 0"),
        (["--symbols", "-5"], "--symbols must be at least 1, got -5"),
        (["--seed", "-1"], "--seed must be between 0 and"),
    ],
)
def test_run_bad_option_value_exits_2(capsys, option, message):
    assert main(["run", "flash_crash_lite", *option]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"pytest-stress: error: {message}")


def test_run_non_integer_symbols_is_a_usage_error(capsys):
    assert main(["run", "flash_crash_lite", "--symbols", "ten"]) == 2
    assert "argument --symbols: invalid int value: 'ten'" in capsys.readouterr().err


# --- batch ----------------------------------------------------------------------------------------


def test_batch_all_go_exits_0_with_table_and_progress(capsys):
    assert main(["batch", "flash_crash_lite", "flash_crash_lite", *FAST, "--serial"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split()[:2] == ["SCENARIO", "VERDICT"]
    assert lines[1].split()[:2] == ["flash_crash_lite", "GO"]
    assert lines[2].split()[:2] == ["flash_crash_lite#2", "GO"]
    assert "scenarios: 2 (2 GO, 0 NO-GO, 0 INCOMPLETE, 0 errored)" in captured.out
    assert lines[-1] == "verdict: GO"
    # One progress line per finished scenario, on stderr so that stdout stays the report.
    progress = captured.err.splitlines()
    assert [line.split()[:3] for line in progress] == [
        ["[1/2]", "GO", "flash_crash_lite"],
        ["[2/2]", "GO", "flash_crash_lite#2"],
    ]


def test_batch_with_a_no_go_scenario_exits_1_and_json_has_both(tmp_path, capsys):
    strict = _strict_copy(tmp_path)
    assert main(["batch", "flash_crash_lite", str(strict), *FAST, "--seed", "7", "--json", "--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.err == ""
    doc = json.loads(captured.out)  # one JSON document, nothing else on stdout
    assert list(doc["results"]) == ["flash_crash_lite", "flash_crash_strict"]
    assert doc["results"]["flash_crash_lite"]["verdict"] == "GO"
    assert doc["results"]["flash_crash_strict"]["verdict"] == "NO-GO"
    assert {r["seed"] for r in doc["results"].values()} == {7}
    summary = doc["summary"]
    assert (summary["scenarios"], summary["passed"], summary["failed"], summary["errored"]) == (2, 1, 1, 0)
    assert summary["weakest"][0]["scenario"] == "flash_crash_strict"
    assert summary["kill_switches_fired"] == 1


def test_batch_on_a_two_worker_pool_matches_serial_json(capsys):
    args = ["batch", "flash_crash_lite", "flash_crash_lite", *FAST, "--seed", "3", "--json", "--quiet"]
    assert main([*args, "--serial"]) == 0
    serial = json.loads(capsys.readouterr().out)
    assert main([*args, "--workers", "2"]) == 0
    pooled = json.loads(capsys.readouterr().out)
    for doc in (serial, pooled):
        for result in doc["results"].values():
            result.pop("runtime_ms")
        doc["summary"].pop("total_runtime_ms")
        doc["summary"]["metrics"].pop("runtime_ms")
    assert pooled == serial


def test_batch_with_a_broken_file_exits_2_and_still_reports_the_others(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(UNKNOWN_KEY, encoding="utf-8")
    assert main(["batch", str(bad), "flash_crash_lite", *FAST, "--serial", "--json", "--quiet"]) == 2
    doc = json.loads(capsys.readouterr().out)
    error = doc["results"][str(bad)]
    assert error["verdict"] == "ERROR"
    assert error["error_type"] == "ScenarioError"
    assert error["message"].startswith(f"{bad}:5: portfolio.levrage")
    assert doc["results"]["flash_crash_lite"]["verdict"] == "GO"
    assert doc["summary"]["errored"] == 1


def test_batch_all_runs_the_library(tmp_path, capsys):
    (tmp_path / "extra_one.yaml").write_text(
        SMALL_SCENARIO.format(name="extra_one", description="small"), encoding="utf-8"
    )
    code = main(["batch", "--all", "--scenarios", str(tmp_path), "--serial", "--json", "--quiet"])
    # the library holds breach-by-design scenarios and ones whose checks are not measured yet: NO-GO
    assert code == 1
    results = json.loads(capsys.readouterr().out)["results"]
    assert "extra_one" in results
    assert "flash_crash_lite" in results
    assert len(results) == len(library_names()) + 1
    assert results["flash_crash_lite"]["verdict"] == "GO"
    assert results["black_swan_combo"]["verdict"] == "NO-GO"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no scenarios to run: give NAME_OR_PATH arguments, or --all"),
        (["flash_crash_lite", "--workers", "0"], "--workers must be at least 1, got 0"),
        (["flash_crash_lite", "--workers", "2", "--serial"], "--workers sets the local pool's size"),
        (["flash_crash_lite", "--symbols", "0"], "--symbols must be at least 1, got 0"),
        (["flash_crash_lite", "--seed", "-1"], "--seed must be between 0 and"),
        (["flash_crash_lite", "--serial", "--dask", "tcp://127.0.0.1:8786"], "not allowed with argument"),
    ],
)
def test_batch_bad_options_exit_2(capsys, args, message):
    assert main(["batch", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


def test_batch_dask_without_dask_installed_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    assert main(["batch", "flash_crash_lite", "--dask", "tcp://127.0.0.1:8786"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pytest-stress: error: running a batch on a Dask cluster needs dask.distributed")
    assert "pip install pytest-trading-stress[dask]" in err


def test_run_of_a_scenario_the_replay_cannot_fully_measure_is_incomplete_exit_3(capsys):
    """broker_api_outage's checks need the stack (the OMS's retries): not evaluated is not a pass."""
    assert main(["run", "broker_api_outage"]) == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "verdict: INCOMPLETE"
    why = lines[lines.index("why:") + 1 :]
    assert any(line.startswith("  broker_api_outage: ") and "not evaluated" in line for line in why)


def test_batch_exits_with_the_decision_over_every_scenario(capsys):
    assert (
        main(["batch", "flash_crash_lite", "broker_api_outage", *FAST, "--serial", "--quiet", "--json"]) == 3
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"]["decision"] == "INCOMPLETE"
    assert {k: r["verdict"] for k, r in doc["results"].items()} == {
        "flash_crash_lite": "GO",
        "broker_api_outage": "INCOMPLETE",
    }
