"""The ``market:`` section: which market to replay and how the synthetic generator draws it.

``parse_market`` reads every source: the generated ones (``synthetic``, ``reconstruction``) here, the
data-backed ones (``historic``, ``dataset``) in ``specs.historic``. The ``MarketSpec`` both build is in
``specs.market_spec`` and re-exported here, as are ``ASSET_CLASSES`` (``specs.common``) and ``SOURCES``.

Units: volatilities and drift are annualised fractions (0.3 = 30 % a year); spreads are full spreads in
bps at the long-run volatility; GARCH parameters act per tick; funding intervals and durations are seconds.
"""

from __future__ import annotations

from typing import Any

from pytest_stress.schema import INVALID, Checker, Choice, Custom, Flag, KeyPath, Num, Range, Spec, dotted
from pytest_stress.specs.common import ASSET_CLASS_FIELD, MAX_PRICE, MAX_SPREAD_BPS, SEED_FIELD
from pytest_stress.specs.common import ASSET_CLASSES as ASSET_CLASSES  # re-exported: its old home
from pytest_stress.specs.historic import parse_data_market
from pytest_stress.specs.market_spec import DATA_SOURCES, GENERATED_SOURCES, MarketSpec
from pytest_stress.specs.market_spec import SOURCES as SOURCES  # re-exported: its old home
from pytest_stress.specs.reconstruction import ReconstructionSpec as ReconstructionSpec  # re-exported
from pytest_stress.specs.reconstruction import parse_reconstruction

# A market frame above this many cells (ticks x symbols) is refused before any memory is taken:
# 50M cells is 400 MB per float64 field. An L2 book counts ticks x symbols x levels against the same limit.
MAX_CELLS = 50_000_000
MAX_SYMBOLS = 10_000
MAX_DEPTH_LEVELS = 50
# The longest market, and so the longest funding interval that can come round in one (seconds).
MAX_DURATION_S = 7 * 86_400

TAILS = ("normal", "student_t")


def _optional(spec: Num) -> Custom:
    """``spec`` or null (the default): ``scenarios show`` writes defaults out, and they must load back."""

    def parse(chk: Checker, path: KeyPath, raw: Any) -> Any:
        return None if raw is None else spec.parse(chk, path, raw)

    return Custom(fn=parse, what=f"{spec.describe()}, or null", default=None)


