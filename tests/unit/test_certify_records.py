"""What a certification session makes of pytest's reports: tests that did not run, xdist crash reports, the
Toxiproxy that served the tests, the time scale, and the command that reproduces each failure."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_stress.certify import trace
from pytest_stress.certify.session import (
    COLLECTED_PROPERTY,
    FAULT_PROPERTY,
    MEASURE_PROPERTY,
    RUN_PROPERTY,
    TOXIPROXY_PROPERTY,
    CertificationSession,
)

OPTIONS = {
    "profile": "ci",
    "time_scale": 10.0,
    "seed_override": None,
    "scenario_dirs": [],
    "toxiproxy_url": None,
}


def _report(nodeid, when, outcome="passed", props=(), keywords=None, longrepr=None):
    return SimpleNamespace(
        nodeid=nodeid,
        when=when,
        outcome=outcome,
        keywords={"stress": 1, nodeid: 1} if keywords is None else keywords,
        user_properties=list(props),
        duration=0.5,
        longrepr=longrepr,
    )


def _run_test(session, nodeid, call="passed", teardown_props=(), longrepr=None):
    session.add_report(_report(nodeid, "setup"))
    session.add_report(_report(nodeid, "call", call, longrepr=longrepr))
    session.add_report(_report(nodeid, "teardown", props=teardown_props))


def _session(tmp_path, **options):
    return CertificationSession([], {**OPTIONS, **options}, tmp_path)


def _check(name, status, measured, threshold="<= 5%", scenario="flash_crash_lite"):
    return {"scenario": scenario, "check": name, "threshold": threshold, "measured": measured, "unit": "%",
            "status": status, "detail": ""}  # fmt: skip


def _run(nodeid, *checks, seed=7, source=""):
    return {"scenario": "flash_crash_lite", "source": source, "seed": seed, "symbols": 5, "checks": list(checks),
            "kill_switch_triggered": False, "kill_switch_tick": None, "tick_ms": 100, "certified": True}  # fmt: skip


def test_collected_tests_without_a_result_are_not_run_records(tmp_path):
    """Ctrl-C in b's call: a has its result, b started but has none, c never started."""
    s = _session(tmp_path)
    s.set_collected(["t.py::a", "t.py::b", "t.py::c"])
    _run_test(s, "t.py::a")
    s.add_report(_report("t.py::b", "setup"))
    s.finish(2)
    outcomes = {t["nodeid"]: t["outcome"] for t in s.test_records()}
    assert outcomes == {"t.py::a": "passed", "t.py::b": "not_run", "t.py::c": "not_run"}
    assert s.not_run() == ["t.py::b", "t.py::c"]
    doc = s.document({"argv": []})
    assert doc["session"] == {
        "exit_status": 2,
        "interrupted": True,
        "collected": 3,
        "not_run": ["t.py::b", "t.py::c"],
    }
    messages = {t["nodeid"]: t["message"] for t in doc["tests"]}
    assert "interrupted while it ran" in messages["t.py::b"]
    assert "interrupted before it ran" in messages["t.py::c"]
    assert doc["tests"][1]["reproduce"] == "python -m pytest t.py::b -p no:randomly"


def test_a_test_that_failed_before_the_interrupt_keeps_its_failure(tmp_path):
    s = _session(tmp_path)
    s.set_collected(["t.py::a"])
    s.add_report(_report("t.py::a", "setup", "failed", longrepr="boom"))
    s.finish(2)
    [record] = s.test_records()
    assert (record["outcome"], record["message"]) == ("error", "boom")
    assert s.not_run() == []


def test_a_complete_session_has_nothing_not_run(tmp_path):
    s = _session(tmp_path)
    s.set_collected(["t.py::a", "t.py::b"])
    _run_test(s, "t.py::a")
    _run_test(s, "t.py::b", call="skipped")
    s.finish(0)
    assert s.not_run() == []
    assert s.document({})["session"]["interrupted"] is False


def test_a_worker_announces_its_collection_once_on_its_first_report(tmp_path):
    worker = _session(tmp_path)
    worker.set_collected(["t.py::a", "t.py::b"])
    first, second = _report("t.py::a", "setup"), _report("t.py::a", "call")
    worker.announce_collected(first)
    worker.announce_collected(second)
    assert first.user_properties == [(COLLECTED_PROPERTY, ["t.py::a", "t.py::b"])]
    assert second.user_properties == []


def test_the_controller_records_a_crashed_workers_test_and_what_it_left_unrun(tmp_path):
    """xdist's report of the test a worker died in has no keywords; the test is still a stress test."""
    controller = _session(tmp_path)
    crash = _report(
        "t.py::b", "???", "failed", keywords={}, longrepr="worker 'gw0' crashed while running 't.py::b'"
    )
    controller.add_report(crash)  # may come before the collection is known
    controller.add_report(_report("t.py::unit", "???", "failed", keywords={}))  # not a stress test
    controller.add_report(
        _report("t.py::a", "setup", props=[(COLLECTED_PROPERTY, ["t.py::a", "t.py::b", "t.py::c"])])
    )
    controller.add_report(_report("t.py::a", "call"))
    controller.add_report(_report("t.py::a", "teardown"))
    controller.finish(1)
    records = {t["nodeid"]: t for t in controller.test_records()}
    assert set(records) == {"t.py::a", "t.py::b", "t.py::c"}
    assert records["t.py::b"]["outcome"] == "error"
    assert "crashed" in records["t.py::b"]["message"]
    assert records["t.py::c"]["outcome"] == "not_run"
    assert "ended before it ran" in records["t.py::c"]["message"]
    assert controller.verdict().decision == "NO-GO"


