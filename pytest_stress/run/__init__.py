"""The orchestration layer: where the market, the compiled core and a stack meet.

``run_scenario`` replays a scenario end to end and wraps the outcome in a ``ScenarioResult``; the harness
replays it bar by bar through a Python stack; the batch runner sweeps many scenarios. Each prepares its
market through ``prepare_market``.
"""

from pytest_stress.run.result import Breach, Fills, PolicyTransition, ScenarioResult
from pytest_stress.run.scenario import PreparedMarket, prepare_market, run_scenario, streams, stressed_frame

__all__ = [
    "Breach",
    "Fills",
    "PolicyTransition",
    "PreparedMarket",
    "ScenarioResult",
    "prepare_market",
    "run_scenario",
    "streams",
    "stressed_frame",
]
