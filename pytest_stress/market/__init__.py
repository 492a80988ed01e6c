"""Market data for the replay: the struct-of-arrays frame, the seeded synthetic generator, data-quality
checks and bars. The generator, checks and bars load numba, so they are imported on first use (the bar
function is ``pytest_stress.market.bars.bars``: the package attribute ``bars`` is that module)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from pytest_stress.market.frame import ASSET_CLASSES, Depth, MarketFrame

if TYPE_CHECKING:
    from pytest_stress.market.bars import Bars
    from pytest_stress.market.synthetic import (
        SymbolParams,
        SyntheticMarket,
        synthetic_chunks,
        synthetic_daily_returns,
        synthetic_frame,
    )
    from pytest_stress.market.validate import DataIssue, IssueKind, validate_data

_LAZY = {
    "Bars": "bars",
    "SymbolParams": "synthetic",
    "SyntheticMarket": "synthetic",
    "synthetic_chunks": "synthetic",
    "synthetic_daily_returns": "synthetic",
    "synthetic_frame": "synthetic",
    "DataIssue": "validate",
    "IssueKind": "validate",
    "validate_data": "validate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"pytest_stress.market.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'pytest_stress.market' has no attribute {name!r}")


__all__ = [
    "ASSET_CLASSES",
    "Bars",
    "DataIssue",
    "Depth",
    "IssueKind",
    "MarketFrame",
    "SymbolParams",
    "SyntheticMarket",
    "synthetic_chunks",
    "synthetic_daily_returns",
    "synthetic_frame",
    "validate_data",
]
