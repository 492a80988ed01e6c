"""The certification's data, through pytester: schema_version and the shipped JSON Schema, traceability
(file and dataset hashes, the Toxiproxy that served the session, the time scale, reproduce commands), the
journal, and sessions that were interrupted or lost a worker."""

from __future__ import annotations

import copy
import hashlib
import json
import shlex
import textwrap

import pytest
from report_support import STRICT_SCENARIO, read_report, schema_errors, validate

from pytest_stress.certify import json_schema

CERTIFY_AND_FAIL = """
    import pytest

    @pytest.mark.stress_scenario("flash_crash_lite", symbols=3)
    def test_lite(stress_run):
        stress_run.certify()

    @pytest.mark.stress
    def test_broken():
        assert 1 == 2, "the stack lost an order"
"""


def _doc(pytester: pytest.Pytester, name: str = "c.json") -> dict:
    return read_report(pytester.path / name)


# --- the schema ----------------------------------------------------------------------------------------


@pytest.fixture
def sample_document(pytester: pytest.Pytester) -> dict:
    pytester.makepyfile(
        CERTIFY_AND_FAIL
        + """
    @pytest.mark.stress
    def test_measures(stress_measure):
        stress_measure("broker_api_outage", "oms_retries_per_order", 1)
    """
    )
    pytester.runpytest("--stress-report=json:c.json").assert_outcomes(passed=2, failed=1)
    return _doc(pytester)


def test_the_document_declares_its_schema_version(sample_document: dict) -> None:
    assert sample_document["schema_version"] == 1
    assert sample_document["schema"] == "pytest-trading-stress/certification/v1"
    assert json_schema()["properties"]["schema_version"] == {"const": 1}


def _set(path: str, value: object):
    def mutate(doc: dict) -> None:
        *parents, last = path.split("/")
        node = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


_DELETE = object()


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (_set("schema_version", _DELETE), "(document)"),
        (_set("schema_version", 2), "schema_version"),
        (_set("verdict/decision", "MAYBE"), "verdict/decision"),
        (_set("runs/0/checks/0/status", "ok"), "runs/0/checks/0/status"),
        (_set("runs/0/checks/0/measured", [1]), "runs/0/checks/0/measured"),
        (_set("runs/0/source_sha256", "not-a-hash"), "runs/0/source_sha256"),
        (_set("runs/0/kill_switch_tick", -1), "runs/0/kill_switch_tick"),
        (_set("runs/0/metrics/max_drawdown_pct", {"value": 1}), "runs/0/metrics/max_drawdown_pct"),
        (_set("tests/0/outcome", "crashed"), "tests/0/outcome"),
        (_set("tests/0/duration_s", "fast"), "tests/0/duration_s"),
        (_set("verdict/counts/tests_failed", -1), "verdict/counts/tests_failed"),
        (_set("session/interrupted", "no"), "session/interrupted"),
        (_set("reproduce/failures/0/command", "rm -rf /"), "reproduce/failures/0/command"),
        (_set("finished_at", "yesterday"), "finished_at"),
        (_set("surprise", 1), "(document)"),
        (_set("tests/0/surprise", 1), "tests/0"),
    ],
)
def test_a_wrong_document_fails_validation(sample_document: dict, mutate, where: str) -> None:
    validate(sample_document)
    wrong = copy.deepcopy(sample_document)
    mutate(wrong)
    errors = schema_errors(wrong)
    assert any(e.startswith(f"{where}:") for e in errors), errors


def test_open_ended_maps_accept_new_keys(sample_document: dict) -> None:
    doc = copy.deepcopy(sample_document)
    doc["runs"][0]["metrics"]["a_new_metric"] = 1.5
    doc["runs"][0]["provenance"]["a_new_origin_fact"] = "x"
    doc["verdict"]["counts"]["tests_not_run"] = 0
    doc["runs"][0]["checks"][0]["status"] = "waived"  # coming: waived checks
    assert schema_errors(doc) == []


def test_schema_enums_match_the_code() -> None:
    from pytest_stress.checks import CheckStatus
    from pytest_stress.options import PROFILES
    from pytest_stress.specs.market_spec import SOURCES
    from pytest_stress.verdict import DECISIONS

    defs = json_schema()["$defs"]
    assert set(defs["decision"]["enum"]) == set(DECISIONS)
    assert set(defs["check_status"]["enum"]) == {s.value for s in CheckStatus} | {"waived"}
    assert set(defs["provenance"]["properties"]["kind"]["enum"]) == set(SOURCES)
    assert set(defs["environment"]["properties"]["profile"]["enum"]) == set(PROFILES)


