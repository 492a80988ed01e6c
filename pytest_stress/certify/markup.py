"""The small pieces every part of the HTML report uses: escaping, status pills, thresholds as written."""

from __future__ import annotations

import html
import re
from typing import Any


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def threshold(text: str) -> str:
    """``>= 600000`` -> ``>= 600,000``: the threshold as written in the YAML, with thousands separators."""
    return re.sub(r"(?<![\d.])\d{4,}(?![\d.])", lambda m: f"{int(m.group()):,}", text)


def pill(status: str, text: str | None = None) -> str:
    label = text or status.replace("_", " ")
    return f'<span class="pill {esc(status)}">{esc(label)}</span>'
