"""The scenario model: a stress scenario loaded from YAML, validated, and looked up in the library.

A scenario says which market to replay, which portfolio to hold, which stresses to apply in which order,
what the run must show (``expect:``) and what a breached risk limit does (``on_breach:``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_stress.errors import Problem, ScenarioError, ScenarioNotFound
from pytest_stress.metrics import METRICS
from pytest_stress.schema import (
    INVALID,
    Checker,
    Choice,
    Custom,
    Flag,
    KeyPath,
    Num,
    Range,
    Spec,
    Text,
    TextList,
    closest,
    read_yaml,
)

# A market frame above this many cells (ticks x symbols) is refused before any memory is taken:
# 50M cells is 400 MB per float64 field.
MAX_CELLS = 50_000_000
MAX_SYMBOLS = 10_000


class OnBreach(str, enum.Enum):
    """What a breached risk limit does during the replay."""

    KILL_SWITCH = "kill_switch"  # record the breach and fire the kill switch (seed 002: KILL_SWITCH)
    RECORD = "record"  # record the breach only


@dataclass(frozen=True)
class MarketSpec:
    """The market to replay. Volatilities are annualised fractions; spreads are full spreads in bps."""

    source: str
    symbols: int
    duration_s: float
    tick_ms: int
    seed: int
    annual_vol: tuple[float, float] = (0.15, 0.45)
    correlation: float = 0.5
    spread_bps: tuple[float, float] = (1.0, 5.0)
    start_price: tuple[float, float] = (20.0, 500.0)

    @property
    def n_ticks(self) -> int:
        return round(self.duration_s * 1000.0 / self.tick_ms) + 1

    def tick_of(self, seconds: float) -> int:
        """Index of the tick at ``seconds`` after the start (tick 0 is at 0 s)."""
        return round(seconds * 1000.0 / self.tick_ms)


@dataclass(frozen=True)
class PortfolioSpec:
    """The book held through the scenario, as fractions of capital (leverage 1.0 = capital fully invested)."""

    initial_capital: float
    gross_leverage: float = 1.0
    net_exposure: float = 1.0  # fraction of gross that is long minus short: 1 long-only, 0 neutral, -1 short
    var_confidence: float = 0.99
    var_lookback_days: int = 250


@dataclass(frozen=True)
class StressSpec:
    """One stress applied to the market, in file order. ``params`` hold validated, defaulted values."""

    type: str
    params: Mapping[str, Any]
    line: int = 0


@dataclass(frozen=True)
class Expectation:
    """One line of ``expect:``: a metric and its bounds (``max``/``min``, or ``equals`` for yes/no metrics)."""

    metric: str
    max: float | None = None
    min: float | None = None
    equals: bool | None = None
    line: int = 0

    def threshold_text(self) -> str:
        unit = METRICS[self.metric].unit if self.metric in METRICS else ""
        if self.equals is not None:
            return f"== {str(self.equals).lower()}"
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}{unit}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}{unit}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    market: MarketSpec
    portfolio: PortfolioSpec
    stress: tuple[StressSpec, ...] = ()
    expect: tuple[Expectation, ...] = ()
    on_breach: OnBreach = OnBreach.KILL_SWITCH
    tags: tuple[str, ...] = ()
    source: str = "<memory>"

    def with_overrides(self, *, symbols: int | None = None, seed: int | None = None) -> Scenario:
        """The same scenario on another symbol count or seed (``--symbols``, ``--stress-seed``)."""
        market = self.market
        if symbols is not None:
            market = dataclasses.replace(market, symbols=int(symbols))
        if seed is not None:
            market = dataclasses.replace(market, seed=int(seed))
        return dataclasses.replace(self, market=market)

    def expectation(self, metric: str) -> Expectation | None:
        return next((e for e in self.expect if e.metric == metric), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the YAML shape, defaults filled in) for ``scenarios show`` and the report."""
        expect: dict[str, Any] = {}
        for e in self.expect:
            bounds = {k: getattr(e, k) for k in ("min", "max", "equals") if getattr(e, k) is not None}
            expect[e.metric] = bounds
        return {
            "name": self.name,
            "description": self.description,
            "market": {
                k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.market).items()
            },
            "portfolio": dataclasses.asdict(self.portfolio),
            "stress": [{"type": s.type, **s.params} for s in self.stress],
            "expect": expect,
            "on_breach": self.on_breach.value,
            "tags": list(self.tags),
        }


# --- schema ---------------------------------------------------------------------------------------

_NAME = Text(pattern=r"[a-z][a-z0-9_]*", pattern_help="in snake_case (a-z, 0-9, _), starting with a letter")

