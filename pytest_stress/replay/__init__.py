"""The compiled replay core: numba kernels over struct-of-arrays market data, and ``ReplaySession``.

``ReplaySession`` (with ``OrderSchedule``) drives the kernels chunk by chunk from Python. Running a whole
scenario (``run_scenario``, ``ScenarioResult``) is the orchestration layer's, ``pytest_stress.run``; those
names still resolve here for one release, with a DeprecationWarning.
"""

from typing import Any

from pytest_stress.replay.accounting import Portfolio
from pytest_stress.replay.exchange import ExchangeStatus, HaltMode, OrderKind, OrderSource
from pytest_stress.replay.risk import RiskPolicy
from pytest_stress.replay.session import OrderSchedule, ReplayOutput, ReplaySession, replay

# Names that moved up to pytest_stress.run (and the exchange status renamed so that it cannot be read as
# the stack's OrderStatus), resolved on first use for one release.
_MOVED = {
    "run_scenario": "run_scenario",
    "ScenarioResult": "ScenarioResult",
    "Breach": "Breach",
    "Fills": "Fills",
    "PolicyTransition": "PolicyTransition",
}


def __getattr__(name: str) -> Any:
    import warnings

    if name in _MOVED:
        from pytest_stress import run

        warnings.warn(
            f"pytest_stress.replay.{name} moved to pytest_stress.run.{name}; the old name goes away in 0.2",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(run, _MOVED[name])
    if name == "OrderStatus":
        warnings.warn(
            "pytest_stress.replay.OrderStatus is now ExchangeStatus (FAILED is EXCHANGE_REJECT); "
            "the old name goes away in 0.2",
            DeprecationWarning,
            stacklevel=2,
        )
        return ExchangeStatus
    raise AttributeError(f"module 'pytest_stress.replay' has no attribute {name!r}")


__all__ = [
    "ExchangeStatus",
    "HaltMode",
    "OrderKind",
    "OrderSchedule",
    "OrderSource",
    "Portfolio",
    "ReplayOutput",
    "ReplaySession",
    "RiskPolicy",
    "replay",
]
