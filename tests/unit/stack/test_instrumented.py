"""Seed 004's instrumented governor (lines 146-163): ``make_decision`` filters the model's prediction
through the governor, times it in ns, counts decisions and errors, re-raises errors, and holds the
600,000 samples of the decision flood (line 230: ``min_samples: int = 600_000``) cheaply.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from pytest_stress.stack.instrumented import InstrumentedGovernor


class Model:
    def predict(self, observation):
        return observation * 2


class Governor:
    def filter(self, action):
        return min(action, 10)


class Broken:
    def predict(self, observation):
        raise RuntimeError("model server down")


class Metrics:
    """Prometheus/StatsD-style client: timing(name, ns) and counter(name).inc()."""

    def __init__(self):
        self.timings = []
        self.counts = Counter()

    def timing(self, name, ns):
        self.timings.append((name, ns))

    def counter(self, name):
        counts = self.counts

        class _Counter:
            def inc(self):
                counts[name] += 1

        return _Counter()


def timer_for(latencies_ns):
    """A timer whose readings make the n-th decision take ``latencies_ns[n]``: 0 at its start, then that."""
    readings = iter([reading for latency in latencies_ns for reading in (0, latency)])
    return lambda: next(readings)


def test_a_decision_is_the_governors_filter_of_the_models_prediction():
    governed = InstrumentedGovernor(Model(), Governor())
    assert governed.make_decision(3) == 6
    assert governed.make_decision(30) == 10  # the governor caps the model
    assert governed.decisions_total == 2
    assert governed.decision_errors == 0


def test_latencies_are_recorded_in_nanoseconds_with_exact_percentiles():
    governed = InstrumentedGovernor(Model(), Governor(), timer=timer_for(range(1_000, 100_001, 1_000)))
    for obs in range(100):
        governed.make_decision(obs)
    np.testing.assert_array_equal(governed.latencies_ns, np.arange(1, 101) * 1_000)
    assert governed.latency_percentile(50) == pytest.approx(50_500.0)
    assert governed.latency_percentile(99) == pytest.approx(99_010.0)
    assert governed.latency_percentile(100) == 100_000.0


def test_metrics_hooks_see_every_decision_and_error():
    metrics = Metrics()
    governed = InstrumentedGovernor(Model(), Governor(), metrics, timer=timer_for([250, 500]))
    governed.make_decision(1)
    governed.make_decision(2)
    assert metrics.timings == [("decision_ns", 250), ("decision_ns", 500)]
    assert metrics.counts == {"decisions_total": 2}


def test_an_error_is_counted_and_re_raised_not_timed():
    metrics = Metrics()
    governed = InstrumentedGovernor(Broken(), Governor(), metrics)
    with pytest.raises(RuntimeError, match="model server down"):
        governed.make_decision(1)
    assert governed.decision_errors == 1
    assert governed.decisions_total == 0
    assert governed.error_rate == 1.0
    assert metrics.counts == {"decision_errors": 1}
    assert metrics.timings == []
    assert governed.latencies_ns.size == 0


def test_600000_decisions_are_all_kept_as_one_int64_array():
    governed = InstrumentedGovernor(Model(), Governor())
    for obs in range(600_000):
        governed.make_decision(obs & 7)
    latencies = governed.latencies_ns
    assert latencies.size == 600_000
    assert latencies.dtype == np.int64
    assert (latencies > 0).all()
    assert governed.latency_percentile(50) <= governed.latency_percentile(99) <= latencies.max()
    with pytest.raises(ValueError, match="read-only"):
        latencies[0] = 0


def test_percentiles_need_decisions_and_a_q_in_0_to_100():
    governed = InstrumentedGovernor(Model(), Governor())
    with pytest.raises(ValueError, match="no decision recorded yet"):
        governed.latency_percentile(99)
    governed.make_decision(1)
    with pytest.raises(ValueError, match=r"must be in 0\.\.100"):
        governed.latency_percentile(999)
