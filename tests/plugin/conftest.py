"""Plugin tests run pytest in-process with pytester, which snapshots and restores sys.modules around each
inner run; numpy cannot be imported twice in one process, so the replay core is loaded here first."""

import pytest_stress.replay  # noqa: F401
