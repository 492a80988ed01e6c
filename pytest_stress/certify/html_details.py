"""The folded parts of the HTML report: each scenario run (charts, figures, checks, risk events), the
weakest scenarios, fault injection, the stress tests, the regulatory evidence, reproduce commands and the
run environment with its traceability; and a run as a pytest-html extra."""

from __future__ import annotations

from typing import Any

from pytest_stress.certify import charts, evidence, units
from pytest_stress.certify.markup import esc, pill, threshold


def run_extra(r: dict[str, Any]) -> str:
    """One scenario run for a pytest-html row: verdict of its checks, the equity chart, the checks table
    (self-contained: pytest-html's page does not carry this report's stylesheet)."""
    worst = evidence.worst(c["status"] for c in r["checks"]) or "no checks"
    style = (
        "<style>.pts-extra table{border-collapse:collapse;font-size:12px}.pts-extra td,.pts-extra th"
        "{border-bottom:1px solid #d9dde5;padding:3px 8px;text-align:left}.pts-extra svg text"
        "{font:10px sans-serif;fill:#5b6475}</style>"
    )
    return (
        f'{style}<div class="pts-extra"><strong>{esc(r["scenario"])}</strong> &middot; checks: '
        f"{esc(worst.replace('_', ' '))} &middot; drawdown {esc(units.value(r['max_drawdown_pct'], '%'))}"
        f"{charts.equity_drawdown_chart(r)}{run_checks(r)}</div>"
    )


