"""JSON the way toxiproxy-server (a Go program) reads and writes it, so errors and bodies match byte for byte.

Decoding reports Go's ``encoding/json`` messages (``EOF``, ``unexpected EOF``, ``cannot unmarshal ...``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class BodyError(ValueError):
    """A request body Go's decoder would refuse; ``str()`` is the text after ``bad request body: ``."""


class _Number(float):
    """A JSON number that remembers its literal, because Go's messages quote it (``number 1.5``)."""

    literal: str

    def __new__(cls, literal: str) -> _Number:
        obj = super().__new__(cls, literal)
        obj.literal = literal
        return obj


def _reject_constant(name: str) -> Any:
    # Python accepts NaN/Infinity; Go does not, so they must fail like any other bad character.
    raise json.JSONDecodeError("Expecting value", name, 0)


_DECODER = json.JSONDecoder(parse_float=_Number, parse_constant=_reject_constant)


def _quote_char(ch: str) -> str:
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    return "'" + json.dumps(ch)[1:-1] + "'"


def _innermost_container(doc: str, pos: int) -> str:
    """'{' or '[' open at ``pos``; Go names the context (object or array) in its syntax errors."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in doc[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _syntax_message(doc: str, err: json.JSONDecodeError) -> str:
    if err.msg.startswith("Unterminated string") or err.pos >= len(doc.rstrip()):
        return "unexpected EOF"
    ch = doc[err.pos]
    if err.msg.startswith("Invalid control character"):
        return f"invalid character {_quote_char(ch)} in string literal"
    if err.msg.startswith("Invalid \\escape"):
        return f"invalid character {_quote_char(doc[err.pos + 1 : err.pos + 2])} in string escape code"
    if err.msg.startswith("Expecting property name"):
        context = "looking for beginning of object key string"
    elif err.msg.startswith("Expecting ':'"):
        context = "after object key"
    elif err.msg.startswith("Expecting ','"):
        in_object = _innermost_container(doc, err.pos) == "{"
        context = "after object key:value pair" if in_object else "after array element"
    else:
        context = "looking for beginning of value"
    return f"invalid character {_quote_char(ch)} {context}"


def decode(raw: bytes) -> Any:
    """The first JSON value of ``raw``; trailing bytes are ignored as Go's ``json.Decoder`` does."""
    doc = raw.decode("utf-8", errors="replace").lstrip(" \t\r\n")
    if not doc:
        raise BodyError("EOF")
    try:
        value, _end = _DECODER.raw_decode(doc)
    except json.JSONDecodeError as err:
        if err.doc != doc:  # raised by _reject_constant: point at the constant itself
            err = json.JSONDecodeError("Expecting value", doc, _constant_pos(doc))
        raise BodyError(_syntax_message(doc, err)) from None
    return value


def _constant_pos(doc: str) -> int:
    hits = [doc.find(c) for c in ("NaN", "Infinity", "-Infinity")]
    return min((h for h in hits if h >= 0), default=0)


def json_kind(value: Any) -> str:
    """Go's name for a JSON value in ``cannot unmarshal <kind>`` (numbers: see :func:`_number_kind`)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True)
class Field:
    """One struct field: its JSON name and Go type (string, bool, int, int64 or float32)."""

    name: str
    go_type: str


def _convert(value: Any, field: Field, where: str) -> Any:
    def refuse(kind: str) -> BodyError:
        return BodyError(
            f"json: cannot unmarshal {kind} into Go struct field {where} of type {field.go_type}"
        )

    kind = json_kind(value)
    if field.go_type == "string":
        if kind != "string":
            raise refuse(kind)
        return value
    if field.go_type == "bool":
        if kind != "bool":
            raise refuse(kind)
        return value
    if kind != "number":
        raise refuse(kind)
    if field.go_type == "float32":
        return float(value)
    # Integer fields: a literal with a fraction or exponent, or one out of range, is refused with its text.
    literal = value.literal if isinstance(value, _Number) else str(value)
    if isinstance(value, _Number) or not INT64_MIN <= value <= INT64_MAX:
        raise refuse(f"number {literal}")
    return int(value)


def decode_struct(obj: Any, fields: Iterable[Field], struct: str, prefix: str = "") -> dict[str, Any]:
    """The fields present in ``obj``, converted, matched case-insensitively like Go's decoder.

    ``struct`` names the Go type in messages; ``prefix`` is the path above these fields
    (``attributes.``). A JSON null leaves a field unset, as it leaves a Go field untouched.
    """
    by_name = {f.name.lower(): f for f in fields}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        field = by_name.get(key.lower())
        if field is None or value is None:
            continue
        out[field.name] = _convert(value, field, f"{struct}.{prefix}{field.name}")
    return out


def require_object(value: Any, go_type: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BodyError(f"json: cannot unmarshal {json_kind(value)} into Go value of type {go_type}")
    return value


def encode(value: Any) -> bytes:
    """Compact JSON with Go's HTML-safe escapes, so bodies equal the real server's byte for byte."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return text.encode("utf-8")


def go_float(value: float) -> int | float:
    """Toxicity as Go prints a float32: ``1`` not ``1.0``, ``0.25`` stays ``0.25``."""
    return int(value) if float(value).is_integer() and abs(value) < 1e21 else value
