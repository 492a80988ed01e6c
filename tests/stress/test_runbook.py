"""The bundled runbook suite (pytest_stress.runbook) run on this repository's default stack, the reference
one; ``--stress-stack=module:factory`` certifies another. Users run it with ``pytest --stress-runbook``."""

from pytest_stress.runbook.test_execution_runbook import *  # noqa: F403
from pytest_stress.runbook.test_monitoring_runbook import *  # noqa: F403
from pytest_stress.runbook.test_oms_machine import *  # noqa: F403
from pytest_stress.runbook.test_strategy_runbook import *  # noqa: F403
