"""The reference drift detector (seed 001 scenario 4): PSI and KL divergence of current feature values
against the training distribution, a 0-100 health score, model age, and a DRIFT_ALERT that never pauses.

Binning: per feature, the reference's deciles give 9 inner edges and 10 bins, the first and last open
ended (a value equal to an edge falls in the bin below it). Bin shares of reference (r) and current (c)
samples use ``EPSILON`` = 1e-4 in place of an empty bin, so a log never sees zero.

- ``PSI = sum (c - r) ln(c / r)``; ``KL = sum c ln(c / r)``, i.e. KL(current || reference), in nats.
- ``psi`` and ``kl`` of the report are the largest over the features given.

Health score, 0..100 (100 = no drift, a new model):
``health = clip(100 - 35 r - 15 a, 0, 100)`` with ``r = max(psi / psi_threshold, kl / kl_threshold)``
(1 at either alert threshold) and ``a = min(age_days / max_model_age_days, 1)``. So a new model whose PSI
reaches 0.2 already scores 65 (< 70), and health falls below 70 alone from PSI 0.171 on a new model or
PSI 0.086 at 90 days; age by itself costs at most 15 points, its own rule (> 90 days) alerts for it.

The report alerts when PSI > 0.2 or KL > 0.3 or health < 70 or the model is over 90 days old; it then
publishes ``DRIFT_ALERT`` "Model drift detected for ml_direction_v1: ...". ``pause_trading`` is always
False: the runbook wants a human to decide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np

from pytest_stress.stack.bus import EventBus, EventType, StackEvent
from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.model import DriftReport
from pytest_stress.stack.protocols import Clock

EPSILON = 1e-4
N_BINS = 10
DRIFT_WEIGHT = 35.0  # health points lost per threshold-multiple of drift
AGE_WEIGHT = 15.0  # health points lost by a model at its maximum age


class ReferenceDriftDetector:
    """``protocols.DriftDetector`` on per-feature reference samples (any units, one sequence a feature)."""

    def __init__(
        self,
        reference_distributions: Mapping[str, Sequence[float]],
        *,
        model_name: str = "ml_direction_v1",
        trained_at: dt.datetime,
        bus: EventBus | None = None,
        clock: Clock | None = None,
        psi_threshold: float = 0.2,
        kl_threshold: float = 0.3,
        health_threshold: float = 70.0,
        max_model_age_days: float = 90,
    ) -> None:
        if not reference_distributions:
            raise ValueError("reference_distributions is empty: give at least one feature's sample")
        self.model_name = model_name
        self.trained_at = _utc(trained_at)
        self.bus = bus
        self.clock = clock if clock is not None else WallClock()
        self.psi_threshold = float(psi_threshold)
        self.kl_threshold = float(kl_threshold)
        self.health_threshold = float(health_threshold)
        self.max_model_age_days = float(max_model_age_days)
        self.reference_distributions = {
            name: _sample(name, values, "reference") for name, values in reference_distributions.items()
        }
        self._edges = {
            name: np.quantile(ref, np.linspace(0.0, 1.0, N_BINS + 1)[1:-1])
            for name, ref in self.reference_distributions.items()
        }
        self._ref_shares = {
            name: _shares(ref, self._edges[name]) for name, ref in self.reference_distributions.items()
        }

    def detect_drift(
        self, features: Mapping[str, Sequence[float]], *, as_of: dt.datetime | None = None
    ) -> DriftReport:
        """Compare ``features`` (feature -> current values, or one value) with the reference."""
        if not features:
            raise ValueError("detect_drift got no features: pass feature name -> current values")
        scores: dict[str, dict[str, float]] = {}
        for name, values in features.items():
            if name not in self._edges:
                raise ValueError(
                    f"unknown feature {name!r}: the reference of {self.model_name} has {sorted(self._edges)}"
                )
            current = _shares(_sample(name, values, "current"), self._edges[name])
            ref = self._ref_shares[name]
            log_ratio = np.log(current / ref)
            scores[name] = {
                "psi": float(np.sum((current - ref) * log_ratio)),
                "kl": float(np.sum(current * log_ratio)),
            }
        psi_feature = max(scores, key=lambda n: scores[n]["psi"])
        kl_feature = max(scores, key=lambda n: scores[n]["kl"])
        psi, kl = scores[psi_feature]["psi"], scores[kl_feature]["kl"]
        now = _utc(as_of) if as_of is not None else dt.datetime.now(dt.timezone.utc)
        age_days = (now - self.trained_at).total_seconds() / 86_400.0
        health = self.health_score(psi, kl, age_days)

        reasons = []
        if psi > self.psi_threshold:
            reasons.append(f"PSI {psi:.3f} > {self.psi_threshold:g} (feature {psi_feature})")
        if kl > self.kl_threshold:
            reasons.append(f"KL {kl:.3f} > {self.kl_threshold:g} (feature {kl_feature})")
        if health < self.health_threshold:
            reasons.append(f"health score {health:.1f} < {self.health_threshold:g}")
        if age_days > self.max_model_age_days:
            reasons.append(f"model age {age_days:.1f} days > {self.max_model_age_days:g}")
        report = DriftReport(
            psi=psi,
            kl=kl,
            feature_scores=scores,
            health_score=health,
            alert=bool(reasons),
            reasons=tuple(reasons),
            pause_trading=False,  # seed 001: "No automatic trading pause (requires human decision)"
            model_age_days=age_days,
        )
        if reasons and self.bus is not None:
            self.bus.publish(
                StackEvent(
                    EventType.DRIFT_ALERT,
                    reason=f"Model drift detected for {self.model_name}: " + "; ".join(reasons),
                    source=self.model_name,
                    timestamp=self.clock.now(),
                    data={"psi": psi, "kl": kl, "health_score": health, "model_age_days": age_days},
                )
            )
        return report

    def health_score(self, psi: float, kl: float, age_days: float) -> float:
        """The module docstring's rule: 100 - 35 x drift (threshold multiples) - 15 x age fraction."""
        drift = max(psi / self.psi_threshold, kl / self.kl_threshold, 0.0)
        age = min(max(age_days, 0.0) / self.max_model_age_days, 1.0)
        return float(np.clip(100.0 - DRIFT_WEIGHT * drift - AGE_WEIGHT * age, 0.0, 100.0))


