"""``python -m pytest_stress``: the same command line as the ``pytest-stress`` script.

All the work is in pytest_stress.cli; this module only hands its exit code to the interpreter.
"""

from __future__ import annotations

import sys

from pytest_stress.cli import main

if __name__ == "__main__":
    sys.exit(main())
