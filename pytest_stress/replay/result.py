"""Deprecated: moved to ``pytest_stress.run.result`` (the orchestration layer). This re-export stays for one
release and warns on import; nothing in the package imports it."""

import warnings
from typing import Any

from pytest_stress.run import result as _moved

warnings.warn(
    "pytest_stress.replay.result moved to pytest_stress.run.result; the old path goes away in 0.2",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)
