"""The ``market.reconstruction:`` section: a historic event rebuilt from its published facts.

The vendors' ticks of the famous crashes are licensed, so the library replays calibrated reconstructions:
the seeded synthetic market supplies the noise (GARCH volatility, spreads, depth, volume) and this section
pins it to the facts - prices at given UTC times, a spread and depth profile, trading halts, funding
rates - and lists ``targets``, the published figures the pinned path must reproduce within a tolerance
(``pytest_stress.market.reconstruct.check_targets`` measures them). Pure Python: no NumPy here.

Times are ISO 8601 with an offset (``2010-05-06T18:45:28Z``, or ``2010-05-06T14:45:28-04:00`` for a time
the source gives in US Eastern); they are kept as seconds after ``start``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pytest_stress.schema import INVALID, Checker, Choice, Custom, KeyPath, Num, Spec, Text
from pytest_stress.specs.common import MAX_MULT, MAX_PRICE

TARGET_KINDS = (
    "move",  # percent change of the mid from `from` to `to`
    "peak_to_trough",  # largest fall of the mid inside [from, to], percent of the peak before it
    "retrace",  # share of the window's peak-to-trough fall won back by `to` (0.65 = 65 %)
    "depth_min",  # smallest displayed book size inside the window / its mean before `from`
    "spread_ratio",  # mean relative spread inside the window / its mean before `from`
    "vol_ratio",  # realised volatility of `sample_s` returns inside the window / the market's calm level
    "halt_s",  # longest trading halt (no volume, frozen quotes) starting inside the window, seconds
    "funding_min",  # lowest funding rate inside the window (fraction per funding interval)
    "funding_max",  # highest funding rate inside the window
)
SYMBOL_TARGETS = ("move", "peak_to_trough", "retrace", "vol_ratio", "funding_min", "funding_max")


@dataclass(frozen=True)
class Pin:
    """A pinned value at ``at_s`` seconds after the reconstruction's start (``at`` keeps the text)."""

    at_s: float
    value: float
    at: str = ""


@dataclass(frozen=True)
class SymbolPath:
    name: str
    start_price: float
    path: tuple[Pin, ...] = ()  # prices (log-linear between pins, synthetic noise bridged to zero at each)
    funding: tuple[Pin, ...] = ()  # funding rate per interval (fraction), linear between pins


@dataclass(frozen=True)
class Halt:
    at_s: float
    duration_s: float
    at: str = ""


@dataclass(frozen=True)
class Target:
    """A published figure the reconstruction must reproduce: |measured - value| <= tol."""

    kind: str
    value: float
    tol: float
    start_s: float
    end_s: float
    symbol: str | None = None
    sample_s: float = 60.0
    fact: str = ""
    start: str = ""
    end: str = ""
    ref_start_s: float | None = (
        None  # reference window of depth_min and spread_ratio (default: before `from`)
    )
    ref_end_s: float | None = None
    ref: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReconstructionSpec:
    start: str  # ISO UTC time of tick 0
    start_epoch_s: float
    symbols: tuple[SymbolPath, ...]
    spread: tuple[Pin, ...] = ()  # multiplier of every quoted distance from the mid (1 = unchanged)
    depth: tuple[Pin, ...] = ()  # multiplier of book sizes and traded volume (0.01 = 1 % of normal)
    vol: tuple[Pin, ...] = ()  # multiplier of the synthetic noise's volatility
    halts: tuple[Halt, ...] = ()
    targets: tuple[Target, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.symbols)

    def to_dict(self) -> dict[str, Any]:
        """The YAML shape, so ``scenarios show`` output loads back."""

        def pins(ps: tuple[Pin, ...], key: str) -> list[dict[str, Any]]:
            return [{"at": p.at, key: p.value} for p in ps]

        symbols: dict[str, Any] = {}
        for s in self.symbols:
            entry: dict[str, Any] = {"start_price": s.start_price, "path": pins(s.path, "price")}
            if s.funding:
                entry["funding"] = pins(s.funding, "rate")
            symbols[s.name] = entry
        out: dict[str, Any] = {"start": self.start, "symbols": symbols}
        for key, value in (("spread", self.spread), ("depth", self.depth), ("vol", self.vol)):
            if value:
                out[key] = pins(value, "mult")
        if self.halts:
            out["halts"] = [{"at": h.at, "duration_s": h.duration_s} for h in self.halts]
        if self.targets:
            out["targets"] = [
                {
                    "kind": t.kind,
                    **({"symbol": t.symbol} if t.symbol else {}),
                    "from": t.start,
                    "to": t.end,
                    "value": t.value,
                    "tol": t.tol,
                    **({"sample_s": t.sample_s} if t.kind == "vol_ratio" else {}),
                    **({"ref": list(t.ref)} if t.ref else {}),
                    **({"fact": t.fact} if t.fact else {}),
                }
                for t in self.targets
            ]
        return out