# --- interrupted sessions ------------------------------------------------------------------------------


def test_a_report_written_after_ctrl_c_lists_the_tests_that_did_not_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.stress
        def test_first():
            pass

        @pytest.mark.stress
        def test_interrupted():
            raise KeyboardInterrupt

        @pytest.mark.stress
        def test_never_started():
            pass

        def test_not_a_stress_test():
            pass
        """
    )
    # no_reraise_ctrlc: the inner session's KeyboardInterrupt stays inside it
    result = pytester.runpytest(
        "--stress-report=json:c.json", "--stress-report=html:c.html", no_reraise_ctrlc=True
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*not run: 2 collected stress test(s)*"])
    doc = _doc(pytester)
    outcomes = {t["nodeid"].rpartition("::")[2]: t["outcome"] for t in doc["tests"]}
    assert outcomes == {
        "test_first": "passed",
        "test_interrupted": "not_run",
        "test_never_started": "not_run",
    }
    assert doc["session"]["interrupted"] is True
    assert doc["session"]["exit_status"] == int(pytest.ExitCode.INTERRUPTED)
    assert doc["session"]["collected"] == 3
    assert [n.rpartition("::")[2] for n in doc["session"]["not_run"]] == [
        "test_interrupted",
        "test_never_started",
    ]
    assert doc["verdict"]["decision"] != "GO"
    assert (pytester.path / "c.html").is_file()
    assert "interrupted" in (pytester.path / "journal.md").read_text()


def test_the_last_good_report_survives_a_session_that_dies_before_writing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_good="import pytest\n\n@pytest.mark.stress\ndef test_ok():\n    pass\n")
    pytester.runpytest("--stress-report=json:out/c.json", "test_good.py").assert_outcomes(passed=1)
    report = pytester.path / "out" / "c.json"
    good, good_journal = report.read_bytes(), (pytester.path / "out" / "journal.md").read_bytes()
    read_report(report)
    pytester.makepyfile(
        test_dies="import os\nimport pytest\n\n@pytest.mark.stress\ndef test_killed():\n    os._exit(9)\n"
    )
    died = pytester.runpytest_subprocess(
        "--stress-report=json:out/c.json", "-p", "no:cacheprovider", "test_dies.py"
    )
    assert died.ret == 9
    assert report.read_bytes() == good
    assert (pytester.path / "out" / "journal.md").read_bytes() == good_journal
    assert sorted(p.name for p in report.parent.iterdir()) == ["c.json", "journal.md"]


def test_a_crashed_xdist_worker_leaves_its_test_failed_and_the_rest_not_run(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.stress
        def test_a():
            pass

        @pytest.mark.stress
        def test_b_crashes():
            os._exit(3)

        @pytest.mark.stress
        def test_c():
            pass
        """
    )
    pytester.runpytest("-n", "1", "--max-worker-restart=0", "--stress-report=json:c.json")
    doc = _doc(pytester)
    tests = {t["nodeid"].rpartition("::")[2]: t for t in doc["tests"]}
    assert {k: t["outcome"] for k, t in tests.items()} == {
        "test_a": "passed",
        "test_b_crashes": "error",
        "test_c": "not_run",
    }
    assert "crashed" in tests["test_b_crashes"]["message"]
    assert doc["session"]["collected"] == 3
    assert doc["verdict"]["decision"] == "NO-GO"


# --- traceability --------------------------------------------------------------------------------------


