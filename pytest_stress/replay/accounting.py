"""Accounting: the book held through a scenario and its tick-by-tick revaluation.

Positions are marked at the price they could be closed at (longs at the bid, shorts at the ask), so a
wider spread shows up as a loss, as it would for a desk forced to cut risk. Money is in the portfolio's
currency; weights are signed fractions of initial capital.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from pytest_stress.errors import ReplayError
from pytest_stress.scenario import PortfolioSpec


@dataclass(frozen=True, eq=False)
class Portfolio:
    """A book: initial capital and one signed weight per symbol (0.01 = 1 % of capital long).

    Pass one to ``run_scenario(..., portfolio=...)`` (or return it from the ``stress_portfolio``
    fixture) to certify your own book instead of the scenario's equal-weight default.
    """

    initial_capital: float
    weights: np.ndarray

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=np.float64)
        if w.ndim != 1 or not np.all(np.isfinite(w)):
            raise ReplayError("portfolio weights must be a 1-D array of finite numbers (one per symbol)")
        if not self.initial_capital > 0:
            raise ReplayError(f"initial_capital must be positive, got {self.initial_capital!r}")
        object.__setattr__(self, "weights", np.ascontiguousarray(w))

    @property
    def gross_leverage(self) -> float:
        return round(float(np.abs(self.weights).sum()), 12)  # 100 x 0.01 reads 1.0, not 0.9999999999999999

    @classmethod
    def from_spec(cls, spec: PortfolioSpec, n_symbols: int) -> Portfolio:
        """Equal weight within each side: gross * (1 + net) / 2 long, the rest short."""
        g, net = spec.gross_leverage, spec.net_exposure
        n_long = round(n_symbols * (1.0 + net) / 2.0)
        if -1.0 < net < 1.0 and n_symbols >= 2:  # a two-sided book keeps at least one name per side
            n_long = min(max(n_long, 1), n_symbols - 1)
        elif -1.0 < net < 1.0:
            raise ReplayError(f"net_exposure {net:g} needs long and short names: at least 2 symbols")
        long_w = g * (1.0 + net) / 2.0 / n_long if n_long else 0.0
        n_short = n_symbols - n_long
        short_w = g * (1.0 - net) / 2.0 / n_short if n_short else 0.0
        w = np.concatenate([np.full(n_long, long_w), np.full(n_short, -short_w)])
        return cls(spec.initial_capital, w)


@njit(cache=True)
def open_book(weights, capital, bid0, ask0):
    """Quantities bought at the tick-0 mid and the cash that makes tick-0 liquidation value == capital."""
    n = weights.shape[0]
    qty = np.empty(n)
    cash = capital
    for i in range(n):
        mid = 0.5 * (bid0[i] + ask0[i])
        q = weights[i] * capital / mid
        qty[i] = q
        cash -= q * (bid0[i] if q > 0.0 else ask0[i])
    return qty, cash


@njit(cache=True)
def revalue(bid, ask, qty, cash, equity_out, net_exposure_out):
    """Per tick: equity = cash + liquidation value of the book; net exposure = sum(qty * mid)."""
    n_ticks, n_symbols = bid.shape
    for t in range(n_ticks):
        value = cash
        exposure = 0.0
        for i in range(n_symbols):
            q = qty[i]
            value += q * (bid[t, i] if q > 0.0 else ask[t, i])
            exposure += q * 0.5 * (bid[t, i] + ask[t, i])
        equity_out[t] = value
        net_exposure_out[t] = exposure
