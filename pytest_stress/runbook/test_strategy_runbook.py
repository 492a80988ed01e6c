"""Runbook seed 001, the model's side: missing data (scenario 1), extreme volatility (scenario 2), model
drift (scenario 4) and bounded buffers (scenario 5). Each test cites the runbook line it checks."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import time
import tracemalloc

import pytest

from pytest_stress.runbook.market import feed, flat_book, order, spike, walk, with_nan_bars
from pytest_stress.stack.bus import EventType
from pytest_stress.stack.model import OrderStatus, SignalSide

pytestmark = pytest.mark.stress

MIN_BARS = 200  # seed 001: "Fewer than 200 bars available for indicator computation"
ABSTAIN_THRESHOLD = 0.55  # seed 001: "Higher chance of ABSTAIN if confidence < 0.55"
MODEL_AGE_LIMIT_DAYS = 90  # seed 001 monitoring: "Days since training > 90"


def _trades(signals):
    return [s for s in signals if s.side is not SignalSide.ABSTAIN]


# --- scenario 1: missing data / NaN features ---


def test_strategy_returns_no_signals_with_fewer_than_200_bars(trading_stack):
    """Scenario 1, expected behaviour 1: "Strategy: Returns empty signal list (no trades)"."""
    feed(trading_stack.strategy, walk("SPY", MIN_BARS - 1))
    assert trading_stack.strategy.generate_signals(flat_book()) == []


def test_inference_adapter_raises_value_error_naming_nan_features(trading_stack):
    """Scenario 1, behaviours 2-3: NaN in the feature vector -> ``prepare_features()`` raises ValueError."""
    adapter = trading_stack.inference
    if adapter is None:
        pytest.skip("the stack exposes no inference adapter: not evaluated")
    names = list(adapter.feature_names)
    features = {name: 0.01 for name in names}
    nan_names = names[: min(2, len(names))]
    for name in nan_names:
        features[name] = math.nan
    with pytest.raises(ValueError, match="NaN") as err:
        adapter.prepare_features(features)
    for name in nan_names:
        assert name in str(err.value), f"the error does not name the NaN feature {name!r}: {err.value}"


def test_strategy_abstains_when_features_are_nan(trading_stack, stress_measure):
    """Scenario 1, behaviour 4: "Strategy catches exception, returns ABSTAIN signal" - never a trade."""
    feed(trading_stack.strategy, with_nan_bars(walk("SPY", 260)))
    signals = trading_stack.strategy.generate_signals(flat_book())
    abstains = [s for s in signals if s.symbol == "SPY" and s.side is SignalSide.ABSTAIN]
    said_nan = bool(abstains) and "NaN" in abstains[0].rationale
    check = stress_measure("missing_data", "abstain_on_nan_features", not _trades(signals) and said_nan)
    assert not _trades(signals), f"{check.line()}: traded on NaN features: {_trades(signals)}"
    assert abstains, "no ABSTAIN signal for a symbol whose features are NaN"
    assert "NaN" in abstains[0].rationale, f"rationale does not say NaN: {abstains[0].rationale!r}"
    if trading_stack.inference is not None:
        named = [n for n in trading_stack.inference.feature_names if n in abstains[0].rationale]
        assert named, f"the rationale names no feature: {abstains[0].rationale!r}"


def test_nan_abstention_is_logged_to_the_prediction_log(trading_stack):
    """Scenario 1, behaviour 5 and its monitoring query:
    ``jq 'select(.signal == "ABSTAIN" and (.explanation.rationale | contains("NaN")))'``."""
    feed(trading_stack.strategy, with_nan_bars(walk("SPY", 260)))
    trading_stack.strategy.generate_signals(flat_book())
    log = trading_stack.predictions_log
    assert log.exists(), f"no prediction log at {log}"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    hits = [
        rec
        for rec in lines
        if rec.get("signal") == "ABSTAIN" and "NaN" in str((rec.get("explanation") or {}).get("rationale"))
    ]
    assert hits, f"the runbook's jq query finds no NaN abstention in {len(lines)} logged predictions"


# --- scenario 2: extreme volatility spike ---


def test_volatility_spike_lowers_confidence_or_abstains(trading_stack):
    """Scenario 2: a 15 % move with a 30 % bar range -> "lower confidence -> ABSTAIN";
    the runbook's check: ``if signals: assert signals[0].confidence < 0.60``."""
    feed(trading_stack.strategy, spike(walk("SPY", 260)))
    signals = [s for s in trading_stack.strategy.generate_signals(flat_book()) if s.symbol == "SPY"]
    for s in _trades(signals):
        assert s.confidence < 0.60, f"traded the spike with confidence {s.confidence:.3f} >= 0.60"


def test_signals_under_the_abstain_threshold_are_abstain(trading_stack):
    """Scenario 2, confidence gating: no trade below confidence 0.55, over many seeded markets."""
    seen = 0
    for seed in range(12):
        symbol = ("SPY", "QQQ", "NVDA")[seed % 3]
        feed(trading_stack.strategy, walk(symbol, 210, seed=seed, vol=0.002 + 0.002 * (seed % 4)))
        for s in trading_stack.strategy.generate_signals(flat_book()):
            seen += 1
            if s.side is not SignalSide.ABSTAIN:
                assert s.confidence >= ABSTAIN_THRESHOLD, f"{s.side.value} at confidence {s.confidence:.3f}"
    assert seen, "the strategy produced no signal at all with 200+ bars"


