"""Building a trading stack for the runbook suite: how ``--stress-stack=package.module:make_stack`` names a
user's factory, and the check that what it built has every part. The context the suite hands in and the
stack it gets back (``StackContext``, ``TradingStack``) are protocols, in ``stack.protocols``.

A factory is ``make_stack(ctx: StackContext) -> TradingStack``. It must build its OMS on ``ctx.broker``
(the suite injects broker faults there), publish to ``ctx.bus``, read time from ``ctx.clock`` and write
its logs (``predictions.jsonl``, ``orders.jsonl``) under ``ctx.log_dir``.
"""

from __future__ import annotations

import importlib

from pytest_stress.errors import StackError
from pytest_stress.stack.protocols import (
    OMS,
    BrokerClient,
    DriftDetector,
    Factory,
    RiskGovernor,
    StackContext,
    Strategy,
    TradingStack,
)

REFERENCE = "reference"


_PROTOCOLS = {
    "strategy": Strategy,
    "oms": OMS,
    "broker": BrokerClient,
    "risk_governor": RiskGovernor,
    "drift_detector": DriftDetector,
}


def load_factory(spec: str) -> Factory:
    """``"reference"`` or ``"package.module:callable"`` -> the factory; StackError says what is wrong."""
    if spec == REFERENCE:
        from pytest_stress.stack.reference import make_reference_stack

        return make_reference_stack
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise StackError(
            f"--stress-stack={spec}: expected 'package.module:factory' (a callable taking a "
            "StackContext and returning a TradingStack), or 'reference'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StackError(
            f"--stress-stack={spec}: cannot import {module_name!r} ({exc}); is it installed or on "
            "sys.path (pytest's rootdir or pythonpath ini option)?"
        ) from exc
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise StackError(f"--stress-stack={spec}: {module_name} has no attribute {attr!r}")
    if not callable(factory):
        raise StackError(f"--stress-stack={spec}: {attr!r} is not callable")
    return factory  # type: ignore[return-value]


def build_stack(spec: str, ctx: StackContext) -> TradingStack:
    """Call the factory named by ``spec`` and check that what it returns has every protocol's methods."""
    stack = load_factory(spec)(ctx)
    if not isinstance(stack, TradingStack):
        raise StackError(
            f"--stress-stack={spec}: the factory returned {type(stack).__name__}, not a TradingStack"
        )
    check_stack(stack, spec)
    return stack


def check_stack(stack: TradingStack, where: str) -> None:
    missing = []
    for attr, proto in _PROTOCOLS.items():
        part = getattr(stack, attr)
        if not isinstance(part, proto):
            names = [n for n in _protocol_members(proto) if not hasattr(part, n)]
            missing.append(f"{attr} ({type(part).__name__}) lacks {', '.join(names) or 'a member'}")
    if missing:
        raise StackError(f"{where}: the stack does not implement the protocols: " + "; ".join(missing))


def _protocol_members(proto: type) -> list[str]:
    return sorted(
        n for n in getattr(proto, "__protocol_attrs__", None) or vars(proto) if not n.startswith("_")
    )


__all__ = [
    "REFERENCE",
    "Factory",
    "StackContext",
    "TradingStack",
    "build_stack",
    "check_stack",
    "load_factory",
]
