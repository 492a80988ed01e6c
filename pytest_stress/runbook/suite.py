"""Every test of the runbook suite in one namespace: ``from pytest_stress.runbook.suite import *`` in a
test module of yours runs the whole suite there, where your ``conftest.py`` fixtures apply."""

from pytest_stress.runbook.test_execution_runbook import *  # noqa: F403
from pytest_stress.runbook.test_monitoring_runbook import *  # noqa: F403
from pytest_stress.runbook.test_oms_machine import *  # noqa: F403
from pytest_stress.runbook.test_strategy_runbook import *  # noqa: F403