def reference_distributions_from_history(
    seed: int | None = None, n_bars: int | None = None
) -> dict[str, list[float]]:
    """The model's normalised input features (``inference.normalise``) over a seeded synthetic history,
    by default the one the reference model was trained on: feature name -> values."""
    from pytest_stress.stack.features import FEATURE_NAMES
    from pytest_stress.stack.inference import DEFAULT_PARAMS, history_features, synthetic_history

    history = synthetic_history(
        DEFAULT_PARAMS.seed if seed is None else seed, DEFAULT_PARAMS.n_bars if n_bars is None else n_bars
    )
    x = history_features(*history)
    return {name: x[:, i].tolist() for i, name in enumerate(FEATURE_NAMES)}


def _sample(name: str, values: Sequence[float] | float, which: str) -> np.ndarray:
    x = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
    if x.size == 0:
        raise ValueError(f"empty {which} sample for feature {name!r}: PSI needs at least one value")
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise ValueError(
            f"{which} sample for feature {name!r} holds {bad} NaN or infinite value(s) of {x.size}: "
            "drop the bars the strategy abstained on before measuring drift"
        )
    return x


def _shares(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, x, side="left"), minlength=N_BINS)
    shares = counts / x.size
    return np.where(shares == 0.0, EPSILON, shares)


def _utc(when: dt.datetime) -> dt.datetime:
    # a naive datetime is read as UTC rather than refused: model registries often store them that way
    return when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when.astimezone(dt.timezone.utc)
