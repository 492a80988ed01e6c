"""A one-bar momentum strategy: the smallest complete ``Strategy``, for exercising the execution path.

``ml_direction_v1`` rightly abstains on a random walk (it has no edge there), so a replay that must
produce orders every bar - a harness benchmark, an OMS soak - uses this instead: long ``quantity`` after
an up bar, short after a down bar, nothing on a NaN or unchanged close.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from pytest_stress.stack.model import Bar, PortfolioSnapshot, Signal, SignalSide
from pytest_stress.stack.protocols import StackContext, TradingStack


class MomentumStrategy:
    name = "momentum"

    def __init__(self, quantity: float = 10.0, confidence: float = 0.9) -> None:
        self.quantity, self.confidence = float(quantity), float(confidence)
        self._closes: dict[str, tuple[float, float]] = {}

    def on_market_data(self, bar: Bar) -> None:
        prev = self._closes.get(bar.symbol, (math.nan, math.nan))[1]
        self._closes[bar.symbol] = (prev, bar.close)

    def generate_signals(self, portfolio: PortfolioSnapshot) -> list[Signal]:
        out = []
        for symbol, (prev, last) in self._closes.items():
            if math.isfinite(prev) and math.isfinite(last) and last != prev:
                side = SignalSide.BUY if last > prev else SignalSide.SELL
                out.append(Signal(symbol, side, self.confidence, quantity=self.quantity))
        return out

    def buffer_sizes(self) -> Mapping[str, int]:
        return {"price_history": 2 if self._closes else 0, "performance_records": 0}


def make_momentum_stack(ctx: StackContext) -> TradingStack:
    """The reference stack with the momentum strategy in place of ml_direction_v1."""
    from pytest_stress.stack.reference import make_reference_stack

    return dataclasses.replace(make_reference_stack(ctx), strategy=MomentumStrategy())
