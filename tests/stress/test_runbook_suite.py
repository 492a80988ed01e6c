"""The bundled runbook suite (pytest_stress.runbook) run on this repository's default stack, the reference
one; ``--stress-stack=module:factory`` certifies another. Users run it with ``pytest --stress-runbook``."""

from pytest_stress.runbook.suite import *  # noqa: F403
