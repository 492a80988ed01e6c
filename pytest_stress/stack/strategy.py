"""The reference strategy, seed 001's ``ml_direction_v1``: bounded per-symbol price history, indicator
features, the inference adapter, confidence gating to ABSTAIN, and one JSON line per prediction.

Seed 001 scenario 1: fewer than ``min_bars`` bars -> no signal; NaN features -> ABSTAIN whose rationale
is ``"Inference error: NaN values in features: [...]"``. Scenario 2: confidence below ``abstain_threshold``
-> ABSTAIN (``abstain_reason: "low_confidence"``). Scenario 5: the price history keeps ``max_history``
bars a symbol and the performance records ``max_performance_records`` calls, however long it runs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pytest_stress.stack.features import FEATURE_NAMES, compute_features
from pytest_stress.stack.model import Bar, PortfolioSnapshot, Signal, SignalSide
from pytest_stress.stack.protocols import Clock, InferenceAdapter

log = logging.getLogger(__name__)

NAN_FEATURES = "nan_features"
LOW_CONFIDENCE = "low_confidence"


class MLDirectionStrategyV1:
    """``protocols.Strategy``: predicts the next bar's direction per symbol, BUY/SELL ``quantity`` units.

    ``prediction_log``: the ``predictions.jsonl`` to append to (None: do not log). Signal generation is
    timed on ``clock`` (``time.perf_counter`` without one); the last duration is ``last_signal_seconds``.
    An ABSTAIN on NaN features has confidence 0.0: no prediction was made (a real one is 0.5 at least).
    """

    def __init__(
        self,
        name: str = "ml_direction_v1",
        *,
        inference: InferenceAdapter | None = None,
        clock: Clock | None = None,
        prediction_log: Path | None = None,
        abstain_threshold: float = 0.55,
        min_bars: int = 200,
        max_history: int = 250,
        max_performance_records: int = 10_000,
        quantity: float = 1.0,
    ) -> None:
        if min_bars > max_history:
            raise ValueError(
                f"min_bars={min_bars} > max_history={max_history}: the strategy could never trade"
            )
        if inference is None:
            from pytest_stress.stack.inference import MLInferenceAdapter

            inference = MLInferenceAdapter()
        self.name = name
        self.inference = inference
        self.prediction_log = Path(prediction_log) if prediction_log is not None else None
        self.abstain_threshold = float(abstain_threshold)
        self.min_bars = int(min_bars)
        self.max_history = int(max_history)
        self.quantity = float(quantity)
        self._now = clock.now if clock is not None else time.perf_counter
        self._history: dict[str, deque[Bar]] = {}
        self.performance_records: deque[dict[str, Any]] = deque(maxlen=max_performance_records)
        self.last_signal_seconds = 0.0

    def on_market_data(self, bar: Bar) -> None:
        """Keep the bar, NaN or not: a NaN bar makes the features over it NaN, which ABSTAINs."""
        history = self._history.get(bar.symbol)
        if history is None:
            history = self._history[bar.symbol] = deque(maxlen=self.max_history)
        history.append(bar)

    def generate_signals(self, portfolio: PortfolioSnapshot) -> list[Signal]:
        """One signal per symbol with at least ``min_bars`` bars (BUY, SELL or ABSTAIN)."""
        start = self._now()
        signals = [
            self._signal(symbol, bars) for symbol, bars in self._history.items() if len(bars) >= self.min_bars
        ]
        self.last_signal_seconds = self._now() - start
        self.performance_records.append(
            {
                "timestamp_ns": portfolio.timestamp_ns,
                "signals": len(signals),
                "abstentions": sum(s.side is SignalSide.ABSTAIN for s in signals),
                "seconds": self.last_signal_seconds,
            }
        )
        if signals and self.prediction_log is not None:
            self._write_log(self.prediction_log, signals)
        return signals

    def buffer_sizes(self) -> Mapping[str, int]:
        return {
            "price_history": max((len(h) for h in self._history.values()), default=0),
            "performance_records": len(self.performance_records),
        }

    def _signal(self, symbol: str, bars: deque[Bar]) -> Signal:
        close = np.fromiter((b.close for b in bars), np.float64, len(bars))
        high = np.fromiter((b.high for b in bars), np.float64, len(bars))
        low = np.fromiter((b.low for b in bars), np.float64, len(bars))
        features = compute_features(close, high, low)
        shown = {n: features[n] for n in FEATURE_NAMES if math.isfinite(features[n])}
        timestamp_ns = bars[-1].timestamp_ns
        try:
            self.inference.prepare_features(features)
            p_up, confidence = self.inference.predict(features)
        except ValueError as exc:
            rationale = f"Inference error: {exc}"
            log.warning("%s ABSTAIN %s: %s", self.name, symbol, rationale)
            return self._abstain(symbol, timestamp_ns, 0.0, rationale, NAN_FEATURES, shown)
        if confidence < self.abstain_threshold:
            rationale = f"Confidence {confidence:.4f} below the abstain threshold {self.abstain_threshold:g}"
            return self._abstain(symbol, timestamp_ns, confidence, rationale, LOW_CONFIDENCE, shown)
        side = SignalSide.BUY if p_up >= 0.5 else SignalSide.SELL
        return Signal(
            symbol=symbol,
            side=side,
            confidence=confidence,
            quantity=self.quantity,
            timestamp_ns=timestamp_ns,
            explanation={
                "rationale": f"Model predicts the next close {'up' if side is SignalSide.BUY else 'down'} "
                f"(p_up {p_up:.4f})",
                "abstain_reason": None,
                "features": shown,
            },
        )

    def _abstain(
        self,
        symbol: str,
        timestamp_ns: int,
        confidence: float,
        rationale: str,
        reason: str,
        shown: dict[str, float],
    ) -> Signal:
        return Signal(
            symbol=symbol,
            side=SignalSide.ABSTAIN,
            confidence=confidence,
            quantity=0.0,
            timestamp_ns=timestamp_ns,
            explanation={"rationale": rationale, "abstain_reason": reason, "features": shown},
        )

    def _write_log(self, path: Path, signals: list[Signal]) -> None:
        # allow_nan=False: a NaN that slipped past _json_number fails here, not in the operator's jq
        lines = [json.dumps(self._log_record(s), allow_nan=False) + "\n" for s in signals]
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.writelines(lines)

    def _log_record(self, signal: Signal) -> dict[str, Any]:
        when = dt.datetime.fromtimestamp(signal.timestamp_ns / 1e9, tz=dt.timezone.utc)
        return {
            "timestamp": when.isoformat().replace("+00:00", "Z"),
            "symbol": signal.symbol,
            "model": self.name,
            "signal": signal.side.value,
            "confidence": _json_number(signal.confidence),
            "explanation": {
                "rationale": signal.rationale,
                "abstain_reason": signal.explanation.get("abstain_reason"),
                "features": {k: _json_number(v) for k, v in signal.explanation.get("features", {}).items()},
            },
        }


def _json_number(value: float) -> float | None:
    # JSON has no NaN: a line with one would break `jq` and every log reader the runbook uses
    return float(value) if math.isfinite(value) else None
