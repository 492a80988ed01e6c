"""The compiled replay core: numba kernels over struct-of-arrays market data, and run_scenario.

``run_scenario`` replays a scenario end to end; ``ReplaySession`` (with ``OrderSchedule``) drives the same
kernels chunk by chunk from Python, for a bar-by-bar harness or a test.
"""

from pytest_stress.replay.accounting import Portfolio
from pytest_stress.replay.engine import run_scenario
from pytest_stress.replay.exchange import HaltMode, OrderKind, OrderSource, OrderStatus
from pytest_stress.replay.result import Breach, Fills, PolicyTransition, ScenarioResult
from pytest_stress.replay.risk import RiskPolicy
from pytest_stress.replay.session import OrderSchedule, ReplayOutput, ReplaySession, replay

__all__ = [
    "Breach",
    "Fills",
    "HaltMode",
    "OrderKind",
    "OrderSchedule",
    "OrderSource",
    "OrderStatus",
    "PolicyTransition",
    "Portfolio",
    "ReplayOutput",
    "ReplaySession",
    "RiskPolicy",
    "ScenarioResult",
    "replay",
    "run_scenario",
]
