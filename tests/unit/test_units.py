"""The report's numbers in human units: the unit always shown, percent as percent, durations scaled, counts
with thousands separators, no exponent notation for ordinary values (the issue's examples)."""

from __future__ import annotations

import math

import pytest

from pytest_stress.certify import units


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((0.2133, "", "realised_vol_annual_max"), "21.33 %"),  # a fraction, shown as percent
        ((5.0, "%", "max_drawdown_pct"), "5 %"),
        ((3.0312, "%", "max_drawdown_pct"), "3.031 %"),
        ((10_000, "", "total_trades"), "10,000"),
        ((10000.0, "", "breach_count"), "10,000"),
        ((345_400.0, "s", "max_dd_duration_s"), "95.94 h"),
        ((2_212_200.0, "ms", "fill_latency_p99_ms"), "36.87 min"),
        ((0.0125, "ms", "decision_latency_p99_ms"), "12.5 µs"),
        ((250.0, "ms", "fill_latency_p50_ms"), "250 ms"),
        ((1.53, "x", "var_multiple"), "1.53\u00d7"),
        ((True, "", "kill_switch_triggered"), "yes"),
        ((None, "%", "max_drawdown_pct"), "not measured"),
        (("inf", "x", "var_multiple"), "\u221e\u00d7"),
        ((0.00012, "", "limit_cancel_ratio"), "0.00012"),
        ((1e-12, "", "sharpe_ratio"), "1.00\u00d710^-12"),
    ],
)
def test_values_read_in_their_units(args, text):
    assert units.value(*args) == text


def test_no_ordinary_value_prints_in_exponent_notation():
    for x in (1e4, 3.454e5, 2.2122e6, 0.5, 123.456, 1e-6, 9.87e8):
        assert "e" not in units.number(x).lower(), x


def test_durations_pick_the_unit_a_person_reads():
    assert [units.duration(s) for s in (0.000004, 0.25, 42.0, 600.0, 7200.0)] == [
        "4 µs",
        "250 ms",
        "42 s",
        "10 min",
        "2 h",
    ]
    assert units.duration(math.nan) == "not a number"
