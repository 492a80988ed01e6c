"""Schema tables of the scenario file, one module per section, in pure Python (no NumPy, no numba).

Each section module defines the frozen dataclass the replay core reads and the field table that
validates it; ``pytest_stress.scenario`` wires the sections into one file format. Keeping them apart lets
each part of the core own its parameters while the plugin stays cheap to import.
"""