# --- scenario 4: model drift ---


def _shifted(reference, sigmas: float):
    out = {}
    for name, values in reference.items():
        vals = [float(v) for v in values]
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / max(1, len(vals) - 1))
        out[name] = [v + sigmas * std for v in vals]
    return out


def _fresh_age(detector):
    return detector.trained_at + dt.timedelta(days=1)


def test_two_sigma_shift_is_detected_as_drift(trading_stack, stress_measure):
    """Scenario 4: features shifted by 2 std -> PSI > 0.2, health < 70, alert
    "Model drift detected for <model>" (thresholds: model_drift's expect: block)."""
    det = trading_stack.drift_detector
    report = det.detect_drift(_shifted(det.reference_distributions, 2.0), as_of=_fresh_age(det))
    checks = [
        stress_measure("model_drift", "drift_psi", report.psi),
        stress_measure("model_drift", "model_health_score", report.health_score),
        stress_measure("model_drift", "drift_alert_raised", report.alert),
    ]
    assert all(c.passed for c in checks), "; ".join(c.line() for c in checks if not c.passed)
    alerts = trading_stack.bus.of_type(EventType.DRIFT_ALERT)
    assert any(f"Model drift detected for {det.model_name}" in e.reason for e in alerts), alerts


def test_drift_never_pauses_trading_by_itself(trading_stack):
    """Scenario 4: "No automatic trading pause (requires human decision)"."""
    det = trading_stack.drift_detector
    report = det.detect_drift(_shifted(det.reference_distributions, 2.0), as_of=_fresh_age(det))
    assert report.alert
    assert not report.pause_trading
    assert not trading_stack.risk_governor.kill_switch_active
    result = trading_stack.oms.submit_order(order())
    assert result.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.SUBMITTED), (
        f"an order after a drift alert was {result.status.value}: {result.reject_reason}"
    )


def test_no_drift_alert_on_the_reference_distribution(trading_stack):
    """Scenario 4's alert must mean something: a sample of the reference itself raises none."""
    det = trading_stack.drift_detector
    rng = random.Random(11)
    sample = {
        name: [rng.choice(list(values)) for _ in range(max(200, len(values) // 2))]
        for name, values in det.reference_distributions.items()
    }
    report = det.detect_drift(sample, as_of=_fresh_age(det))
    assert not report.alert, f"false drift alarm: psi {report.psi:.3f}, reasons {report.reasons}"


def test_model_older_than_90_days_raises_a_drift_alert(trading_stack):
    """Scenario 4 monitoring: "Days since training > 90"."""
    det = trading_stack.drift_detector
    ref = {name: list(values) for name, values in det.reference_distributions.items()}
    young = det.detect_drift(ref, as_of=det.trained_at + dt.timedelta(days=MODEL_AGE_LIMIT_DAYS - 1))
    old = det.detect_drift(ref, as_of=det.trained_at + dt.timedelta(days=MODEL_AGE_LIMIT_DAYS + 1))
    assert not young.alert
    assert old.alert
    assert not old.pause_trading


# --- scenario 5: memory / resource exhaustion ---


def test_buffers_stay_bounded_over_a_long_run(trading_stack, stress_measure):
    """Scenario 5 prevention: price history <= 250 bars, performance records <= 10,000, and signal
    generation well under 1 s (thresholds: resource_exhaustion's expect: block)."""
    strategy = trading_stack.strategy
    book = flat_book()
    bars = walk("SPY", 10_400, seed=3)
    feed(strategy, bars[:300])
    seconds = []
    for bar in bars[300:8_400]:  # timed, untraced
        strategy.on_market_data(bar)
        t0 = time.perf_counter()
        strategy.generate_signals(book)
        seconds.append(time.perf_counter() - t0)
    tracemalloc.start()  # then 2,000 more bars with allocations traced: a bounded strategy allocates no more
    try:
        for bar in bars[8_400:]:
            strategy.on_market_data(bar)
            strategy.generate_signals(book)
        _, allocated_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    sizes = strategy.buffer_sizes()
    assert sizes["price_history"] >= MIN_BARS, f"the strategy no longer keeps the bars it needs: {sizes}"
    p99_ms = sorted(seconds)[int(0.99 * (len(seconds) - 1))] * 1e3
    checks = [
        stress_measure("resource_exhaustion", "price_history_bars_max", sizes["price_history"]),
        stress_measure("resource_exhaustion", "performance_records_max", sizes.get("performance_records", 0)),
        stress_measure("resource_exhaustion", "signal_time_p99_ms", p99_ms),
    ]
    guard = trading_stack.resource_guard
    if guard is not None:
        # the memory the strategy allocated during the long run (Python objects and NumPy buffers, by
        # tracemalloc), against the limit the guard watches. Not the process's resident memory: in a test
        # process that also holds the numba compiler, RSS after a cold-cache compile is ~1.6 GB whatever the
        # strategy does, and would say nothing about its buffers
        peak = allocated_peak
        checks.append(
            stress_measure("resource_exhaustion", "peak_memory_pct", 100.0 * peak / guard.memory_limit_bytes)
        )
    assert all(c.passed for c in checks), "; ".join(c.line() for c in checks if not c.passed)