def test_each_run_records_the_sha256_of_its_scenario_file(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("my_scenarios")
    yaml = scenarios / "strict_crash.yaml"
    yaml.write_text(textwrap.dedent(STRICT_SCENARIO))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.stress_scenario("strict_crash")
        def test_strict(stress_run):
            pass
        """
    )
    pytester.runpytest("--stress-scenarios=my_scenarios", "--stress-report=json:c.json").assert_outcomes(
        passed=1
    )
    doc = _doc(pytester)
    sha = hashlib.sha256(yaml.read_bytes()).hexdigest()
    assert doc["runs"][0]["source_sha256"] == sha
    assert doc["traceability"]["scenario_files"] == [
        {"scenario": "strict_crash", "source": str(yaml), "sha256": sha}
    ]
    assert doc["traceability"]["datasets"] == []


def test_a_historic_market_carries_the_sha256_of_its_data(pytester: pytest.Pytester) -> None:
    rows = ["time,ticker,bid,ask,size"]
    for i in range(300):
        for sym, px in (("AAA", 100.0), ("BBB", 50.0)):
            rows.append(
                f"2024-03-01 09:{30 + i // 60:02d}:{i % 60:02d},{sym},{px - 0.01:.2f},{px + 0.01:.2f},100"
            )
    data = pytester.path / "ticks.csv"
    data.write_text("\n".join(rows) + "\n")
    scenarios = pytester.mkdir("mine")
    (scenarios / "mine.yaml").write_text(
        f"name: mine\nmarket: {{source: historic, path: {data}, tick_ms: 1000}}\n"
        "portfolio: {initial_capital: 100000}\nrisk: {position_delta_trip_pct: null}\n"
        "expect:\n  max_drawdown_pct: {max: 5}\n"
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.stress_scenario("mine")
        def test_mine(stress_run):
            stress_run.certify()
        """
    )
    pytester.runpytest("--stress-scenarios=mine", "--stress-report=json:c.json").assert_outcomes(passed=1)
    doc = _doc(pytester)
    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    assert doc["runs"][0]["provenance"]["dataset_sha256"] == sha
    assert doc["traceability"]["datasets"] == [
        {"scenario": "mine", "market": "historic", "path": str(data), "sha256": sha}
    ]


TOXIPROXY_TESTS = """
    import pytest

    @pytest.mark.stress
    @pytest.mark.parametrize("n", range(4))
    def test_uses_toxiproxy(toxiproxy, n):
        assert toxiproxy.client.running()

    @pytest.mark.stress
    def test_without_toxiproxy():
        pass
"""


@pytest.mark.parametrize("workers", [None, 2], ids=["in-process", "xdist"])
def test_the_toxiproxy_that_served_the_session_is_recorded(pytester: pytest.Pytester, workers) -> None:
    """The server is recorded by the tests it served (their user_properties), so it reaches the report from
    the xdist workers that started it."""
    from pytest_stress.faults.api import API_VERSION

    if workers:
        pytest.importorskip("xdist")
    pytester.makepyfile(TOXIPROXY_TESTS)
    args = ["-n", str(workers)] if workers else []
    pytester.runpytest(*args, "--stress-report=json:c.json").assert_outcomes(passed=5)
    servers = _doc(pytester)["environment"]["toxiproxy_servers"]
    assert sum(s["tests"] for s in servers) == 4
    for s in servers:
        assert s["kind"] in ("embedded", "toxiproxy-server")  # the binary when it is on PATH
        assert s["url"] == f"http://{s['host']}:{s['port']}"
        assert s["version"]
        if s["kind"] == "embedded":
            assert s["version"] == API_VERSION
    workers_seen = {s["worker"] for s in servers}
    assert workers_seen <= ({"gw0", "gw1"} if workers else {None})
    assert len({s["url"] for s in servers}) == len(servers)


