"""Bounds and field specs that more than one section of the scenario file uses, each written once here.

The lowest module of ``specs/``: it imports only ``pytest_stress.schema``. The command line and the replay
core check the same bounds (``--seed``, a market built in code), so they read them from here too.
"""

from __future__ import annotations

from pytest_stress.schema import Choice, Num

# The random seed of a market: a non-negative integer that fits in an int64.
MAX_SEED = 2**63 - 1
SEED_FIELD = Num(lo=0, hi=MAX_SEED, integer=True, default=0)

# Asset classes a market may hold (MarketFrame checks its symbols against this list too).
ASSET_CLASSES = ("equity", "fx", "crypto_perp", "future")
ASSET_CLASS_FIELD = Choice(options=ASSET_CLASSES, default="equity")

# Widest full spread a market may quote, in bps of the price (10,000 bps: as wide as the price itself).
MAX_SPREAD_BPS = 10_000.0
# Highest price a symbol may start at or be pinned to (price units).
MAX_PRICE = 1e9
# Largest factor a stress or a reconstruction profile may multiply a spread, a volatility or a depth by.
MAX_MULT = 1000.0
