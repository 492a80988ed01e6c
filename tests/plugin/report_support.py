"""Support for the plugin tests: reading certification reports, each validated against the JSON Schema the
package ships (``pytest_stress/certify/certification.schema.json``) before a test looks at it, and the
scenario files the tests share."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

from pytest_stress.certify import json_schema
from pytest_stress.certify.session import SCHEMA

# a scenario whose drawdown check no book meets (it fails at seed 3, 5 symbols) and whose delta check holds
STRICT_SCENARIO = """
    name: strict_crash
    description: flash crash against a drawdown limit no book can meet
    market: {source: synthetic, symbols: 5, duration_s: 10, tick_ms: 100, seed: 3}
    portfolio: {initial_capital: 1000000}
    stress:
      - {type: flash_crash, price_shock_pct: -0.03, spread_mult: 3.0, duration_s: 10}
    expect:
      max_drawdown_pct: {max: 1.0}
      position_delta_pct: {max: 10.0}
    on_breach: kill_switch
"""


@functools.cache
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def schema_errors(doc: Any) -> list[str]:
    """Every way ``doc`` breaks the schema, as ``path: message`` lines (empty: valid)."""
    errors = sorted(validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(document)'}: {e.message[:300]}" for e in errors]


def validate(doc: Any, where: object = "document") -> dict[str, Any]:
    errors = schema_errors(doc)
    assert not errors, f"{where} breaks certification.schema.json:\n" + "\n".join(errors[:20])
    return doc


def read_report(path: Path) -> dict[str, Any]:
    """The certification JSON at ``path``, validated."""
    return validate(json.loads(Path(path).read_text(encoding="utf-8")), path)


def reports_under(root: Path) -> list[Path]:
    """The certification documents written anywhere under ``root`` (any name: --stress-report=json:PATH)."""
    found = []
    for path in sorted(Path(root).rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("schema") == SCHEMA:
            found.append(path)
    return found
