"""The report's charts: pure functions from the report's plain-data records to inline SVG.

Each ``*_chart`` function reads what ``certification.json`` holds (a run is ``ScenarioResult.to_dict()``
plus ``certified``; a test is ``CertificationSession``'s record with its ``faults``) and returns one
self-contained ``<svg ...>...</svg>`` element, or ``""`` when the record has nothing to draw:

- ``price_chart(run)``: the market's price path (``price_curve``), the stress windows shaded and listed;
- ``equity_drawdown_chart(run)``: equity, and drawdown against the circuit breakers, kill switch, breaches;
- ``risk_events_chart(run)``: the risk events on the timeline, one row per event kind;
- ``fault_matrix_chart(tests)``: scenario x fault, each cell coloured by the tests' outcome;
- ``weakest_chart(runs)``: max drawdown of every certified run, weakest first, coloured by verdict;
- ``latency_chart(latencies)``: a decision-latency histogram (or percentile curve) and percentile table.

The SVG embeds in the HTML page under its CSP (``default-src 'none'; style-src 'unsafe-inline'``): no
prolog, no scripts, no metadata, no reference but ``#id`` ones; text stays text (``svg.fonttype: none``)
with an explicit fill, so the page's stylesheet does not recolour it. The same data give the same bytes:
the hash salt of the element ids is a digest of the data (so two different charts on one page do not
share ids) and no date is written. ``to_png(chart, ...)`` renders any of them to PNG, to look at.

matplotlib (and NumPy) are imported inside the functions only: loading the plugin must stay light
(``tests/unit/test_import_cost.py``). The figures are ``matplotlib.figure.Figure`` objects, never pyplot's,
so no global backend is switched and no figure stays registered; SVG goes through matplotlib's SVG
backend, PNG through Agg.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_stress.verdict import GO, INCOMPLETE, NO_GO, decide

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# --- the report's palette (certify/html.py's CSS) and the charts' own colours ---
INK, MUTED, LINE, GRID = "#1d2330", "#5b6475", "#d9dde5", "#eef0f4"
BLUE, RED, STRESS, STRESS_EDGE = "#2456c7", "#b3261e", "#f3d9a6", "#c9962f"
VERDICT_COLOURS = {GO: "#0f7b3f", NO_GO: "#b3261e", INCOMPLETE: "#c08a00"}
OUTCOME_COLOURS = {
    "passed": "#2e9d5b",
    "failed": "#b3261e",
    "error": "#6e1410",
    "xfailed": "#d9a400",
    "skipped": "#a7adba",
}
OUTCOME_RANK = {"error": 4, "failed": 3, "xfailed": 2, "skipped": 1, "passed": 0}  # the worst decides a cell
# seed 001/002's drawdown circuit breakers (specs/risk.py defaults); a run record does not carry its own
BREAKERS: Mapping[str, float] = {"strategy breaker": 5.0, "portfolio breaker": 10.0}

# Event kinds (replay/events.py EVENT_NAMES), most severe first, with the colour of their family. A name not
# listed here (a newer kind) is still drawn, after these, in grey.
_KILL, _TRIP, _SIZE, _REJECT, _EXCHANGE, _DATA = (
    "#b3261e",
    "#d55e00",
    "#8e44ad",
    "#c08a00",
    "#2456c7",
    "#6b7280",
)
EVENT_FAMILIES: dict[str, str] = {
    "KILL_SWITCH": _KILL,
    "ORDER_CANCELLED_KILL_SWITCH": _KILL,
    "ORDER_BLOCKED_KILL_SWITCH": _KILL,
    "KILL_SWITCH_RESET": _KILL,
    "PORTFOLIO_CIRCUIT_BREAKER": _TRIP,
    "STRATEGY_CIRCUIT_BREAKER": _TRIP,
    "DRAWDOWN_TRIP": _TRIP,
    "VAR_TRIP": _TRIP,
    "CVAR_TRIP": _TRIP,
    "POSITION_DELTA_TRIP": _TRIP,
    "ORDER_BLOCKED_BREAKER": _TRIP,
    "KELLY_CLAMP": _SIZE,
    "VOL_TARGET_SCALE": _SIZE,
    "POLICY_CHANGE": _SIZE,
    "PRICE_COLLAR_REJECT": _REJECT,
    "LIMIT_REJECT": _REJECT,
    "HALT_FULL": _EXCHANGE,
    "HALT_PARTIAL": _EXCHANGE,
    "HALT_END": _EXCHANGE,
    "ORDER_REJECTED_HALT": _EXCHANGE,
    "ORDER_REJECTED": _EXCHANGE,
    "LATENCY_SPIKE": _EXCHANGE,
    "PARTIAL_FILL": _EXCHANGE,
    "DATA_GAP": _DATA,
    "DATA_CORRUPT_TICK": _DATA,
    "CROSSED_BOOK": _DATA,
}
_HALTS = ("HALT_FULL", "HALT_PARTIAL")  # drawn as spans, each until the symbol's next HALT_END

WIDTH_IN = 10.0  # 720 pt: the report's 1100 px column
_RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial"],
    "font.size": 9.0,
    "text.parse_math": False,  # a "$" in a scenario name or a test id is text
    "text.color": INK,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#8b93a3",
    "axes.titlesize": 10.0,
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelcolor": INK,
    "ytick.labelcolor": INK,
    "legend.frameon": False,
    "legend.fontsize": 8.0,
    "path.simplify": True,
    "path.simplify_threshold": 0.5,
    "figure.facecolor": "white",
}


@dataclass(frozen=True)
class _Plan:
    """What one chart needs: figure size (inches), a key for the id salt, its accessible name, the drawing."""

    size: tuple[float, float]
    key: str
    label: str
    draw: Callable[[Figure], None]


# --- public charts ---------------------------------------------------------------------------------


def price_chart(run: Mapping[str, Any]) -> str:
    """The market's price path of one run (``run["price_curve"] = {tick, index}``: the equal-weight mean
    mid over the calm market's first mid) as % from the open, the stress windows shaded on it and listed
    as bars above it (so a window that starts at tick 0 or covers the whole session still shows), the
    kill switch as a red line. "" when the record has no price curve."""
    return _svg(_plan_price(run))


def equity_drawdown_chart(run: Mapping[str, Any], breakers: Mapping[str, float] = BREAKERS) -> str:
    """Two panels of one run: equity (``equity_curve``) with the starting capital dashed and the breaches
    marked, and drawdown in % (from the equity curve, against the running peak) with a line at each of
    ``breakers`` (label -> %, default the 5 % strategy and 10 % portfolio breakers) and at the run's
    ``max_drawdown_pct`` limit when it is another level; the kill switch is a vertical line through both.
    "" when the curve has fewer than two points."""
    return _svg(_plan_equity(run, breakers))


def risk_events_chart(run: Mapping[str, Any]) -> str:
    """The run's ``events`` over time, one row per event kind (kill switch and breakers on top, data issues
    at the bottom), a tick per event; halts (HALT_PARTIAL / HALT_FULL) also as spans until the symbol's
    HALT_END. Row labels carry the count; the title says when the record kept only the first events.
    "" when the run recorded no event."""
    return _svg(_plan_events(run))


def fault_matrix_chart(tests: Sequence[Mapping[str, Any]], scenarios: Iterable[str] = ()) -> str:
    """The fault matrix: a row per scenario, a column per fault (``service mode``, "x2" for two windows),
    each cell coloured by the outcome of its tests (the worst one; "2/3 passed" when several share it).
    Reads the tests that injected faults (``faults`` in the report's ``tests``); the scenario is the part of
    the node id's parameters (``[flash_crash_lite-latency]``) that names one: one of ``scenarios`` when
    given, else the first part that looks like a scenario name. "" when no test injected a fault."""
    return _svg(_plan_faults(tests, scenarios))


def weakest_chart(runs: Sequence[Mapping[str, Any]], top: int | None = None) -> str:
    """Max drawdown of every certified run (``certified`` not false), weakest first as the batch summary
    ranks them (most failed checks, then deepest drawdown; an unmeasured drawdown ranks worst), bars
    coloured by the run's verdict (``verdict.decide``), the breakers as lines; ``top`` keeps the first
    ones. "" when no run was certified."""
    return _svg(_plan_weakest(runs, top))


def latency_chart(
    latencies: Sequence[float] | Mapping[Any, float] | Any,
    budget_ms: float | None = None,
    title: str = "Decision latency",
) -> str:
    """Decision latency: samples in ms (a sequence or array) give a histogram with p50 / p99 marked;
    an HDR-style mapping (percentile -> ms, keys such as ``50``, ``"p99"``, ``"99.9%"``, ``"max"``) gives
    the latency-by-percentile curve. Beside it, the percentile table (``latency_percentiles``); ``budget_ms``
    draws the budget. "" when there is no finite value."""
    return _svg(_plan_latency(latencies, budget_ms, title))


def latency_percentiles(latencies: Sequence[float] | Mapping[Any, float] | Any) -> dict[str, float]:
    """``{"p50": ms, "p90": ..., "p95", "p99", "p99.9", "max"}`` of latency samples (nearest rank, so each is
    an observed latency), or the finite entries of a percentile mapping under the same names, in order."""
    if isinstance(latencies, Mapping):
        points = _percentile_points(latencies)
        return {_pct_name(p): v for p, v in points}
    import numpy as np

    x = np.asarray(latencies, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {}
    x = np.sort(x)
    # nearest rank: the smallest sample with at least p % of them at or below it (the tolerance keeps
    # 99.9 % of 1000 at rank 999, where p * n / 100 in floating point is 999.0000000000001)
    ranks = {p: max(math.ceil(p * x.size / 100 - 1e-9), 1) for p in (50, 90, 95, 99, 99.9)}
    out = {_pct_name(p): float(x[k - 1]) for p, k in ranks.items()}
    out["max"] = float(x[-1])
    return out


def to_png(chart: Callable[..., str], *args: Any, dpi: int = 110, **kwargs: Any) -> bytes:
    """The chart ``chart(*args, **kwargs)`` would draw, as PNG (Agg), to look at; b"" for an empty one."""
    plan = _PLANS[chart](*args, **kwargs)
    if plan is None:
        return b""
    buf = io.BytesIO()
    _render(plan, buf, "png", dpi=dpi)
    return buf.getvalue()


# --- plans -----------------------------------------------------------------------------------------


def _plan_price(run: Mapping[str, Any]) -> _Plan | None:
    curve = run.get("price_curve") or {}
    ticks, index = list(curve.get("tick") or ()), list(curve.get("index") or ())
    if len(ticks) < 2 or len(ticks) != len(index):
        return None
    tl = _Timeline(run)
    stresses = list(run.get("stresses") or ())
    strip = 0.26 * len(stresses) + 0.1 if stresses else 0.0
    name = str(run.get("scenario", ""))

    def draw(fig: Figure) -> None:
        import numpy as np

        if stresses:
            top, ax = fig.subplots(2, 1, sharex=True, height_ratios=[strip, 2.4])
            _stress_strip(top, stresses, tl)
        else:
            ax = fig.subplots()
        move = (np.array([np.nan if v is None else v for v in index], dtype=np.float64) - 1.0) * 100.0
        x = tl.x(np.asarray(ticks))
        _shade(ax, stresses, tl)
        ax.axhline(0.0, color="#8b93a3", lw=0.8, ls=(0, (4, 3)))
        ax.plot(x, move, color=BLUE, lw=1.4)
        low = int(np.nanargmin(move)) if np.isfinite(move).any() else 0
        ax.plot([x[low]], [move[low]], "o", color=BLUE, ms=4)
        _kill_line(ax, run, tl, label=True)
        tl.frame(ax)
        ax.set_ylabel("% from the open")
        ax.yaxis.set_major_formatter(_formatter("{:+g}"))
        ax.grid(axis="y", color=GRID, lw=0.8)
        ax.set_xlabel(tl.label)
        head = top if stresses else ax
        head.set_title(f"{name} · market price path", fontweight="bold")
        head.set_title(
            f"mean mid of {run.get('symbols', '?')} symbols · low {move[low]:+.2f} % at "
            f"{_num(x[low], '.3g')} {tl.unit}",
            loc="right",
            color=MUTED,
            fontsize=8.5,
        )

    return _Plan((WIDTH_IN, 2.7 + strip), _key("price", run), f"{name}: market price path", draw)


def _plan_equity(run: Mapping[str, Any], breakers: Mapping[str, float] = BREAKERS) -> _Plan | None:
    curve = run.get("equity_curve") or {}
    ticks, equity = list(curve.get("tick") or ()), list(curve.get("equity") or ())
    if len(ticks) < 2 or len(ticks) != len(equity):
        return None
    tl = _Timeline(run)
    name = str(run.get("scenario", ""))
    capital = float(run.get("initial_capital") or equity[0])
    stresses = list(run.get("stresses") or ())
    limit = ((run.get("provenance") or {}).get("limits") or {}).get("max_drawdown_pct")

    def draw(fig: Figure) -> None:
        import numpy as np
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch, Polygon

        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1.5, 1.15])
        t = np.asarray(ticks, dtype=np.float64)
        eq = np.asarray(equity, dtype=np.float64)
        x = tl.x(t)
        peak = np.maximum.accumulate(np.maximum(eq, capital))
        dd = np.where(peak > 0, (peak - eq) / peak * 100.0, 100.0)
        for ax in (top, bottom):
            _shade(ax, stresses, tl)
            ax.grid(axis="y", color=GRID, lw=0.8)
            tl.frame(ax)
        top.axhline(capital, color="#8b93a3", lw=0.8, ls=(0, (4, 3)))
        top.plot(x, eq, color=BLUE, lw=1.4, label="equity")
        top.yaxis.set_major_formatter(_formatter("{:,.0f}"))
        top.set_ylabel("equity")
        breaches = [b for b in run.get("breaches") or () if isinstance(b.get("tick"), (int, float))]
        if breaches:
            bt = np.array([b["tick"] for b in breaches], dtype=np.float64)
            top.plot(tl.x(bt), np.interp(bt, t, eq), "v", color=RED, ms=6, label="breach", zorder=5)
        _kill_line(top, run, tl, label=True)
        _kill_line(bottom, run, tl, label=False)
        # the area under water as one outlined polygon (the curve's points once, not a fill and a line):
        # it closes along 0 outside the session, where the axes clip its sides away
        far = tl.right - tl.left
        under = np.column_stack([np.r_[x[0] - far, x, x[-1] + far], np.r_[0.0, -dd, -dd[-1]]])
        under = np.vstack([under, [x[-1] + far, 0.0]])
        bottom.add_patch(Polygon(under, closed=True, facecolor="#b3261e2e", edgecolor=RED, lw=1.0))
        levels = [(float(v), f"{k} {_num(float(v))} %") for k, v in breakers.items()]
        if isinstance(limit, (int, float)) and all(abs(limit - v) > 1e-9 for v, _ in levels):
            levels.append((float(limit), f"max_drawdown_pct limit {_num(float(limit))} %"))
        worst = float(np.nanmax(dd)) if dd.size else 0.0
        depth = max([worst, *(v for v, _ in levels)]) * 1.18 or 1.0
        bottom.set_ylim(-depth, depth * 0.04)
        share = (x - tl.left + tl.pad) / (tl.right - tl.left + 2 * tl.pad)  # x as a fraction of the width
        _level_labels(bottom, sorted(levels), -depth, depth * 0.04, panel_in=1.25, curve=(share, -dd))
        bottom.yaxis.set_major_formatter(_formatter("{:g}", scale=-1.0))
        bottom.set_ylabel("drawdown %")
        bottom.set_xlabel(tl.label)
        top.set_title(f"{name} · equity and drawdown", fontweight="bold")
        facts = [f"max drawdown {_num(_float(run.get('max_drawdown_pct')), '.2f')} %"]
        if breaches:
            facts.append(f"{len(breaches)} breach{'es' if len(breaches) > 1 else ''}: " + ", ".join(
                sorted({str(b.get('metric')) for b in breaches})
            ))  # fmt: skip
        if run.get("kill_switch_triggered"):
            facts.append(f"kill switch at {_num(tl.x(run.get('kill_switch_tick') or 0))} {tl.unit}")
        top.set_title(" · ".join(facts), loc="right", color=MUTED, fontsize=8.5)
        handles = [
            Line2D([], [], color=BLUE, lw=1.4, label="equity"),
            Line2D([], [], color="#8b93a3", lw=0.8, ls=(0, (4, 3)), label="starting capital"),
            Patch(facecolor="#b3261e2e", edgecolor=RED, lw=1.0, label="drawdown from the peak"),
            Line2D([], [], color=MUTED, lw=0.9, ls=(0, (5, 3)), label="breaker / limit"),
        ]
        if stresses:
            handles.append(Patch(facecolor=STRESS, alpha=0.45, edgecolor=STRESS_EDGE, label="stress window"))
        if breaches:
            handles.append(Line2D([], [], color=RED, marker="v", ls="none", label="breach"))
        if run.get("kill_switch_triggered"):
            handles.append(Line2D([], [], color=RED, lw=1.3, ls=(0, (5, 2)), label="kill switch"))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))

    return _Plan((WIDTH_IN, 4.3), _key("equity", run, dict(breakers)), f"{name}: equity and drawdown", draw)


def _plan_events(run: Mapping[str, Any]) -> _Plan | None:
    events = [
        e for e in run.get("events") or () if isinstance(e.get("tick"), (int, float)) and e.get("event")
    ]
    if not events:
        return None
    tl = _Timeline(run)
    name = str(run.get("scenario", ""))
    kinds = sorted({str(e["event"]) for e in events}, key=_event_rank)
    stresses = list(run.get("stresses") or ())
    total = int(run.get("events_total") or len(events))

    def draw(fig: Figure) -> None:
        import numpy as np

        ax = fig.subplots()
        _shade(ax, stresses, tl)
        row = {k: i for i, k in enumerate(kinds)}
        counts = dict.fromkeys(kinds, 0)
        for e in events:
            counts[str(e["event"])] += 1
        span = max(tl.right - tl.left, 1e-9)
        for kind in kinds:
            colour = EVENT_FAMILIES.get(kind, MUTED)
            y = row[kind]
            if kind in _HALTS:
                spans = _union(_halt_spans(events, kind, tl))
                ax.broken_barh([(a, max(b - a, span / 800)) for a, b in spans], (y - 0.22, 0.44),
                               facecolors=colour, alpha=0.3, lw=0)  # fmt: skip
            xs = np.unique(
                np.round(tl.x(np.array([e["tick"] for e in events if e["event"] == kind])) / span * 900)
            )
            xs = xs * span / 900
            seg = np.full((xs.size, 3), np.nan)
            seg[:, 0] = seg[:, 1] = xs
            ys = np.tile([y - 0.32, y + 0.32, np.nan], xs.size)
            ax.plot(seg.ravel(), ys, color=colour, lw=1.6, solid_capstyle="butt")
        if total > len(events):  # the record keeps the first events only: say where it stops knowing
            last = float(tl.x(max(e["tick"] for e in events)))
            ax.axvspan(last, tl.right + span, color="#e6e9ef", alpha=0.85, lw=0, zorder=0.6)
            ax.text((last + tl.right) / 2, 0.5, f"{total - len(events)} later events\nnot in the record",
                    transform=ax.get_xaxis_transform(), ha="center", va="center", fontsize=8, color=MUTED)  # fmt: skip
        ax.set_yticks(range(len(kinds)), [f"{k} ({counts[k]})" for k in kinds])
        for tick, kind in zip(ax.get_yticklabels(), kinds, strict=True):
            tick.set_color(EVENT_FAMILIES.get(kind, MUTED))
        ax.set_ylim(len(kinds) - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="y", color=GRID, lw=0.8)
        ax.spines["left"].set_visible(False)
        tl.frame(ax)
        ax.set_xlabel(tl.label)
        ax.set_title(f"{name} · risk events", fontweight="bold")
        kept = f"first {len(events)} of {total} events" if total > len(events) else f"{len(events)} events"
        ax.set_title(f"{kept} · one row per kind · halts drawn until lifted", loc="right", color=MUTED,
                     fontsize=8.5)  # fmt: skip

    size = (WIDTH_IN, 1.3 + 0.27 * len(kinds))
    return _Plan(size, _key("events", run), f"{name}: risk events on the timeline", draw)


def _plan_faults(tests: Sequence[Mapping[str, Any]], scenarios: Iterable[str] = ()) -> _Plan | None:
    scenarios = tuple(scenarios)
    cells: dict[tuple[str, str], list[str]] = {}
    rows: list[str] = []
    cols: list[tuple[str, str]] = []  # (service, label)
    for t in tests:
        faults = t.get("faults") or ()
        if not faults:
            continue
        scenario = scenario_of(str(t.get("nodeid", "")), scenarios) or "(no scenario in id)"
        col = fault_label(faults)
        if scenario not in rows:
            rows.append(scenario)
        if col not in cols:
            cols.append(col)
        cells.setdefault((scenario, col[1]), []).append(str(t.get("outcome", "")))
    if not cells:
        return None
    rows.sort(key=lambda r: (r.startswith("("), r))
    cols.sort(key=lambda c: (c[0], c[1]))
    labels = [c[1] for c in cols]

    def draw(fig: Figure) -> None:
        from matplotlib.patches import Patch, Rectangle

        ax = fig.subplots()
        seen: set[str] = set()
        for i, r in enumerate(rows):
            for j, c in enumerate(labels):
                outcomes = cells.get((r, c))
                if not outcomes:
                    ax.add_patch(Rectangle((j, i), 1, 1, facecolor="#f6f7f9", edgecolor="white", lw=2))
                    continue
                worst = max(outcomes, key=lambda o: OUTCOME_RANK.get(o, 5))
                seen.add(worst)
                colour = OUTCOME_COLOURS.get(worst, "#5b6475")
                ax.add_patch(Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="white", lw=2))
                ok = sum(o == "passed" for o in outcomes)
                text = worst if len(outcomes) == 1 else f"{worst}\n{ok}/{len(outcomes)} passed"
                dark = worst in ("failed", "error", "passed")
                ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=7.5,
                        color="white" if dark else INK, fontweight="bold" if worst != "passed" else "normal")  # fmt: skip
        ax.set_xlim(0, len(labels))
        ax.set_ylim(len(rows), 0)
        ax.set_xticks([j + 0.5 for j in range(len(labels))], labels, rotation=30, ha="right",
                      rotation_mode="anchor")  # fmt: skip
        ax.set_yticks([i + 0.5 for i in range(len(rows))], rows)
        ax.tick_params(length=0)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        ax.set_aspect("auto")
        n_tests = sum(len(v) for v in cells.values())
        ax.set_title("Fault matrix · scenario x injected fault", fontweight="bold")
        ax.set_title(f"{n_tests} tests with faults", loc="right", color=MUTED, fontsize=8.5)
        handles = [
            Patch(facecolor=OUTCOME_COLOURS.get(o, "#5b6475"), label=o)
            for o in sorted(seen, key=lambda o: -OUTCOME_RANK.get(o, 5))
        ]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    width = min(WIDTH_IN, 2.6 + 0.78 * len(labels))
    size = (width, 1.5 + 0.42 * len(rows))
    return _Plan(size, _key("faults", list(tests), list(scenarios)), "fault matrix: scenario x fault", draw)


def _plan_weakest(runs: Sequence[Mapping[str, Any]], top: int | None = None) -> _Plan | None:
    certified = [r for r in runs if r.get("certified", True)]
    if not certified:
        return None
    rows = []
    for r in certified:
        failed = sum(1 for c in r.get("checks") or () if c.get("status") == "failed")
        dd = _float(r.get("max_drawdown_pct"))
        rank = dd if math.isfinite(dd) else math.inf
        rows.append((-failed, -rank, str(r.get("scenario", "")), failed, dd, decide([r]).decision, r))
    rows.sort(key=lambda row: row[:3])
    rows = rows[:top] if top is not None else rows
    names = _distinct_names([row[6] for row in rows])

    def draw(fig: Figure) -> None:
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        ax = fig.subplots()
        values = [dd if math.isfinite(dd) else 0.0 for *_, dd, _, _ in rows]
        colours = [VERDICT_COLOURS.get(v, MUTED) for *_, v, _ in rows]
        y = list(range(len(rows)))
        hi = max([*values, *BREAKERS.values()]) * 1.28
        ax.barh(
            y, [max(v, hi * 0.004) for v in values], color=colours, height=0.68
        )  # a sliver shows the colour
        for level in BREAKERS.values():
            ax.axvline(level, color=MUTED, lw=0.9, ls=(0, (5, 3)), zorder=2.5)
            ax.text(level, -0.75, f"{_num(level)} %", ha="center", va="bottom", fontsize=7.5, color=MUTED)
        for yi, (_, _, _, failed, dd, _, r) in zip(y, rows, strict=True):
            parts = [f"{dd:.2f} %" if math.isfinite(dd) else "drawdown not measured"]
            if failed:
                parts.append(f"{failed} failed")
            if r.get("kill_switch_triggered"):
                parts.append("kill switch")
            ax.text(max(values[yi], hi * 0.004) + hi * 0.008, yi, " · ".join(parts), va="center", fontsize=7.5,
                    color=INK, bbox=_WHITE)  # fmt: skip
        ax.set_yticks(y, names)
        ax.set_ylim(len(rows) - 0.5, -1.0)
        ax.set_xlim(0, hi)
        ax.tick_params(axis="y", length=0)
        ax.xaxis.set_major_formatter(_formatter("{:.0f} %"))
        ax.grid(axis="x", color=GRID, lw=0.8)
        ax.set_axisbelow(True)
        ax.set_xlabel("max drawdown")
        ax.set_title("Weakest scenarios · most failed checks, then deepest drawdown", fontweight="bold")
        present = [v for v in (NO_GO, INCOMPLETE, GO) if any(row[5] == v for row in rows)]
        handles = [Patch(facecolor=VERDICT_COLOURS[v], label=v) for v in present]
        breakers = ", ".join(f"{k} {_num(v)} %" for k, v in BREAKERS.items())
        handles.append(Line2D([], [], color=MUTED, lw=0.9, ls=(0, (5, 3)), label=breakers))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))

    size = (WIDTH_IN, 1.35 + 0.26 * len(rows))
    return _Plan(size, _key("weakest", list(runs), top), "weakest scenarios ranked by drawdown", draw)


def _plan_latency(
    latencies: Any, budget_ms: float | None = None, title: str = "Decision latency"
) -> _Plan | None:
    import numpy as np

    table = latency_percentiles(latencies)
    if not table:
        return None
    mapping = isinstance(latencies, Mapping)
    samples = None if mapping else np.asarray(latencies, dtype=np.float64).ravel()
    if samples is not None:
        samples = samples[np.isfinite(samples)]
    points = _percentile_points(latencies) if mapping else []
    n = f"n = {samples.size:,} samples" if samples is not None else f"{len(points)} percentiles"

    def draw(fig: Figure) -> None:
        ax, tab = fig.subplots(1, 2, width_ratios=[3.2, 1.0])
        if samples is not None:
            lo, hi = float(samples.min()), float(samples.max())
            log = lo > 0 and hi / lo > 50
            bins = np.geomspace(lo, hi, 41) if log else np.linspace(lo, hi if hi > lo else lo + 1, 41)
            ax.hist(samples, bins=bins, color=BLUE, alpha=0.85, lw=0)
            if log:
                from matplotlib.ticker import LogLocator

                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(_formatter("{:g}"))
                ax.xaxis.set_minor_formatter(_formatter(""))
            for name in ("p50", "p99"):
                ax.axvline(table[name], color=INK, lw=0.9, ls=(0, (4, 2)))
                ax.text(table[name], 1.0, f" {name} {_ms(table[name])}", transform=ax.get_xaxis_transform(),
                        ha="left", va="top", fontsize=8)  # fmt: skip
            ax.set_xlabel("latency, ms")
            ax.set_ylabel("decisions")
        else:
            nines = [-math.log10(1 - p / 100) for p, _ in points if p < 100]
            end = max(nines, default=0.0)
            ticks = [(x, _pct_name(p)) for x, (p, _) in zip(nines, points, strict=False)]
            if points[-1][0] >= 100:  # the maximum has no percentile: one step beyond the last
                nines.append(end + 0.5)
                ticks.append((end + 0.5, "max"))
            ax.plot(nines, [v for _, v in points], "o-", color=BLUE, lw=1.4, ms=4)
            ax.set_xticks([x for x, _ in ticks], [t for _, t in ticks])
            ax.set_xlabel("percentile")
            ax.set_ylabel("latency, ms")
        if budget_ms is not None:
            line = ax.axvline if samples is not None else ax.axhline
            line(budget_ms, color=RED, lw=1.1)
            ax.text(*((budget_ms, 0.92) if samples is not None else (0.01, budget_ms)),
                    f" budget {_ms(budget_ms)}", color=RED, fontsize=8, va="top" if samples is not None else "bottom",
                    transform=ax.get_xaxis_transform() if samples is not None else ax.get_yaxis_transform())  # fmt: skip
        ax.grid(axis="y", color=GRID, lw=0.8)
        ax.set_axisbelow(True)
        ax.set_title(title, fontweight="bold")
        ax.set_title(n, loc="right", color=MUTED, fontsize=8.5)
        tab.axis("off")
        body = [[k, _ms(v)] for k, v in table.items()]
        t = tab.table(cellText=body, colLabels=["percentile", "latency"], loc="upper center",
                      cellLoc="right", colLoc="right")  # fmt: skip
        t.auto_set_font_size(False)
        t.set_fontsize(8.5)
        t.scale(1.0, 1.35)
        for (r, _), cell in t.get_celld().items():
            cell.set_edgecolor(LINE)
            if r == 0:
                cell.set_facecolor(GRID)
                cell.set_text_props(color=MUTED, fontweight="bold")
            elif budget_ms is not None:
                cell.set_text_props(color=RED if table[body[r - 1][0]] > budget_ms else INK)

    digest = hashlib.sha256(samples.tobytes()).hexdigest() if samples is not None else None
    key = _key("latency", table, budget_ms, title, digest)
    return _Plan((WIDTH_IN, 2.9), key, f"{title} histogram and percentiles", draw)


_PLANS: dict[Callable[..., str], Callable[..., _Plan | None]] = {
    price_chart: _plan_price,
    equity_drawdown_chart: _plan_equity,
    risk_events_chart: _plan_events,
    fault_matrix_chart: _plan_faults,
    weakest_chart: _plan_weakest,
    latency_chart: _plan_latency,
}


# --- record helpers (plain data, no matplotlib) ----------------------------------------------------

_PARAMS = re.compile(r"\[([^\[\]]*)\]$")
_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+")


def scenario_of(nodeid: str, scenarios: Iterable[str] = ()) -> str | None:
    """The scenario a test node id names in its parameters (``test_x[flash_crash_lite-latency]`` ->
    ``flash_crash_lite``): one of ``scenarios`` when given, else the first part shaped like a library name
    (lower case with an underscore); None when it names none."""
    m = _PARAMS.search(nodeid)
    if not m:
        return None
    parts = m.group(1).split("-")
    known = set(scenarios)
    if known:
        return next((p for p in parts if p in known), None)
    return next((p for p in parts if _NAME.fullmatch(p)), None)


def fault_label(faults: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(service, column label) of a test's injected faults: ``broker outage``, ``broker outage x2`` for the
    same fault twice, ``a + b`` for different ones."""
    names: dict[str, int] = {}
    for f in faults:
        n = f"{f.get('service', '?')} {f.get('mode', '?')}"
        names[n] = names.get(n, 0) + 1
    label = " + ".join(n if k == 1 else f"{n} x{k}" for n, k in names.items())
    return str(faults[0].get("service", "?")), label


def _distinct_names(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Scenario names, with symbols and seed (then a number) where a name appears more than once."""
    names = [str(r.get("scenario", "")) for r in runs]
    out = [
        n if names.count(n) == 1 else f"{n} ({r.get('symbols', '?')} sym, seed {r.get('seed', '?')})"
        for n, r in zip(names, runs, strict=True)
    ]
    seen: dict[str, int] = {}
    for i, n in enumerate(out):
        if out.count(n) > 1:
            seen[n] = seen.get(n, 0) + 1
            out[i] = f"{n} #{seen[n]}"
    return out


def _event_rank(kind: str) -> tuple[int, str]:
    order = list(EVENT_FAMILIES)
    return (order.index(kind), kind) if kind in order else (len(order), kind)


def _halt_spans(events: Sequence[Mapping[str, Any]], kind: str, tl: _Timeline) -> list[tuple[float, float]]:
    """(start, end) in chart units of each ``kind`` halt, per symbol, until that symbol's next HALT_END (the
    session's end when the record has none)."""
    open_at: dict[Any, float] = {}
    spans = []
    for e in sorted(events, key=lambda e: e["tick"]):
        sym = e.get("symbol")
        if e["event"] == kind and sym not in open_at:
            open_at[sym] = float(e["tick"])
        elif e["event"] == "HALT_END" and sym in open_at:
            spans.append((open_at.pop(sym), float(e["tick"])))
    spans += [(start, float(tl.last_tick)) for start in open_at.values()]
    return [(float(tl.x(a)), float(tl.x(b))) for a, b in spans]


def _union(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


_PCT = re.compile(r"^\s*p?\s*(\d+(?:\.\d+)?)\s*%?\s*$", re.IGNORECASE)


def _percentile_points(mapping: Mapping[Any, float]) -> list[tuple[float, float]]:
    """(percentile, ms) of an HDR-style mapping, sorted; "max" is percentile 100; other keys are ignored."""
    points = {}
    for k, v in mapping.items():
        if isinstance(k, (int, float)):
            p = float(k)
        elif str(k).strip().lower() in ("max", "p100"):
            p = 100.0
        elif m := _PCT.match(str(k)):
            p = float(m.group(1))
        else:
            continue
        value = _float(v)
        if 0 <= p <= 100 and math.isfinite(value):
            points[p] = value
    return sorted(points.items())


def _pct_name(p: float) -> str:
    return "max" if p >= 100 else f"p{_num(p)}"


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _num(v: float, spec: str = "g") -> str:
    return format(v, spec) if math.isfinite(v) else "n/a"


def _ms(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    if v >= 10:
        return f"{v:.1f} ms"
    if v >= 0.1:
        return f"{v:.2f} ms"
    return f"{v * 1000:.1f} µs"


def _key(kind: str, *data: Any) -> str:
    """A digest of what a chart draws: the salt of its element ids (same data, same ids; other data, others)."""
    text = json.dumps(data, sort_keys=True, default=str, allow_nan=True)
    return kind + ":" + hashlib.sha256(text.encode()).hexdigest()[:20]


# --- drawing helpers ---------------------------------------------------------------------------------

_UNITS = (
    (120.0, 1.0, "s"),
    (2 * 3600.0, 60.0, "min"),
    (2 * 86400.0, 3600.0, "h"),
    (math.inf, 86400.0, "days"),
)


class _Timeline:
    """Ticks -> the x of the run's time axis, in the unit that fits the session (s, min, h or days)."""

    def __init__(self, run: Mapping[str, Any]) -> None:
        self.tick_s = float(run.get("tick_ms") or 1000) / 1000.0
        self.last_tick = max(int(run.get("n_ticks") or 2) - 1, 1)
        span = self.last_tick * self.tick_s
        _, self.per, self.unit = next(u for u in _UNITS if span <= u[0])
        self.left, self.right = 0.0, span / self.per
        self.pad = (self.right - self.left) * 0.012  # the margin ``frame`` leaves on both sides
        self.label = f"time since the open, {self.unit}"

    def x(self, ticks: Any) -> Any:
        return ticks * self.tick_s / self.per

    def frame(self, ax: Axes) -> None:
        """The session with a margin on both sides, so a window that starts at tick 0 shows its edge."""
        ax.set_xlim(self.left - self.pad, self.right + self.pad)


def _window(s: Mapping[str, Any], tl: _Timeline) -> tuple[float, float]:
    a = min(max(float(s.get("start_tick", 0)), 0.0), tl.last_tick)
    b = min(max(float(s.get("end_tick", a)), a), tl.last_tick)
    return float(tl.x(a)), float(tl.x(b))


def _shade(ax: Axes, stresses: Sequence[Mapping[str, Any]], tl: _Timeline) -> None:
    for s in stresses:
        a, b = _window(s, tl)
        ax.axvspan(a, max(b, a + (tl.right - tl.left) / 400), color=STRESS, alpha=0.45, lw=0, zorder=0)
        for edge in (a, b):
            ax.axvline(edge, color=STRESS_EDGE, lw=0.8, alpha=0.9, zorder=0.5)


def _stress_strip(ax: Axes, stresses: Sequence[Mapping[str, Any]], tl: _Timeline) -> None:
    """One bar per stress window above the chart, named and timed, so it reads even when it spans it all."""
    span = tl.right - tl.left
    for i, s in enumerate(stresses):
        a, b = _window(s, tl)
        ax.barh(i, max(b - a, span / 400), left=a, height=0.72, color=STRESS, edgecolor=STRESS_EDGE, lw=0.8)
        text = f"{s.get('type', 'stress')}  {_num(a, '.4g')}\u2013{_num(b, '.4g')} {tl.unit}"
        inside = (b - a) > span * 0.3
        if inside:
            ax.text(a + span * 0.006, i, text, va="center", ha="left", fontsize=8, color=INK)
        elif a > span * 0.6:
            ax.text(a - span * 0.006, i, text, va="center", ha="right", fontsize=8, color=INK)
        else:
            ax.text(b + span * 0.006, i, text, va="center", ha="left", fontsize=8, color=INK)
    ax.set_ylim(len(stresses) - 0.5, -0.5)
    ax.set_yticks([])
    ax.tick_params(axis="x", length=0, labelbottom=False)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    tl.frame(ax)


def _kill_line(ax: Axes, run: Mapping[str, Any], tl: _Timeline, label: bool) -> None:
    tick = run.get("kill_switch_tick")
    if not run.get("kill_switch_triggered") or not isinstance(tick, (int, float)):
        return
    xk = float(tl.x(tick))
    ax.axvline(xk, color=RED, lw=1.3, ls=(0, (5, 2)), zorder=4)
    if label:
        right = xk > tl.left + (tl.right - tl.left) * 0.7
        ax.text(xk, 0.97, " KILL_SWITCH " if not right else "KILL_SWITCH ", transform=ax.get_xaxis_transform(),
                ha="right" if right else "left", va="top", color=RED, fontsize=8, fontweight="bold")  # fmt: skip


_WHITE = {"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.6}


def _level_labels(
    ax: Axes, levels: Sequence[tuple[float, str]], lo: float, hi: float, panel_in: float, curve: Any
) -> None:
    """A dashed line at -level for each (level, text), ascending, each named on its line. Labels of close
    levels are pushed down until they no longer overlap, tied to their line by a leader. The labels stand
    where they hide the fewest points of ``curve`` (the plotted drawdown: x as a fraction of the axes'
    width, values), as far right as that allows."""
    gap = 11.5 / (72.0 * panel_in)  # one 8 pt line, as a fraction of the panel's height
    xs, ys = curve
    ys = (ys - lo) / (hi - lo)
    fracs, prev = [], math.inf
    for level, _ in levels:
        prev = min((-level - lo) / (hi - lo), prev - gap)
        fracs.append(prev)
    widths = [(len(text) * 8 * 0.56 + 6) / (72.0 * 9.1) for _, text in levels]  # of the axes' width

    def hidden(right: float) -> int:
        return sum(
            int(((xs >= right - w) & (xs <= right) & (abs(ys - f) < gap / 2)).sum())
            for f, w in zip(fracs, widths, strict=True)
        )

    edges = [1.0 - 0.04 * k for k in range(19)]
    edge = min(edges, key=lambda e: (hidden(e - 0.025), -e))
    for (level, text), frac in zip(levels, fracs, strict=True):
        ax.axhline(-level, color=MUTED, lw=0.9, ls=(0, (5, 3)))
        ax.annotate(
            text, xy=(edge, (-level - lo) / (hi - lo)), xycoords="axes fraction", xytext=(edge - 0.025, frac),
            textcoords="axes fraction", ha="right", va="center", fontsize=8, color=MUTED, bbox=_WHITE,
            arrowprops={"arrowstyle": "-", "color": MUTED, "lw": 0.8, "shrinkA": 0, "shrinkB": 0},
        )  # fmt: skip


def _formatter(spec: str, scale: float = 1.0) -> Any:
    from matplotlib.ticker import FuncFormatter

    def fmt(v: float, _pos: Any) -> str:
        v = v * scale + 0.0  # no "-0"
        return "0" if v == 0 and "+" in spec else spec.format(v)

    return FuncFormatter(fmt)


# --- rendering ---------------------------------------------------------------------------------------


def _render(plan: _Plan, out: Any, fmt: str, dpi: int = 100) -> None:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({**_RC, "svg.hashsalt": plan.key}):
        fig = Figure(figsize=plan.size, layout="constrained")
        try:
            plan.draw(fig)
            fig.savefig(out, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None)
        finally:
            fig.clear()


def _svg(plan: _Plan | None) -> str:
    if plan is None:
        return ""
    buf = io.StringIO()
    _render(plan, buf, "svg")
    return _embeddable(buf.getvalue(), plan.label)


_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_GEOMETRY = re.compile(r'(\s(?:d|x|y|x1|x2|y1|y2|width|height|transform)=")([^"]*)"')
_DECIMAL = re.compile(r"-?\d+\.\d+")


def _short(m: re.Match[str]) -> str:
    text = f"{float(m.group()):.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _tenths(m: re.Match[str]) -> str:
    """A geometry attribute with its numbers to 0.1 pt (matplotlib writes 6 decimals: twice the bytes)."""
    return m.group(1) + _DECIMAL.sub(_short, m.group(2)) + '"'


def _embeddable(svg: str, label: str) -> str:
    """matplotlib's SVG document as an element for an HTML page: no prolog or DOCTYPE, no metadata (its RDF
    names external vocabularies), no indentation, coordinates to 0.1 pt; a name for screen readers; shrinks with a narrow page."""
    svg = svg[svg.index("<svg") :]
    svg = _METADATA.sub("", svg, count=1)
    svg = re.sub(r"\n[ \t]+", "\n", svg).strip()
    svg = _GEOMETRY.sub(_tenths, svg)
    name = html.escape(label, quote=True)
    head_end = svg.index(">") + 1
    head = svg[:head_end].replace(
        "<svg ", f'<svg role="img" aria-label="{name}" style="max-width:100%;height:auto" ', 1
    )
    return f"{head}<title>{name}</title>{svg[head_end:]}"
