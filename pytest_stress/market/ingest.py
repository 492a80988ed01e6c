"""``ingest``: a CSV (or Parquet) file turned into the normalised, time-sorted Parquet the loader reads
fastest, with the data-quality report of the input. Part of ``pytest_stress.market.historic``.
"""

from __future__ import annotations

from pathlib import Path

from pytest_stress.market.quality import QualityReport, quality
from pytest_stress.market.tables import normalise, read_table, sha256_of
from pytest_stress.specs.historic import SUFFIXES


def ingest(
    source: str | Path,
    out: str | Path,
    *,
    columns: dict[str, str] | None = None,
    tz: str = "UTC",
    spread_bps: float = 1.0,
    max_gap_s: float | None = None,
) -> tuple[QualityReport, str]:
    """CSV (or Parquet) -> normalised, time-sorted Parquet; returns the data-quality report of the input and
    the SHA-256 of the written file (the dataset version to pin in a scenario's ``sha256:``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = Path(source)
    fmt = SUFFIXES.get(src.suffix.lower(), "csv")
    table = normalise(read_table(src, fmt), columns or {}, tz, src.stem, spread_bps)
    rep = quality(table, max_gap_s)
    table = table.sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.set_column(
        0, "timestamp", arrow.column("timestamp").cast(pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
    )
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    pq.write_table(arrow, tmp)
    tmp.replace(out_path)
    return rep, sha256_of(out_path)
