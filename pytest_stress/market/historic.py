"""Bring your own data: Parquet (pyarrow) or CSV ticks and bars as a market frame, with a data-quality report.

A file is long format - one row per timestamp and symbol - with a timestamp and either bid and ask or a
price (quotes are then put ``spread_bps`` around it). Rows are put on the scenario's ``tick_ms`` grid:
the last quote of each interval, carried forward through intervals without one (never before a symbol's
first quote), volumes summed. The SHA-256 of the file's bytes is the dataset version the report shows.
``ingest`` turns a CSV into the normalised Parquet the loader reads fastest and prints what is wrong.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_stress.errors import Problem, ScenarioError, StressError
from pytest_stress.market.frame import MarketFrame
from pytest_stress.market.synthetic import CALENDAR, SymbolParams, default_tick_size

if TYPE_CHECKING:
    import pandas as pd

    from pytest_stress.specs.historic import HistoricSpec
    from pytest_stress.specs.market import MarketSpec

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


@dataclass
class QualityReport:
    """What is wrong with a file: counts per kind and the first example of each."""

    rows: int = 0
    symbols: tuple[str, ...] = ()
    first: str = ""
    last: str = ""
    unsorted: int = 0
    duplicates: int = 0
    nans: int = 0
    crossed: int = 0
    non_positive: int = 0
    gaps: int = 0
    largest_gap_s: float = 0.0
    examples: dict[str, str] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not (
            self.unsorted or self.duplicates or self.nans or self.crossed or self.non_positive or self.gaps
        )

    def lines(self) -> list[str]:
        out = [
            f"rows: {self.rows:,}",
            f"symbols: {len(self.symbols)} ({', '.join(self.symbols[:8])}{', ...' if len(self.symbols) > 8 else ''})",
            f"time range: {self.first} .. {self.last}",
        ]
        for key, label in (
            ("unsorted", "rows out of time order"),
            ("duplicates", "duplicate (timestamp, symbol) rows"),
            ("nans", "missing prices (NaN)"),
            ("crossed", "crossed books (bid above ask)"),
            ("non_positive", "prices at or below zero"),
            ("gaps", "gaps"),
        ):
            n = getattr(self, key)
            extra = f", largest {self.largest_gap_s:g} s" if key == "gaps" and n else ""
            example = f"; first: {self.examples[key]}" if key in self.examples else ""
            out.append(f"{label}: {n:,}{extra}{example}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("rows", "unsorted", "duplicates", "nans", "crossed", "non_positive", "gaps")
        }


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


def quality(table: pd.DataFrame, max_gap_s: float | None) -> QualityReport:
    """Count what the runbooks care about, per (symbol) series, on the normalised table in file order."""
    import pandas as pd

    rep = QualityReport(rows=len(table))
    if not len(table):
        return rep
    ts = table["timestamp"].to_numpy()
    rep.symbols = tuple(sorted(table["symbol"].unique()))
    rep.first = _utc(int(ts.min()))
    rep.last = _utc(int(ts.max()))
    steps = []
    for sym, g in table.groupby("symbol", sort=False):
        t = g["timestamp"].to_numpy()
        d = np.diff(t)
        back = int((d < 0).sum())
        if back and "unsorted" not in rep.examples:
            rep.examples["unsorted"] = f"{sym} at {_utc(int(t[1:][d < 0][0]))}"
        rep.unsorted += back
        st = np.sort(t)
        steps.append(np.diff(st))
    dup = table.duplicated(["timestamp", "symbol"], keep="first")
    rep.duplicates = int(dup.sum())
    if rep.duplicates:
        row = table[dup].iloc[0]
        rep.examples["duplicates"] = f"{row['symbol']} at {_utc(int(row['timestamp']))}"
    bid, ask = table["bid"].to_numpy(), table["ask"].to_numpy()
    nan = np.isnan(bid) | np.isnan(ask)
    rep.nans = int(nan.sum())
    if rep.nans:
        i = int(np.argmax(nan))
        rep.examples["nans"] = f"{table['symbol'].iloc[i]} at {_utc(int(ts[i]))}"
    crossed = bid > ask
    rep.crossed = int(crossed.sum())
    if rep.crossed:
        i = int(np.argmax(crossed))
        rep.examples["crossed"] = (
            f"{table['symbol'].iloc[i]} at {_utc(int(ts[i]))}: bid {bid[i]:g} > ask {ask[i]:g}"
        )
    rep.non_positive = int(((bid <= 0) | (ask <= 0)).sum())
    all_steps = np.concatenate(steps) if steps else np.zeros(0)
    positive = all_steps[all_steps > 0]
    if positive.size:
        limit_ns = max_gap_s * 1e9 if max_gap_s else 5.0 * float(np.median(positive))
        big = positive > limit_ns
        rep.gaps = int(big.sum())
        rep.largest_gap_s = float(positive.max()) / 1e9 if rep.gaps else 0.0
    del pd
    return rep


def _utc(ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")


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


def load_spec_table(spec: HistoricSpec) -> tuple[pd.DataFrame, str]:
    """The normalised table of a historic or dataset market and its version (content hash)."""
    if spec.dataset is not None:
        return _dataset_table(spec)
    sha = sha256_of(spec.resolved) if Path(spec.resolved).is_file() else ""
    if spec.sha256 is not None and sha and sha != spec.sha256:
        raise DataError(
            f"{spec.resolved}: its sha256 is {sha}, not the {spec.sha256} the scenario pins; the data changed"
        )
    df = read_table(spec.resolved, spec.format)
    table = normalise(df, dict(spec.columns), spec.tz, Path(spec.resolved).stem, spec.spread_bps)
    return table, sha


def _dataset_table(spec: HistoricSpec) -> tuple[pd.DataFrame, str]:
    try:
        from arch import data as arch_data  # the optional `arch` extra
    except ImportError:
        raise DataError(
            f"dataset {spec.dataset!r} needs the arch package: pip install 'pytest-trading-stress[arch]'"
        ) from None
    import importlib

    import pandas as pd

    module = importlib.import_module(f"arch.data.{spec.dataset.split('_')[0]}")
    df = module.load()
    del arch_data
    frame = pd.DataFrame(
        {"timestamp": df.index, "price": df["Adj Close"] if "Adj Close" in df else df["Close"]}
    )
    frame["volume"] = df["Volume"].to_numpy() if "Volume" in df else np.nan
    table = normalise(frame, {}, "America/New_York", spec.dataset.upper(), spec.spread_bps)
    version = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
    return table, version


def load_market(market: MarketSpec) -> tuple[MarketFrame, SymbolParams]:
    """The frame of a historic or dataset market, on its tick grid, and parameters estimated from it."""
    spec = market.historic
    table, version = load_spec_table(spec)  # type: ignore[arg-type]
    if spec.window is not None:
        import pandas as pd

        lo, hi = (pd.Timestamp(w).value for w in spec.window)
        table = table[(table["timestamp"] >= lo) & (table["timestamp"] <= hi)]
    if not len(table):
        raise DataError(f"{spec.resolved or spec.dataset}: no rows in the window {spec.window}")
    rep = quality(table, spec.max_gap_s)
    ts, symbols, f = to_grid(table, market.tick_ms, spec.names)
    start_prices = 0.5 * (f["bid"][0] + f["ask"][0])
    frame = MarketFrame(
        timestamps_ns=ts,
        bid=f["bid"],
        ask=f["ask"],
        symbols=symbols,
        volume=f["volume"],
        funding_rate=f.get("funding_rate"),
        tick_size=default_tick_size(market.asset_class, np.nan_to_num(start_prices, nan=1.0)),
        asset_class=(market.asset_class,) * len(symbols),
        provenance={
            "source": market.source,
            "dataset_path": spec.path or spec.dataset,
            "dataset_sha256": version,
            "start_utc": _utc(int(f["t0"][0])),
            "data_quality": rep.to_dict(),
        },
    )
    return frame, estimate_params(frame, market)


def estimate_params(frame: MarketFrame, market: MarketSpec) -> SymbolParams:
    """Volatility and correlation of the data, for the normal-day VaR history the risk engine compares to."""
    mid = frame.mid()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.diff(np.log(mid), axis=0)
    r = r[np.all(np.isfinite(r), axis=1)]
    days, session_s = CALENDAR[market.asset_class]
    per_year = days * session_s / (market.tick_ms / 1000.0)
    vol = np.std(r, axis=0) * np.sqrt(per_year) if r.shape[0] > 2 else np.full(frame.n_symbols, 0.2)
    vol = np.clip(np.nan_to_num(vol, nan=0.2), 0.01, 5.0)
    rho = 0.0
    if frame.n_symbols > 1 and r.shape[0] > 2:
        c = np.corrcoef(r.T)
        rho = float(np.clip(np.nanmean(c[np.triu_indices_from(c, 1)]), 0.0, 0.99))
    return SymbolParams(
        annual_vol=vol,
        spread_bps=np.full(frame.n_symbols, 1.0),
        start_price=np.nan_to_num(mid[0], nan=1.0),
        correlation=rho,
        asset_class=market.asset_class,
    )


def check_stresses(sc: Any, market: MarketSpec) -> None:
    """Stress windows against the data's real length (a historic market's length is known once loaded)."""
    from pytest_stress.schema import Checker
    from pytest_stress.specs.stresses import check_against_market

    chk = Checker(source=sc.source, lines={})
    check_against_market(chk, market, sc.stress)
    if chk.problems:
        raise ScenarioError(
            [Problem(p.path, p.line, p.key, p.message + " (the data is shorter)") for p in chk.problems]
        )


# --- ingest ------------------------------------------------------------------------------------


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
    fmt = "parquet" if src.suffix.lower() in (".parquet", ".pq") else "csv"
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
