"""pytest-trading-stress: certify an algorithmic trading stack under market stress and infrastructure faults.

The names below are the public API. The replay core (numba, NumPy) loads on first use of
``run_scenario``, ``ScenarioResult`` or ``Portfolio``, so importing the pytest plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_stress.errors import (
    CertificationError,
    ReplayError,
    ReportError,
    ScenarioError,
    ScenarioNotFound,
    StressError,
)
from pytest_stress.scenario import OnBreach, Scenario, load_scenario, scenario_library

if TYPE_CHECKING:
    from pytest_stress.replay import Breach, Portfolio, ScenarioResult, run_scenario

try:
    from importlib.metadata import version as _version

    __version__ = _version("pytest-trading-stress")
except Exception:  # not installed (running from a bare checkout)
    __version__ = "0+unknown"

_LAZY = {"run_scenario", "ScenarioResult", "Portfolio", "Breach"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from pytest_stress import replay

        return getattr(replay, name)
    raise AttributeError(f"module 'pytest_stress' has no attribute {name!r}")


__all__ = [
    "Breach",
    "CertificationError",
    "OnBreach",
    "Portfolio",
    "ReplayError",
    "ReportError",
    "Scenario",
    "ScenarioError",
    "ScenarioNotFound",
    "ScenarioResult",
    "StressError",
    "__version__",
    "load_scenario",
    "run_scenario",
    "scenario_library",
]
