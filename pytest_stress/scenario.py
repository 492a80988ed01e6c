"""The scenario model: a stress scenario loaded from YAML, validated, and looked up in the library.

A scenario says which market to replay, which portfolio to hold, which stresses to apply in which order,
what the run must show (``expect:``) and what a breached risk limit does (``on_breach:``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
    Spec,
    Text,
    TextList,
    closest,
    read_yaml,
)
from pytest_stress.specs.execution import ExecutionSpec, parse_execution
from pytest_stress.specs.market import MAX_CELLS, MAX_SYMBOLS, MarketSpec, parse_market
from pytest_stress.specs.risk import RiskSpec, parse_risk
from pytest_stress.specs.stresses import STRESS_PARAMS, StressSpec, check_against_market, parse_stresses


class OnBreach(str, enum.Enum):
    """What a breached risk limit does during the replay."""

    KILL_SWITCH = "kill_switch"  # record the breach and fire the kill switch (seed 002: KILL_SWITCH)
    RECORD = "record"  # record the breach only


@dataclass(frozen=True)
class PortfolioSpec:
    """The book held through the scenario, as fractions of capital (leverage 1.0 = capital fully invested)."""

    initial_capital: float
    gross_leverage: float = 1.0
    net_exposure: float = 1.0  # fraction of gross that is long minus short: 1 long-only, 0 neutral, -1 short
    var_confidence: float = 0.99
    var_lookback_days: int = 250


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
    execution: ExecutionSpec = field(default_factory=ExecutionSpec)
    risk: RiskSpec = field(default_factory=RiskSpec)
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
            "execution": dataclasses.asdict(self.execution),
            "risk": dataclasses.asdict(self.risk),
            "expect": expect,
            "on_breach": self.on_breach.value,
            "tags": list(self.tags),
        }


# --- schema ---------------------------------------------------------------------------------------

_NAME = Text(pattern=r"[a-z][a-z0-9_]*", pattern_help="in snake_case (a-z, 0-9, _), starting with a letter")

PORTFOLIO_FIELDS: dict[str, Spec] = {
    "initial_capital": Num(lo=0, lo_open=True),
    "gross_leverage": Num(lo=0, lo_open=True, hi=100.0, default=1.0),
    "net_exposure": Num(lo=-1.0, hi=1.0, default=1.0),
    "var_confidence": Num(lo=0.5, hi=1.0, hi_open=True, default=0.99),
    "var_lookback_days": Num(lo=20, hi=10_000, integer=True, default=250),
}


def _parse_portfolio(chk: Checker, path: KeyPath, raw: Any) -> PortfolioSpec | Any:
    values = chk.mapping(path, raw, PORTFOLIO_FIELDS)
    if values is None or INVALID in values.values():
        return INVALID
    return PortfolioSpec(**values)


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
    "market": Custom(fn=parse_market, what="a market mapping"),
    "portfolio": Custom(fn=_parse_portfolio, what="a portfolio mapping"),
    "stress": Custom(fn=parse_stresses, what="a list of stresses", default=()),
    "expect": Custom(fn=_parse_expect, what="a mapping of expectations", default=()),
    "execution": Custom(fn=parse_execution, what="an execution mapping", default=ExecutionSpec()),
    "risk": Custom(fn=parse_risk, what="a risk mapping", default=RiskSpec()),
    "on_breach": Choice(options=tuple(o.value for o in OnBreach), default=OnBreach.KILL_SWITCH.value),
    "tags": TextList(default=()),
}


def parse_scenario(data: Any, lines: Mapping[KeyPath, int], source: str) -> Scenario:
    """Validate parsed YAML into a Scenario; raise ScenarioError listing every problem."""
    chk = Checker(source=source, lines=lines)
    values = chk.mapping((), data, SCENARIO_FIELDS)
    if values is None:
        chk.raise_if_any()
    assert values is not None
    if values["market"] is not INVALID and values["stress"] is not INVALID:
        check_against_market(chk, values["market"], values["stress"])
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
    "MAX_CELLS",
    "MAX_SYMBOLS",
    "STRESS_PARAMS",
    "ExecutionSpec",
    "Expectation",
    "MarketSpec",
    "OnBreach",
    "PortfolioSpec",
    "RiskSpec",
    "Scenario",
    "ScenarioError",
    "StressSpec",
    "library_names",
    "load_scenario",
    "scenario_library",
]
