"""Validation of YAML documents with the line of every key kept, for errors that say FILE:LINE: key.path.

The document is read with PyYAML's SafeLoader (no tags, nothing executed); field specs below turn raw
values into typed ones and collect every problem, so one run of ``validate`` lists all of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from pytest_stress.errors import Problem, ScenarioError

KeyPath = tuple[Any, ...]

_MISSING: Any = object()
INVALID: Any = object()


def dotted(path: KeyPath) -> str:
    """``("stress", 0, "duration_s")`` -> ``stress[0].duration_s``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 exponent floats (``1e6``, ``2.5E-3``) as numbers.

    PyYAML follows YAML 1.1, where an exponent needs a dot and a signed power (``1.0e+6``); ``1e6``
    would silently become the text "1e6", where YAML 1.2 (and every reader of the file) sees a number.
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

_PLAIN_TAGS = {yaml.MappingNode: "tag:yaml.org,2002:map", yaml.SequenceNode: "tag:yaml.org,2002:seq"}


def read_yaml(text: str, source: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse one YAML document; return the data and the 1-based line of every key path.

    Duplicate keys are an error (PyYAML would silently keep the last one).
    """
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # a control character the YAML reader refuses outright
        raise ScenarioError([Problem(source, 1, "", f"invalid YAML: {exc}".replace("\n", " "))]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError([Problem(source, 1, "", "the file is empty")])
        lines: dict[KeyPath, int] = {(): node.start_mark.line + 1}
        problems: list[Problem] = []
        data = _build(loader, node, (), lines, problems, source, _Budget())
    except RecursionError:
        raise ScenarioError(
            [Problem(source, 1, "", "the document is nested too deeply to be a scenario")]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "unreadable YAML"
        at_end = mark is not None and mark.index >= len(text.rstrip())
        if at_end and exc.context_mark is not None and exc.context:
            # an unclosed bracket or quote: the parser gives up at the end of the file; point where it opened
            mark = exc.context_mark
            what = f"{what} ({exc.context} that starts here)"
        line = mark.line + 1 if mark is not None else 1
        raise ScenarioError([Problem(source, line, "", f"invalid YAML: {what}")]) from None
    except yaml.YAMLError as exc:
        what = " ".join(str(exc).split())
        raise ScenarioError([Problem(source, 1, "", f"invalid YAML: {what}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise ScenarioError(problems)
    return data, lines


# A scenario has a few hundred values; a document that expands to more through aliases (a "billion laughs"
# YAML bomb: each alias repeating the one before ten times) is refused before it is expanded any further.
MAX_VALUES = 100_000
MAX_DEPTH = 64


@dataclass
class _Budget:
    left: int = MAX_VALUES
    open: set[int] = field(default_factory=set)  # nodes being built: an alias back to one is a cycle


def _refuse(source: str, node: yaml.Node, message: str) -> ScenarioError:
    return ScenarioError([Problem(source, node.start_mark.line + 1, "", message)])


def _build(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: KeyPath,
    lines: dict[KeyPath, int],
    problems: list[Problem],
    source: str,
    budget: _Budget,
) -> Any:
    budget.left -= 1
    if budget.left < 0:
        raise _refuse(
            source,
            node,
            f"the document expands to more than {MAX_VALUES:,} values (nested aliases?); refused",
        )
    if len(path) > MAX_DEPTH:
        raise _refuse(source, node, f"values nested more than {MAX_DEPTH} levels deep; refused")
    if id(node) in budget.open:
        raise _refuse(source, node, "an alias refers to a value that contains it (a cycle); refused")
    plain = _PLAIN_TAGS.get(type(node))
    if plain is not None and node.tag != plain:
        # the walk below builds mappings and lists itself, so a tag such as !!python/object would be
        # dropped without a word; refuse it as the safe loader refuses tagged scalars
        raise yaml.constructor.ConstructorError(
            None, None, f"unsupported YAML tag {node.tag!r}", node.start_mark
        )
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        budget.open.add(id(node))
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise _refuse(source, knode, "a key must be plain text, not a list or a mapping")
            key = _scalar(loader, knode, source)
            kpath = (*path, key)
            if key in out:
                problems.append(
                    Problem(
                        source,
                        knode.start_mark.line + 1,
                        dotted(kpath),
                        f"duplicate key (first given on line {lines[kpath]})",
                    )
                )
                continue
            lines[kpath] = knode.start_mark.line + 1
            out[key] = _build(loader, vnode, kpath, lines, problems, source, budget)
        budget.open.discard(id(node))
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        budget.open.add(id(node))
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            items.append(_build(loader, item, (*path, i), lines, problems, source, budget))
        budget.open.discard(id(node))
        return items
    return _scalar(loader, node, source)


def _scalar(loader: yaml.SafeLoader, node: yaml.Node, source: str) -> Any:
    try:
        value = loader.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:  # e.g. a date such as 2020-02-30
        raise _refuse(source, node, f"invalid value {node.value!r}: {exc}") from None
    try:
        hash(value)
    except TypeError:
        raise _refuse(source, node, "a key must be plain text") from None
    return value


@dataclass
class Checker:
    """Collects problems while a document is validated; knows the line of every key path."""

    source: str
    lines: Mapping[KeyPath, int]
    problems: list[Problem] = field(default_factory=list)

    def line(self, path: KeyPath) -> int:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def fail(self, path: KeyPath, message: str) -> Any:
        self.problems.append(Problem(self.source, self.line(path), dotted(path), message))
        return INVALID

    def raise_if_any(self) -> None:
        if self.problems:
            raise ScenarioError(sorted(self.problems, key=lambda p: p.line))

    def mapping(self, path: KeyPath, raw: Any, fields: Mapping[str, Spec]) -> dict[str, Any] | None:
        """Validate a mapping against ``fields``: unknown keys, missing keys, each value's spec."""
        if not isinstance(raw, dict):
            self.fail(path, f"expected a mapping of keys, got {_kind(raw)}")
            return None
        out: dict[str, Any] = {}
        misspelt = set()
        for key in raw:
            if key not in fields:
                near = closest_key(str(key), fields)
                hint = f" (did you mean '{near}'?)" if near else ""
                self.fail((*path, key), f"unknown key{hint}; allowed: {', '.join(fields)}")
                misspelt.add(near)
        for key, spec in fields.items():
            if key in raw:
                out[key] = spec.parse(self, (*path, key), raw[key])
            elif spec.default is _MISSING:
                if key not in misspelt:  # a typo of a required key is one mistake, reported once
                    self.fail(path, f"missing required key '{key}' ({spec.describe()})")
                out[key] = INVALID
            else:
                out[key] = spec.default
        return out


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "a mapping",
    }
    return (
        f"{names.get(type(value), type(value).__name__)} {value!r}"
        if not isinstance(value, (list, dict))
        else names[type(value)]
    )


