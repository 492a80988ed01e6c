"""The ``risk:`` section: the risk engine's limits and controls during the replay.

Defaults are the seeds' numbers: drawdown circuit breakers at 5 % (strategy) and 10 % (portfolio), Kelly
utilisation clamped to 50 % once drawdown passes 5 %, annualised volatility target 18 % with a 5 % floor
(seed 000); a VaR multiple trip at 2x and a position-delta trip at 10 % (seed 002). Units: every ``_pct``
here is in percent (5.0 = 5 %); volatilities and utilisation are fractions; durations in seconds. What
each control does is in ``pytest_stress.replay.risk``.

A limit in ``expect:`` (max_drawdown_pct, var_multiple, position_delta_pct, cvar_multiple) replaces the
trip of the same metric here: the limit a risk officer reads there is the one the replay applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_stress.schema import INVALID, Checker, Flag, KeyPath, Num, Spec


@dataclass
class NumOrOff(Num):
    """A number within bounds, or null: the control is off."""

    def describe(self) -> str:
        return super().describe() + " or null (off)"

    def parse(self, chk: Checker, path: KeyPath, raw: Any) -> Any:
        return None if raw is None else super().parse(chk, path, raw)


@dataclass(frozen=True)
class RiskSpec:
    strategy_drawdown_pct: float = 5.0  # strategy breaker: no risk-increasing orders above this drawdown
    portfolio_drawdown_pct: float = 10.0  # portfolio breaker: fires the kill switch (on_breach: kill_switch)
    kelly_clamp_after_drawdown_pct: float = 5.0
    kelly_max_utilisation: float = 0.5
    vol_target_annual: float = 0.18
    vol_halflife_s: float = 60.0  # EWMA of the book's return variance
    vol_rebalance_s: float = 300.0  # how often vol targeting resizes the book (0: every tick)
    vol_floor_scale: float = 0.05  # vol targeting never shrinks the book below this fraction
    var_trip_multiple: float | None = 2.0  # loss / 1-day VaR above this trips (None: no trip)
    cvar_trip_multiple: float | None = None  # loss / 1-day CVaR above this trips
    position_delta_trip_pct: float | None = 10.0  # net exposure change, percent of gross
    max_price_deviation_pct: float = 5.0  # price collar around the mid for every order (0: off)
    rebalance_band_pct: float = 1.0  # orders only for differences above this percent of a base position
    manage_book: bool = True  # false: the book is held as is (controls still measured and recorded)


RISK_FIELDS: dict[str, Spec] = {
    "strategy_drawdown_pct": Num(lo=0.0, lo_open=True, hi=100.0, default=5.0),
    "portfolio_drawdown_pct": Num(lo=0.0, lo_open=True, hi=100.0, default=10.0),
    "kelly_clamp_after_drawdown_pct": Num(lo=0.0, hi=100.0, default=5.0),
    "kelly_max_utilisation": Num(lo=0.0, hi=1.0, default=0.5),
    "vol_target_annual": Num(lo=0.0, lo_open=True, hi=10.0, default=0.18),
    "vol_halflife_s": Num(lo=0.0, lo_open=True, hi=30 * 86_400.0, default=60.0),
    "vol_rebalance_s": Num(lo=0.0, hi=30 * 86_400.0, default=300.0),
    "vol_floor_scale": Num(lo=0.0, hi=1.0, default=0.05),
    "var_trip_multiple": NumOrOff(lo=0.0, lo_open=True, default=2.0),
    "cvar_trip_multiple": NumOrOff(lo=0.0, lo_open=True, default=None),
    "position_delta_trip_pct": NumOrOff(lo=0.0, lo_open=True, default=10.0),
    "max_price_deviation_pct": Num(lo=0.0, hi=100.0, default=5.0),
    "rebalance_band_pct": Num(lo=0.0, hi=100.0, default=1.0),
    "manage_book": Flag(default=True),
}


def parse_risk(chk: Checker, path: KeyPath, raw: Any) -> RiskSpec | Any:
    values = chk.mapping(path, raw, RISK_FIELDS)
    if values is None or INVALID in values.values():
        return INVALID
    return RiskSpec(**values)