def _parse_matrix(chk: Checker, path: KeyPath, raw: Any) -> tuple[tuple[float, ...], ...] | Any:
    """A square nested list of numbers; symmetry, diagonal and definiteness are checked in parse_market."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        return chk.fail(path, "expected a square matrix as a list of rows, e.g. [[1, 0.3], [0.3, 1]]")
    rows = []
    entry = Num(lo=-1.0, hi=1.0)
    for r, row in enumerate(raw):
        if not isinstance(row, list) or len(row) != len(raw):
            return chk.fail(
                (*path, r), f"row {r} must be a list of {len(raw)} numbers (the matrix is {len(raw)} rows)"
            )
        rows.append(tuple(entry.parse(chk, (*path, r, c), v) for c, v in enumerate(row)))
    if any(v is INVALID for row in rows for v in row):
        return INVALID
    return tuple(rows)


_DEFAULT_CORRELATION = 0.5

MARKET_FIELDS: dict[str, Spec] = {
    "source": Choice(options=GENERATED_SOURCES),
    "symbols": Num(lo=1, hi=MAX_SYMBOLS, integer=True, default=100),
    "duration_s": Num(lo=0, lo_open=True, hi=MAX_DURATION_S),
    "tick_ms": Num(lo=1, hi=3_600_000, integer=True, default=100),
    "seed": SEED_FIELD,
    "annual_vol": Range(item=Num(lo=0.001, hi=5.0), default=(0.15, 0.45)),
    "correlation": Num(lo=0.0, hi=0.99, default=_DEFAULT_CORRELATION),
    "spread_bps": Range(item=Num(lo=0.01, hi=MAX_SPREAD_BPS), default=(1.0, 5.0)),
    "start_price": Range(item=Num(lo=1e-6, hi=MAX_PRICE), default=(20.0, 500.0)),
    "annual_drift": Num(lo=-5.0, hi=5.0, default=0.0),
    "correlation_matrix": Custom(
        fn=_parse_matrix, what="a symbols x symbols correlation matrix", default=None
    ),
    "garch_alpha": Num(lo=0.0, hi=1.0, hi_open=True, default=0.05),
    "garch_beta": Num(lo=0.0, hi=1.0, hi_open=True, default=0.90),
    "garch_omega": _optional(Num(lo=0.0, lo_open=True, hi=100.0)),
    "tails": Choice(options=TAILS, default="normal"),
    "dof": Num(lo=2.0, lo_open=True, hi=1000.0, default=5.0),
    "daily_volume": Range(item=Num(lo=1e-6, hi=1e15), default=(1e5, 1e7)),
    "depth_levels": Num(lo=0, hi=MAX_DEPTH_LEVELS, integer=True, default=0),
    "tick_size": _optional(Num(lo=0.0, lo_open=True, hi=1e6)),
    "round_to_tick": Flag(default=False),
    "asset_class": ASSET_CLASS_FIELD,
    "funding_interval_s": Num(lo=0.0, lo_open=True, hi=MAX_DURATION_S, default=28_800.0),
    # validated in parse_market, which knows duration_s by then
    "reconstruction": Custom(fn=lambda chk, path, raw: raw, what="an event reconstruction", default=None),
}


def market_to_dict(spec: MarketSpec) -> dict[str, Any]:
    """The YAML shape of a market, defaults filled in (``scenarios show``; loads back unchanged)."""
    if spec.historic is not None:
        data = spec.historic.to_dict()  # type: ignore[attr-defined]
        return {
            "source": spec.source,
            **data,
            "tick_ms": spec.tick_ms,
            "asset_class": spec.asset_class,
            "seed": spec.seed,
        }
    out: dict[str, Any] = {}
    for key in MARKET_FIELDS:
        value = getattr(spec, key)
        if key == "reconstruction":
            if value is not None:
                out[key] = value.to_dict()
            continue
        if isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        out[key] = value
    return out


def parse_market(chk: Checker, path: KeyPath, raw: Any) -> MarketSpec | Any:
    if isinstance(raw, dict) and raw.get("source") in DATA_SOURCES:
        return parse_data_market(chk, path, raw)
    values = chk.mapping(path, raw, MARKET_FIELDS)
    if values is None or INVALID in values.values():
        return INVALID
    before = len(chk.problems)
    rec_raw = values["reconstruction"]
    if values["source"] == "reconstruction":
        if rec_raw is None:
            return chk.fail(
                path, "source: reconstruction needs a reconstruction: section (start, symbols, path)"
            )
        rec = parse_reconstruction(chk, (*path, "reconstruction"), rec_raw, values["duration_s"])
        if rec is INVALID:
            return INVALID
        values["reconstruction"] = rec
        given = raw.get("symbols")
        if given is not None and given != len(rec.symbols):
            chk.fail(
                (*path, "symbols"),
                f"{given} symbols, but the reconstruction names {len(rec.symbols)} ({', '.join(rec.names)}); "
                "leave symbols out",
            )
        values["symbols"] = len(rec.symbols)
    elif rec_raw is not None:
        return chk.fail(
            (*path, "reconstruction"), "only a market with source: reconstruction takes this section"
        )
    spec = MarketSpec(**values)
    steps = spec.duration_s * 1000.0 / spec.tick_ms
    if abs(steps - round(steps)) > 1e-6:
        chk.fail(
            (*path, "duration_s"), f"{spec.duration_s:g} s is not a whole number of {spec.tick_ms} ms ticks"
        )
    if spec.n_ticks * spec.symbols > MAX_CELLS:
        chk.fail(
            path,
            f"{spec.n_ticks} ticks x {spec.symbols} symbols is above the limit of "
            f"{MAX_CELLS:,} cells; shorten duration_s, raise tick_ms or lower symbols",
        )
    elif spec.n_ticks * spec.symbols * spec.depth_levels > MAX_CELLS:
        chk.fail(
            (*path, "depth_levels"),
            f"{spec.n_ticks} ticks x {spec.symbols} symbols x {spec.depth_levels} levels is above the "
            f"limit of {MAX_CELLS:,} book cells; lower depth_levels, symbols or duration_s",
        )
    if spec.garch_alpha + spec.garch_beta >= 1.0:
        chk.fail(
            (*path, "garch_beta"),
            f"garch_alpha + garch_beta = {spec.garch_alpha + spec.garch_beta:g} must be below 1, "
            "or the volatility never returns to its long-run level",
        )
    if spec.asset_class == "crypto_perp":
        interval = spec.funding_interval_s * 1000.0 / spec.tick_ms
        if abs(interval - round(interval)) > 1e-6:
            chk.fail(
                (*path, "funding_interval_s"),
                f"{spec.funding_interval_s:g} s is not a whole number of {spec.tick_ms} ms ticks",
            )
    if spec.correlation_matrix is not None:
        # the matrix replaces the one-factor correlation; a correlation other than the default next to it
        # is a contradiction (the default itself may stand: ``scenarios show`` writes every key out)
        if isinstance(raw, dict) and raw.get("correlation", _DEFAULT_CORRELATION) != _DEFAULT_CORRELATION:
            chk.fail(
                (*path, "correlation"),
                "give either correlation (one factor, every pair alike) or correlation_matrix, not both",
            )
        _check_matrix(chk, (*path, "correlation_matrix"), spec.correlation_matrix, spec.symbols)
    return spec if len(chk.problems) == before else INVALID


def _check_matrix(chk: Checker, path: KeyPath, m: tuple[tuple[float, ...], ...], symbols: int) -> None:
    """Size = symbols, unit diagonal, symmetric, positive definite (so that it has a Cholesky factor)."""
    n = len(m)
    if n != symbols:
        chk.fail(
            path, f"the matrix is {n} x {n} but the market has {symbols} symbols; give one row per symbol"
        )
        return
    for i in range(n):
        if abs(m[i][i] - 1.0) > 1e-12:
            chk.fail((*path, i, i), f"diagonal entries must be 1, got {m[i][i]:g}")
            return
    for i in range(n):
        for j in range(i):
            if abs(m[i][j] - m[j][i]) > 1e-12:
                chk.fail(
                    (*path, i, j),
                    f"not symmetric: {m[i][j]:g} here but {m[j][i]:g} at {dotted((*path, j, i))}",
                )
                return
    import numpy as np  # only here: validating a scenario without a matrix must not pay for NumPy

    smallest = float(np.linalg.eigvalsh(np.array(m, dtype=np.float64))[0])
    if smallest <= 1e-10:
        chk.fail(
            path,
            f"not positive definite (smallest eigenvalue {smallest:.3g}); some of its correlations "
            "contradict each other, e.g. a ~ b and b ~ c strongly but a ~ c weakly; lower them",
        )