def parse_time(chk: Checker, path: KeyPath, raw: Any) -> dt.datetime | Any:
    """An ISO 8601 time with a UTC offset (YAML may already have read it as a datetime)."""
    value = raw
    if isinstance(raw, str):
        try:
            value = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            return chk.fail(path, f"{raw!r} is not a time: expected ISO 8601, e.g. 2010-05-06T18:45:28Z")
    if not isinstance(value, dt.datetime):
        return chk.fail(path, f"expected a time such as 2010-05-06T18:45:28Z, got {type(raw).__name__}")
    if value.tzinfo is None:
        # PyYAML reads "...Z" as a naive UTC datetime; text without an offset is ambiguous
        if isinstance(raw, str):
            return chk.fail(path, f"{raw!r} has no UTC offset: end it with Z (UTC) or e.g. -04:00 (EDT)")
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


class _Times:
    """Turns times into seconds after the start, checking they fall inside [0, duration_s]."""

    def __init__(self, chk: Checker, start: dt.datetime, duration_s: float | None) -> None:
        self.chk, self.start, self.duration_s = chk, start, duration_s

    def seconds(self, _chk: Checker, path: KeyPath, raw: Any) -> tuple[float, str] | Any:
        t = parse_time(self.chk, path, raw)
        if t is INVALID:
            return INVALID
        s = (t - self.start).total_seconds()
        if s < 0 or (self.duration_s is not None and s > self.duration_s + 1e-9):
            end = self.start + dt.timedelta(seconds=self.duration_s or 0)
            return self.chk.fail(
                path, f"{iso(t)} is outside the market window {iso(self.start)} .. {iso(end)}"
            )
        return s, iso(t)


def _pins(times: _Times, path: KeyPath, raw: Any, key: str, value: Num) -> tuple[Pin, ...] | Any:
    chk = times.chk
    if not isinstance(raw, list):
        return chk.fail(path, f"expected a list of {{at: TIME, {key}: NUMBER}} points")
    out: list[Pin] = []
    for i, item in enumerate(raw):
        values = chk.mapping((*path, i), item, {"at": Custom(fn=times.seconds, what="a time"), key: value})
        if values is None or INVALID in values.values():
            return INVALID
        (at_s, text) = values["at"]
        if out and at_s <= out[-1].at_s:
            return chk.fail((*path, i, "at"), f"{text} is not after the point before it ({out[-1].at})")
        out.append(Pin(at_s, values[key], text))
    return tuple(out)


_PRICE = Num(lo=0.0, lo_open=True, hi=MAX_PRICE)
_MULT = Num(lo=0.0, hi=MAX_MULT)
_RATE = Num(lo=-1.0, hi=1.0)


