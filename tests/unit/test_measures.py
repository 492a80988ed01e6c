"""Checks measured by tests (stress_measure) completing the checks a replay could not measure."""

from pytest_stress.certify.session import merge_measures
from pytest_stress.verdict import decide


def _check(check, status, measured=None, scenario="broker_api_outage"):
    return {"scenario": scenario, "check": check, "threshold": ">= 3", "measured": measured, "unit": "",
            "status": status, "detail": ""}  # fmt: skip


def _run(*checks, certified=True):
    return {"scenario": "broker_api_outage", "nodeid": "t::run", "checks": list(checks), "certified": certified,
            "kill_switch_triggered": False}  # fmt: skip


def test_a_measure_completes_a_not_evaluated_check_of_a_certified_run():
    runs = [_run(_check("oms_retries_per_order", "not_evaluated"), _check("breach_count", "passed", 0))]
    measures = [{**_check("oms_retries_per_order", "passed", 3), "nodeid": "t::m"}]
    merged, standalone = merge_measures(runs, measures)
    first = merged[0]["checks"][0]
    assert (first["status"], first["measured"], first["measured_by"]) == ("passed", 3, ["t::m"])
    assert standalone == []
    assert runs[0]["checks"][0]["status"] == "not_evaluated"  # the recorded run is not modified


def test_one_failing_measure_fails_the_combined_check():
    measures = [
        {**_check("oms_retries_per_order", "passed", 3), "nodeid": "t::a"},
        {**_check("oms_retries_per_order", "failed", 1), "nodeid": "t::b"},
    ]
    merged, _ = merge_measures([_run(_check("oms_retries_per_order", "not_evaluated"))], measures)
    check = merged[0]["checks"][0]
    assert (check["status"], check["measured"]) == ("failed", 1)
    verdict = decide(merged, [])
    assert verdict.decision == "NO-GO"


def test_measures_without_a_certified_run_are_checks_of_their_own():
    measures = [{**_check("oms_retries_per_order", "passed", 3), "nodeid": "t::a"}]
    merged, standalone = merge_measures(
        [_run(_check("oms_retries_per_order", "not_evaluated"), certified=False)], measures
    )
    assert [c["check"] for c in standalone] == ["oms_retries_per_order"]
    verdict = decide(merged, [{"nodeid": "t::a", "outcome": "passed"}], standalone)
    assert verdict.decision == "GO"
    assert verdict.counts["checks_passed"] == 1


def test_a_replay_measured_check_is_not_replaced():
    runs = [_run(_check("breach_count", "failed", 2))]
    merged, standalone = merge_measures(runs, [{**_check("breach_count", "passed", 0), "nodeid": "t::m"}])
    assert merged[0]["checks"][0]["status"] == "failed"
    assert [c["check"] for c in standalone] == ["breach_count"]
