"""The reference inference adapter: a logistic regression on scale-free indicator features, fitted with
NumPy on a seeded synthetic history, whose confidence shrinks toward 0.5 on out-of-distribution inputs.

Model inputs (``normalise``), one per ``FEATURE_NAMES`` entry, so the model does not care about the price
level: moving averages as ``close / average - 1``; ``rsi_14 / 100 - 0.5``; ``atr_14 / close``; returns and
volatility as they are (fractions). ``prepare_features`` standardises them with the training means and
standard deviations (z-scores); ``p_up = sigmoid(weights . z + bias)``.

Confidence gating (seed 001 scenario 2: "Model sees unusual feature values -> lower confidence ->
ABSTAIN"): with ``m = max |z|`` over the features and ``gate_z = 3``, the model's lean is shrunk,
``p_up = 0.5 + (p - 0.5) * exp(-(m - gate_z))`` when ``m > gate_z`` (unchanged otherwise), and
``confidence = max(p_up, 1 - p_up)``. A logistic model alone grows *more* confident as an input runs off
its training range; the gate makes it less so: at 4 sigma the lean keeps 37 %, at 6 sigma 5 %, and a 15 %
one-bar return (over 10 sigma here) leaves a confidence below 0.5001, under any abstain threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pytest_stress.stack.features import FEATURE_NAMES, LAST_CLOSE, compute_features

DEFAULT_SEED = 1
TRAINING_BARS = 4_000
GATE_Z = 3.0
RIDGE = 1e-3  # L2 on the weights: the moving-average ratios are nearly collinear
_PRICE_RATIO = ("sma_20", "sma_50", "sma_200", "ema_12", "ema_26")
_WARMUP = 200  # bars before the first sample: every feature is defined from there on


@dataclass(frozen=True)
class ModelParams:
    """A fitted model: weights and bias on z-scores, and the training means/stds (normalised units)."""

    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...]
    stds: tuple[float, ...]
    seed: int = DEFAULT_SEED
    n_bars: int = TRAINING_BARS


# fit_reference_model(seed=1, n_bars=4000); tests/unit/stack/test_inference.py checks that a refit agrees.
DEFAULT_PARAMS = ModelParams(
    weights=(
        -0.06722713930989609,
        0.0022615251919193367,
        -0.026223053146011904,
        -0.20812435852600897,
        -0.15756502841222322,
        0.1049065768193377,
        0.04367728274493385,
        0.04632315394660217,
        0.023511615088386895,
        -0.013844400570534732,
    ),
    bias=-0.023713138719877937,
    means=(
        -0.0002488106451029953,
        -0.0006530330418086016,
        -0.0024405402093192223,
        -0.00019116917174466982,
        -0.0003998869183101741,
        -0.0023663409950621527,
        0.016890694327881324,
        3.173889131897481e-05,
        5.9534135238835955e-05,
        0.011216218539738282,
    ),
    stds=(
        0.018643072960701286,
        0.02385893326377314,
        0.039425036550099636,
        0.013193079362694203,
        0.01722991190313977,
        0.11558920720785978,
        0.002197645924083719,
        0.01118258502651641,
        0.021076377847595907,
        0.001858096122356774,
    ),
    seed=1,
    n_bars=4000,
)


def normalise(features: Mapping[str, float]) -> np.ndarray:
    """The scale-free model inputs in ``FEATURE_NAMES`` order (NaN where a feature or ``close`` is)."""
    close = float(features.get(LAST_CLOSE, math.nan))
    out = np.empty(len(FEATURE_NAMES), dtype=np.float64)
    for i, name in enumerate(FEATURE_NAMES):
        value = float(features.get(name, math.nan))
        if name in _PRICE_RATIO:
            out[i] = close / value - 1.0 if value != 0.0 else math.nan
        elif name == "rsi_14":
            out[i] = value / 100.0 - 0.5
        elif name == "atr_14":
            out[i] = value / close if close != 0.0 else math.nan
        else:
            out[i] = value
    return out


class MLInferenceAdapter:
    """``protocols.InferenceAdapter`` for ``ml_direction_v1``; see the module docstring for the rules."""

    feature_names: tuple[str, ...] = FEATURE_NAMES

    def __init__(self, params: ModelParams = DEFAULT_PARAMS, *, gate_z: float = GATE_Z) -> None:
        self.params = params
        self.gate_z = float(gate_z)
        self._w = np.asarray(params.weights, dtype=np.float64)
        self._mean = np.asarray(params.means, dtype=np.float64)
        self._std = np.asarray(params.stds, dtype=np.float64)

    def prepare_features(self, features: Mapping[str, float]) -> np.ndarray:
        """The standardised model input (z-scores, float64, ``FEATURE_NAMES`` order).

        Raises ``ValueError("NaN values in features: ['sma_200', 'ema_26']")`` naming every feature that is
        missing or NaN, in ``FEATURE_NAMES`` order (then ``close``, which the price features need).
        """
        bad = [n for n in (*FEATURE_NAMES, LAST_CLOSE) if not _is_number(features.get(n))]
        if bad:
            raise ValueError(f"NaN values in features: {bad}")
        x = normalise(features)
        if not np.isfinite(x).all():
            names = [n for n, v in zip(FEATURE_NAMES, x, strict=True) if not math.isfinite(v)]
            raise ValueError(f"NaN values in features: {names} (a zero or infinite price)")
        return (x - self._mean) / self._std

    def predict(self, features: Mapping[str, float]) -> tuple[float, float]:
        """``(p_up, confidence)`` after the out-of-distribution gate; raises like ``prepare_features``."""
        z = self.prepare_features(features)
        p = _sigmoid(float(self._w @ z) + self.params.bias)
        excess = float(np.max(np.abs(z))) - self.gate_z
        if excess > 0.0:
            p = 0.5 + (p - 0.5) * math.exp(-excess)
        return p, max(p, 1.0 - p)


def _is_number(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _sigmoid(x: float) -> float:
    # the two branches keep exp() from overflowing on a large logit of either sign
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def synthetic_history(seed: int = DEFAULT_SEED, n_bars: int = TRAINING_BARS) -> tuple[np.ndarray, ...]:
    """``(close, high, low)`` of a seeded synthetic market the model can learn something from.

    Log price = a random-walk trend (0.4 % a bar) + a deviation that mean-reverts, AR(1) with phi 0.8
    and 1 % shocks, so the next bar leans against the current deviation from the moving averages. The
    bar opens at the previous close; high and low reach beyond open and close by |N(0, 0.5 %)|.
    """
    rng = np.random.default_rng(seed)
    trend = np.cumsum(rng.normal(0.0, 0.004, n_bars))
    shocks = rng.normal(0.0, 0.01, n_bars)
    dev = np.empty(n_bars)
    dev[0] = shocks[0]
    for t in range(1, n_bars):
        dev[t] = 0.8 * dev[t - 1] + shocks[t]
    close = 100.0 * np.exp(trend + dev)
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.005, n_bars)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.005, n_bars)))
    return close, high, low


def history_features(close: np.ndarray, high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Normalised features of every bar from the 200th on, one row per bar (the strategy's own path)."""
    rows = [
        normalise(compute_features(close[: t + 1], high[: t + 1], low[: t + 1]))
        for t in range(_WARMUP - 1, close.size)
    ]
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))


def fit_reference_model(seed: int = DEFAULT_SEED, n_bars: int = TRAINING_BARS) -> ModelParams:
    """Fit the logistic regression (Newton's method, L2 ``RIDGE`` on the weights) to predict whether the
    next close is higher, on ``synthetic_history(seed, n_bars)``; deterministic for a seed."""
    close, high, low = synthetic_history(seed, n_bars)
    x = history_features(close, high, low)[:-1]  # the last bar has no next close to label it
    y = (close[_WARMUP:] > close[_WARMUP - 1 : -1]).astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    design = np.column_stack([(x - mean) / std, np.ones(len(x))])
    penalty = np.full(design.shape[1], RIDGE * len(x))
    penalty[-1] = 0.0  # the bias is not shrunk
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        grad = design.T @ (p - y) + penalty * beta
        hess = (design.T * (p * (1.0 - p))) @ design + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-13:
            break
    return ModelParams(
        weights=tuple(float(v) for v in beta[:-1]),
        bias=float(beta[-1]),
        means=tuple(float(v) for v in mean),
        stds=tuple(float(v) for v in std),
        seed=seed,
        n_bars=n_bars,
    )
