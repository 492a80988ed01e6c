"""Certification: checks -> verdict, and the JSON and HTML reports of a stress session.

``certification.schema.json`` beside this file is the JSON Schema (draft 2020-12) of certification.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("certification.schema.json")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the certification document (``schema_version`` 1)."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