MARKET_FIELDS: dict[str, Spec] = {
    "source": Choice(options=("synthetic",)),
    "symbols": Num(lo=1, hi=MAX_SYMBOLS, integer=True, default=100),
    "duration_s": Num(lo=0, lo_open=True, hi=7 * 86_400),
    "tick_ms": Num(lo=1, hi=3_600_000, integer=True, default=100),
    "seed": Num(lo=0, hi=2**63 - 1, integer=True, default=0),
    "annual_vol": Range(item=Num(lo=0.001, hi=5.0), default=(0.15, 0.45)),
    "correlation": Num(lo=0.0, hi=0.99, default=0.5),
    "spread_bps": Range(item=Num(lo=0.01, hi=10_000.0), default=(1.0, 5.0)),
    "start_price": Range(item=Num(lo=1e-6, hi=1e9), default=(20.0, 500.0)),
}

PORTFOLIO_FIELDS: dict[str, Spec] = {
    "initial_capital": Num(lo=0, lo_open=True),
    "gross_leverage": Num(lo=0, lo_open=True, hi=100.0, default=1.0),
    "net_exposure": Num(lo=-1.0, hi=1.0, default=1.0),
    "var_confidence": Num(lo=0.5, hi=1.0, hi_open=True, default=0.99),
    "var_lookback_days": Num(lo=20, hi=10_000, integer=True, default=250),
}

# Parameters of every stress type. The replay core implements exactly these types
# (pytest_stress.replay.transforms.TRANSFORMS); a test keeps the two tables in step.
STRESS_PARAMS: dict[str, dict[str, Spec]] = {
    "flash_crash": {
        # fraction, not percent: -0.03 is a 3 % down-spike (the seed's convention)
        "price_shock_pct": Num(lo=-0.99, hi=0.0, hi_open=True),
        "spread_mult": Num(lo=1.0, hi=1000.0, default=1.0),
        "duration_s": Num(lo=0, lo_open=True),
        "start_s": Num(lo=0.0, default=0.0),
        "fall_s": Num(lo=0.0, default=0.0),  # 0: the whole fall happens within one tick
        "recovery": Choice(options=("linear", "exponential", "none"), default="linear"),
    },
}


def _parse_market(chk: Checker, path: KeyPath, raw: Any) -> MarketSpec | Any:
    if isinstance(raw, dict) and raw.get("source") == "historic":
        return chk.fail(
            (*path, "source"),
            "historic market data is not supported by this version yet; use source: synthetic",
        )
    values = chk.mapping(path, raw, MARKET_FIELDS)
    if values is None or INVALID in values.values():
        return INVALID
    spec = MarketSpec(**values)
    steps = spec.duration_s * 1000.0 / spec.tick_ms
    if abs(steps - round(steps)) > 1e-6:
        return chk.fail(
            (*path, "duration_s"), f"{spec.duration_s:g} s is not a whole number of {spec.tick_ms} ms ticks"
        )
    if spec.n_ticks * spec.symbols > MAX_CELLS:
        return chk.fail(
            path,
            f"{spec.n_ticks} ticks x {spec.symbols} symbols is above the limit of "
            f"{MAX_CELLS:,} cells; shorten duration_s, raise tick_ms or lower symbols",
        )
    return spec


def _parse_portfolio(chk: Checker, path: KeyPath, raw: Any) -> PortfolioSpec | Any:
    values = chk.mapping(path, raw, PORTFOLIO_FIELDS)
    if values is None or INVALID in values.values():
        return INVALID
    return PortfolioSpec(**values)


def _parse_stress(chk: Checker, path: KeyPath, raw: Any) -> tuple[StressSpec, ...] | Any:
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


def _parse_expect(chk: Checker, path: KeyPath, raw: Any) -> tuple[Expectation, ...] | Any:
    if not isinstance(raw, dict):
        return chk.fail(path, "expected a mapping of metric: {max: ..} / {min: ..} / {equals: ..}")
    out = []
    for metric, bounds in raw.items():
        mpath = (*path, metric)
        if metric not in METRICS:
            chk.fail(mpath, f"unknown metric{closest(str(metric), METRICS)}; known: {', '.join(METRICS)}")
            continue
        if METRICS[metric].kind == "bool":
            fields: dict[str, Spec] = {"equals": Flag()}
        else:
            fields = {"max": Num(default=None), "min": Num(default=None)}
        values = chk.mapping(mpath, bounds, fields)
        if values is None or INVALID in values.values():
            continue
        if values.get("max") is None and values.get("min") is None and "equals" not in values:
            chk.fail(mpath, "give at least one bound: max or min")
            continue
        if values.get("min") is not None and values.get("max") is not None and values["min"] > values["max"]:
            chk.fail(mpath, f"min {values['min']:g} is above max {values['max']:g}")
            continue
        out.append(Expectation(metric=metric, line=chk.line(mpath), **values))
    return tuple(out)


