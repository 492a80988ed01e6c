"""Reading a data file (Parquet or CSV ticks or bars) into the canonical long table, and its content hash.

The long table has one row per timestamp and symbol, in file order: ``timestamp`` (int64 ns UTC),
``symbol``, ``bid``, ``ask``, ``volume`` and, when the file has it, ``funding_rate``; a file with only a
price gets quotes ``spread_bps`` around it. pandas and pyarrow are imported by the functions that need
them. Part of ``pytest_stress.market.historic``; import from there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pytest_stress.errors import StressError

if TYPE_CHECKING:
    import pandas as pd

# Column names tried, in order, for each field when the scenario's ``columns:`` does not name one.
ALIASES = {
    "timestamp": ("timestamp", "ts", "time", "datetime", "date"),
    "symbol": ("symbol", "sym", "ticker", "instrument"),
    "bid": ("bid", "bid_price", "bid_px"),
    "ask": ("ask", "ask_price", "ask_px", "offer"),
    "price": ("price", "last", "close", "trade_price", "mid"),
    "volume": ("volume", "size", "qty", "quantity"),
    "funding_rate": ("funding_rate", "funding"),
}


class DataError(StressError):
    """A data file that cannot be replayed: missing, unreadable, or without the columns it needs."""


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _pick(df: pd.DataFrame, field_name: str, mapping: dict[str, str]) -> str | None:
    if field_name in mapping:
        if mapping[field_name] not in df.columns:
            raise DataError(
                f"column {mapping[field_name]!r} (columns.{field_name}) is not in the file; it has: "
                f"{', '.join(map(str, df.columns))}"
            )
        return mapping[field_name]
    lower = {str(c).lower(): c for c in df.columns}
    return next((lower[a] for a in ALIASES[field_name] if a in lower), None)


def read_table(path: str | Path, fmt: str) -> pd.DataFrame:
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such data file")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(p).to_pandas()
        return pd.read_csv(p)
    except ImportError as exc:
        raise DataError(f"{p}: reading Parquet needs pyarrow (pip install pyarrow): {exc}") from None
    except Exception as exc:
        raise DataError(f"{p}: cannot read it as {fmt}: {exc}") from None


def normalise(
    df: pd.DataFrame, columns: dict[str, str], tz: str, default_symbol: str, spread_bps: float
) -> pd.DataFrame:
    """Canonical long table: timestamp (int64 ns UTC), symbol, bid, ask, volume, funding_rate, in file order."""
    import pandas as pd

    ts_col = _pick(df, "timestamp", columns)
    if ts_col is None:
        raise DataError(
            f"no timestamp column (looked for {', '.join(ALIASES['timestamp'])}); name it in columns:"
        )
    raw = df[ts_col]
    if pd.api.types.is_numeric_dtype(raw):
        x = raw.astype("int64")
        big = int(x.abs().max()) if len(x) else 0
        unit = "ns" if big > 10**17 else "ms" if big > 10**11 else "s"
        ts = pd.to_datetime(x, unit=unit, utc=True)
        tz = "UTC"
    else:
        ts = pd.to_datetime(raw, utc=False, format="mixed")
        ts = ts.dt.tz_localize(tz) if ts.dt.tz is None else ts
        ts = ts.dt.tz_convert("UTC")
    ns = ts.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")  # whatever unit pandas chose
    out = pd.DataFrame({"timestamp": ns.astype("int64")})
    sym = _pick(df, "symbol", columns)
    out["symbol"] = df[sym].astype(str).to_numpy() if sym is not None else default_symbol
    bid, ask, price = (_pick(df, f, columns) for f in ("bid", "ask", "price"))
    if bid is not None and ask is not None:
        out["bid"], out["ask"] = df[bid].astype(float).to_numpy(), df[ask].astype(float).to_numpy()
    elif price is not None:
        p = df[price].astype(float).to_numpy()
        half = 0.5 * spread_bps / 10_000.0
        out["bid"], out["ask"] = p * (1 - half), p * (1 + half)
    else:
        raise DataError(
            "the file has neither bid and ask nor a price column (last, close, price); name them in columns:"
        )
    vol = _pick(df, "volume", columns)
    out["volume"] = df[vol].astype(float).to_numpy() if vol is not None else np.nan
    fund = _pick(df, "funding_rate", columns)
    if fund is not None:
        out["funding_rate"] = df[fund].astype(float).to_numpy()
    return out


def utc_text(ns: int) -> str:
    """``ns`` (int64 ns since the epoch) as ISO 8601 UTC text, e.g. ``2024-03-01T14:30:00Z``."""
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")
