"""Error types of pytest-trading-stress, all under one base so callers can catch them.

Every message says where (file:line and key path, tick index) and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass


class StressError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file: where it is and what is wrong."""

    path: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.key}: " if self.key else ""
        return f"{self.path}:{self.line}: {where}{self.message}"


class ScenarioError(StressError):
    """A scenario file that cannot be used. ``str()`` starts with ``FILE:LINE:``, one problem per line."""

    what = "scenario"

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        if not problems:
            raise ValueError("ScenarioError needs at least one problem")
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class WaiversError(ScenarioError):
    """A waivers file that cannot be used (``--stress-waivers``): same ``FILE:LINE:`` lines as a scenario."""

    what = "waivers file"


class ScenarioNotFound(StressError, LookupError):
    """A scenario name that is neither in the library nor a readable file."""


class ReplayError(StressError):
    """Inputs the replay core cannot run (wrong shapes, a portfolio that does not fit the market)."""


class ReportError(StressError):
    """A certification report that could not be written."""


class CertificationError(StressError, AssertionError):
    """Raised by ``ScenarioResult.certify()``: one line per failed expectation.

    It subclasses ``AssertionError`` so pytest reports it as a test failure, not an error.
    """


class DaskNotInstalled(StressError, ImportError):
    """``address=`` was given but dask.distributed cannot be imported."""


class ClusterUnavailable(StressError, ConnectionError):
    """The Dask scheduler at the given address did not answer."""


class StackError(StressError):
    """A trading stack that cannot be built or does not implement the protocols the suite needs."""
