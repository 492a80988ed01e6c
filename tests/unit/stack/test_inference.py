"""The reference inference adapter: NaN features refused by name, a scale-free model whose stored
parameters are what its seeded fit gives, and confidence that falls on out-of-distribution inputs.

Runbook: seed 001 scenario 1 (line 29: "Raises ValueError in prepare_features()"; line 37: the message)
and scenario 2 (lines 101-103: returns_1d 0.15 -> "lower confidence -> ABSTAIN"; line 96: 0.55).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_stress.stack.features import FEATURE_NAMES, LAST_CLOSE, compute_features
from pytest_stress.stack.inference import (
    DEFAULT_PARAMS,
    GATE_Z,
    MLInferenceAdapter,
    ModelParams,
    fit_reference_model,
    synthetic_history,
)
from pytest_stress.stack.protocols import InferenceAdapter

N = len(FEATURE_NAMES)
RETURNS_1D = FEATURE_NAMES.index("returns_1d")


def neutral_features(close=100.0):
    """Raw features whose normalised inputs are all zero (averages at the close, RSI 50, no range)."""
    f = {n: close for n in ("sma_20", "sma_50", "sma_200", "ema_12", "ema_26")}
    f.update(rsi_14=50.0, atr_14=0.0, returns_1d=0.0, returns_5d=0.0, volatility_20=0.0)
    f[LAST_CLOSE] = close
    return f


def unit_model(weight_on_returns_1d=1.0):
    """z = normalised input; p = sigmoid(w * returns_1d): the gate is then checkable by hand."""
    weights = [0.0] * N
    weights[RETURNS_1D] = weight_on_returns_1d
    return MLInferenceAdapter(ModelParams(tuple(weights), 0.0, (0.0,) * N, (1.0,) * N))


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_the_adapter_implements_the_inference_protocol():
    adapter = MLInferenceAdapter()
    assert isinstance(adapter, InferenceAdapter)
    assert tuple(adapter.feature_names) == FEATURE_NAMES


def test_refitting_the_seeded_model_gives_the_stored_parameters():
    fitted = fit_reference_model(seed=DEFAULT_PARAMS.seed, n_bars=DEFAULT_PARAMS.n_bars)
    for field in ("weights", "means", "stds"):
        np.testing.assert_allclose(getattr(fitted, field), getattr(DEFAULT_PARAMS, field), rtol=0, atol=1e-9)
    assert fitted.bias == pytest.approx(DEFAULT_PARAMS.bias, abs=1e-9)


def test_prepare_features_names_every_nan_feature_in_feature_order():
    features = neutral_features()
    features["ema_26"] = math.nan  # set before sma_200: the message still follows FEATURE_NAMES
    features["sma_200"] = math.nan
    with pytest.raises(ValueError, match=r"^NaN values in features: \['sma_200', 'ema_26'\]$"):
        MLInferenceAdapter().prepare_features(features)


def test_prepare_features_names_a_missing_feature_and_a_missing_close():
    features = neutral_features()
    del features["rsi_14"], features[LAST_CLOSE]
    with pytest.raises(ValueError, match=r"^NaN values in features: \['rsi_14', 'close'\]$"):
        MLInferenceAdapter().prepare_features(features)


def test_prepare_features_is_a_float64_vector_that_does_not_depend_on_the_price_level():
    close, high, low = synthetic_history(9, 260)
    adapter = MLInferenceAdapter()
    x = adapter.prepare_features(compute_features(close, high, low))
    x_scaled = adapter.prepare_features(compute_features(close * 1000, high * 1000, low * 1000))
    assert x.dtype == np.float64
    assert x.shape == (N,)
    np.testing.assert_allclose(x_scaled, x, atol=1e-9)


def test_confidence_is_the_larger_of_p_up_and_its_complement():
    adapter = unit_model(weight_on_returns_1d=-1.0)
    features = neutral_features()
    features["returns_1d"] = 2.0  # z = 2: inside the 3-sigma gate
    p_up, confidence = adapter.predict(features)
    assert p_up == pytest.approx(sigmoid(-2.0))
    assert confidence == pytest.approx(1.0 - p_up)


def test_inside_three_sigma_the_gate_leaves_the_model_alone():
    features = neutral_features()
    features["returns_1d"] = GATE_Z
    assert unit_model().predict(features)[0] == pytest.approx(sigmoid(GATE_Z))


def test_beyond_three_sigma_the_lean_shrinks_by_exp_of_the_excess():
    features = neutral_features()
    features["returns_1d"] = 4.0  # 1 sigma past the gate: the lean keeps exp(-1)
    p_up, confidence = unit_model().predict(features)
    assert p_up == pytest.approx(0.5 + (sigmoid(4.0) - 0.5) * math.exp(-1.0))
    assert confidence < sigmoid(GATE_Z)  # further out, yet less sure than at the gate


def test_a_15_percent_one_bar_return_leaves_no_confidence_to_trade_on():
    # seed 001 lines 101-103: "Spike: returns_1d = 0.15 ... lower confidence -> ABSTAIN"
    close, high, low = synthetic_history(9, 260)
    features = compute_features(close, high, low)
    features["returns_1d"] = 0.15
    _, confidence = MLInferenceAdapter().predict(features)
    assert confidence < 0.501


def test_vol_spike_bars_lower_the_confidence_on_every_window():
    # seed 001 lines 136-139: the last 10 bars get high = close x 1.15, low = close x 0.85
    close, high, low = synthetic_history(11, 600)
    adapter = MLInferenceAdapter()
    for end in range(250, 600, 25):
        c, h, lo = close[:end].copy(), high[:end].copy(), low[:end].copy()
        _, normal = adapter.predict(compute_features(c, h, lo))
        c[-1] = c[-2] * 1.15
        h[-10:], lo[-10:] = c[-10:] * 1.15, c[-10:] * 0.85
        _, spiked = adapter.predict(compute_features(c, h, lo))
        assert spiked < 0.55, end
        assert spiked < normal, end


def test_the_model_predicts_better_than_a_coin_on_a_history_it_did_not_see():
    # the reference must be able to trade (confidence >= 0.55 on part of the bars), not always ABSTAIN
    close, high, low = synthetic_history(21, 1_500)
    adapter = MLInferenceAdapter()
    hits, confident = [], []
    for t in range(250, close.size - 1):
        p_up, confidence = adapter.predict(compute_features(close[: t + 1], high[: t + 1], low[: t + 1]))
        hits.append((p_up >= 0.5) == (close[t + 1] > close[t]))
        confident.append(confidence >= 0.55)
    assert np.mean(hits) > 0.54
    assert 0.2 < np.mean(confident) < 0.9


def test_another_seed_fits_another_model():
    # the stored constants are the seed's, not whatever fit ran last
    other = fit_reference_model(seed=2, n_bars=1_000)
    assert other.seed == 2
    assert not np.allclose(other.weights, DEFAULT_PARAMS.weights, atol=1e-3)
