"""Model parameters estimated from a data market's frame: the volatility and correlation of its returns.

Part of ``pytest_stress.market.historic``; import from there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pytest_stress.market.frame import MarketFrame
from pytest_stress.market.synthetic import CALENDAR, SymbolParams

if TYPE_CHECKING:
    from pytest_stress.specs.market import MarketSpec


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
