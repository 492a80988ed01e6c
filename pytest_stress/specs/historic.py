"""The data-backed markets: ``source: historic`` (the user's Parquet or CSV ticks or bars) and
``source: dataset`` (real daily bars shipped by a package, the ``arch`` extra).

Validation here reads no data: the file's existence, its columns and its quality are checked when the
market is loaded (``pytest_stress.market.historic``), with the same FILE-and-field messages.
``specs.market.parse_market`` hands these sources to ``parse_data_market`` here; both build the
``MarketSpec`` of ``specs.market_spec``, so neither module imports the other back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_stress.schema import INVALID, Checker, Choice, Custom, KeyPath, Num, Spec, Text, TextList
from pytest_stress.specs.common import ASSET_CLASS_FIELD, MAX_SPREAD_BPS, SEED_FIELD
from pytest_stress.specs.market_spec import DATA_SOURCES, MarketSpec
from pytest_stress.specs.reconstruction import iso, parse_time

FORMATS = ("parquet", "csv")
# A file's format by its name's ending, when no ``format:`` is given (``ingest`` reads others as CSV).
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
DAY_MS = 86_400_000  # the longest tick of a data market, and the tick of a dataset's daily bars
# Our field -> what it holds. A file needs a timestamp and either bid and ask, or a price (last or close).
COLUMN_FIELDS = ("timestamp", "symbol", "bid", "ask", "price", "volume", "funding_rate")
DATASETS = {
    "sp500_daily": "S&P 500 daily bars 1999-2018 (arch.data.sp500)",
    "nasdaq_daily": "NASDAQ daily bars 1999-2018 (arch.data.nasdaq)",
}


@dataclass(frozen=True)
class HistoricSpec:
    path: str  # as written (relative to the scenario file's directory)
    resolved: str  # absolute path
    format: str
    columns: tuple[tuple[str, str], ...]  # (our field, the file's column)
    tz: str = "UTC"
    window: tuple[str, str] | None = None
    names: tuple[str, ...] = ()  # symbols to keep (empty: all)
    spread_bps: float = 1.0  # quoted spread around a price when the data has no bid and ask
    max_gap_s: float | None = None  # a longer pause between two rows is a data gap
    sha256: str | None = None  # expected content hash (the dataset version); None: recorded, not checked
    dataset: str | None = None  # for source: dataset

    def column(self, field: str) -> str | None:
        return dict(self.columns).get(field)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.dataset is not None:
            out["name"] = self.dataset
        else:
            out.update(path=self.path, format=self.format, columns=dict(self.columns), tz=self.tz)
        if self.window is not None:
            out["window"] = list(self.window)
        if self.names:
            out["symbols"] = list(self.names)
        out["spread_bps"] = self.spread_bps
        if self.max_gap_s is not None:
            out["max_gap_s"] = self.max_gap_s
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        return out


def _columns(chk: Checker, path: KeyPath, raw: Any) -> Any:
    if raw is None:
        return ()
    fields: dict[str, Spec] = {f: Text(default=None) for f in COLUMN_FIELDS}
    values = chk.mapping(path, raw, fields)
    if values is None or INVALID in values.values():
        return INVALID
    return tuple((k, v) for k, v in values.items() if v is not None)


def _window(chk: Checker, path: KeyPath, raw: Any) -> Any:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != 2:
        return chk.fail(
            path, "expected [start, end]: two ISO times, e.g. [2010-05-06T18:30:00Z, 2010-05-06T19:15:00Z]"
        )
    start, end = (parse_time(chk, (*path, i), v) for i, v in enumerate(raw))
    if start is INVALID or end is INVALID:
        return INVALID
    if end <= start:
        return chk.fail((*path, 1), f"{iso(end)} is not after {iso(start)}")
    return (iso(start), iso(end))


def _base_fields() -> dict[str, Spec]:
    return {
        "source": Choice(options=DATA_SOURCES),
        "tick_ms": Num(lo=1, hi=DAY_MS, integer=True, default=None),
        "window": Custom(fn=_window, what="[start, end] in UTC", default=None),
        "symbols": TextList(default=()),
        "spread_bps": Num(lo=0.0, hi=MAX_SPREAD_BPS, default=1.0),
        "max_gap_s": Num(lo=0.0, lo_open=True, default=None),
        "asset_class": ASSET_CLASS_FIELD,
        "seed": SEED_FIELD,
        "sha256": Text(pattern=r"[0-9a-f]{64}", pattern_help="(64 hex digits)", default=None),
    }


def parse_data_market(chk: Checker, path: KeyPath, raw: dict[str, Any]) -> Any:
    """A ``market:`` mapping with ``source: historic`` or ``dataset`` (``specs.market.parse_market`` hands
    it over) as a MarketSpec whose ``historic`` holds the HistoricSpec."""
    fields = _base_fields()
    if raw.get("source") == "historic":
        fields.update(
            path=Text(),
            format=Choice(options=FORMATS, default=None),
            columns=Custom(fn=_columns, what="a mapping of field: column name", default=()),
            tz=Text(default="UTC"),
        )
    else:
        fields["name"] = Choice(options=tuple(DATASETS))
    values = chk.mapping(path, raw, fields)
    if values is None or INVALID in values.values():
        return INVALID
    if raw["source"] == "historic":
        written = values["path"]
        base = Path(chk.source).parent if chk.source not in ("", "<memory>") else Path.cwd()
        resolved = Path(written) if Path(written).is_absolute() else base / written
        fmt = values["format"] or SUFFIXES.get(resolved.suffix.lower())
        if fmt is None:
            return chk.fail(
                (*path, "path"),
                f"cannot tell the format of {written!r} from its name: add format: parquet or csv",
            )
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(values["tz"])
        except Exception:
            return chk.fail(
                (*path, "tz"), f"{values['tz']!r} is not a time zone name (e.g. UTC, America/New_York)"
            )
        spec = HistoricSpec(
            path=written, resolved=str(resolved.resolve()), format=fmt, columns=values["columns"], tz=values["tz"],
            window=values["window"], names=values["symbols"], spread_bps=values["spread_bps"],
            max_gap_s=values["max_gap_s"], sha256=values["sha256"],
        )  # fmt: skip
    else:
        spec = HistoricSpec(
            path="", resolved="", format="dataset", columns=(), window=values["window"], names=values["symbols"],
            spread_bps=values["spread_bps"], max_gap_s=values["max_gap_s"], sha256=values["sha256"],
            dataset=values["name"],
        )  # fmt: skip
    tick_ms = values["tick_ms"] or (DAY_MS if spec.dataset else 1000)
    duration = 0.0
    if spec.window is not None:
        import datetime as dt

        a, b = (dt.datetime.fromisoformat(w.replace("Z", "+00:00")) for w in spec.window)
        duration = (b - a).total_seconds()
    return MarketSpec(
        source=values["source"], symbols=max(1, len(spec.names)), duration_s=duration, tick_ms=tick_ms,
        seed=values["seed"], asset_class=values["asset_class"], historic=spec,
    )  # fmt: skip


def with_data(market: Any, n_ticks: int, n_symbols: int) -> Any:
    """The market's spec once its data is loaded: the real symbol count and length."""
    return dataclasses.replace(market, symbols=n_symbols, duration_s=(n_ticks - 1) * market.tick_ms / 1000.0)
