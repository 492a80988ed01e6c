"""The ``stress:`` section: every stress type and its parameters, and the checks against the market.

The replay core implements exactly these types (``pytest_stress.replay.transforms.TRANSFORMS``); a test
keeps the two tables in step. Units: every ``*_pct`` is a fraction (-0.03 is a 3 % down-spike, the seed's
convention; ``drop_pct: 0.95`` removes 95 %), every ``*_s`` is seconds of market time and must be a whole
number of ticks, ``*_mult`` multiplies, ``ticks`` counts ticks.

Optional parameters without a default (``price_shock_pct``/``drop_pct`` of a flash crash, ``ticks``/
``duration_s`` of a gap) are left out of ``params`` when not given, so ``params`` holds only real values.
``mixed_custom`` keeps its nested stresses as plain mappings (``{"type": ..., **params}``), validated the
same way as the top-level list, so a scenario still prints as YAML or JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_stress.schema import _MISSING, INVALID, Checker, Choice, Custom, KeyPath, Num, Spec, dotted
from pytest_stress.specs.common import MAX_MULT

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pytest_stress.specs.market import MarketSpec


@dataclass(frozen=True)
class StressSpec:
    """One stress applied to the market, in file order. ``params`` hold validated values, and every
    optional parameter with a default holds it: the parser fills them in while it validates, and the
    constructor fills in whatever is still missing, so a stress built in code
    (``StressSpec("depth_collapse", {"duration_s": 20.0})``) has them too. The replay core reads ``params``
    as they are. A ``mixed_custom``'s nested stresses get theirs when they become StressSpecs in turn."""

    type: str
    params: Mapping[str, Any]
    line: int = 0

    def __post_init__(self) -> None:
        if self.type in STRESS_PARAMS:  # an unknown type is the replay core's error to report
            object.__setattr__(self, "params", with_defaults(self.type, self.params))


CORRUPTION_KINDS = ("nan", "spike", "duplicate", "stale", "out_of_order")
GAP = "gap"
MIXED = "mixed_custom"
MAX_FALL = 0.99  # the deepest fall a stress may cause, a fraction of the price: it never reaches zero


def _window() -> dict[str, Spec]:
    return {"duration_s": Num(lo=0, lo_open=True), "start_s": Num(lo=0.0, default=0.0)}


def _spread_mult(default: Any = _MISSING) -> Num:
    """Every quoted distance from the mid x this."""
    return Num(lo=1.0, hi=MAX_MULT, default=default)


def _kinds(chk: Checker, path: KeyPath, raw: Any) -> tuple[str, ...] | Any:
    if not isinstance(raw, list) or not raw:
        return chk.fail(
            path, f"expected a non-empty list of corruption kinds ({', '.join(CORRUPTION_KINDS)})"
        )
    kinds = [Choice(options=CORRUPTION_KINDS).parse(chk, (*path, i), v) for i, v in enumerate(raw)]
    if INVALID in kinds:
        return INVALID
    if len(set(kinds)) != len(kinds):
        return chk.fail(path, "each corruption kind may be listed once")
    return tuple(kinds)


def _nested(chk: Checker, path: KeyPath, raw: Any) -> tuple[dict[str, Any], ...] | Any:
    if raw == []:
        return chk.fail(path, "a mixed_custom stress needs at least one stress in its list")
    specs = _parse_list(chk, path, raw)
    if specs is INVALID or len(specs) < len(raw):
        return INVALID
    return tuple({"type": s.type, **s.params} for s in specs)


