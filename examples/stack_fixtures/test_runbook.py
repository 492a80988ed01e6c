"""The whole runbook suite, run here so that this folder's conftest.py fixtures apply to it."""

from pytest_stress.runbook.suite import *  # noqa: F403