def test_a_session_without_toxiproxy_records_none(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.stress\ndef test_a():\n    pass\n")
    pytester.runpytest("--stress-report=json:c.json").assert_outcomes(passed=1)
    assert _doc(pytester)["environment"]["toxiproxy_servers"] == []


def test_the_time_scale_as_applied_to_an_injected_fault(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.inject_failure("market_data", mode="drop", value=2, window=(0, 5))
        def test_fault(market_data_service):
            pass
        """
    )
    pytester.runpytest("--stress-time-scale=20", "--stress-report=json:c.json").assert_outcomes(passed=1)
    doc = _doc(pytester)
    assert doc["traceability"]["time_scale"] == {
        "factor": 20.0,
        "origin": "--stress-time-scale",
        "profile": "ci",
        "faults_scaled": 1,
        "applied": [20.0],
    }
    [fault] = doc["tests"][0]["faults"]
    assert (fault["window"], fault["window_applied_s"]) == ([0.0, 5.0], [0.0, 0.25])
    [server] = doc["environment"]["toxiproxy_servers"]  # the feed's proxy: the fault's server is recorded
    assert server["tests"] == 1


def test_each_failure_carries_a_command_that_reproduces_it(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("my_scenarios")
    (scenarios / "strict_crash.yaml").write_text(textwrap.dedent(STRICT_SCENARIO))
    pytester.makepyfile(
        test_repro="""
        import pytest

        @pytest.mark.stress_scenario("strict_crash")
        def test_strict(stress_run):
            stress_run.certify()

        @pytest.mark.stress
        def test_passes():
            pass
        """
    )
    pytester.runpytest("--stress-scenarios=my_scenarios", "--stress-report=json:c.json").assert_outcomes(
        passed=1, failed=1
    )
    doc = _doc(pytester)
    command = "python -m pytest test_repro.py::test_strict -p no:randomly --stress-seed 3 --stress-scenarios my_scenarios"
    [check] = [c for c in doc["runs"][0]["checks"] if c["status"] != "passed"]
    assert (check["check"], check["status"]) == ("max_drawdown_pct", "failed")
    assert check["reproduce"] == command
    assert (
        check["reproduce_replay"]
        == "python -m pytest_stress run my_scenarios/strict_crash.yaml --seed 3 --symbols 5"
    )
    tests = {t["nodeid"]: t for t in doc["tests"]}
    assert tests["test_repro.py::test_strict"]["reproduce"] == command
    assert "reproduce" not in tests["test_repro.py::test_passes"]
    assert [(f["kind"], f["nodeid"], f["command"]) for f in doc["reproduce"]["failures"]] == [
        ("check", "test_repro.py::test_strict", command),
        ("test", "test_repro.py::test_strict", command),
    ]
    # the command does reproduce it: the same test fails on the same breach, and nothing else runs
    args = shlex.split(command)[3:]
    again = pytester.runpytest(*args, "--stress-report=json:again.json")
    again.assert_outcomes(failed=1)
    [rerun] = _doc(pytester, "again.json")["runs"]
    assert rerun["seed"] == 3
    assert rerun["max_drawdown_pct"] == doc["runs"][0]["max_drawdown_pct"]


# --- the journal ---------------------------------------------------------------------------------------


def test_each_session_appends_one_journal_entry_and_keeps_the_earlier_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CERTIFY_AND_FAIL)
    pytester.runpytest("--stress-report=html", "--stress-report=json").assert_outcomes(passed=1, failed=1)
    path = pytester.path / "reports" / "stress" / "journal.md"
    first = path.read_text()
    assert first.count("\n## ") == 1
    pytester.makepyfile(CERTIFY_AND_FAIL.replace("assert 1 == 2", "assert 1 == 1"))
    result = pytester.runpytest("--stress-report=json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["journal: reports/stress/journal.md (entry appended)"])
    text = path.read_text()
    assert text.startswith(first)
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [h.rsplit(" ", 1)[1] for h in headings] == ["NO-GO", "GO"]
    nogo_entry, go_entry = first, text[len(first) :]
    assert "::test_broken`: AssertionError: the stack lost an order" in nogo_entry
    assert "reproduce: `python -m pytest" in nogo_entry
    assert "Deviations: none." in go_entry
    assert "- counts: checks_passed 3, checks_failed 0" in go_entry


def test_a_failed_check_is_journalled_with_threshold_and_measured_value(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("my_scenarios")
    (scenarios / "strict_crash.yaml").write_text(textwrap.dedent(STRICT_SCENARIO))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.stress_scenario("strict_crash")
        def test_strict(stress_run):
            stress_run.certify()
        """
    )
    pytester.runpytest("--stress-scenarios=my_scenarios", "--stress-report=json:out/c.json")
    doc = read_report(pytester.path / "out" / "c.json")
    [measured] = [c["measured"] for c in doc["runs"][0]["checks"] if c["check"] == "max_drawdown_pct"]
    text = (pytester.path / "out" / "journal.md").read_text()
    assert (
        f"- check failed: strict_crash `max_drawdown_pct`: threshold <= 1%, measured {measured:.4g}%" in text
    )
    assert "- kill switch fired: strict_crash at tick" in text


def test_a_journal_that_cannot_be_written_fails_the_session_like_a_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.stress\ndef test_a():\n    pass\n")
    (pytester.path / "out" / "journal.md").mkdir(parents=True)
    result = pytester.runpytest("--stress-report=json:out/c.json")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*report NOT written:*journal.md: cannot append to the journal*"])
    assert json.loads((pytester.path / "out" / "c.json").read_text())["schema_version"] == 1