def parse_reconstruction(chk: Checker, path: KeyPath, raw: Any, duration_s: float | None) -> Any:
    if not isinstance(raw, dict):
        return chk.fail(
            path, "expected a mapping with start, symbols and optionally spread, depth, vol, halts, targets"
        )
    if "start" not in raw:
        return chk.fail(path, "missing required key 'start' (the UTC time of the first tick)")
    start = parse_time(chk, (*path, "start"), raw["start"])
    if start is INVALID:
        return INVALID
    times = _Times(chk, start, duration_s)

    def symbols(c: Checker, p: KeyPath, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            return c.fail(p, "expected a mapping of symbol name: {start_price, path, funding}")
        out = []
        for name, body in value.items():
            spath = (*p, name)
            if not isinstance(name, str) or not name:
                c.fail(spath, "a symbol name must be text")
                continue
            fields: dict[str, Spec] = {
                "start_price": _PRICE,
                "path": Custom(
                    fn=lambda c2, p2, r: _pins(times, p2, r, "price", _PRICE), what="price points", default=()
                ),
                "funding": Custom(
                    fn=lambda c2, p2, r: _pins(times, p2, r, "rate", _RATE), what="funding points", default=()
                ),
            }
            v = c.mapping(spath, body, fields)
            if v is None or INVALID in v.values():
                continue
            out.append(SymbolPath(name, v["start_price"], v["path"], v["funding"]))
        return tuple(out) if len(out) == len(value) else INVALID

    def profile(key: str) -> Custom:
        return Custom(fn=lambda c, p, r: _pins(times, p, r, "mult", _MULT), what=f"{key} points", default=())

    def halts(c: Checker, p: KeyPath, value: Any) -> Any:
        if not isinstance(value, list):
            return c.fail(p, "expected a list of {at: TIME, duration_s: SECONDS}")
        out = []
        for i, item in enumerate(value):
            v = c.mapping(
                (*p, i),
                item,
                {"at": Custom(fn=times.seconds, what="a time"), "duration_s": Num(lo=0, lo_open=True)},
            )
            if v is None or INVALID in v.values():
                return INVALID
            out.append(Halt(v["at"][0], v["duration_s"], v["at"][1]))
        return tuple(out)

    fields: dict[str, Spec] = {
        "start": Custom(fn=lambda c, p, r: start, what="the UTC time of tick 0"),
        "symbols": Custom(fn=symbols, what="a mapping of symbols"),
        "spread": profile("spread"),
        "depth": profile("depth"),
        "vol": profile("vol"),
        "halts": Custom(fn=halts, what="a list of halts", default=()),
        "targets": Custom(fn=lambda c, p, r: r, what="a list of targets", default=()),
    }
    values = chk.mapping(path, raw, fields)
    if values is None or INVALID in values.values():
        return INVALID
    names = tuple(s.name for s in values["symbols"])
    targets = _targets(chk, (*path, "targets"), values["targets"], times, names)
    if targets is INVALID:
        return INVALID
    return ReconstructionSpec(
        start=iso(start),
        start_epoch_s=start.timestamp(),
        symbols=values["symbols"],
        spread=values["spread"],
        depth=values["depth"],
        vol=values["vol"],
        halts=values["halts"],
        targets=targets,
    )


def _targets(chk: Checker, path: KeyPath, raw: Any, times: _Times, names: tuple[str, ...]) -> Any:
    if raw == ():
        return ()
    if not isinstance(raw, list):
        return chk.fail(path, "expected a list of {kind, from, to, value, tol} targets")
    out = []
    fields: dict[str, Spec] = {
        "kind": Choice(options=TARGET_KINDS),
        "symbol": Choice(options=names, default=None),
        "from": Custom(fn=times.seconds, what="a time"),
        "to": Custom(fn=times.seconds, what="a time"),
        "value": Num(),
        "tol": Num(lo=0.0),
        "sample_s": Num(lo=0.0, lo_open=True, default=60.0),
        "ref": Custom(fn=lambda c, p, r: r, what="[from, to] of the reference window", default=None),
        "fact": Text(default=""),
    }
    for i, item in enumerate(raw):
        ipath = (*path, i)
        v = chk.mapping(ipath, item, fields)
        if v is None or INVALID in v.values():
            continue
        (start_s, start), (end_s, end) = v["from"], v["to"]
        if end_s <= start_s:
            chk.fail((*ipath, "to"), f"{end} is not after from {start}")
            continue
        if v["kind"] in SYMBOL_TARGETS and v["symbol"] is None:
            chk.fail(ipath, f"a {v['kind']} target needs a symbol (one of {', '.join(names)})")
            continue
        ref: tuple[Any, ...] = (None, None, ())
        if v["ref"] is not None:
            if not isinstance(v["ref"], list) or len(v["ref"]) != 2:
                chk.fail((*ipath, "ref"), "expected [from, to]: two times")
                continue
            a, b = (times.seconds(chk, (*ipath, "ref", k), x) for k, x in enumerate(v["ref"]))
            if a is INVALID or b is INVALID:
                continue
            if b[0] <= a[0]:
                chk.fail((*ipath, "ref", 1), f"{b[1]} is not after {a[1]}")
                continue
            ref = (a[0], b[0], (a[1], b[1]))
        fixed = (
            v["kind"],
            v["value"],
            v["tol"],
            start_s,
            end_s,
            v["symbol"],
            v["sample_s"],
            v["fact"],
            start,
            end,
        )
        out.append(Target(*fixed, *ref))
    return tuple(out) if len(out) == len(raw) else INVALID
