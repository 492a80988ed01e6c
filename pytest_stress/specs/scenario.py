"""The scenario document: its value types (Scenario, PortfolioSpec, Expectation, Provenance) and the schema
that validates a parsed YAML file into them, section by section (the market, stress, execution and risk
sections have their own modules in this package). Validation finishes here: overrides go through it too.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_stress.errors import Problem, ReplayError, ScenarioError, ScenarioNotFound
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
from pytest_stress.specs.market import MarketSpec, market_to_dict, parse_market
from pytest_stress.specs.market_spec import SOURCES
from pytest_stress.specs.risk import RiskSpec, parse_risk
from pytest_stress.specs.stresses import StressSpec, check_against_market, parse_stresses


class OnBreach(str, enum.Enum):
    """What a breached risk limit does during the replay."""

    KILL_SWITCH = "kill_switch"  # record the breach and fire the kill switch (seed 002: KILL_SWITCH)
    RECORD = "record"  # record the breach only


class ScenarioType(str, enum.Enum):
    """Seed 003's scenario types; ``get_by_type`` selects library scenarios by them."""

    HISTORIC_REPLAY = "historic_replay"
    FLASH_CRASH = "flash_crash"
    VOLATILITY_SPIKE = "volatility_spike"
    LIQUIDITY_DROP = "liquidity_drop"
    SPREAD_EXPLOSION = "spread_explosion"
    DEPTH_COLLAPSE = "depth_collapse"
    DATA_CORRUPTION = "data_corruption"
    CORRELATION_BREAKDOWN = "correlation_breakdown"
    PUMP_AND_DUMP = "pump_and_dump"
    GAP = "gap"
    MIXED_CUSTOM = "mixed_custom"
    EXECUTION_STRESS = "execution_stress"  # the exchange misbehaves (latency, rejects), the market does not
    SYSTEM_FAULT = "system_fault"  # a fault of the stack or its infrastructure over a calm market
    LOAD = "load"  # decision flood


PROVENANCE_KINDS = SOURCES  # a run is labelled by where its market comes from


@dataclass(frozen=True)
class Provenance:
    """Where a scenario's market comes from, for the report: a reconstruction lists the facts it is pinned
    to and their sources, and says where the seed's window differs from the record."""

    kind: str
    event: str = ""
    window_utc: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    notes: str = ""


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
    declared_type: ScenarioType | None = None
    provenance: Provenance | None = None
    # overrides already validated, by (symbols, seed): a benchmark or a sweep replays one scenario many times
    _overridden: dict[tuple[int | None, int | None], Scenario] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def type(self) -> ScenarioType:
        """The ``type:`` given in the file, else read off the market and the stresses: a replay of data
        (reconstruction, historic, dataset) is HISTORIC_REPLAY, one stress kind is that kind, several are
        MIXED_CUSTOM, none is SYSTEM_FAULT (a calm market for a fault of the stack)."""
        if self.declared_type is not None:
            return self.declared_type
        if self.market.source != "synthetic":
            return ScenarioType.HISTORIC_REPLAY
        kinds = {s.type for s in self.stress}
        if len(kinds) == 1:
            return ScenarioType(kinds.pop())
        return ScenarioType.MIXED_CUSTOM if kinds else ScenarioType.SYSTEM_FAULT

    @property
    def provenance_kind(self) -> str:
        """ "reconstruction", "historic", "dataset" or "synthetic": how the report labels the run."""
        return self.provenance.kind if self.provenance is not None else self.market.source

    def with_overrides(self, *, symbols: int | None = None, seed: int | None = None) -> Scenario:
        """The same scenario on another symbol count or seed (``--symbols``, ``--stress-seed``).

        The changed scenario goes through the schema again, so an override meets every bound a file
        does (symbol count, seed range, cell budget, a correlation matrix's size) and each bound is
        written once, in the schema; a refused override raises ReplayError naming it.
        """
        market = self.market
        wanted = {
            key: _integral(self.name, key, value)
            for key, value in (("symbols", symbols), ("seed", seed))
            if value is not None
        }
        wanted = {k: v for k, v in wanted.items() if v != getattr(market, k)}
        if not wanted:
            return self
        key = (wanted.get("symbols"), wanted.get("seed"))
        if key in self._overridden:
            return self._overridden[key]
        if "symbols" in wanted and market.fixed_symbols:
            raise ReplayError(
                f"{self.name}: a {market.source} market has a fixed set of {market.symbols} symbols; "
                "the symbol count cannot be overridden (drop --symbols)"
            )
        data = self.to_dict()
        data["market"].update(wanted)
        try:
            changed = parse_scenario(data, {}, self.source)
        except ScenarioError as exc:
            given = ", ".join(f"{k}={v}" for k, v in wanted.items())
            why = "; ".join(f"{p.key}: {p.message}" if p.key else p.message for p in exc.problems)
            raise ReplayError(f"{self.name}: the override {given} is refused: {why}") from None
        # the file's line numbers stay with its expectations and stresses (errors and reports cite them)
        changed = dataclasses.replace(changed, expect=self.expect, stress=self.stress, source=self.source)
        self._overridden[key] = changed
        return changed

    def expectation(self, metric: str) -> Expectation | None:
        return next((e for e in self.expect if e.metric == metric), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the YAML shape, defaults filled in) for ``scenarios show`` and the report."""
        expect: dict[str, Any] = {}
        for e in self.expect:
            bounds = {k: getattr(e, k) for k in ("min", "max", "equals") if getattr(e, k) is not None}
            expect[e.metric] = bounds
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
        }
        if self.declared_type is not None:
            out["type"] = self.declared_type.value
        return {
            **out,
            "market": market_to_dict(self.market),
            "portfolio": dataclasses.asdict(self.portfolio),
            "stress": [_plain({"type": s.type, **s.params}) for s in self.stress],
            "execution": dataclasses.asdict(self.execution),
            "risk": dataclasses.asdict(self.risk),
            "expect": expect,
            "on_breach": self.on_breach.value,
            "tags": list(self.tags),
            **({"provenance": _provenance_dict(self.provenance)} if self.provenance is not None else {}),
        }


def _plain(value: Any) -> Any:
    """YAML's shapes for a parsed value: tuples back to lists, mappings to dicts (so to_dict loads back)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _integral(name: str, key: str, value: Any) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ReplayError(f"{name}: the {key} override must be an integer, got {value!r}") from None