STRESS_PARAMS: dict[str, dict[str, Spec]] = {
    "flash_crash": {
        # exactly one of the two: a signed shock (seed 002) or a positive drop (seed 003)
        "price_shock_pct": Num(lo=-MAX_FALL, hi=0.0, hi_open=True, default=None),
        "drop_pct": Num(lo=0.0, lo_open=True, hi=MAX_FALL, default=None),
        "spread_mult": _spread_mult(default=1.0),
        **_window(),
        "fall_s": Num(lo=0.0, default=0.0),  # 0: the whole fall happens within one tick
        "recovery": Choice(options=("linear", "exponential", "none"), default="linear"),
    },
    "volatility_spike": {
        "multiplier": Num(lo=0.0, lo_open=True, hi=MAX_MULT),  # on log returns; 1 changes nothing
        **_window(),
    },
    # volume and every book size x (1 - drop_pct)
    "liquidity_drop": {"drop_pct": Num(lo=0.0, hi=1.0), **_window()},
    # every quoted distance from an unchanged mid x spread_mult
    "spread_explosion": {"spread_mult": _spread_mult(), **_window()},
    # book levels from levels_left on emptied, distances x spread_mult, volume x (1 - volume_drop_pct)
    "depth_collapse": {
        "levels_left": Num(lo=1, hi=1000, integer=True, default=1),
        "spread_mult": _spread_mult(default=2.0),
        "volume_drop_pct": Num(lo=0.0, hi=1.0, default=0.5),
        **_window(),
    },
    # corruption_pct of the window's cells (nan, spike, stale) or ticks (duplicate, out_of_order), in
    # equal shares per listed kind
    "data_corruption": {
        "corruption_pct": Num(lo=0.0, lo_open=True, hi=1.0),
        "corruption_types": Custom(fn=_kinds, what="a list of corruption kinds", default=CORRUPTION_KINDS),
        "spike_pct": Num(lo=0.0, lo_open=True, hi=10.0, default=0.2),
        "stale_ticks": Num(lo=1, hi=1_000_000, integer=True, default=5),
        **_window(),
    },
    # decorrelate: window returns x an independent random sign per tick and symbol; flip: half the
    # symbols' window returns negated
    "correlation_breakdown": {
        "mode": Choice(options=("decorrelate", "flip"), default="decorrelate"),
        **_window(),
    },
    # up pump_pct over pump_s, down dump_pct of the peak over dump_s, held there after
    "pump_and_dump": {
        "pump_pct": Num(lo=0.0, lo_open=True, hi=100.0),
        "dump_pct": Num(lo=0.0, hi=MAX_FALL),
        "pump_s": Num(lo=0.0, lo_open=True),
        "dump_s": Num(lo=0.0, lo_open=True),
        "start_s": Num(lo=0.0, default=0.0),
        "spread_mult": _spread_mult(default=1.0),
        "symbols": Num(lo=0.0, lo_open=True, hi=1.0, default=1.0),  # fraction of the symbols affected
    },
    # ticks removed from the frame (gaps come last); give exactly one of ticks and duration_s
    GAP: {
        "ticks": Num(lo=1, integer=True, default=None),
        "duration_s": Num(lo=0.0, lo_open=True, default=None),
        "start_s": Num(lo=0.0, default=0.0),
    },
    MIXED: {"stresses": Custom(fn=_nested, what="a list of stresses")},
}

# Exactly one key of each pair must be given.
_ONE_OF: dict[str, tuple[str, str, str]] = {
    "flash_crash": (
        "price_shock_pct",
        "drop_pct",
        "price_shock_pct (a negative fraction: -0.2 is a 20 % fall) or drop_pct (a positive one: 0.2)",
    ),
    GAP: ("ticks", "duration_s", "its length as ticks (a count) or duration_s (seconds)"),
}


def _parse_list(chk: Checker, path: KeyPath, raw: Any) -> tuple[StressSpec, ...] | Any:
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
        params = {k: v for k, v in params.items() if v is not None}
        if kind in _ONE_OF:
            a, b, what = _ONE_OF[kind]
            if (a in params) == (b in params):
                chk.fail(ipath, f"give {'only one of' if a in params else 'exactly one of'} {what}")
                continue
        out.append(StressSpec(type=kind, params=params, line=chk.line(ipath)))
    return tuple(out)


