"""Stand-ins for tests/stress/test_fault_matrix.py and test_fault_matrix_broker.py in the session whose
report tests/report/test_render.py measures: the same tests, parameters, injected faults and measured checks
as the real matrices put in the certification, without the two minutes of wall-clock streaming through
Toxiproxy they take. Only their rows in the report matter there; what they check is tested in tests/stress.

Not collected from tests/report (no test_ prefix): test_render.py copies it into its session.
"""

import pytest

from pytest_stress.certify.session import FAULT_PROPERTY

SCENARIOS = ("flash_crash_lite", "data_corruption_shock", "ftx_collapse_2022")
OUTAGE_1, OUTAGE_2 = (10, 40), (60, 90)
over_scenarios = pytest.mark.parametrize("scenario", SCENARIOS)


@pytest.fixture
def fault(request):
    """``fault(service, mode, ...)``: record an injected fault as the inject_failure fixture does."""

    def record(service, mode, *, rate=1.0, window=None, value=None):
        spec = {"service": service, "mode": mode, "rate": rate, "window": window, "value": value}
        log = [f"{service} fault {mode} on", f"{service} fault {mode} off"]
        request.node.user_properties.append((FAULT_PROPERTY, {**spec, "time_scale": 10.0, "log": log}))

    return record


@pytest.mark.stress
@over_scenarios
def test_market_data_gaps_are_detected_and_flagged(scenario, fault, stress_measure):
    """Gaps -> forward fill within tolerance, degraded flag, DataGapDetected, a gap counter."""
    fault("market_data", "drop", value=2)
    assert stress_measure("missing_data", "data_gap_events", 2).passed


@pytest.mark.stress
@over_scenarios
def test_reordered_market_data_is_restored_or_replayed(scenario, fault):
    """10 % reorder -> restored order, or quarantine + replay from checkpoint, never a crash."""
    fault("market_data", "reorder", rate=0.1)


@pytest.mark.stress
@over_scenarios
def test_ws_latency_spike_degrades_execution_and_serves_the_cached_book(scenario, fault, stress_measure):
    """WS latency 1-3 s -> a stall over 1 s: cached book and MarketHalt.DELAY; execution enters DEGRADED
    latency mode (throttled submissions, wider slippage buffers) and ws_latency_high fires within 60 s."""
    fault("market_data", "latency", value=1500, window=(5, 30))
    for metric in ("market_halt_delay_triggered", "cached_book_fallback_used"):
        check = stress_measure(scenario, metric, True, optional=True)
        assert check is None or check.passed


@pytest.mark.stress
@over_scenarios
def test_market_data_outage_is_survived_by_reconnecting(scenario, fault):
    """Feed loss (proxy down) -> detected, the adapter reconnects when it is back, nothing is lost."""
    fault("market_data", "outage", window=(5, 25))


@pytest.mark.stress
@pytest.mark.parametrize(("mode", "value"), [("outage", None), ("reset_peer", 0), ("timeout", 0)])
@over_scenarios
def test_two_broker_outages_in_one_run_are_survived(scenario, mode, value, fault, stress_measure):
    """Seed 001 scenario 3 and seed 004 day 4, over FIX: two outages in one run (proxy disabled, peer
    reset, or a silent link); during each: FAILED after 3 retries naming the cause, trading paused,
    "Broker Disconnected", positions held; after each: recovery; nothing lost or duplicated, no breach."""
    fault("broker", mode, window=OUTAGE_1, value=value)
    fault("broker", mode, window=OUTAGE_2, value=value)
    checks = [
        stress_measure("broker_failure", "broker_outages_survived", 2),
        stress_measure("broker_failure", "recovery_time_s", 1.2),
        stress_measure("broker_failure", "portfolio_reconciliation_error", 0.0),
        stress_measure("broker_failure", "breach_count", 0),
        stress_measure("broker_api_outage", "positions_held", True),
    ]
    assert all(c.passed for c in checks)


@pytest.mark.stress
@pytest.mark.parametrize(
    ("mode", "value"), [("latency", 200), ("slow_close", 500), ("bandwidth", 2), ("slicer", 3)]
)
@over_scenarios
def test_orders_fill_exactly_once_on_a_degraded_broker_path(scenario, mode, value, fault):
    """Broker latency (200 ms), slow close, a 2 KB/s bandwidth cap, messages split across reads: every
    order still fills once, and the broker's book equals the OMS's fills."""
    fault("broker", mode, value=value)


@pytest.mark.stress
def test_recovery_waits_for_fresh_market_data(fault, stress_measure):
    """Seed 004 day 4: after the outage, trading resumes with market data fresher than 500 ms."""
    fault("broker", "outage", window=OUTAGE_1)
    assert stress_measure("broker_failure", "market_data_age_at_resume_ms", 1.3).passed


@pytest.mark.stress
def test_fills_are_priced_from_the_replayed_market():
    """The broker prices fills from the scenario's stressed market as it replays, not from a fixed quote."""
