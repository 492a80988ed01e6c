"""The runbook suite: one test per promise of the operations runbooks, run against any trading stack.

The tests use only the protocols of ``pytest_stress.stack.protocols`` and the stack fixtures, so the same
tests certify the reference stack or a user's (``--stress-stack=module:factory``). Collect them with
``pytest --stress-runbook`` (no test file to copy) or import them into a test module.
"""

from __future__ import annotations

from pathlib import Path

_MODULES = ("test_strategy_runbook", "test_execution_runbook", "test_monitoring_runbook", "test_oms_machine")


def suite_files() -> list[Path]:
    here = Path(__file__).parent
    return [here / f"{name}.py" for name in _MODULES]
