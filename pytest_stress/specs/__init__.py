"""Schema tables of the scenario file, one module per section, in pure Python (no NumPy, no numba).

Each section module defines the frozen dataclass the replay core reads and the field table that
validates it; ``pytest_stress.scenario`` wires the sections into one file format. Keeping them apart lets
each part of the core own its parameters while the plugin stays cheap to import.

Two modules are no section: ``common`` holds the bounds several sections share (the seed's range, asset
classes, the widest spread, the highest price, the largest multiplier), each written once, and
``market_spec`` the ``MarketSpec`` that both ``market`` (generated markets) and ``historic`` (data-backed
ones) build. Imports run one way: ``common`` -> ``reconstruction`` -> ``market_spec`` -> ``historic`` ->
``market``; ``stresses`` imports ``common`` (``market`` for type checking only), ``risk`` and
``execution`` none of them.
"""
