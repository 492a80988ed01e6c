"""The reference drift detector against seed 001 scenario 4: a 2-sigma shift gives PSI > 0.2 and a health
score under 70, a fresh sample of the reference does not alert, a 91-day-old model does, and the alert
never pauses trading.

Runbook lines: 242 (PSI > 0.2), 243 (health below 70/100), 244 ("Model drift detected for
ml_direction_v1"), 248 (no automatic trading pause), 253-256 (KL > 0.3, days since training > 90),
287-293 (the simulation: every feature shifted by 2 reference standard deviations).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from pytest_stress.stack.bus import EventBus, EventType
from pytest_stress.stack.clock import SimClock
from pytest_stress.stack.drift import (
    EPSILON,
    ReferenceDriftDetector,
    reference_distributions_from_history,
)
from pytest_stress.stack.features import FEATURE_NAMES
from pytest_stress.stack.protocols import DriftDetector

TRAINED = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
NEXT_DAY = TRAINED + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def reference():
    return reference_distributions_from_history()


@pytest.fixture
def bus():
    return EventBus()


def detector(reference, bus=None, **kwargs):
    return ReferenceDriftDetector(reference, trained_at=TRAINED, bus=bus, clock=SimClock(500.0), **kwargs)


def resample(reference, n, seed):
    """A fresh sample of the reference distribution (seeded draws with replacement)."""
    rng = np.random.default_rng(seed)
    return {name: rng.choice(np.asarray(values), n) for name, values in reference.items()}


def test_the_detector_implements_the_drift_detector_protocol(reference):
    assert isinstance(detector(reference), DriftDetector)


def test_the_reference_is_the_models_inputs_over_the_seeded_training_history(reference):
    assert tuple(reference) == FEATURE_NAMES
    assert all(len(v) == 3_801 and all(map(math.isfinite, v)) for v in reference.values())
    assert reference_distributions_from_history(seed=3, n_bars=300) != reference_distributions_from_history(
        seed=4, n_bars=300
    )


def test_a_two_sigma_shift_raises_psi_over_0_2_health_under_70_and_a_drift_alert(reference, bus):
    # seed 001 lines 287-293: drifted = value + 2 x reference std; assert drift_metrics['psi'] > 0.2
    current = resample(reference, 500, seed=7)
    drifted = {name: values + 2 * np.std(reference[name]) for name, values in current.items()}

    report = detector(reference, bus).detect_drift(drifted, as_of=NEXT_DAY)

    assert report["psi"] > 0.2
    assert report.health_score < 70
    assert report.alert
    assert report.pause_trading is False  # line 248: "No automatic trading pause"
    (event,) = bus.of_type(EventType.DRIFT_ALERT)
    assert event.reason.startswith("Model drift detected for ml_direction_v1: PSI ")
    assert event.timestamp == 500.0
    assert bus.of_type(EventType.TRADING_PAUSED) == []


def test_a_fresh_sample_of_the_reference_raises_no_alert(reference, bus):
    report = detector(reference, bus).detect_drift(resample(reference, 1_000, seed=8), as_of=NEXT_DAY)
    assert report.psi < 0.05
    assert report.kl < 0.05
    assert report.health_score > 90
    assert not report.alert
    assert report.reasons == ()
    assert bus.events == ()


def test_psi_tells_a_fresh_normal_sample_from_a_two_sigma_shifted_one():
    ref = {"x": np.random.default_rng(1).normal(0.0, 1.0, 5_000)}
    fresh = np.random.default_rng(2).normal(0.0, 1.0, 1_000)
    det = detector(ref)
    assert det.detect_drift({"x": fresh}, as_of=NEXT_DAY).psi < 0.05
    assert det.detect_drift({"x": fresh + 2.0}, as_of=NEXT_DAY).psi > 2.0


def test_psi_and_kl_follow_their_formulas_on_decile_bins_with_an_epsilon_for_empty_ones():
    det = detector({"x": np.arange(1_000.0)})  # deciles: 100 values a bin
    report = det.detect_drift({"x": [5.0, 6.0, 7.0]}, as_of=NEXT_DAY)  # everything in the first bin
    psi = 0.9 * math.log(1.0 / 0.1) + 9 * (EPSILON - 0.1) * math.log(EPSILON / 0.1)
    kl = math.log(1.0 / 0.1) + 9 * EPSILON * math.log(EPSILON / 0.1)
    assert report.feature_scores["x"]["psi"] == pytest.approx(psi)
    assert report.feature_scores["x"]["kl"] == pytest.approx(kl)


def test_the_outer_bins_are_open_ended():
    det = detector({"x": np.arange(1_000.0)})
    far = det.detect_drift({"x": [-1e9, 1e9]}, as_of=NEXT_DAY)  # half in the first bin, half in the last
    psi = 2 * (0.5 - 0.1) * math.log(0.5 / 0.1) + 8 * (EPSILON - 0.1) * math.log(EPSILON / 0.1)
    assert far.psi == pytest.approx(psi)


def test_the_report_psi_and_kl_are_the_worst_features(reference):
    current = resample(reference, 500, seed=9)
    current["atr_14"] = current["atr_14"] * 3  # only ATR drifts
    report = detector(reference).detect_drift(current, as_of=NEXT_DAY)
    assert report.psi == report.feature_scores["atr_14"]["psi"]
    assert report.psi == max(s["psi"] for s in report.feature_scores.values())
    assert "(feature atr_14)" in report.reasons[0]


def test_health_score_mapping():
    det = detector({"x": [0.0, 1.0]})
    assert det.health_score(0.0, 0.0, 0.0) == 100.0
    assert det.health_score(0.2, 0.0, 0.0) == pytest.approx(65.0)  # at the PSI threshold: under 70
    assert det.health_score(0.0, 0.3, 0.0) == pytest.approx(65.0)  # likewise at the KL threshold
    assert det.health_score(0.17, 0.0, 0.0) > 70 > det.health_score(0.175, 0.0, 0.0)
    assert det.health_score(0.0, 0.0, 90.0) == pytest.approx(85.0)  # age alone costs at most 15
    assert det.health_score(0.0, 0.0, 900.0) == pytest.approx(85.0)
    assert det.health_score(0.1, 0.0, 90.0) < 70  # an old model tolerates less drift
    assert det.health_score(5.0, 0.0, 0.0) == 0.0


def test_a_model_trained_91_days_ago_alerts_without_any_drift(reference, bus):
    # line 256: "Days since training > 90"
    det = detector(reference, bus)
    sample = resample(reference, 1_000, seed=8)
    assert not det.detect_drift(sample, as_of=TRAINED + dt.timedelta(days=89)).alert
    report = det.detect_drift(sample, as_of=TRAINED + dt.timedelta(days=91))
    assert report.alert
    assert report.reasons == ("model age 91.0 days > 90",)
    assert report.pause_trading is False
    (event,) = bus.of_type(EventType.DRIFT_ALERT)
    assert event.reason == "Model drift detected for ml_direction_v1: model age 91.0 days > 90"


def test_as_of_defaults_to_now_and_naive_times_are_utc(reference):
    old = ReferenceDriftDetector(reference, trained_at=dt.datetime(2000, 1, 1))  # naive: read as UTC
    assert old.trained_at.tzinfo is dt.timezone.utc
    assert old.detect_drift(resample(reference, 1_000, seed=8)).reasons[-1].startswith("model age")


def test_an_unknown_feature_is_refused_by_name(reference):
    with pytest.raises(ValueError, match="unknown feature 'sma_100'"):
        detector(reference).detect_drift({"sma_100": [0.0]}, as_of=NEXT_DAY)


def test_an_empty_sample_is_refused_by_name(reference):
    with pytest.raises(ValueError, match="empty current sample for feature 'rsi_14'"):
        detector(reference).detect_drift({"rsi_14": []}, as_of=NEXT_DAY)
    with pytest.raises(ValueError, match="empty reference sample for feature 'x'"):
        detector({"x": []})


def test_nan_values_are_refused_not_binned(reference):
    with pytest.raises(ValueError, match="'ema_12' holds 1 NaN"):
        detector(reference).detect_drift({"ema_12": [0.0, math.nan]}, as_of=NEXT_DAY)
