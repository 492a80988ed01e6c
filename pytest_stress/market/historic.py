"""Bring your own data: Parquet (pyarrow) or CSV ticks and bars as a market frame, with a data-quality report.

A file is long format - one row per timestamp and symbol - with a timestamp and either bid and ask or a
price (quotes are then put ``spread_bps`` around it). Rows are put on the scenario's ``tick_ms`` grid:
the last quote of each interval, carried forward through intervals without one (never before a symbol's
first quote), volumes summed. The SHA-256 of the file's bytes is the dataset version the report shows.
``ingest`` turns a CSV into the normalised Parquet the loader reads fastest and prints what is wrong.

This module is the public face; each concern lives in its own module, and none of them imports this one:

- ``market.tables``: reading a file into the canonical long table (``read_table``, ``normalise``),
  ``sha256_of``, ``DataError``;
- ``market.quality``: the data-quality report (``QualityReport``, ``quality``);
- ``market.grid``: the long table on the tick grid (``to_grid``);
- ``market.estimate``: volatility and correlation estimated from the data (``estimate_params``);
- ``market.data_market``: loading a historic or dataset market (``load_market``, ``load_spec_table``,
  ``check_stresses``);
- ``market.ingest``: CSV to normalised Parquet (``ingest``).
"""

from __future__ import annotations

from pytest_stress.market.data_market import _dataset_table as _dataset_table
from pytest_stress.market.data_market import check_stresses, load_market, load_spec_table
from pytest_stress.market.estimate import estimate_params
from pytest_stress.market.grid import to_grid
from pytest_stress.market.ingest import ingest
from pytest_stress.market.quality import QualityReport, quality
from pytest_stress.market.tables import ALIASES, DataError, normalise, read_table, sha256_of, utc_text
from pytest_stress.market.tables import _pick as _pick

_utc = utc_text  # the private helpers' old names (_dataset_table, _pick, _utc) still import from here

__all__ = [
    "ALIASES",
    "DataError",
    "QualityReport",
    "check_stresses",
    "estimate_params",
    "ingest",
    "load_market",
    "load_spec_table",
    "normalise",
    "quality",
    "read_table",
    "sha256_of",
    "to_grid",
    "utc_text",
]