def _provenance_dict(p: Provenance) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": p.kind}
    if p.event:
        out["event"] = p.event
    if p.window_utc:
        out["window_utc"] = list(p.window_utc)
    out["facts"] = list(p.facts)
    out["sources"] = list(p.sources)
    if p.notes:
        out["notes"] = p.notes
    return out


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


PROVENANCE_FIELDS: dict[str, Spec] = {
    "kind": Choice(options=PROVENANCE_KINDS),
    "event": Text(default=""),
    "window_utc": TextList(default=()),
    "facts": TextList(default=()),
    "sources": TextList(default=()),
    "notes": Text(default=""),
}


def _parse_provenance(chk: Checker, path: KeyPath, raw: Any) -> Provenance | Any:
    values = chk.mapping(path, raw, PROVENANCE_FIELDS)
    if values is None or INVALID in values.values():
        return INVALID
    if values["kind"] != "synthetic" and not values["sources"]:
        return chk.fail(path, f"a {values['kind']} provenance must name its sources (sources: [...])")
    if len(values["window_utc"]) not in (0, 2):
        return chk.fail((*path, "window_utc"), "expected [start, end] as two ISO times")
    return Provenance(**values)


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
    "type": Choice(options=tuple(t.value for t in ScenarioType), default=None),
    "provenance": Custom(fn=_parse_provenance, what="a provenance mapping", default=None),
}


def parse_scenario(data: Any, lines: Mapping[KeyPath, int], source: str) -> Scenario:
    """Validate parsed YAML into a Scenario; raise ScenarioError listing every problem."""
    chk = Checker(source=source, lines=lines)
    values = chk.mapping((), data, SCENARIO_FIELDS)
    if values is None:
        chk.raise_if_any()
    assert values is not None
    data_unread = values["market"] is not INVALID and values["market"].historic is not None
    if data_unread and values["market"].duration_s == 0:
        pass  # a historic market without a window: its length is known, and its stresses checked, at load time
    elif values["market"] is not INVALID and values["stress"] is not INVALID:
        check_against_market(chk, values["market"], values["stress"])
    market, prov = values["market"], values["provenance"]
    if (
        market is not INVALID
        and prov not in (None, INVALID)
        and market.source != "synthetic"
        and prov.kind != market.source
    ):
        chk.fail(
            ("provenance", "kind"),
            f"'{prov.kind}' but the market's source is '{market.source}'; the report labels the run by it",
        )
    chk.raise_if_any()
    values["on_breach"] = OnBreach(values["on_breach"])
    kind = values.pop("type")
    values["declared_type"] = ScenarioType(kind) if kind is not None else None
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