def weakest(runs: list[dict[str, Any]]) -> str:
    """Seed 003's summary: most failed checks first, then the deepest drawdown."""

    def failed(r: dict[str, Any]) -> int:
        return sum(c["status"] == "failed" for c in r["checks"])

    def dd(r: dict[str, Any]) -> float:
        v = r.get("max_drawdown_pct")
        return float(v) if isinstance(v, (int, float)) else float("inf")

    ranked = sorted(runs, key=lambda r: (-failed(r), -dd(r), r["scenario"]))[:10]
    if not ranked:
        return '<p class="sub">No certified run.</p>'
    rows = "".join(
        f'<tr><td class="num">{i}</td><td>{esc(r["scenario"])}</td><td class="num">{failed(r)}</td>'
        f'<td class="num">{esc(units.value(r.get("max_drawdown_pct"), "%"))}</td>'
        f'<td class="num">{esc(units.value(r.get("var_multiple"), "x"))}</td>'
        f"<td>{pill('failed', 'fired') if r['kill_switch_triggered'] else pill('passed', 'not fired')}</td></tr>"
        for i, r in enumerate(ranked, 1)
    )
    return (
        "<table><thead><tr><th>#</th><th>Scenario</th><th>Failed checks</th><th>Max drawdown</th>"
        f"<th>VaR multiple</th><th>Kill switch</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def regulatory(
    runs: list[dict[str, Any]], measures: list[dict[str, Any]], tests: list[dict[str, Any]]
) -> str:
    checks = [(r["scenario"], c) for r in runs for c in r["checks"]] + [(m["scenario"], m) for m in measures]
    rows = []
    for control in evidence.REGULATORY:
        ev = evidence.evidence(control, checks, tests)
        status = "".join(
            pill(k, f"{n} {k.replace('_', ' ')}") for k, n in sorted(ev["by_status"].items())
        ) or pill("not_evaluated", "no check in this session")
        names = sorted({c["check"] for _, c in ev["checks"]})
        rows.append(
            f'<tr><td><strong>{esc(control.ref)}</strong><div class="sub">{esc(control.title)}</div></td>'
            f'<td class="sub">{esc(control.asks)}</td><td>{status}'
            f'<div class="sub">{esc(", ".join(names))}</div></td>'
            f'<td class="num">{len(ev["tests"])}</td></tr>'
        )
    return (
        f'<p class="sub">{esc(evidence.DISCLAIMER)}</p>'
        "<table><thead><tr><th>Control</th><th>What it asks</th><th>Checks of this session</th>"
        f"<th>Stress tests</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def reproduce(doc: dict[str, Any]) -> str:
    rep = doc["reproduce"]
    runs = "".join(f"<pre>{esc(cmd)}</pre>" for cmd in rep["runs"])
    return f"<h3>The session</h3><pre>{esc(rep['session'])}</pre>" + (
        f"<h3>Each run</h3>{runs}" if runs else ""
    )


def run_card(r: dict[str, Any]) -> str:
    """One scenario run, collapsed to a line (its worst check, drawdown, kill switch); open: the charts,
    the figures, its checks, its risk events."""
    tick_s = r["tick_ms"] / 1000
    kill = (
        f"{pill('failed', 'KILL_SWITCH fired')} at {esc(units.duration(r['kill_switch_tick'] * tick_s))} "
        f"(tick {int(r['kill_switch_tick'])})"
        if r["kill_switch_triggered"]
        else pill("passed", "kill switch not fired")
    )
    stresses = (
        ", ".join(
            f"{esc(s['type'])} {esc(units.duration(s['start_tick'] * tick_s))}&ndash;"
            f"{esc(units.duration(s['end_tick'] * tick_s))}"
            for s in r["stresses"]
        )
        or "none"
    )
    breaches = "".join(
        f"<li><code>{esc(b['metric'])}</code> {esc(units.value(b['measured'], _unit(b['metric']), b['metric']))} "
        f"above limit {esc(units.value(b['limit'], _unit(b['metric']), b['metric']))} "
        f"at {esc(units.duration(b['time_ms'] / 1000))} (tick {int(b['tick'])})</li>"
        for b in r["breaches"]
    )
    worst = evidence.worst(c["status"] for c in r["checks"]) or "info"
    label = {"info": "no checks", "not_evaluated": "incomplete"}.get(worst, worst.replace("_", " "))
    summary = (
        f'<summary><span class="name">{esc(r["scenario"])}</span>{market_label(r)} {pill(worst, label)} '
        f'<span class="sub">drawdown {esc(units.value(r["max_drawdown_pct"], "%"))} &middot; '
        f"{'kill switch fired' if r['kill_switch_triggered'] else 'kill switch not fired'} &middot; "
        f"{len(r['checks'])} checks</span></summary>"
    )
    return (
        f'<details class="run">{summary}'
        f"{market_origin(r)}"
        f'<div class="meta">{esc(r["nodeid"])} &middot; seed {int(r["seed"])} &middot; {int(r["symbols"])} symbols '
        f"&middot; {units.count(int(r['n_ticks']))} ticks of {esc(units.duration(tick_s))} &middot; "
        f"replay {esc(units.duration(r['runtime_ms'] / 1000))} &middot; stresses: {stresses}</div>"
        f'<div class="charts">{charts.price_chart(r)}{charts.equity_drawdown_chart(r)}'
        f"{charts.risk_events_chart(r)}</div>"
        f'<dl class="kv"><dt>max drawdown</dt><dd>{esc(units.value(r["max_drawdown_pct"], "%"))}</dd>'
        f"<dt>VaR multiple</dt><dd>{esc(units.value(r['var_multiple'], 'x'))} of the 1-day "
        f"{esc(units.percent(r['var_confidence'], fraction=True))} VaR of {esc(units.money(r['var_1d']))}</dd>"
        f"<dt>position delta</dt><dd>{esc(units.value(r['position_delta_pct'], '%'))}</dd>"
        f"<dt>capital / final equity</dt><dd>{esc(units.money(r['initial_capital']))} / "
        f"{esc(units.money(float(r['final_equity'])))} (gross leverage {esc(units.number(r['gross_leverage']))}\u00d7)</dd>"
        f"<dt>kill switch</dt><dd>{kill}</dd></dl>"
        + (f"<ul>{breaches}</ul>" if breaches else "")
        + run_checks(r)
        + controls(r)
        + "</details>"
    )


def _unit(metric: str) -> str:
    from pytest_stress.metrics import METRICS

    return METRICS[metric].unit if metric in METRICS else ""


def run_checks(r: dict[str, Any]) -> str:
    """The run's checks; the tests that measured a check are folded away (a check may have ten)."""
    if not r["checks"]:
        return '<p class="sub">The scenario has no expect: block.</p>'
    rows = []
    for c in r["checks"]:
        by = c.get("measured_by") or ()
        folded = (
            f'<details class="by"><summary>measured by {len(by)} test{"s" if len(by) != 1 else ""}</summary>'
            + "".join(f"<div><code>{esc(n)}</code></div>" for n in by)
            + "</details>"
            if by
            else ""
        )
        waiver = c.get("waiver")
        note = esc(c.get("detail") or "")
        if waiver:
            note = f"waived until {esc(waiver['until'])}: {esc(waiver['reason'])}"
        rows.append(
            f'<tr><td><code>{esc(c["check"])}</code></td><td class="num">{esc(threshold(c["threshold"]))}</td>'
            f'<td class="num">{esc(units.value(c["measured"], c.get("unit", ""), c["check"]))}</td>'
            f'<td>{pill(c["status"])}</td><td class="sub">{note}{folded}</td></tr>'
        )
    return (
        '<table class="checks"><thead><tr><th>Check</th><th>Required</th><th>Measured</th><th>Result</th>'
        f"<th>Detail</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def market_label(r: dict[str, Any]) -> str:
    """A pill saying the market was not synthetic: "reconstruction" (pinned to published facts), "historic"
    (the user's data) or "dataset" (real data shipped by a package)."""
    kind = (r.get("provenance") or {}).get("kind")
    if kind in (None, "synthetic"):
        return ""
    return " " + pill("info", str(kind))


def market_origin(r: dict[str, Any]) -> str:
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
    ("max_dd_duration_s", "max drawdown duration", "s"),
    ("total_trades", "trades", ""),
    ("execution_failures", "execution failures", ""),
    ("fill_latency_p99_ms", "fill latency p99", "ms"),
    ("latency_spikes", "latency spikes", ""),
    ("kelly_utilisation_max", "Kelly utilisation (max)", ""),
    ("realised_vol_annual_max", "realised vol, annualised (max)", ""),  # a fraction: units shows it in %
    ("queue_depth_deviation_pct", "queue depth deviation", "%"),
    ("data_quality_issues", "data quality issues", ""),
)


def controls(r: dict[str, Any]) -> str:
    """The run's replay metrics and its risk-control events, grouped by kind (count, first time, reason)."""
    metrics = r.get("metrics") or {}
    rows = "".join(
        f"<dt>{label}</dt><dd>{esc(units.value(metrics[key], unit, key))}</dd>"
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
        f'<td class="num">{esc(units.duration(g["first"]["time_ms"] / 1000))}</td>'
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


def tests_table(tests: list[dict[str, Any]]) -> str:
    if not tests:
        return '<p class="sub">No test marked <code>stress</code> ran.</p>'
    rows = "".join(
        f'<tr><td class="id"><code>{esc(t["nodeid"])}</code>'
        + (f'<div class="sub">{esc(t["promise"])}</div>' if t.get("promise") else "")
        + f"</td><td>{pill(t['outcome'])}</td>"
        f'<td class="num">{esc(units.duration(t["duration_s"]))}</td><td>{esc(t.get("message", ""))}</td></tr>'
        for t in tests
    )
    return (
        "<table><thead><tr><th>Test</th><th>Outcome</th><th>Duration</th><th>Message</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def faults_table(tests: list[dict[str, Any]]) -> str:
    """The fault matrix as run: one row per injected fault, with the outcome of the test it served."""
    rows = []
    for t in tests:
        for f in t["faults"]:
            window = f.get("window")
            when = (
                "whole test"
                if not window
                else f"{units.duration(window[0])} to {units.duration(window[1])} of runbook time"
            )
            rows.append(
                f'<tr><td class="id"><code>{esc(t["nodeid"])}</code></td><td>{esc(f["service"])}</td>'
                f"<td><code>{esc(f['mode'])}</code>{_fault_value(f)}</td>"
                f'<td class="num">{float(f.get("rate", 1.0)):g}</td>'
                f"<td>{esc(when)}</td><td>{pill(t['outcome'])}</td></tr>"
            )
    return (
        "<table><thead><tr><th>Test</th><th>Service</th><th>Fault</th><th>Rate</th><th>When</th>"
        "<th>Outcome</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _fault_value(f: dict[str, Any]) -> str:
    value = f.get("value")
    return "" if value is None else f" {esc(f'{float(value):g}')}"


def environment(env: dict[str, Any], trace: dict[str, Any] | None = None) -> str:
    """Versions and settings, then what identifies what was certified: the time scale as applied, which
    Toxiproxy served the faults, and the SHA-256 of every scenario file and dataset."""
    trace = trace or {}
    sha = env.get("git_sha")
    if sha and env.get("git_dirty"):
        sha = f"{sha} (with uncommitted changes)"
    scale = trace.get("time_scale") or {}
    if scale:
        applied = ", ".join(f"{f:g}x" for f in scale.get("applied") or []) or "no fault was scaled"
        scale_text = (
            f"{scale['factor']:g}x from {scale['origin']}; {scale['faults_scaled']} fault windows divided "
            f"by it ({applied})"
        )
    else:
        scale_text = f"{env.get('time_scale'):g}x"
    servers = env.get("toxiproxy_servers") or []
    proxies = (
        "; ".join(
            f"{s['kind']} {s.get('version') or '(version not answered)'} at {s['url']}"
            + (f" on {s['worker']}" if s.get("worker") else "")
            + f", {s['tests']} tests"
            for s in servers
        )
        or "not used in this session"
    )
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
        ("time scale", scale_text),
        ("scenario dirs", ", ".join(env.get("scenario_dirs") or []) or "bundled library only"),
        ("toxiproxy", proxies),
        ("waivers file", env.get("waivers_file") or "none"),
    ]
    body = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)
    files = "".join(
        f'<tr><td>{esc(f["scenario"])}</td><td class="id"><code>{esc(f.get("source") or "")}</code></td>'
        f'<td class="id"><code>{esc(f.get("sha256") or "not readable")}</code></td></tr>'
        for f in trace.get("scenario_files") or []
    )
    data = "".join(
        f'<tr><td>{esc(d["scenario"])}</td><td class="id"><code>{esc(d["path"])}</code></td>'
        f'<td class="id"><code>{esc(d.get("sha256") or "not recorded")}</code></td></tr>'
        for d in trace.get("datasets") or []
    )
    out = f'<dl class="kv">{body}</dl>'
    if files:
        out += (
            "<h3>Scenario files</h3><table><thead><tr><th>Scenario</th><th>File</th><th>SHA-256</th></tr>"
            f"</thead><tbody>{files}</tbody></table>"
        )
    if data:
        out += (
            "<h3>Datasets</h3><table><thead><tr><th>Scenario</th><th>Data</th><th>SHA-256</th></tr>"
            f"</thead><tbody>{data}</tbody></table>"
        )
    return out
