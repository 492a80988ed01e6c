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
    from pytest_stress.replay import Portfolio
    from pytest_stress.run import Breach, ScenarioResult, run_scenario
    from pytest_stress.run.batch import StressTestRunner
    from pytest_stress.run.summary import ScenarioFailure, generate_summary

try:
    from importlib.metadata import version as _version

    __version__ = _version("pytest-trading-stress")
except Exception:  # not installed (running from a bare checkout)
    __version__ = "0+unknown"

# public name -> the module that defines it, imported on first use
_LAZY = {
    "run_scenario": "pytest_stress.run",
    "ScenarioResult": "pytest_stress.run",
    "Portfolio": "pytest_stress.replay",
    "Breach": "pytest_stress.run",
    "StressTestRunner": "pytest_stress.run.batch",
    "ScenarioFailure": "pytest_stress.run.summary",
    "generate_summary": "pytest_stress.run.summary",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
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
    "ScenarioFailure",
    "ScenarioNotFound",
    "ScenarioResult",
    "StressError",
    "StressTestRunner",
    "__version__",
    "generate_summary",
    "load_scenario",
    "run_scenario",
    "scenario_library",
]
