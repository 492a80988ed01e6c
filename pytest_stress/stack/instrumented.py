"""Seed 004's instrumented governor wrapper: every ``make_decision`` is timed in nanoseconds and counted,
so the decision-flood test (1,000 decisions/s for 10 min, 600,000+ samples, P99 <= 15 ms) reads its numbers.

Latencies go to a preallocated int64 array that doubles when full (8 bytes a decision: 600,000 samples
take 4.8 MB and no Python object each), so percentiles are one ``np.percentile`` over exact samples.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

_INITIAL_CAPACITY = 4_096


class InstrumentedGovernor:
    """``make_decision(observation) = governor.filter(model.predict(observation))``, timed.

    ``metrics`` is optional and duck-typed like a Prometheus/StatsD client: ``metrics.timing(name, ns)``
    and ``metrics.counter(name).inc()`` for ``decision_ns``, ``decisions_total`` and ``decision_errors``.
    A decision that raises is counted in ``decision_errors`` (not timed) and the exception re-raised.
    ``timer`` (nanoseconds) is ``time.perf_counter_ns`` unless a test needs known latencies.
    """

    def __init__(
        self,
        model: Any,
        governor: Any,
        metrics: Any | None = None,
        *,
        timer: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.model = model
        self.governor = governor
        self.metrics = metrics
        self._timer = timer
        self.decisions_total = 0
        self.decision_errors = 0
        self._latency_ns = np.empty(_INITIAL_CAPACITY, dtype=np.int64)

    def make_decision(self, observation: Any) -> Any:
        t0 = self._timer()
        try:
            action = self.governor.filter(self.model.predict(observation))
        except Exception:
            self.decision_errors += 1
            if self.metrics is not None:
                self.metrics.counter("decision_errors").inc()
            raise
        elapsed = self._timer() - t0
        n = self.decisions_total
        if n == self._latency_ns.size:
            self._latency_ns = np.concatenate([self._latency_ns, np.empty(n, dtype=np.int64)])
        self._latency_ns[n] = elapsed
        self.decisions_total = n + 1
        if self.metrics is not None:
            self.metrics.timing("decision_ns", elapsed)
            self.metrics.counter("decisions_total").inc()
        return action

    @property
    def latencies_ns(self) -> np.ndarray:
        """The successful decisions' latencies (ns), oldest first; a read-only view."""
        view = self._latency_ns[: self.decisions_total]
        view.flags.writeable = False
        return view

    @property
    def error_rate(self) -> float:
        attempts = self.decisions_total + self.decision_errors
        return self.decision_errors / attempts if attempts else 0.0

    def latency_percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100) of the decision latencies, in nanoseconds."""
        if not 0.0 <= q <= 100.0:
            raise ValueError(f"percentile q must be in 0..100, got {q}")
        if self.decisions_total == 0:
            raise ValueError("no decision recorded yet: call make_decision before reading percentiles")
        return float(np.percentile(self._latency_ns[: self.decisions_total], q))
