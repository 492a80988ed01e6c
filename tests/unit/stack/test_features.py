"""The reference strategy's indicator features, each against a hand-computed value or its definition.

Runbook: seed 001 scenario 1 ("Fewer than 200 bars available for indicator computation", line 17;
"NaN values in feature vector", line 28): a feature that cannot be computed is NaN, never dropped.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_stress.stack.features import EMA_SPANS, FEATURE_NAMES, LAST_CLOSE, compute_features
from pytest_stress.stack.inference import synthetic_history


def flat_range(close, spread=1.0):
    c = np.asarray(close, dtype=np.float64)
    return c, c + spread, c - spread


def test_feature_names_are_the_models_ten_inputs_in_order():
    assert FEATURE_NAMES == (
        "sma_20",
        "sma_50",
        "sma_200",
        "ema_12",
        "ema_26",
        "rsi_14",
        "atr_14",
        "returns_1d",
        "returns_5d",
        "volatility_20",
    )


def test_moving_averages_on_a_linear_ramp_are_the_window_midpoints():
    c, h, lo = flat_range(np.arange(1.0, 301.0))  # closes 1..300
    f = compute_features(c, h, lo)
    assert f["sma_20"] == pytest.approx(np.mean(np.arange(281.0, 301.0)))
    assert f["sma_50"] == pytest.approx(275.5)
    assert f["sma_200"] == pytest.approx(200.5)
    assert f[LAST_CLOSE] == 300.0


@pytest.mark.parametrize("span", [12, 26])
def test_ema_equals_the_textbook_recursion_over_its_window(span):
    close, high, low = synthetic_history(5, 300)
    window = close[-EMA_SPANS * span :]
    alpha = 2.0 / (span + 1)
    ema = float(np.mean(window[:span]))
    for x in window[span:]:
        ema = alpha * x + (1 - alpha) * ema
    assert compute_features(close, high, low)[f"ema_{span}"] == pytest.approx(ema, rel=1e-12)


def test_rsi_is_100_on_a_rising_series_50_on_flat_and_balanced_moves():
    rising = flat_range(np.arange(100.0, 130.0))
    flat = flat_range(np.full(30, 100.0))
    zigzag = flat_range(100.0 + np.arange(30) % 2)  # +1, -1, +1 ...: equal mean gain and loss
    assert compute_features(*rising)["rsi_14"] == 100.0
    assert compute_features(*flat)["rsi_14"] == 50.0
    assert compute_features(*zigzag)["rsi_14"] == pytest.approx(50.0)


def test_atr_takes_the_gap_from_the_previous_close_into_the_true_range():
    close = np.full(30, 100.0)
    high, low = close + 1.0, close - 1.0
    assert compute_features(close, high, low)["atr_14"] == pytest.approx(2.0)
    close[-1], high[-1], low[-1] = 110.0, 111.0, 109.0  # gapped up: true range = 111 - 100
    assert compute_features(close, high, low)["atr_14"] == pytest.approx((13 * 2.0 + 11.0) / 14)


def test_returns_and_volatility_are_fractions_of_the_close():
    close, high, low = synthetic_history(6, 260)
    f = compute_features(close, high, low)
    assert f["returns_1d"] == pytest.approx(close[-1] / close[-2] - 1)
    assert f["returns_5d"] == pytest.approx(close[-1] / close[-6] - 1)
    r = close[-21:][1:] / close[-21:][:-1] - 1
    assert f["volatility_20"] == pytest.approx(np.std(r, ddof=1))


def test_fewer_than_200_bars_leave_sma_200_nan_and_the_rest_computed():
    # seed 001 line 17: "Fewer than 200 bars available for indicator computation"
    f = compute_features(*synthetic_history(2, 199))
    assert math.isnan(f["sma_200"])
    assert all(math.isfinite(f[n]) for n in FEATURE_NAMES if n != "sma_200")


def test_a_ten_bar_history_defines_only_the_short_returns():
    f = compute_features(*synthetic_history(2, 10))
    defined = {n for n in FEATURE_NAMES if math.isfinite(f[n])}
    assert defined == {"returns_1d", "returns_5d"}


def test_a_nan_bar_80_bars_back_makes_exactly_sma_200_and_ema_26_nan():
    # the runbook's example (seed 001 line 37): ['sma_200', 'ema_26'] and no other feature
    close, high, low = synthetic_history(3, 250)
    close[-80] = np.nan
    f = compute_features(close, high, low)
    assert [n for n in FEATURE_NAMES if math.isnan(f[n])] == ["sma_200", "ema_26"]


def test_a_nan_last_bar_makes_every_feature_nan():
    close, high, low = synthetic_history(3, 250)
    close[-1] = high[-1] = low[-1] = np.nan
    f = compute_features(close, high, low)
    assert all(math.isnan(f[n]) for n in FEATURE_NAMES)
    assert math.isnan(f[LAST_CLOSE])


def test_features_of_the_bounded_250_bar_history_equal_those_of_the_full_history():
    # seed 001 line 322: the strategy keeps 250 bars; no feature may need more
    close, high, low = synthetic_history(4, 1_000)
    full = compute_features(close, high, low)
    bounded = compute_features(close[-250:], high[-250:], low[-250:])
    assert bounded == full


def test_mismatched_inputs_are_refused_with_their_shapes():
    with pytest.raises(ValueError, match=r"\(5,\), \(4,\)"):
        compute_features(np.ones(5), np.ones(4), np.ones(5))
