"""The HTML certification: one self-contained page (inline CSS and SVG, no scripts, no fetches).

It is rendered from the same document as certification.json, so the two never disagree. Every
string that can come from a user (scenario names, test ids, messages, paths) goes through ``esc``.
"""

from __future__ import annotations

import html
import math
from typing import Any

_CSS = """
:root { --go:#0f7b3f; --nogo:#b3261e; --warn:#8a5a00; --ink:#1d2330; --muted:#5b6475; --line:#d9dde5;
        --bg:#f6f7f9; --card:#fff; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:var(--ink); background:var(--bg); }
main { max-width:1100px; margin:0 auto; padding:24px; }
h1 { font-size:20px; margin:0 0 4px; } h2 { font-size:16px; margin:28px 0 10px; }
h3 { font-size:14px; margin:0 0 6px; }
.sub { color:var(--muted); }
.banner { border-radius:10px; padding:18px 22px; color:#fff; margin:16px 0; }
.banner.go { background:var(--go); } .banner.nogo { background:var(--nogo); } .banner.incomplete { background:var(--warn); }
.banner .decision { font-size:34px; font-weight:800; letter-spacing:.5px; }
.banner ul { margin:8px 0 0; padding-left:20px; }
.caveats { background:#fff7e0; border:1px solid #f0d48a; color:var(--warn); border-radius:8px;
           padding:10px 14px; margin:0 0 16px; }
.caveats ul { margin:4px 0 0; padding-left:20px; }
.tiles { display:grid; grid-template-columns:repeat(4, 1fr); gap:10px; }
.tile { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 12px; }
.tile .n { font-size:22px; font-weight:700; } .tile .l { color:var(--muted); font-size:12px; }
table { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line);
        border-radius:8px; overflow:hidden; }
th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
td { overflow-wrap:break-word; }
td.sub, td.id { overflow-wrap:anywhere; }  /* long test ids give way, not names or numbers */
th { background:#eef0f4; font-weight:600; font-size:12px; color:var(--muted); text-transform:uppercase;
     letter-spacing:.3px; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr:last-child td { border-bottom:none; }
.pill { display:inline-block; white-space:nowrap; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
.pill.passed { background:#dcf3e4; color:var(--go); } .pill.failed, .pill.error { background:#fbe0de; color:var(--nogo); }
.pill.not_evaluated, .pill.skipped, .pill.xfailed { background:#fff1cc; color:var(--warn); }
.pill.info { background:#e6e9ef; color:var(--muted); }
.run { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px; margin:0 0 12px; }
.run .meta { color:var(--muted); font-size:12px; margin-bottom:8px; }
.kv { display:grid; grid-template-columns:max-content 1fr; gap:3px 16px; }
.kv dt { color:var(--muted); } .kv dd { margin:0; font-family:ui-monospace, Menlo, Consolas, monospace;
        font-size:12.5px; word-break:break-all; }
code, pre { font-family:ui-monospace, Menlo, Consolas, monospace; font-size:12.5px; }
pre { background:#eef0f4; padding:10px; border-radius:6px; white-space:pre-wrap; word-break:break-all; }
svg text { font:11px -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill:var(--muted); }
footer { color:var(--muted); font-size:12px; margin-top:28px; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 4, unit: str = "") -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return esc(value)
        return f"{value:,.{digits}g}{esc(unit)}" if abs(value) < 1e6 else f"{value:,.0f}{esc(unit)}"
    if value is None:
        return "&mdash;"
    return esc(value) + esc(unit)


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _pill(status: str, text: str | None = None) -> str:
    label = text or status.replace("_", " ")
    return f'<span class="pill {esc(status)}">{esc(label)}</span>'


def render(doc: dict[str, Any]) -> str:
    verdict = doc["verdict"]
    go = verdict["decision"] == "GO"
    env = doc["environment"]
    certified = [r for r in doc["runs"] if r.get("certified", True)]
    exercised = [r for r in doc["runs"] if not r.get("certified", True)]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # no external fetches: a strict CSP documents and enforces it
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        f"<title>Stress certification: {esc(verdict['decision'])}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>Trading stress certification</h1>",
        f'<div class="sub">{esc(env.get("package"))} {esc(env.get("version"))} &middot; '
        f"finished {esc(doc['finished_at'])} &middot; profile {esc(env.get('profile'))}</div>",
        _banner(verdict, go),
        _caveats(verdict["caveats"]),
        _tiles(verdict["counts"]),
        "<h2>Checks</h2>",
        _checks_table(certified, doc.get("measured_checks", [])),
        "<h2>Scenario runs</h2>",
        "".join(_run_card(r) for r in certified) or '<p class="sub">No certified scenario run.</p>',
    ]
    if exercised:
        parts += [
            "<h2>Other scenario runs (exercised by tests, not certified)</h2>",
            '<p class="sub">These runs served tests of the safety mechanisms (for example an '
            "over-leveraged book that must trip the kill switch); their checks do not enter the verdict.</p>",
            "".join(_run_card(r) for r in exercised),
        ]
    faulted = [t for t in doc["tests"] if t.get("faults")]
    if faulted:
        parts += ["<h2>Fault injection</h2>", _faults_table(faulted)]
    parts += [
        "<h2>Stress tests</h2>",
        _tests_table(doc["tests"]),
        "<h2>Reproduce</h2>",
        f"<pre>{esc(doc['reproduce']['session'])}</pre>",
        "".join(f"<pre>{esc(cmd)}</pre>" for cmd in doc["reproduce"]["runs"]),
        "<h2>Run environment</h2>",
        _environment(env),
        f"<footer>Report schema {esc(doc['schema'])}; the same data is in certification.json. "
        f"Started {esc(doc['started_at'])}.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts)


_BANNER = {"GO": "go", "NO-GO": "nogo", "INCOMPLETE": "incomplete"}


def _banner(verdict: dict[str, Any], go: bool) -> str:
    items = "".join(f"<li>{esc(r)}</li>" for r in verdict["reasons"])
    return (
        f'<section class="banner {_BANNER.get(verdict["decision"], "nogo")}" id="verdict">'
        f'<div class="decision">{esc(verdict["decision"])}</div><ul>{items}</ul></section>'
    )


def _caveats(caveats: list[str]) -> str:
    if not caveats:
        return ""
    items = "".join(f"<li>{esc(c)}</li>" for c in caveats)
    return f'<div class="caveats"><strong>Not covered by this verdict</strong><ul>{items}</ul></div>'


def _tiles(counts: dict[str, int]) -> str:
    labels = [
        ("checks_passed", "checks passed"),
        ("checks_failed", "checks failed"),
        ("checks_not_evaluated", "checks not evaluated"),
        ("runs", "certified runs"),
        ("kill_switches", "kill switches fired"),
        ("tests_passed", "stress tests passed"),
        ("tests_failed", "stress tests failed"),
        ("tests_skipped", "stress tests skipped"),
    ]
    tiles = "".join(
        f'<div class="tile"><div class="n">{int(counts.get(k, 0))}</div><div class="l">{label}</div></div>'
        for k, label in labels
    )
    return f'<div class="tiles">{tiles}</div>'


def _checks_table(runs: list[dict[str, Any]], measures: list[dict[str, Any]] = ()) -> str:
    """One row per check: the replays' (completed by what tests measured) and the tests' own."""
    rows = []
    pairs = [(r["nodeid"], c) for r in runs for c in r["checks"]]
    pairs += [("", m) for m in measures]
    for nodeid, c in pairs:
        by = "".join(f"<div>measured by {esc(n)}</div>" for n in c.get("measured_by", ()))
        rows.append(
            f"<tr><td>{esc(c['scenario'])}</td><td><code>{esc(c['check'])}</code></td>"
            f'<td class="num">{esc(c["threshold"])}</td><td class="num">{_num(c["measured"], unit=c["unit"])}</td>'
            f'<td>{_pill(c["status"])}</td><td class="sub">{esc(nodeid)}{by}</td></tr>'
        )
    if not rows:
        return '<p class="sub">No check was certified in this session.</p>'
    return (
        "<table><thead><tr><th>Scenario</th><th>Check</th><th>Threshold</th><th>Measured</th>"
        "<th>Result</th><th>Test</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _run_card(r: dict[str, Any]) -> str:
    kill = (
        f"{_pill('failed', 'KILL_SWITCH fired')} at tick {int(r['kill_switch_tick'])} "
        f"({r['kill_switch_tick'] * r['tick_ms'] / 1000:g} s)"
        if r["kill_switch_triggered"]
        else _pill("passed", "kill switch not fired")
    )
    stresses = (
        ", ".join(
            f"{esc(s['type'])} ticks {int(s['start_tick'])}&ndash;{int(s['end_tick'])}" for s in r["stresses"]
        )
        or "none"
    )
    breaches = "".join(
        f"<li><code>{esc(b['metric'])}</code> {_num(b['measured'])} above limit {_num(b['limit'])} "
        f"at tick {int(b['tick'])} ({b['time_ms'] / 1000:g} s)</li>"
        for b in r["breaches"]
    )
    return (
        f'<div class="run"><h3>{esc(r["scenario"])}{_market_label(r)}</h3>'
        f"{_market_origin(r)}"
        f'<div class="meta">{esc(r["nodeid"])} &middot; seed {int(r["seed"])} &middot; {int(r["symbols"])} symbols '
        f"&middot; {int(r['n_ticks'])} ticks of {int(r['tick_ms'])} ms &middot; replay {r['runtime_ms']:.1f} ms "
        f"&middot; stresses: {stresses}</div>"
        f"{_equity_chart(r)}"
        f'<dl class="kv"><dt>max drawdown</dt><dd>{_num(r["max_drawdown_pct"], unit="%")}</dd>'
        f"<dt>VaR multiple</dt><dd>{_num(r['var_multiple'], unit='x')} of 1-day "
        f"{r['var_confidence'] * 100:g}% VaR {_money(r['var_1d'])}</dd>"
        f"<dt>position delta</dt><dd>{_num(r['position_delta_pct'], unit='%')}</dd>"
        f"<dt>capital / final equity</dt><dd>{_money(r['initial_capital'])} / {_money(r['final_equity'])} "
        f"(gross leverage {r['gross_leverage']:.2f})</dd>"
        f"<dt>kill switch</dt><dd>{kill}</dd></dl>"
        + (f"<ul>{breaches}</ul>" if breaches else "")
        + _controls(r)
        + "</div>"
    )


def _market_label(r: dict[str, Any]) -> str:
    """A pill saying the market was not synthetic: "reconstruction" (pinned to published facts), "historic"
    (the user's data) or "dataset" (real data shipped by a package)."""
    kind = (r.get("provenance") or {}).get("kind")
    if kind in (None, "synthetic"):
        return ""
    return " " + _pill("info", str(kind))


def _market_origin(r: dict[str, Any]) -> str:
    """One line under a non-synthetic run: the event and its sources, or the dataset version (content hash)."""
    p = r.get("provenance") or {}
    parts = []
    if p.get("kind") == "reconstruction":
        parts.append("calibrated reconstruction, not vendor ticks")
    if p.get("event"):
        parts.append(esc(p["event"]))
    if p.get("window_utc"):
        parts.append("window " + " &ndash; ".join(esc(w) for w in p["window_utc"]) + " UTC")
    if p.get("dataset_sha256"):
        parts.append(f"dataset version sha256:{esc(str(p['dataset_sha256'])[:16])}")
    if p.get("sources"):
        parts.append("sources: " + "; ".join(esc(x) for x in p["sources"]))
    return f'<div class="meta">{" &middot; ".join(parts)}</div>' if parts else ""


# Replay metrics shown under each run (name, label, unit); absent from older result files: skipped.
_RUN_METRICS = (
    ("cvar_multiple", "CVaR multiple", "x"),
    ("max_dd_duration_s", "max drawdown duration", " s"),
    ("total_trades", "trades", ""),
    ("execution_failures", "execution failures", ""),
    ("fill_latency_p99_ms", "fill latency p99", " ms"),
    ("latency_spikes", "latency spikes", ""),
    ("kelly_utilisation_max", "Kelly utilisation (max)", ""),
    ("realised_vol_annual_max", "realised vol, annualised (max)", "%"),
    ("queue_depth_deviation_pct", "queue depth deviation", "%"),
    ("data_quality_issues", "data quality issues", ""),
)


def _controls(r: dict[str, Any]) -> str:
    """The run's replay metrics and its risk-control events, grouped by kind (count, first time, reason)."""
    metrics = r.get("metrics") or {}
    rows = "".join(
        f"<dt>{label}</dt><dd>{_num(metrics[key], unit=unit) if metrics[key] is not None else 'not measured'}</dd>"
        for key, label, unit in _RUN_METRICS
        if key in metrics
    )
    events = r.get("events") or []
    groups: dict[str, dict[str, Any]] = {}
    for e in events:
        g = groups.setdefault(e["event"], {"count": 0, "first": e, "symbols": set()})
        g["count"] += 1
        if e.get("symbol"):
            g["symbols"].add(e["symbol"])
    table = "".join(
        f'<tr><td><code>{esc(name)}</code></td><td class="num">{g["count"]}</td>'
        f'<td class="num">{g["first"]["time_ms"] / 1000:g} s</td>'
        f'<td class="num">{len(g["symbols"]) or "book"}</td><td>{esc(g["first"].get("reason", ""))}</td></tr>'
        for name, g in sorted(groups.items(), key=lambda kv: kv[1]["first"]["tick"])
    )
    total = r.get("events_total", len(events))
    more = (
        f'<p class="sub">{total - len(events)} more events not kept in the report.</p>'
        if total > len(events)
        else ""
    )
    out = f'<dl class="kv" style="margin-top:8px">{rows}</dl>' if rows else ""
    if table:
        out += (
            '<table style="margin-top:8px"><tr><th>event</th><th>count</th><th>first at</th>'
            f"<th>symbols</th><th>reason</th></tr>{table}</table>{more}"
        )
    return out


def _equity_chart(r: dict[str, Any], width: int = 1000, height: int = 170) -> str:
    """Equity over ticks: stress windows shaded, the kill switch as a red line, the start level dashed."""
    ticks = r["equity_curve"]["tick"]
    values = r["equity_curve"]["equity"]
    if len(ticks) < 2:
        return ""
    pad_l, pad_r, pad_t, pad_b = 78, 10, 10, 22
    n = max(int(r["n_ticks"]) - 1, 1)
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    span = hi - lo
    lo, hi = lo - 0.05 * span, hi + 0.05 * span

    def x(t: float) -> float:
        return pad_l + (width - pad_l - pad_r) * t / n

    def y(v: float) -> float:
        return pad_t + (height - pad_t - pad_b) * (hi - v) / (hi - lo)

    shapes = []
    for s in r["stresses"]:
        x0, x1 = x(min(s["start_tick"], n)), x(min(s["end_tick"], n))
        shapes.append(
            f'<rect x="{x0:.1f}" y="{pad_t}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{height - pad_t - pad_b}" fill="#f3d9a6" opacity="0.45"/>'
        )
    y0 = y(r["initial_capital"])
    shapes.append(
        f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y0:.1f}" y2="{y0:.1f}" stroke="#8b93a3" '
        'stroke-dasharray="4 3" stroke-width="1"/>'
    )
    pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(ticks, values, strict=False))
    shapes.append(f'<polyline points="{pts}" fill="none" stroke="#2456c7" stroke-width="1.6"/>')
    if r["kill_switch_triggered"]:
        xk = x(r["kill_switch_tick"])
        shapes.append(
            f'<line x1="{xk:.1f}" x2="{xk:.1f}" y1="{pad_t}" y2="{height - pad_b}" stroke="#b3261e" '
            'stroke-width="2"/>'
        )
        shapes.append(f'<text x="{xk + 4:.1f}" y="{pad_t + 12}" style="fill:#b3261e">KILL_SWITCH</text>')
    seconds = n * r["tick_ms"] / 1000
    labels = [
        f'<text x="{pad_l - 6}" y="{y(hi - 0.05 * span) + 4:.1f}" text-anchor="end">{_money(hi - 0.05 * span)}</text>',
        f'<text x="{pad_l - 6}" y="{y(lo + 0.05 * span) + 4:.1f}" text-anchor="end">{_money(lo + 0.05 * span)}</text>',
        f'<text x="{pad_l}" y="{height - 6}">0 s</text>',
        f'<text x="{width - pad_r}" y="{height - 6}" text-anchor="end">{seconds:g} s</text>',
        f'<text x="{(pad_l + width) / 2:.0f}" y="{height - 6}" text-anchor="middle">equity (liquidation value); '
        "shaded: stress window; dashed: initial capital</text>",
    ]
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="equity curve of {esc(r["scenario"])}">' + "".join(shapes) + "".join(labels) + "</svg>"
    )


