"""Loading a data-backed market (``source: historic`` or ``dataset``): its table, its frame on the tick
grid with the dataset version and data quality in its provenance, and its stresses checked against the
data's real length. Part of ``pytest_stress.market.historic``; import from there.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_stress.errors import Problem, ScenarioError
from pytest_stress.market.estimate import estimate_params
from pytest_stress.market.frame import MarketFrame
from pytest_stress.market.grid import to_grid
from pytest_stress.market.quality import quality
from pytest_stress.market.synthetic import SymbolParams, default_tick_size
from pytest_stress.market.tables import DataError, normalise, read_table, sha256_of, utc_text
from pytest_stress.schema import Checker
from pytest_stress.specs.stresses import check_against_market

if TYPE_CHECKING:
    import pandas as pd

    from pytest_stress.specs.historic import HistoricSpec
    from pytest_stress.specs.market import MarketSpec


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
            "start_utc": utc_text(int(f["t0"][0])),
            "data_quality": rep.to_dict(),
        },
    )
    return frame, estimate_params(frame, market)


def check_stresses(sc: Any, market: MarketSpec) -> None:
    """Stress windows against the data's real length (a historic market's length is known once loaded)."""
    chk = Checker(source=sc.source, lines={})
    check_against_market(chk, market, sc.stress)
    if chk.problems:
        raise ScenarioError(
            [Problem(p.path, p.line, p.key, p.message + " (the data is shorter)") for p in chk.problems]
        )