def with_defaults(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with every missing optional key at its default (``StressSpec`` applies it when built)."""
    fields = STRESS_PARAMS[kind]
    defaults = {
        k: f.default for k, f in fields.items() if k not in params and f.default not in (None, _MISSING)
    }
    return {**defaults, **params}


def leaves(
    stresses: tuple[StressSpec, ...], path: KeyPath = ("stress",)
) -> Iterator[tuple[KeyPath, str, Any]]:
    """Every stress in application order as (key path, type, params), mixed_custom lists flattened."""
    for i, s in enumerate(stresses):
        kind, params = (s.type, s.params) if isinstance(s, StressSpec) else (s["type"], s)
        if kind == MIXED:
            nested = tuple(StressSpec(d["type"], d) for d in params["stresses"])
            yield from leaves(nested, (*path, i, "stresses"))
        else:
            yield (*path, i), kind, params


def parse_stresses(chk: Checker, path: KeyPath, raw: Any) -> tuple[StressSpec, ...] | Any:
    """The top-level ``stress:`` list; gaps must come last (see ``replay.transforms``: windows are on the
    calm timeline, and a gap is the one stress that removes ticks)."""
    out = _parse_list(chk, path, raw)
    if out is INVALID:
        return out
    gap_at: KeyPath | None = None
    for spath, kind, _ in leaves(out, path):
        if kind == GAP:
            gap_at = gap_at or spath
        elif gap_at is not None:
            chk.fail(
                (*spath, "type"),
                f"{kind} comes after the gap at {dotted(gap_at)}; a gap removes ticks, so gaps must be the "
                "last stresses (move this one before the gap)",
            )
    return out


def _whole_ticks(chk: Checker, path: KeyPath, seconds: float, market: MarketSpec) -> bool:
    steps = seconds * 1000.0 / market.tick_ms
    if abs(steps - round(steps)) > 1e-6:
        chk.fail(path, f"{seconds:g} s is not a whole number of {market.tick_ms} ms ticks")
        return False
    return True


def check_against_market(chk: Checker, market: MarketSpec, stresses: tuple[StressSpec, ...]) -> None:
    """Checks that need the market too: every stress window lies inside it and spans whole ticks."""
    for spath, kind, p in leaves(stresses):
        timed = [k for k in ("start_s", "duration_s", "fall_s", "pump_s", "dump_s") if k in p]
        if not all([_whole_ticks(chk, (*spath, k), p[k], market) for k in timed]):
            continue
        start = p.get("start_s", 0.0)
        if kind == "pump_and_dump":
            length, key = p["pump_s"] + p["dump_s"], "dump_s"
            for k in ("pump_s", "dump_s"):
                if market.tick_of(p[k]) < 1:
                    chk.fail((*spath, k), f"{p[k]:g} s is shorter than one {market.tick_ms} ms tick")
        elif "ticks" in p:
            last = market.tick_of(start) + p["ticks"] - 1
            if last > market.n_ticks - 2:
                chk.fail(
                    (*spath, "ticks"),
                    f"the gap ends at tick {last}, at or after the market's last tick {market.n_ticks - 1}; "
                    "the last tick must remain, so shorten the gap",
                )
            continue
        else:
            length, key = p["duration_s"], "duration_s"
        end = start + length
        if end > market.duration_s + 1e-9:
            chk.fail(
                (*spath, key),
                f"the stress window ends at {end:g} s, after the market's "
                f"{market.duration_s:g} s; shorten it or lengthen market.duration_s",
            )
        if kind not in (GAP, "pump_and_dump") and market.tick_of(p["duration_s"]) < 2:
            chk.fail(
                (*spath, "duration_s"), f"{p['duration_s']:g} s is shorter than two {market.tick_ms} ms ticks"
            )
        if p.get("fall_s", 0.0) >= p.get("duration_s", float("inf")):
            chk.fail(
                (*spath, "fall_s"),
                f"the fall ({p['fall_s']:g} s) must end inside the {p['duration_s']:g} s window",
            )
