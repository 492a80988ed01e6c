"""Accounting: the ledger of a replay - cash, positions, average prices, realised and unrealised P&L, fees,
the equity curve, drawdown and how long the book stays under water.

Money is in the portfolio's currency, quantities in units of each symbol (signed: long > 0), prices per
unit. Positions are marked at the price they could be closed at (longs at the bid, shorts at the ask), so
a wider spread shows up as a loss, as it would for a desk forced to cut risk. A symbol whose quote is
unusable this tick (NaN, not positive, crossed) keeps its last usable bid and ask: forward-fill.

The book is carried in at tick 0 (``open_ledger``): quantities from the weights at the tick-0 mid, cost
basis and cash set at the tick-0 liquidation marks, so equity at tick 0 is exactly the initial capital and
unrealised P&L is 0. From then on only fills move cash: ``cash = cash_0 - sum(fill qty x price) - fees``.
The identity ``equity - capital == realised + unrealised - fees`` holds at every tick (average-cost method).

State lives in two arrays: ``ls`` (N_LS, n_symbols) per symbol and ``lg`` (N_LG,) for the book.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from pytest_stress.errors import ReplayError
from pytest_stress.scenario import PortfolioSpec

# --- per-symbol rows of ``ls`` ---
LS_QTY, LS_AVG_PX, LS_REALISED, LS_LAST_BID, LS_LAST_ASK = 0, 1, 2, 3, 4
N_LS = 5

# --- slots of ``lg`` (timestamps in ns, stored as float64: exact below 2**53 ns = 104 days) ---
LG_CASH = 0
LG_FEES = 1  # paid so far, positive
LG_REALISED = 2  # average-cost realised P&L, before fees
LG_EQUITY = 3  # cash + marked positions
LG_NET_EXPOSURE = 4  # sum(qty x mid)
LG_GROSS_EXPOSURE = 5  # sum(|qty| x mid)
LG_UNREALISED = 6  # sum(qty x (mark - avg_px))
LG_PEAK = 7  # highest equity so far
LG_PEAK_TS = 8
LG_PEAK_ROW = 9
LG_DRAWDOWN = 10  # percent below the peak, now
LG_MAX_DRAWDOWN = 11  # percent
LG_MAX_DD_ROWS = 12  # longest time under water, in ticks
LG_MAX_DD_NS = 13  # the same in ns
LG_CAPITAL = 14  # equity at tick 0
LG_N_FILLS = 15
LG_CLOSING_FILLS = 16  # fills that reduced a position (they realise P&L)
LG_WINNING_FILLS = 17  # closing fills whose realised P&L net of their fee is above 0
LG_GROSS_PROFIT = 18  # sum of positive net P&L of closing fills
LG_GROSS_LOSS = 19  # sum of -negative net P&L of closing fills
LG_TRADED_VALUE = 20  # sum(|qty| x price) of fills
N_LG = 21


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
def open_ledger(weights, capital, bid0, ask0, ts0, ls, lg):
    """Carry the book in at tick 0 (see the module docstring); returns the base quantities."""
    qty, cash = open_book(weights, capital, bid0, ask0)
    ls[:] = 0.0
    lg[:] = 0.0
    for i in range(qty.shape[0]):
        ls[LS_QTY, i] = qty[i]
        ls[LS_AVG_PX, i] = bid0[i] if qty[i] > 0.0 else ask0[i]
        ls[LS_LAST_BID, i] = bid0[i]
        ls[LS_LAST_ASK, i] = ask0[i]
    lg[LG_CASH] = cash
    lg[LG_CAPITAL] = capital
    lg[LG_EQUITY] = capital
    lg[LG_PEAK] = capital
    lg[LG_PEAK_TS] = ts0
    lg[LG_PEAK_ROW] = 0.0
    return qty


@njit(cache=True)
def apply_fills(ls, lg, symbols, qtys, prices, fees, f0, f1):
    """Book fills f0 .. f1-1 of the fill arrays, in order (qty signed: > 0 bought; at its price, paying its
    fee): cash, fees, positions and average price; a fill that reduces a position realises P&L against the
    average price (a flip opens the rest at the fill's price). The compiled loop books a tick's fills with
    one call: a call per fill costs reference counting on the arrays, more than the fill."""
    for f in range(f0, f1):
        symbol, qty, price, fee = symbols[f], qtys[f], prices[f], fees[f]
        q0 = ls[LS_QTY, symbol]
        avg = ls[LS_AVG_PX, symbol]
        lg[LG_CASH] -= qty * price + fee
        lg[LG_FEES] += fee
        lg[LG_N_FILLS] += 1.0
        lg[LG_TRADED_VALUE] += abs(qty) * price
        q1 = q0 + qty
        if q0 == 0.0 or (q0 > 0.0) == (qty > 0.0):
            ls[LS_AVG_PX, symbol] = (abs(q0) * avg + abs(qty) * price) / (abs(q0) + abs(qty))
        else:
            closed = min(abs(qty), abs(q0))
            gross = closed * (price - avg) * (1.0 if q0 > 0.0 else -1.0)
            ls[LS_REALISED, symbol] += gross
            lg[LG_REALISED] += gross
            realised = gross - fee
            lg[LG_CLOSING_FILLS] += 1.0
            if realised > 0.0:
                lg[LG_WINNING_FILLS] += 1.0
                lg[LG_GROSS_PROFIT] += realised
            elif realised < 0.0:
                lg[LG_GROSS_LOSS] -= realised
            if abs(qty) > abs(q0):
                ls[LS_AVG_PX, symbol] = price
            elif q1 == 0.0:
                ls[LS_AVG_PX, symbol] = 0.0
        ls[LS_QTY, symbol] = q1


@njit(cache=True, inline="always")
def mark_totals(row, ts, lg, value, net, gross, unrealised):
    """Mark the book from its sums over the symbols (liquidation value, net and gross exposure, unrealised
    P&L, summed by the compiled loop together with its other per-symbol work): equity, exposures,
    drawdown (percent of the peak) and time under water."""
    equity = lg[LG_CASH] + value
    lg[LG_EQUITY] = equity
    lg[LG_NET_EXPOSURE] = net
    lg[LG_GROSS_EXPOSURE] = gross
    lg[LG_UNREALISED] = unrealised
    peak = lg[LG_PEAK]
    if equity >= peak:
        if lg[LG_DRAWDOWN] > 0.0:  # back at the peak: the episode under water lasted until this tick
            _under_water(row, ts, lg)
        lg[LG_PEAK] = equity
        lg[LG_PEAK_TS] = ts
        lg[LG_PEAK_ROW] = row
        lg[LG_DRAWDOWN] = 0.0
    else:
        dd = (peak - equity) / peak * 100.0 if peak > 0.0 else 100.0
        lg[LG_DRAWDOWN] = dd
        if dd > lg[LG_MAX_DRAWDOWN]:
            lg[LG_MAX_DRAWDOWN] = dd
        _under_water(row, ts, lg)
    return equity


@njit(cache=True, inline="always")
def _under_water(row, ts, lg):
    rows = row - lg[LG_PEAK_ROW]
    if rows > lg[LG_MAX_DD_ROWS]:
        lg[LG_MAX_DD_ROWS] = rows
    ns = ts - lg[LG_PEAK_TS]
    if ns > lg[LG_MAX_DD_NS]:
        lg[LG_MAX_DD_NS] = ns


@njit(cache=True)
def revalue(bid, ask, qty, cash, equity_out, net_exposure_out):
    """A static book through a frame: equity = cash + liquidation value; net exposure = sum(qty * mid).

    The reference the vectorised benchmarks and tests compare the managed ledger against.
    """
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
