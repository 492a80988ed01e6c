"""Deprecated: moved to ``pytest_stress.run.harness`` (the orchestration layer). This re-export stays for one
release and warns on import; nothing in the package imports it."""

import warnings
from typing import Any

from pytest_stress.run import harness as _moved
from pytest_stress.run.scenario import stressed_frame  # moved beside prepare_market

warnings.warn(
    "pytest_stress.replay.harness moved to pytest_stress.run.harness; the old path goes away in 0.2",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["stressed_frame"]


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)
