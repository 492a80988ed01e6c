"""Deprecated location: the checks moved to ``pytest_stress.checks`` (one low module that the run and the
certification both use). This re-export stays for one release."""

from pytest_stress.checks import Check, CheckStatus, evaluate

__all__ = ["Check", "CheckStatus", "evaluate"]
