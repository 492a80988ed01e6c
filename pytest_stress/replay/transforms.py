"""Market stresses: compiled, composable transforms of a market frame, applied in scenario order.

Each transform takes the frame's arrays and the stress's validated parameters, changes the arrays in
place, and returns an ``AppliedStress`` record (type, parameters, tick window) kept in the result.
Price shocks are fractions (-0.03 = 3 % down); times are converted to tick indices here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from pytest_stress.market.frame import MarketFrame
from pytest_stress.scenario import MarketSpec, StressSpec

RECOVERY_CODES = {"linear": 0, "exponential": 1, "none": 2}

# Exponential recovery closes 99 % of the gap by the end of the window (then snaps to zero).
_EXP_RATE = np.log(100.0)


@dataclass(frozen=True)
class AppliedStress:
    type: str
    params: Mapping[str, Any]
    start_tick: int
    end_tick: int


@njit(cache=True)
def price_path_factor(k, fall_ticks, span, shock, recovery):
    """Multiplier on the unstressed mid ``k`` ticks after the window opens (k=0 is the last calm tick).

    The price falls linearly to ``1 + shock`` over ``fall_ticks`` ticks, then recovers over the rest of
    the ``span``-tick window: linearly, exponentially, or not at all (recovery codes 0, 1, 2).
    """
    if k <= 0:
        return 1.0
    if k <= fall_ticks:
        return 1.0 + shock * k / fall_ticks
    rest = span - fall_ticks
    j = k - fall_ticks
    if recovery == 2:
        return 1.0 + shock
    if j >= rest:
        return 1.0
    if recovery == 0:
        return 1.0 + shock * (1.0 - j / rest)
    tail = np.exp(-_EXP_RATE)
    return 1.0 + shock * (np.exp(-_EXP_RATE * j / rest) - tail) / (1.0 - tail)


@njit(cache=True)
def flash_crash(bid, ask, start, fall_ticks, end, shock, spread_mult, recovery):
    """Flash crash in place on bid/ask (n_ticks, n_symbols).

    Ticks start+1 .. end-1 carry spreads times ``spread_mult``; the mid follows ``price_path_factor``.
    With recovery ``none`` the price stays at the trough after the window (spreads return to normal).
    """
    n_ticks, n_symbols = bid.shape
    span = end - start
    last = n_ticks if recovery == 2 else min(end, n_ticks)
    for t in range(start + 1, last):
        f = price_path_factor(t - start, fall_ticks, span, shock, recovery)
        g = spread_mult if t < end else 1.0
        for i in range(n_symbols):
            mid = 0.5 * (bid[t, i] + ask[t, i])
            half = 0.5 * (ask[t, i] - bid[t, i])
            bid[t, i] = mid * f - half * g
            ask[t, i] = mid * f + half * g


def _apply_flash_crash(frame: MarketFrame, market: MarketSpec, p: Mapping[str, Any]) -> AppliedStress:
    start = market.tick_of(p["start_s"])
    end = market.tick_of(p["start_s"] + p["duration_s"])
    fall = max(1, market.tick_of(p["fall_s"]))
    flash_crash(
        frame.bid,
        frame.ask,
        start,
        fall,
        end,
        p["price_shock_pct"],
        p["spread_mult"],
        RECOVERY_CODES[p["recovery"]],
    )
    return AppliedStress("flash_crash", dict(p), start, end)


Transform = Callable[[MarketFrame, MarketSpec, Mapping[str, Any]], AppliedStress]

# stress type -> implementation; the schema's STRESS_PARAMS lists the same types.
TRANSFORMS: dict[str, Transform] = {
    "flash_crash": _apply_flash_crash,
}


def apply_stresses(
    frame: MarketFrame, market: MarketSpec, stresses: tuple[StressSpec, ...]
) -> tuple[MarketFrame, tuple[AppliedStress, ...]]:
    """A stressed copy of ``frame`` (the input is left untouched) and the record of what was applied."""
    out = frame.copy()
    applied = tuple(TRANSFORMS[s.type](out, market, s.params) for s in stresses)
    return out, applied