def test_reports_of_unmarked_tests_are_ignored(tmp_path):
    s = _session(tmp_path)
    s.add_report(_report("t.py::unit", "call", "failed", keywords={"t.py::unit": 1}))
    assert s.test_records() == []


def test_a_failed_check_and_test_carry_the_command_that_reproduces_them(tmp_path):
    s = _session(tmp_path)
    s.rootdir = tmp_path
    s.cli_options = trace.cli_options(
        {"stress_scenarios": ["my dir"], "stress_stack": ["mod:make"], "stress_time_scale": 5.0}.get
    )
    run = _run(
        "tests/t.py::test_x[a]",
        _check("max_drawdown_pct", "failed", 7.5),
        _check("var_multiple", "passed", 1),
    )
    _run_test(
        s, "tests/t.py::test_x[a]", call="failed", teardown_props=[(RUN_PROPERTY, run)], longrepr="breach"
    )
    doc = s.document({"argv": []})
    command = (
        "python -m pytest 'tests/t.py::test_x[a]' -p no:randomly --stress-seed 7 "
        "--stress-scenarios 'my dir' --stress-stack mod:make --stress-time-scale 5"
    )
    failed, passed = doc["runs"][0]["checks"]
    assert failed["reproduce"] == command
    assert failed["reproduce_replay"] == "python -m pytest_stress run flash_crash_lite --seed 7 --symbols 5"
    assert "reproduce" not in passed
    [test] = doc["tests"]
    assert test["reproduce"] == command
    assert doc["reproduce"]["failures"] == [
        {
            "kind": "check",
            "nodeid": "tests/t.py::test_x[a]",
            "scenario": "flash_crash_lite",
            "check": "max_drawdown_pct",
            "command": command,
            "replay": "python -m pytest_stress run flash_crash_lite --seed 7 --symbols 5",
        },
        {"kind": "test", "nodeid": "tests/t.py::test_x[a]", "command": command},
    ]
    assert s.runs[0]["checks"][0].get("reproduce") is None  # the recorded run is not modified


def test_a_failed_measure_is_reproduced_by_the_test_that_failed_it(tmp_path):
    s = _session(tmp_path, seed_override=11)
    for nodeid, status in (("t.py::ok", "passed"), ("t.py::bad", "failed")):
        measure = {
            **_check("oms_retries_per_order", status, 3, "== 3", "broker_api_outage"),
            "nodeid": nodeid,
        }
        _run_test(s, nodeid, teardown_props=[(MEASURE_PROPERTY, measure)])
    [check] = s.document({})["measured_checks"]
    assert check["status"] == "failed"
    assert check["reproduce"] == "python -m pytest t.py::bad -p no:randomly --stress-seed 11"
    assert "reproduce_replay" not in check


def test_reproduce_ids_are_relative_to_where_pytest_was_invoked(tmp_path):
    assert trace.node_arg("tests/t.py::a[x]", tmp_path, tmp_path) == "tests/t.py::a[x]"
    assert trace.node_arg("tests/t.py::a[x]", tmp_path, tmp_path / "tests") == "t.py::a[x]"
    assert trace.node_arg("t.py::a", tmp_path / "sub", tmp_path) == "sub/t.py::a"


def test_each_toxiproxy_server_is_listed_with_the_tests_it_served(tmp_path):
    s = _session(tmp_path)
    served = {"kind": "embedded", "version": "2.12.0", "host": "127.0.0.1"}
    for n, (worker, port) in enumerate([("gw0", 1000), ("gw1", 2000), ("gw0", 1000)]):
        record = {**served, "port": port, "url": f"http://127.0.0.1:{port}", "worker": worker}
        _run_test(s, f"t.py::test_{n}", teardown_props=[(TOXIPROXY_PROPERTY, record)])
    _run_test(s, "t.py::no_proxy")
    servers = s.document({})["environment"]["toxiproxy_servers"]
    assert [(x["worker"], x["port"], x["tests"]) for x in servers] == [("gw0", 1000, 2), ("gw1", 2000, 1)]
    assert _session(tmp_path).document({})["environment"]["toxiproxy_servers"] == []


