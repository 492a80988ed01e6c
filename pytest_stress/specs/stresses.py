"""The ``stress:`` section: every stress type and its parameters, and the checks against the market.

The replay core implements exactly these types (``pytest_stress.replay.transforms.TRANSFORMS``); a test
keeps the two tables in step. Price shocks are fractions (-0.03 is a 3 % down-spike, the seed's convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_stress.schema import INVALID, Checker, Choice, KeyPath, Num, Spec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pytest_stress.specs.market import MarketSpec


@dataclass(frozen=True)
class StressSpec:
    """One stress applied to the market, in file order. ``params`` hold validated, defaulted values."""

    type: str
    params: Mapping[str, Any]
    line: int = 0


STRESS_PARAMS: dict[str, dict[str, Spec]] = {
    "flash_crash": {
        "price_shock_pct": Num(lo=-0.99, hi=0.0, hi_open=True),
        "spread_mult": Num(lo=1.0, hi=1000.0, default=1.0),
        "duration_s": Num(lo=0, lo_open=True),
        "start_s": Num(lo=0.0, default=0.0),
        "fall_s": Num(lo=0.0, default=0.0),  # 0: the whole fall happens within one tick
        "recovery": Choice(options=("linear", "exponential", "none"), default="linear"),
    },
}


def parse_stresses(chk: Checker, path: KeyPath, raw: Any) -> tuple[StressSpec, ...] | Any:
    if not isinstance(raw, list):
        return chk.fail(path, "expected a list of stresses, each a mapping with a 'type'")
    out = []
    for i, item in enumerate(raw):
        ipath = (*path, i)
        if not isinstance(item, dict) or "type" not in item:
            chk.fail(ipath, f"each stress needs a 'type' (one of {', '.join(STRESS_PARAMS)})")
            continue
        kind = Choice(options=tuple(STRESS_PARAMS)).parse(chk, (*ipath, "type"), item["type"])
        if kind is INVALID:
            continue
        params = chk.mapping(ipath, {k: v for k, v in item.items() if k != "type"}, STRESS_PARAMS[kind])
        if params is None or INVALID in params.values():
            continue
        out.append(StressSpec(type=kind, params=params, line=chk.line(ipath)))
    return tuple(out)


def check_against_market(chk: Checker, market: MarketSpec, stresses: tuple[StressSpec, ...]) -> None:
    """Checks that need the market too: every stress window lies inside it and spans whole ticks."""
    for i, s in enumerate(stresses):
        p = s.params
        if "duration_s" not in p:
            continue
        spath: KeyPath = ("stress", i)
        end = p.get("start_s", 0.0) + p["duration_s"]
        if end > market.duration_s + 1e-9:
            chk.fail(
                (*spath, "duration_s"),
                f"the stress window ends at {end:g} s, after the market's "
                f"{market.duration_s:g} s; shorten it or lengthen market.duration_s",
            )
        if market.tick_of(p["duration_s"]) < 2:
            chk.fail(
                (*spath, "duration_s"), f"{p['duration_s']:g} s is shorter than two {market.tick_ms} ms ticks"
            )
        if p.get("fall_s", 0.0) >= p["duration_s"]:
            chk.fail(
                (*spath, "fall_s"),
                f"the fall ({p['fall_s']:g} s) must end inside the {p['duration_s']:g} s window",
            )
