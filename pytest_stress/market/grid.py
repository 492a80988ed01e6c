"""The long table on the scenario's ``tick_ms`` grid: the last quote of each interval, carried forward
through intervals without one (never before a symbol's first quote), volumes summed.

Part of ``pytest_stress.market.historic``; import from there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pytest_stress.market.tables import DataError

if TYPE_CHECKING:
    import pandas as pd


def to_grid(
    table: pd.DataFrame, tick_ms: int, names: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...], dict[str, np.ndarray]]:
    """The long table on a regular grid: (timestamps ns, symbols, {bid, ask, volume[, funding_rate]})."""
    import pandas as pd

    t = table.sort_values("timestamp", kind="stable")
    t = t.drop_duplicates(["timestamp", "symbol"], keep="last")
    if names:
        missing = sorted(set(names) - set(t["symbol"]))
        if missing:
            raise DataError(
                f"symbol(s) {', '.join(missing)} not in the data; it has {', '.join(sorted(t['symbol'].unique()))}"
            )
        t = t[t["symbol"].isin(names)]
    symbols = tuple(names) if names else tuple(sorted(t["symbol"].unique()))
    step = np.int64(tick_ms) * 1_000_000
    t0 = int(t["timestamp"].min())
    bucket = (t["timestamp"].to_numpy() - t0) // step
    t = t.assign(bucket=bucket)
    n = int(bucket.max()) + 1
    index = pd.RangeIndex(n)
    fields: dict[str, np.ndarray] = {}
    last = t.groupby(["bucket", "symbol"]).last()
    for col in ("bid", "ask", *(("funding_rate",) if "funding_rate" in t.columns else ())):
        wide = last[col].unstack("symbol").reindex(index=index, columns=list(symbols)).ffill()
        fields[col] = np.ascontiguousarray(wide.to_numpy(dtype=np.float64))
    vol = t.groupby(["bucket", "symbol"])["volume"].sum(min_count=1).unstack("symbol")
    fields["volume"] = np.ascontiguousarray(
        vol.reindex(index=index, columns=list(symbols)).fillna(0.0).to_numpy(dtype=np.float64)
    )
    timestamps = (
        np.arange(n, dtype=np.int64) * step
    )  # relative to the first row; its UTC time is in provenance
    return timestamps, symbols, {**fields, "t0": np.array([t0])}