def test_the_time_scale_as_applied_to_the_faults(tmp_path):
    s = _session(tmp_path, time_scale=4.0)
    s.cli_options = {"stress_time_scale": 4.0}
    fault = {"service": "broker", "mode": "outage", "rate": 1.0, "window": [10.0, 30.0], "value": None,
             "time_scale": 4.0, "log": []}  # fmt: skip
    _run_test(s, "t.py::f", teardown_props=[(FAULT_PROPERTY, fault)])
    doc = s.document({})
    assert doc["traceability"]["time_scale"] == {
        "factor": 4.0,
        "origin": "--stress-time-scale",
        "profile": "ci",
        "faults_scaled": 1,
        "applied": [4.0],
    }
    assert doc["tests"][0]["faults"][0]["window_applied_s"] == [2.5, 7.5]
    assert s.tests["t.py::f"]["faults"][0].get("window_applied_s") is None  # the record stays as recorded
    assert _session(tmp_path).document({})["traceability"]["time_scale"]["origin"] == "profile ci"


def test_the_scenario_file_is_hashed_and_a_missing_file_is_null(tmp_path):
    yaml = tmp_path / "s.yaml"
    yaml.write_bytes(b"name: s\n")
    s = _session(tmp_path)
    _run_test(s, "t.py::a", teardown_props=[(RUN_PROPERTY, _run("t.py::a", source=str(yaml)))])
    _run_test(
        s, "t.py::b", teardown_props=[(RUN_PROPERTY, _run("t.py::b", source=str(tmp_path / "gone.yaml")))]
    )
    doc = s.document({})
    assert doc["runs"][0]["source_sha256"] == hashlib.sha256(b"name: s\n").hexdigest()
    assert doc["runs"][1]["source_sha256"] is None
    assert {Path(f["source"]).name: f["sha256"] for f in doc["traceability"]["scenario_files"]} == {
        "s.yaml": hashlib.sha256(b"name: s\n").hexdigest(),
        "gone.yaml": None,
    }


def test_a_hash_recorded_where_the_file_was_read_is_kept(tmp_path):
    s = _session(tmp_path)
    run = {**_run("t.py::a", source=str(tmp_path / "elsewhere.yaml")), "source_sha256": "ab" * 32}
    _run_test(s, "t.py::a", teardown_props=[(RUN_PROPERTY, run)])
    assert s.document({})["runs"][0]["source_sha256"] == "ab" * 32


def test_datasets_are_listed_with_their_hash(tmp_path):
    s = _session(tmp_path)
    prov = {
        "kind": "historic",
        "market": "historic",
        "dataset_path": "ticks.csv",
        "dataset_sha256": "cd" * 32,
    }
    _run_test(s, "t.py::a", teardown_props=[(RUN_PROPERTY, {**_run("t.py::a"), "provenance": prov})])
    _run_test(
        s,
        "t.py::b",
        teardown_props=[(RUN_PROPERTY, {**_run("t.py::b"), "provenance": {"kind": "synthetic"}})],
    )
    assert s.document({})["traceability"]["datasets"] == [
        {"scenario": "flash_crash_lite", "market": "historic", "path": "ticks.csv", "sha256": "cd" * 32}
    ]


def test_file_sha256_reads_large_files_in_chunks(tmp_path):
    big = tmp_path / "big.bin"
    data = bytes(range(256)) * 20_000  # 5 MB: several chunks
    big.write_bytes(data)
    assert trace.file_sha256(big) == hashlib.sha256(data).hexdigest()
    assert trace.file_sha256(tmp_path) is None  # a directory
    assert trace.file_sha256("") is None


@pytest.mark.parametrize(
    ("given", "args"),
    [
        ({}, []),
        ({"stress_profile": "nightly"}, ["--stress-profile", "nightly"]),
        ({"toxiproxy_url": "http://127.0.0.1:8474"}, ["--toxiproxy-url", "http://127.0.0.1:8474"]),
        ({"stress_stack": ["a:b", "c:d"]}, ["--stress-stack", "a:b", "--stress-stack", "c:d"]),
    ],
)
def test_the_sessions_stress_options_are_repeated(given, args):
    options = trace.cli_options(given.get)
    assert trace.pytest_command("t.py::a", None, options) == " ".join(
        ["python -m pytest t.py::a -p no:randomly", *args]
    )


@pytest.mark.parametrize(
    ("body", "version"),
    [(b'{"version": "2.12.0"}\n', "2.12.0"), (b"2.1.4\n", "2.1.4"), (b"{}", None)],
    ids=["json", "plain-text", "no-version"],
)
def test_the_toxiproxy_version_is_read_from_either_answer(body, version):
    """Toxiproxy 2.6+ answers GET /version with JSON, older releases with plain text."""
    import http.server
    import threading

    from pytest_stress.fixtures.faults import server_version

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/version" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert server_version(f"http://127.0.0.1:{server.server_port}") == version
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_an_unreachable_toxiproxy_has_no_version():
    from pytest_stress.faults.servers import free_port
    from pytest_stress.fixtures.faults import server_version

    assert server_version(f"http://127.0.0.1:{free_port()}", timeout_s=0.5) is None


def test_paths_in_reproduce_commands_are_posix(tmp_path):
    sub = Path("a") / "b"
    assert trace.node_arg("x.py::t", tmp_path / sub, tmp_path) == "a/b/x.py::t"
