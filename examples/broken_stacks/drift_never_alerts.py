"""Broken on purpose: the drift detector measures PSI and KL but never raises the alert (seed 001
scenario 4)."""

from dataclasses import replace

from pytest_stress.stack.drift import ReferenceDriftDetector
from pytest_stress.stack.factory import StackContext, TradingStack
from pytest_stress.stack.reference import make_reference_stack


class QuietDetector(ReferenceDriftDetector):
    def detect_drift(self, features, *, as_of=None):
        bus, self.bus = self.bus, None  # the bug: the alert is neither published ...
        try:
            report = super().detect_drift(features, as_of=as_of)
        finally:
            self.bus = bus
        return replace(report, alert=False, reasons=())  # ... nor reported


def make_stack(ctx: StackContext) -> TradingStack:
    stack = make_reference_stack(ctx)
    ref = stack.drift_detector
    quiet = QuietDetector(
        ref.reference_distributions, model_name=ref.model_name, trained_at=ref.trained_at, bus=ctx.bus
    )
    return replace(stack, drift_detector=quiet)
