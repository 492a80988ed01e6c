"""Numbers in human units, for the report: the unit always shown, percent as percent, durations scaled to
µs / ms / s / min / h, counts with thousands separators, and no exponent notation for ordinary values.

Measurement is elsewhere (``run/``, the kernels); this module only formats. Every function returns plain
text (the HTML layer escapes it).
"""

from __future__ import annotations

import math
from typing import Any

# metrics whose value is a fraction although they read as a percentage (0.18 = 18 %)
FRACTIONS_AS_PERCENT = frozenset({"realised_vol_annual_max", "decision_error_rate", "order_failure_rate"})

_DURATIONS = (("h", 3600.0), ("min", 60.0), ("s", 1.0), ("ms", 1e-3), ("µs", 1e-6))
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "min": 60.0, "h": 3600.0}


def number(x: float, sig: int = 4) -> str:
    """``x`` with about ``sig`` significant digits, thousands separators, never ``1e+04``."""
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}"
    if not math.isfinite(x):
        return "∞" if x > 0 else ("\u2212∞" if x < 0 else "not a number")
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    if mag >= sig - 1:
        return f"{x:,.0f}"
    if mag < -9:  # not an ordinary value: say so rather than print 13 zeros
        mantissa, exp = f"{x:.2e}".split("e")
        return f"{mantissa}\u00d710^{int(exp)}"
    decimals = sig - 1 - mag
    text = f"{x:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def duration(seconds: float) -> str:
    """``0.000012`` -> ``12 µs``, ``2212.2`` -> ``36.87 min``, ``0.25`` -> ``250 ms``."""
    if not math.isfinite(seconds):
        return number(seconds)
    if seconds == 0:
        return "0 s"
    for unit, size in _DURATIONS:
        if abs(seconds) >= size or unit == "µs":
            return f"{number(seconds / size)} {unit}"
    raise AssertionError("unreachable")


def count(n: float) -> str:
    """A count: ``10000`` -> ``10,000`` (a float count with a fraction keeps it)."""
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    return number(n)


def money(x: float) -> str:
    """An amount in the portfolio's currency, to the unit: ``1,234,567``."""
    return f"{x:,.0f}" if math.isfinite(x) else number(x)


def percent(x: float, *, fraction: bool = False) -> str:
    """``5.0`` -> ``5 %``; with ``fraction``, ``0.2133`` -> ``21.33 %``."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    return f"{number(x * 100 if fraction else x)} %"


def value(v: Any, unit: str = "", metric: str = "") -> str:
    """A measured value as the report shows it: by its metric's unit (``metrics.METRICS``)."""
    if v is None:
        return "not measured"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, str):  # inf/nan written as text by the JSON layer
        try:
            v = float(v)
        except ValueError:
            return v
    if metric in FRACTIONS_AS_PERCENT:
        return percent(v, fraction=True)
    if unit == "%":
        return percent(v)
    if unit in _SECONDS:
        return duration(float(v) * _SECONDS[unit])
    if unit == "x":
        return f"{number(v)}\u00d7"
    if unit == "bps":
        return f"{number(v)} bps"
    return count(v) if isinstance(v, int) or (isinstance(v, float) and v.is_integer()) else number(v)
