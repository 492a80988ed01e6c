"""Loading the plugin must not import the heavy libraries: every pytest run in a user's repo pays for it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = {"numba", "llvmlite", "pandas", "scipy", "pyarrow", "matplotlib", "dask", "numpy"}


def test_plugin_import_pulls_in_no_heavy_library():
    code = (
        "import sys, pytest_stress.plugin, pytest_stress.cli; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert HEAVY.isdisjoint(out.split()), sorted(HEAVY.intersection(out.split()))


def test_replay_core_loads_on_first_use_of_the_public_api():
    code = (
        "import sys, pytest_stress; assert 'numba' not in sys.modules; "
        "pytest_stress.run_scenario; print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
