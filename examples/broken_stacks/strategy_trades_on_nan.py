"""Broken on purpose: the strategy imputes NaN features and trades on them instead of abstaining
(seed 001 scenario 1). Its inference adapter is sound; the strategy hides the NaN from it."""

import math
from dataclasses import replace

from pytest_stress.stack.factory import StackContext, TradingStack
from pytest_stress.stack.reference import make_reference_stack
from pytest_stress.stack.strategy import MLDirectionStrategyV1


class NeutralFilled:
    """Passes the adapter features whose NaN were imputed with "neutral" values (a moving average at the
    last close, RSI at 50, the rest 0): the mistake under test."""

    def __init__(self, adapter):
        self.adapter = adapter
        self.feature_names = adapter.feature_names

    @staticmethod
    def _fill(features):
        close = features.get("close")
        out = {}
        for name, value in features.items():
            if isinstance(value, float) and math.isnan(value):
                value = close if name.startswith(("sma", "ema")) else 50.0 if name.startswith("rsi") else 0.0
            out[name] = value
        return out

    def prepare_features(self, features):
        return self.adapter.prepare_features(self._fill(features))

    def predict(self, features):
        return self.adapter.predict(self._fill(features))


def make_stack(ctx: StackContext) -> TradingStack:
    stack = make_reference_stack(ctx)
    strategy = MLDirectionStrategyV1(
        stack.strategy.name,
        inference=NeutralFilled(stack.inference),
        clock=ctx.clock,
        prediction_log=stack.predictions_log,
    )
    return replace(stack, strategy=strategy)