def closest_key(key: str, options: Mapping[str, Any]) -> str | None:
    import difflib

    match = difflib.get_close_matches(key, list(options), n=1, cutoff=0.6)
    return match[0] if match else None


def closest(key: str, options: Mapping[str, Any]) -> str:
    """`` (did you mean 'x'?)`` for the option nearest to ``key``, or an empty string."""
    near = closest_key(key, options)
    return f" (did you mean '{near}'?)" if near else ""


class Spec:
    """How one value is checked and converted. ``default`` absent means the key is required."""

    default: Any = _MISSING

    def parse(self, chk: Checker, path: KeyPath, raw: Any) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass
class Num(Spec):
    """A real number (or integer) within bounds; booleans and text are rejected."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    default: Any = _MISSING

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return kind + (" " + " and ".join(parts) if parts else "")

    def parse(self, chk: Checker, path: KeyPath, raw: Any) -> Any:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            hint = ""
            if isinstance(raw, str) and re.fullmatch(r"[-+]?[\d_]+(\.[\d_]*)?([eE][-+]?\d+)?", raw.strip()):
                hint = " (a quoted number is text: remove the quotes)"
            return chk.fail(path, f"expected {self.describe()}, got {_kind(raw)}{hint}")
        if self.integer and not isinstance(raw, int):
            return chk.fail(path, f"expected {self.describe()}, got {_kind(raw)}")
        if not math.isfinite(raw):
            return chk.fail(path, f"expected a finite number, got {raw!r}")
        too_low = self.lo is not None and (raw <= self.lo if self.lo_open else raw < self.lo)
        too_high = self.hi is not None and (raw >= self.hi if self.hi_open else raw > self.hi)
        if too_low or too_high:
            return chk.fail(path, f"{raw!r} is out of range: expected {self.describe()}")
        return int(raw) if self.integer else float(raw)


@dataclass
class Text(Spec):
    pattern: str | None = None
    pattern_help: str = ""
    default: Any = _MISSING

    def describe(self) -> str:
        return f"text{' ' + self.pattern_help if self.pattern_help else ''}"

    def parse(self, chk: Checker, path: KeyPath, raw: Any) -> Any:
        if not isinstance(raw, str):
            return chk.fail(path, f"expected {self.describe()}, got {_kind(raw)}")
        if self.pattern and not re.fullmatch(self.pattern, raw):
            return chk.fail(path, f"{raw!r} is not valid: expected {self.describe()}")
        return raw


@dataclass
class Choice(Spec):
    options: Sequence[str] = ()
    default: Any = _MISSING

    def describe(self) -> str:
        return "one of " + ", ".join(self.options)

    def parse(self, chk: Checker, path: KeyPath, raw: Any) -> Any:
        if raw not in self.options or not isinstance(raw, str):
            hint = closest(str(raw), dict.fromkeys(self.options))
            return chk.fail(path, f"{raw!r} is not allowed{hint}: expected {self.describe()}")
        return raw


@dataclass
class Flag(Spec):
    default: Any = _MISSING

    def describe(self) -> str:
        return "true or false"

    def parse(self, chk: Checker, path: KeyPath, raw: Any) -> Any:
        if not isinstance(raw, bool):
            return chk.fail(path, f"expected {self.describe()}, got {_kind(raw)}")
        return raw


@dataclass
class Range(Spec):
    """A ``[low, high]`` pair of numbers, each checked by ``item``, with low <= high."""

    item: Num = field(default_factory=Num)
    default: Any = _MISSING

    def describe(self) -> str:
        return f"a pair [low, high] of {self.item.describe().replace('a number', 'numbers')}"

    def parse(self, chk: Checker, path: KeyPath, raw: Any) -> Any:
        if not isinstance(raw, list) or len(raw) != 2:
            return chk.fail(path, f"expected {self.describe()}, got {_kind(raw)}")
        lo, hi = (self.item.parse(chk, (*path, i), v) for i, v in enumerate(raw))
        if lo is INVALID or hi is INVALID:
            return INVALID
        if lo > hi:
            return chk.fail(path, f"low {lo:g} is above high {hi:g}")
        return (lo, hi)


@dataclass
class TextList(Spec):
    item: Text = field(default_factory=Text)
    default: Any = _MISSING

    def describe(self) -> str:
        return "a list of text"

    def parse(self, chk: Checker, path: KeyPath, raw: Any) -> Any:
        if not isinstance(raw, list):
            return chk.fail(path, f"expected {self.describe()}, got {_kind(raw)}")
        return tuple(self.item.parse(chk, (*path, i), v) for i, v in enumerate(raw))


@dataclass
class Custom(Spec):
    """A value checked by a function ``(checker, path, raw) -> value`` (nested sections)."""

    fn: Callable[[Checker, KeyPath, Any], Any] = lambda chk, path, raw: raw
    what: str = "a value"
    default: Any = _MISSING

    def describe(self) -> str:
        return self.what

    def parse(self, chk: Checker, path: KeyPath, raw: Any) -> Any:
        return self.fn(chk, path, raw)
