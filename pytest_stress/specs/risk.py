"""The ``risk:`` section: the risk engine's limits and controls during the replay.

Defaults are the seeds' numbers: drawdown circuit breakers at 5 % (strategy) and 10 % (portfolio), Kelly
utilisation clamped to 50 % once drawdown passes 5 %, annualised volatility target 18 % (seed 000); a VaR
multiple trip at 2x and a position-delta trip at 10 % (seed 002). Owned by ``pytest_stress.replay.risk``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_stress.schema import INVALID, Checker, KeyPath, Num, Spec


@dataclass(frozen=True)
class RiskSpec:
    strategy_drawdown_pct: float = 5.0
    portfolio_drawdown_pct: float = 10.0
    kelly_clamp_after_drawdown_pct: float = 5.0
    kelly_max_utilisation: float = 0.5
    vol_target_annual: float = 0.18


RISK_FIELDS: dict[str, Spec] = {
    "strategy_drawdown_pct": Num(lo=0.0, lo_open=True, hi=100.0, default=5.0),
    "portfolio_drawdown_pct": Num(lo=0.0, lo_open=True, hi=100.0, default=10.0),
    "kelly_clamp_after_drawdown_pct": Num(lo=0.0, hi=100.0, default=5.0),
    "kelly_max_utilisation": Num(lo=0.0, hi=1.0, default=0.5),
    "vol_target_annual": Num(lo=0.0, lo_open=True, hi=10.0, default=0.18),
}


def parse_risk(chk: Checker, path: KeyPath, raw: Any) -> RiskSpec | Any:
    values = chk.mapping(path, raw, RISK_FIELDS)
    if values is None or INVALID in values.values():
        return INVALID
    return RiskSpec(**values)
