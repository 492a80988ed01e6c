"""The reference strategy ``ml_direction_v1`` against seed 001 scenarios 1, 2 and 5: no signal before 200
bars, ABSTAIN naming the NaN features, lower confidence in a volatility spike, bounded buffers, and one
valid JSON line per prediction in ``predictions.jsonl``.
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

from pytest_stress.stack.features import FEATURE_NAMES
from pytest_stress.stack.inference import synthetic_history
from pytest_stress.stack.model import Bar, PortfolioSnapshot, SignalSide
from pytest_stress.stack.protocols import Strategy
from pytest_stress.stack.strategy import MLDirectionStrategyV1

PORTFOLIO = PortfolioSnapshot(cash=1_000_000.0, positions={}, marks={})
MINUTE_NS = 60_000_000_000
T0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def make_bars(close, high, low, symbol="SPY"):
    opens = np.concatenate(([close[0]], close[:-1]))
    return [
        Bar(symbol, T0_NS + i * MINUTE_NS, float(o), float(h), float(lo), float(c), 1_000.0)
        for i, (o, h, lo, c) in enumerate(zip(opens, high, low, close, strict=True))
    ]


def feed(strategy, bars):
    for bar in bars:
        strategy.on_market_data(bar)


def strict_json(line):
    """Parse like jq does: NaN or Infinity in a line is an error, not a float."""
    return json.loads(line, parse_constant=lambda token: pytest.fail(f"invalid JSON token {token}"))


class StepClock:
    """Every reading is 0.25 s after the previous one: generate_signals reads it twice."""

    def __init__(self):
        self.t = 0.0

    def now(self):
        self.t += 0.25
        return self.t

    def sleep(self, seconds):
        self.t += seconds


def test_the_strategy_implements_the_strategy_protocol():
    assert isinstance(MLDirectionStrategyV1(), Strategy)


def test_fewer_than_200_bars_give_no_signal_and_no_log_line(tmp_path):
    # seed 001 line 27: "Strategy: Returns empty signal list (no trades)"
    log = tmp_path / "predictions.jsonl"
    strategy = MLDirectionStrategyV1(prediction_log=log)
    feed(strategy, make_bars(*synthetic_history(3, 199)))
    assert strategy.generate_signals(PORTFOLIO) == []
    assert not log.exists()


def test_the_200th_bar_brings_the_first_signal():
    bars = make_bars(*synthetic_history(3, 200))
    strategy = MLDirectionStrategyV1()
    feed(strategy, bars[:-1])
    assert strategy.generate_signals(PORTFOLIO) == []
    strategy.on_market_data(bars[-1])
    (signal,) = strategy.generate_signals(PORTFOLIO)
    assert signal.symbol == "SPY"
    assert signal.timestamp_ns == bars[-1].timestamp_ns


def test_only_symbols_with_200_bars_get_a_signal():
    strategy = MLDirectionStrategyV1()
    feed(strategy, make_bars(*synthetic_history(3, 220), symbol="SPY"))
    feed(strategy, make_bars(*synthetic_history(4, 150), symbol="QQQ"))
    assert [s.symbol for s in strategy.generate_signals(PORTFOLIO)] == ["SPY"]


def test_nan_features_abstain_naming_them_with_a_valid_json_log_line(tmp_path, caplog):
    # seed 001 lines 28-38: NaN features -> ValueError -> ABSTAIN; the rationale as in the runbook
    log = tmp_path / "logs" / "predictions.jsonl"
    close, high, low = synthetic_history(3, 250)
    close[-80] = high[-80] = low[-80] = np.nan  # a NaN bar 80 bars back: sma_200 and ema_26 see it
    strategy = MLDirectionStrategyV1(prediction_log=log)
    feed(strategy, make_bars(close, high, low))

    with caplog.at_level(logging.WARNING, logger="pytest_stress.stack.strategy"):
        (signal,) = strategy.generate_signals(PORTFOLIO)

    rationale = "Inference error: NaN values in features: ['sma_200', 'ema_26']"
    assert signal.side is SignalSide.ABSTAIN
    assert signal.rationale == rationale
    assert signal.explanation["abstain_reason"] == "nan_features"
    assert signal.quantity == 0.0
    assert signal.confidence == 0.0  # no prediction was made
    assert rationale in caplog.text
    (line,) = log.read_text(encoding="utf-8").splitlines()
    record = strict_json(line)
    assert record["signal"] == "ABSTAIN"
    assert record["model"] == "ml_direction_v1"
    assert record["symbol"] == "SPY"
    assert record["timestamp"] == "2026-01-01T04:09:00Z"  # the 250th minute bar
    assert "NaN" in record["explanation"]["rationale"]  # the runbook's jq filter (line 50)
    assert record["explanation"]["abstain_reason"] == "nan_features"
    assert set(record["explanation"]["features"]) == set(FEATURE_NAMES) - {"sma_200", "ema_26"}


def test_a_nan_last_bar_is_kept_and_abstains_with_every_feature_named(tmp_path):
    log = tmp_path / "predictions.jsonl"
    close, high, low = synthetic_history(3, 250)
    strategy = MLDirectionStrategyV1(prediction_log=log)
    feed(strategy, make_bars(close, high, low))
    strategy.on_market_data(Bar("SPY", T0_NS + 250 * MINUTE_NS, *(4 * [math.nan]), 0.0))

    (signal,) = strategy.generate_signals(PORTFOLIO)

    assert signal.side is SignalSide.ABSTAIN
    assert signal.rationale == f"Inference error: NaN values in features: {[*FEATURE_NAMES, 'close']}"
    record = strict_json(log.read_text(encoding="utf-8").splitlines()[-1])
    assert record["explanation"]["features"] == {}


def test_every_prediction_is_one_log_line_with_the_runbook_structure(tmp_path):
    log = tmp_path / "predictions.jsonl"
    strategy = MLDirectionStrategyV1(prediction_log=log)
    bars = make_bars(*synthetic_history(5, 260))
    feed(strategy, bars[:200])
    sides = []
    for bar in bars[200:]:
        strategy.on_market_data(bar)
        sides += [s.side.value for s in strategy.generate_signals(PORTFOLIO)]

    records = [strict_json(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [r["signal"] for r in records] == sides
    assert set(sides) == {"BUY", "SELL", "ABSTAIN"}  # the check below sees all three kinds
    for record in records:
        assert set(record) == {"timestamp", "symbol", "model", "signal", "confidence", "explanation"}
        assert set(record["explanation"]) == {"rationale", "abstain_reason", "features"}
        assert 0.5 <= record["confidence"] <= 1.0
        trades = record["signal"] != "ABSTAIN"
        assert (record["confidence"] >= 0.55) == trades
        assert (record["explanation"]["abstain_reason"] is None) == trades


def test_confidence_below_the_threshold_abstains_as_low_confidence():
    # seed 001 line 96: "Higher chance of ABSTAIN if confidence < 0.55"
    bars = make_bars(*synthetic_history(5, 230))
    cautious = MLDirectionStrategyV1(abstain_threshold=0.99)
    eager = MLDirectionStrategyV1(abstain_threshold=0.5, quantity=3.0)
    feed(cautious, bars)
    feed(eager, bars)
    (held,) = cautious.generate_signals(PORTFOLIO)
    (traded,) = eager.generate_signals(PORTFOLIO)
    assert held.side is SignalSide.ABSTAIN
    assert held.explanation["abstain_reason"] == "low_confidence"
    assert held.confidence == traded.confidence
    assert traded.side in (SignalSide.BUY, SignalSide.SELL)
    assert traded.quantity == 3.0


def test_a_volatility_spike_lowers_confidence_and_abstains():
    # seed 001 lines 136-146: the last 10 bars get high = close x 1.15, low = close x 0.85 (and the last
    # close moves 15 %); a bar the model trades on normally must become a lower-confidence ABSTAIN
    close, high, low = synthetic_history(11, 600)
    for end in range(250, 600):
        normal = MLDirectionStrategyV1()
        feed(normal, make_bars(close[:end], high[:end], low[:end]))
        (before,) = normal.generate_signals(PORTFOLIO)
        if before.side is not SignalSide.ABSTAIN:
            break
    else:
        pytest.fail("the model never trades on this history")
    c, h, lo = close[:end].copy(), high[:end].copy(), low[:end].copy()
    c[-1] = c[-2] * 1.15
    h[-10:], lo[-10:] = c[-10:] * 1.15, c[-10:] * 0.85
    spiked = MLDirectionStrategyV1()
    feed(spiked, make_bars(c, h, lo))

    (after,) = spiked.generate_signals(PORTFOLIO)

    assert after.confidence < before.confidence
    assert after.confidence < 0.55
    assert after.side is SignalSide.ABSTAIN
    assert after.explanation["abstain_reason"] == "low_confidence"


def test_buffers_stay_bounded_after_20000_bars():
    # seed 001 lines 322-323: price history 250 bars max, performance records 10,000 max
    strategy = MLDirectionStrategyV1()
    for bar in make_bars(*synthetic_history(8, 20_000)):
        strategy.on_market_data(bar)
        strategy.generate_signals(PORTFOLIO)
    assert strategy.buffer_sizes() == {"price_history": 250, "performance_records": 10_000}


def test_signal_generation_is_timed_on_the_strategys_clock():
    strategy = MLDirectionStrategyV1(clock=StepClock())
    feed(strategy, make_bars(*synthetic_history(3, 200)))
    strategy.generate_signals(PORTFOLIO)
    assert strategy.last_signal_seconds == pytest.approx(0.25)
    assert strategy.performance_records[-1]["seconds"] == pytest.approx(0.25)


def test_min_bars_above_the_history_bound_is_refused():
    with pytest.raises(ValueError, match="min_bars=300 > max_history=250"):
        MLDirectionStrategyV1(min_bars=300)
