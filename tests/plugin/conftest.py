"""Plugin tests run pytest in-process with pytester, which snapshots and restores sys.modules around each
inner run. NumPy cannot be imported twice in one process, and numba registers each compiled kernel once, so
the replay core is imported and every kernel compiled (or loaded from numba's cache) here, before any inner
run, whatever order the tests are collected in."""

from pytest_stress.run.scenario import warm_up

warm_up()
