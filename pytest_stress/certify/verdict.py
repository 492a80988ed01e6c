"""Deprecated location: the go/no-go decision moved to ``pytest_stress.verdict`` (one decision function for
the report, the command line and the batch runner). This re-export stays for one release."""

from pytest_stress.verdict import GO, INCOMPLETE, NO_GO, Verdict, decide

__all__ = ["GO", "INCOMPLETE", "NO_GO", "Verdict", "decide"]
