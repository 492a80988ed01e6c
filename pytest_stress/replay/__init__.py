"""The compiled replay core: numba kernels over struct-of-arrays market data, and run_scenario."""

from pytest_stress.replay.accounting import Portfolio
from pytest_stress.replay.engine import run_scenario
from pytest_stress.replay.result import Breach, ScenarioResult

__all__ = ["Breach", "Portfolio", "ScenarioResult", "run_scenario"]