SCENARIO_FIELDS: dict[str, Spec] = {
    "name": _NAME,
    "description": Text(default=""),
    "market": Custom(fn=_parse_market, what="a market mapping"),
    "portfolio": Custom(fn=_parse_portfolio, what="a portfolio mapping"),
    "stress": Custom(fn=_parse_stress, what="a list of stresses", default=()),
    "expect": Custom(fn=_parse_expect, what="a mapping of expectations", default=()),
    "on_breach": Choice(options=tuple(o.value for o in OnBreach), default=OnBreach.KILL_SWITCH.value),
    "tags": TextList(default=()),
}


def _cross_check(chk: Checker, market: MarketSpec, stresses: tuple[StressSpec, ...]) -> None:
    """Checks that need two sections at once: every stress window lies inside the market."""
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


def parse_scenario(data: Any, lines: Mapping[KeyPath, int], source: str) -> Scenario:
    """Validate parsed YAML into a Scenario; raise ScenarioError listing every problem."""
    chk = Checker(source=source, lines=lines)
    values = chk.mapping((), data, SCENARIO_FIELDS)
    if values is None:
        chk.raise_if_any()
    assert values is not None
    if values["market"] is not INVALID and values["stress"] is not INVALID:
        _cross_check(chk, values["market"], values["stress"])
    chk.raise_if_any()
    values["on_breach"] = OnBreach(values["on_breach"])
    return Scenario(source=source, **values)


def load_scenario_file(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioNotFound(f"{p}: no such scenario file") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError([Problem(str(p), 1, "", f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise ScenarioNotFound(f"{p}: cannot read the file ({exc.strerror})") from None
    data, lines = read_yaml(text, str(p))
    return parse_scenario(data, lines, str(p))


# --- the library ----------------------------------------------------------------------------------


def bundled_dir() -> Path:
    """The scenarios shipped with the package (inside the wheel, or the repository's scenarios/)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_scenarios"
    return packaged if packaged.is_dir() else here.parent / "scenarios"


def _library_files(extra_dirs: Iterable[str | Path]) -> dict[str, Path]:
    """Scenario name -> file; a directory given later shadows a name from an earlier one."""
    files: dict[str, Path] = {}
    for d in (bundled_dir(), *map(Path, extra_dirs)):
        if not d.is_dir():
            raise ScenarioNotFound(f"{d}: scenario directory does not exist")
        for f in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
            files[f.stem] = f
    return files


def library_names(extra_dirs: Iterable[str | Path] = ()) -> list[str]:
    """Names of the library scenarios, from file names alone (a broken file fails only its own test)."""
    return sorted(_library_files(extra_dirs))


def scenario_library(extra_dirs: Iterable[str | Path] = ()) -> list[Scenario]:
    """Every bundled scenario plus those in ``extra_dirs`` (``--stress-scenarios``), sorted by name.

    A library file's ``name:`` must equal its file name, so ``load_scenario(name)`` finds it.
    """
    out = []
    for stem, f in sorted(_library_files(extra_dirs).items()):
        sc = load_scenario_file(f)
        if sc.name != stem:
            raise ScenarioError(
                [
                    Problem(
                        str(f),
                        1,
                        "name",
                        f"name '{sc.name}' differs from the file name '{stem}'; "
                        "library scenarios are looked up by file name",
                    )
                ]
            )
        out.append(sc)
    return out


def load_scenario(name_or_path: str | Path, extra_dirs: Iterable[str | Path] = ()) -> Scenario:
    """A scenario by library name (``"flash_crash_lite"``) or by path to a YAML file."""
    text = str(name_or_path)
    as_path = Path(text)
    if as_path.suffix in (".yaml", ".yml") or as_path.is_file() or "/" in text:
        return load_scenario_file(as_path)
    files = _library_files(extra_dirs)
    if text not in files:
        from difflib import get_close_matches

        near = get_close_matches(text, list(files), n=3)
        hint = f" Did you mean: {', '.join(near)}?" if near else ""
        raise ScenarioNotFound(
            f"no scenario named '{text}' in the library ({len(files)} "
            f"scenario{'s' if len(files) != 1 else ''}; "
            f"`python -m pytest_stress scenarios list` shows them).{hint}"
        )
    return load_scenario_file(files[text])


__all__ = [
    "Expectation",
    "MarketSpec",
    "OnBreach",
    "PortfolioSpec",
    "Scenario",
    "ScenarioError",
    "StressSpec",
    "library_names",
    "load_scenario",
    "scenario_library",
]