def _tests_table(tests: list[dict[str, Any]]) -> str:
    if not tests:
        return '<p class="sub">No test marked <code>stress</code> ran.</p>'
    rows = "".join(
        f'<tr><td class="id"><code>{esc(t["nodeid"])}</code>'
        + (f'<div class="sub">{esc(t["promise"])}</div>' if t.get("promise") else "")
        + f"</td><td>{_pill(t['outcome'])}</td>"
        f'<td class="num">{t["duration_s"]:.2f} s</td><td>{esc(t.get("message", ""))}</td></tr>'
        for t in tests
    )
    return (
        "<table><thead><tr><th>Test</th><th>Outcome</th><th>Duration</th><th>Message</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _faults_table(tests: list[dict[str, Any]]) -> str:
    """The fault matrix as run: one row per injected fault, with the outcome of the test it served."""
    rows = []
    for t in tests:
        for f in t["faults"]:
            window = f.get("window")
            when = "whole test" if not window else f"{window[0]:g}-{window[1]:g} s (runbook)"
            rows.append(
                f'<tr><td class="id"><code>{esc(t["nodeid"])}</code></td><td>{esc(f["service"])}</td>'
                f"<td><code>{esc(f['mode'])}</code>{_fault_value(f)}</td>"
                f'<td class="num">{float(f.get("rate", 1.0)):g}</td>'
                f"<td>{esc(when)}</td><td>{_pill(t['outcome'])}</td></tr>"
            )
    return (
        "<table><thead><tr><th>Test</th><th>Service</th><th>Fault</th><th>Rate</th><th>When</th>"
        "<th>Outcome</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _fault_value(f: dict[str, Any]) -> str:
    value = f.get("value")
    return "" if value is None else f" {esc(f'{float(value):g}')}"


def _environment(env: dict[str, Any]) -> str:
    sha = env.get("git_sha")
    if sha and env.get("git_dirty"):
        sha = f"{sha} (with uncommitted changes)"
    rows = [
        ("package", f"{env.get('package')} {env.get('version')}"),
        ("git revision", sha or "not a git checkout"),
        ("python", f"{env.get('implementation')} {env.get('python')}"),
        ("platform", env.get("platform")),
        ("numpy / numba / pytest", f"{env.get('numpy')} / {env.get('numba')} / {env.get('pytest')}"),
        (
            "seed",
            env.get("seed_override") if env.get("seed_override") is not None else "from each scenario file",
        ),
        ("profile", env.get("profile")),
        (
            "time scale",
            f"{env.get('time_scale'):g}x (recorded; no scenario of this version runs in wall-clock time)",
        ),
        ("scenario dirs", ", ".join(env.get("scenario_dirs") or []) or "bundled library only"),
        ("toxiproxy", env.get("toxiproxy_url") or "not used in this session"),
    ]
    body = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)
    return f'<dl class="kv">{body}</dl>'
