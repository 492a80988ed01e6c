"""The HTML certification: one self-contained page (inline CSS and SVG, no scripts, no fetches).

It is rendered from the same document as certification.json, so the two never disagree. Every
string that can come from a user (scenario names, test ids, messages, paths) goes through ``esc``.
"""

from __future__ import annotations

import html
import re
from typing import Any

from pytest_stress.certify import charts, evidence, units

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
.charts svg { display:block; width:100%; height:auto; margin:6px 0; }
footer { color:var(--muted); font-size:12px; margin-top:28px; }
.banner .lead { font-size:15px; margin-top:2px; } .banner .tally { font-size:12.5px; opacity:.92; margin-top:6px; }
details.section { background:var(--card); border:1px solid var(--line); border-radius:8px; margin:10px 0; }
details.section > summary { cursor:pointer; padding:9px 14px; list-style-position:inside; }
details.section > summary h2 { display:inline; font-size:15px; margin:0; }
details.section > .body { padding:4px 14px 14px; }
details.run { border:1px solid var(--line); border-radius:8px; margin:6px 0; padding:0 12px; background:var(--card); }
details.run > summary { cursor:pointer; padding:7px 0; } details.run[open] { padding-bottom:12px; }
details.run .name { font-weight:600; }
details.by > summary, details.caveats > summary { cursor:pointer; }
table.grid { width:auto; min-width:60%; } table.grid th { text-transform:none; font-size:11.5px; }
table.grid th.rowhead { background:var(--card); color:var(--ink); font-weight:500; text-align:left; }
td.cell { text-align:center; font-size:12px; font-weight:600; min-width:70px; padding:4px 8px; }
.cell.passed { background:#dcf3e4; color:var(--go); } .cell.failed { background:#fbe0de; color:var(--nogo); }
.cell.not_evaluated { background:#fff1cc; color:var(--warn); } .cell.waived { background:#e4e6f5; color:#3d4a8a; }
.cell.none { background:#f6f7f9; }
.legend { color:var(--muted); font-size:12px; margin:6px 0 0; }
.legend .cell { display:inline-block; padding:0 6px; margin-left:6px; border-radius:4px; }
.pill.waived { background:#e4e6f5; color:#3d4a8a; } .pill.not_run { background:#fff1cc; color:var(--warn); }
table.why td { padding:3px 10px; font-size:13px; } table.why td:first-child { white-space:nowrap; font-weight:500; }
table.why td.detail { color:var(--muted); max-width:300px; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _threshold(text: str) -> str:
    """``>= 600000`` -> ``>= 600,000``: the threshold as written in the YAML, with thousands separators."""
    return re.sub(r"(?<![\d.])\d{4,}(?![\d.])", lambda m: f"{int(m.group()):,}", text)


def _pill(status: str, text: str | None = None) -> str:
    label = text or status.replace("_", " ")
    return f'<span class="pill {esc(status)}">{esc(label)}</span>'


def render(doc: dict[str, Any]) -> str:
    """The page: the first screen (verdict, why, waivers, the scenario x check-family grid), then the
    details in collapsed sections (each scenario run, fault injection, tests, regulatory evidence,
    reproduce, environment)."""
    verdict = doc["verdict"]
    env = doc["environment"]
    certified = [r for r in doc["runs"] if r.get("certified", True)]
    exercised = [r for r in doc["runs"] if not r.get("certified", True)]
    measures = doc.get("measured_checks", [])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # no external fetches: a strict CSP documents and enforces it
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        f"<title>Stress certification: {esc(verdict['decision'])}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>Trading stress certification</h1>",
        f'<div class="sub">{_headline(doc)}</div>',
        _banner(verdict),
        _why(verdict, certified, measures, doc["tests"]),
        _waivers(doc.get("waivers") or [], verdict),
        _caveats(verdict),
        "<h2>Scenarios at a glance</h2>",
        _grid(certified, measures),
        _section(
            "Weakest scenarios", _weakest(certified), f"{len(certified)} certified runs ranked", open_=False
        ),
        _section(
            "Scenario runs",
            "".join(_run_card(r) for r in certified) or '<p class="sub">No certified scenario run.</p>',
            f"{len(certified)} certified",
        ),
    ]
    if exercised:
        parts.append(
            _section(
                "Other scenario runs (exercised by tests, not certified)",
                '<p class="sub">These runs served tests of the safety mechanisms (for example an '
                "over-leveraged book that must trip the kill switch); their checks do not enter the verdict.</p>"
                + "".join(_run_card(r) for r in exercised),
                f"{len(exercised)} runs",
            )
        )
    faulted = [t for t in doc["tests"] if t.get("faults")]
    if faulted:
        n_faults = sum(len(t["faults"]) for t in faulted)
        parts.append(
            _section("Fault injection", _faults_table(faulted), f"{n_faults} faults in {len(faulted)} tests")
        )
    parts += [
        _section("Stress tests", _tests_table(doc["tests"]), _test_counts(verdict["counts"])),
        _section(
            "Regulatory evidence",
            _regulatory(certified, measures, doc["tests"]),
            "mapping aid, not legal advice",
        ),
        _section(
            "Reproduce",
            _reproduce(doc),
            f"{len(doc['reproduce'].get('failures') or [])} failures, each with its command; the session",
        ),
        _section(
            "Run environment and traceability",
            _environment(env, doc.get("traceability")),
            _env_summary(env),
        ),
        f"<footer>Report schema {esc(doc['schema'])}; the same data is in certification.json. "
        f"Started {esc(doc['started_at'])}, finished {esc(doc['finished_at'])}.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)


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
        f"{charts.equity_drawdown_chart(r)}{_run_checks(r)}</div>"
    )


def _section(title: str, body: str, summary: str = "", *, open_: bool = False) -> str:
    """A collapsible section: a heading line with a one-line summary, the details inside."""
    extra = f' <span class="sub">&middot; {esc(summary)}</span>' if summary else ""
    return (
        f'<details class="section"{" open" if open_ else ""}><summary><h2>{esc(title)}</h2>{extra}</summary>'
        f'<div class="body">{body}</div></details>'
    )


def _headline(doc: dict[str, Any]) -> str:
    env = doc["environment"]
    sha = env.get("git_sha")
    rev = (
        f"git {esc(str(sha)[:12])}{' (dirty)' if env.get('git_dirty') else ''}"
        if sha
        else "not a git checkout"
    )
    scale = env.get("time_scale")
    return " &middot; ".join(
        [
            f"{esc(env.get('package'))} {esc(env.get('version'))}",
            rev,
            f"profile {esc(env.get('profile'))}"
            + (f", time scale {scale:g}x" if isinstance(scale, (int, float)) else ""),
            f"finished {esc(doc['finished_at'])}",
        ]
    )


_BANNER = {"GO": "go", "NO-GO": "nogo", "INCOMPLETE": "incomplete"}


def _lead(c: dict[str, Any]) -> str:
    """One line that says what decided a NO-GO or an INCOMPLETE, from the verdict's counts."""
    parts = [
        (c.get("checks_failed", 0), "check failed", "checks failed"),
        (
            c.get("kill_switches", 0),
            "certified run fired its kill switch",
            "certified runs fired their kill switch",
        ),
        (c.get("tests_failed", 0), "stress test failed", "stress tests failed"),
        (c.get("scenarios_errored", 0), "scenario could not run", "scenarios could not run"),
        (
            c.get("checks_not_evaluated", 0),
            "required check was not evaluated",
            "required checks were not evaluated",
        ),
        (c.get("tests_not_run", 0), "stress test did not run", "stress tests did not run"),
    ]
    said = [f"{int(n)} {one if n == 1 else many}" for n, one, many in parts if n]
    return "; ".join(said) if said else "nothing was certified"


def _banner(verdict: dict[str, Any]) -> str:
    c = verdict["counts"]
    tally = (
        f"{int(c.get('checks_passed', 0))} checks passed &middot; {int(c.get('checks_failed', 0))} failed "
        f"&middot; {int(c.get('checks_not_evaluated', 0))} not evaluated &middot; "
        f"{int(c.get('checks_waived', 0))} waived &middot; {int(c.get('runs', 0))} certified runs &middot; "
        f"{int(c.get('tests_passed', 0))}/{sum(int(c.get(k, 0)) for k in ('tests_passed', 'tests_failed', 'tests_skipped', 'tests_not_run'))} "
        "stress tests passed"
    )
    decision = verdict["decision"]
    lead = esc(verdict["reasons"][0] if decision == "GO" and verdict["reasons"] else _lead(c))
    return (
        f'<section class="banner {_BANNER.get(decision, "nogo")}" id="verdict">'
        f'<div class="decision">{esc(decision)}</div><div class="lead">{lead}</div>'
        f'<div class="tally">{tally}</div></section>'
    )


def _why(
    verdict: dict[str, Any],
    runs: list[dict[str, Any]],
    measures: list[dict[str, Any]],
    tests: list[dict[str, Any]],
) -> str:
    """Under NO-GO / INCOMPLETE: each failing or missing check with its threshold and measured value, each
    fired kill switch and failed test, worst first."""
    if verdict["decision"] == "GO":
        return ""
    checks = [(r["scenario"], c) for r in runs for c in r["checks"]] + [(m["scenario"], m) for m in measures]
    bad = [(s, c) for s, c in checks if c["status"] in ("failed", "not_evaluated")]
    bad.sort(key=lambda sc: (sc[1]["status"] != "failed", sc[0], sc[1]["check"]))
    rows = []
    previous = None
    for scen, c in bad:
        shown = "" if scen == previous else esc(scen)  # a scenario's rows share its name
        previous = scen
        detail = esc(c.get("detail") or "")
        rows.append(
            f"<tr><td>{shown}</td><td><code>{esc(c['check'])}</code></td>"
            f'<td class="num">{esc(_threshold(c["threshold"]))}</td>'
            f'<td class="num">{esc(units.value(c["measured"], c.get("unit", ""), c["check"]))}</td>'
            f'<td>{_pill(c["status"])}</td><td class="detail" title="{detail}">{detail}</td></tr>'
        )
    kills = [r for r in runs if r["kill_switch_triggered"]]
    rows += [
        f'<tr><td>{esc(r["scenario"])}</td><td><code>KILL_SWITCH</code></td><td class="num">not fired</td>'
        f'<td class="num">fired at {esc(units.duration(r["kill_switch_tick"] * r["tick_ms"] / 1000))}</td>'
        f'<td>{_pill("failed")}</td><td class="sub">tick {int(r["kill_switch_tick"])}</td></tr>'
        for r in kills
    ]
    failed_tests = [t for t in tests if t["outcome"] in ("failed", "error")]
    rows += [
        f'<tr><td colspan="2" class="id"><code>{esc(t["nodeid"])}</code></td><td class="num">passes</td>'
        f'<td class="num">{esc(t["outcome"])}</td><td>{_pill(t["outcome"])}</td>'
        f'<td class="detail" title="{esc(t.get("message") or "")}">{esc((t.get("message") or "")[:300])}</td></tr>'
        for t in failed_tests
    ]
    not_run = [t for t in tests if t["outcome"] == "not_run"]
    if not_run:
        rows.append(
            f'<tr><td colspan="4">{len(not_run)} stress tests did not run (the session ended early)</td>'
            f'<td>{_pill("not_evaluated", "not run")}</td><td class="sub">'
            + esc(", ".join(t["nodeid"] for t in not_run[:10]))
            + "</td></tr>"
        )
    other = [r for r in verdict["reasons"] if "could not run" in r or "nothing was certified" in r]
    rows += [f'<tr><td colspan="6">{esc(r)}</td></tr>' for r in other]
    if not rows:
        return ""
    title = "Why NO-GO" if verdict["decision"] == "NO-GO" else "Why INCOMPLETE"
    return (
        f'<h2 id="why">{title}</h2><table class="why"><thead><tr><th>Scenario</th><th>Check</th>'
        "<th>Required</th><th>Measured</th><th>Result</th><th>Detail</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _waivers(waivers: list[dict[str, Any]], verdict: dict[str, Any]) -> str:
    if not waivers:
        return ""
    used = verdict.get("waived") or []
    rows = "".join(
        f"<tr><td><code>{esc(w['check'])}</code></td><td>{esc(w['reason'])}</td>"
        f'<td class="num">{esc(w["until"])}</td><td>{esc(w.get("approved_by") or "")}</td>'
        f'<td class="sub">{esc(w.get("source") or "")}</td></tr>'
        for w in waivers
    )
    return (
        f'<h2 id="waivers">Waivers <span class="sub">&middot; {len(used)} in use</span></h2>'
        "<table><thead><tr><th>Check</th><th>Reason</th><th>Until</th><th>Approved by</th><th>File</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>" + "".join(f'<p class="sub">{esc(line)}</p>' for line in used)
    )


def _caveats(verdict: dict[str, Any]) -> str:
    """What the verdict does not cover; under NO-GO the unevaluated checks are already in the why table."""
    caveats = [c for c in verdict["caveats"] if verdict["decision"] != "NO-GO" or " not evaluated (" not in c]
    if not caveats:
        return ""
    items = "".join(f"<li>{esc(c)}</li>" for c in caveats)
    return (
        f'<details class="caveats"><summary><strong>Not covered by this verdict</strong> '
        f"({len(caveats)})</summary><ul>{items}</ul></details>"
    )


def _grid(runs: list[dict[str, Any]], measures: list[dict[str, Any]]) -> str:
    """Scenario x check family, each cell coloured by its worst check: failed, not evaluated, waived, passed."""
    extra = {}
    for m in measures:
        extra.setdefault(m["scenario"], {"scenario": m["scenario"], "checks": []})["checks"].append(m)
    families, cells = evidence.grid([*runs, *extra.values()])
    if not cells:
        return '<p class="sub">No check was certified in this session.</p>'
    head = "".join(f"<th>{esc(f)}</th>" for f in families)
    body = []
    for scenario in sorted(cells):
        row = cells[scenario]
        tds = []
        for f in families:
            checks = row.get(f, [])
            status = evidence.worst(c["status"] for c in checks)
            if status is None:
                tds.append('<td class="cell none"></td>')
                continue
            ok = sum(c["status"] == "passed" for c in checks)
            tip = "; ".join(f"{c['check']}: {c['status'].replace('_', ' ')}" for c in checks)
            tds.append(f'<td class="cell {esc(status)}" title="{esc(tip)}">{ok}/{len(checks)}</td>')
        body.append(f'<tr><th class="rowhead">{esc(scenario)}</th>{"".join(tds)}</tr>')
    legend = "".join(
        f'<span class="cell {k}">{label}</span>'
        for k, label in (
            ("passed", "passed"),
            ("failed", "failed"),
            ("not_evaluated", "not evaluated"),
            ("waived", "waived"),
        )
    )
    return (
        f'<table class="grid"><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        f'<div class="legend">cells: checks passed / checks in the family, coloured by the worst {legend}</div>'
    )


def _weakest(runs: list[dict[str, Any]]) -> str:
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
        f"<td>{_pill('failed', 'fired') if r['kill_switch_triggered'] else _pill('passed', 'not fired')}</td></tr>"
        for i, r in enumerate(ranked, 1)
    )
    return (
        "<table><thead><tr><th>#</th><th>Scenario</th><th>Failed checks</th><th>Max drawdown</th>"
        f"<th>VaR multiple</th><th>Kill switch</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _test_counts(counts: dict[str, Any]) -> str:
    return ", ".join(
        f"{int(counts.get(k, 0))} {label}"
        for k, label in (("tests_passed", "passed"), ("tests_failed", "failed"), ("tests_skipped", "skipped"),
                         ("tests_not_run", "not run"))
        if counts.get(k) or k == "tests_passed"
    )  # fmt: skip


def _regulatory(
    runs: list[dict[str, Any]], measures: list[dict[str, Any]], tests: list[dict[str, Any]]
) -> str:
    checks = [(r["scenario"], c) for r in runs for c in r["checks"]] + [(m["scenario"], m) for m in measures]
    rows = []
    for control in evidence.REGULATORY:
        ev = evidence.evidence(control, checks, tests)
        status = "".join(
            _pill(k, f"{n} {k.replace('_', ' ')}") for k, n in sorted(ev["by_status"].items())
        ) or _pill("not_evaluated", "no check in this session")
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


def _reproduce(doc: dict[str, Any]) -> str:
    rep = doc["reproduce"]
    runs = "".join(f"<pre>{esc(cmd)}</pre>" for cmd in rep["runs"])
    return f"<h3>The session</h3><pre>{esc(rep['session'])}</pre>" + (
        f"<h3>Each run</h3>{runs}" if runs else ""
    )


def _env_summary(env: dict[str, Any]) -> str:
    return f"Python {env.get('python')}, numpy {env.get('numpy')}, numba {env.get('numba')}"


def _run_card(r: dict[str, Any]) -> str:
    """One scenario run, collapsed to a line (its worst check, drawdown, kill switch); open: the charts,
    the figures, its checks, its risk events."""
    tick_s = r["tick_ms"] / 1000
    kill = (
        f"{_pill('failed', 'KILL_SWITCH fired')} at {esc(units.duration(r['kill_switch_tick'] * tick_s))} "
        f"(tick {int(r['kill_switch_tick'])})"
        if r["kill_switch_triggered"]
        else _pill("passed", "kill switch not fired")
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
        f'<summary><span class="name">{esc(r["scenario"])}</span>{_market_label(r)} {_pill(worst, label)} '
        f'<span class="sub">drawdown {esc(units.value(r["max_drawdown_pct"], "%"))} &middot; '
        f"{'kill switch fired' if r['kill_switch_triggered'] else 'kill switch not fired'} &middot; "
        f"{len(r['checks'])} checks</span></summary>"
    )
    return (
        f'<details class="run">{summary}'
        f"{_market_origin(r)}"
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
        f"{esc(units.money(_float(r['final_equity'])))} (gross leverage {esc(units.number(r['gross_leverage']))}\u00d7)</dd>"
        f"<dt>kill switch</dt><dd>{kill}</dd></dl>"
        + (f"<ul>{breaches}</ul>" if breaches else "")
        + _run_checks(r)
        + _controls(r)
        + "</details>"
    )


def _float(v: Any) -> float:
    return float(v)  # inf/nan arrive as text from the JSON layer


def _unit(metric: str) -> str:
    from pytest_stress.metrics import METRICS

    return METRICS[metric].unit if metric in METRICS else ""


def _run_checks(r: dict[str, Any]) -> str:
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
            f'<tr><td><code>{esc(c["check"])}</code></td><td class="num">{esc(_threshold(c["threshold"]))}</td>'
            f'<td class="num">{esc(units.value(c["measured"], c.get("unit", ""), c["check"]))}</td>'
            f'<td>{_pill(c["status"])}</td><td class="sub">{note}{folded}</td></tr>'
        )
    return (
        '<table class="checks"><thead><tr><th>Check</th><th>Required</th><th>Measured</th><th>Result</th>'
        f"<th>Detail</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
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


def _controls(r: dict[str, Any]) -> str:
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


def _tests_table(tests: list[dict[str, Any]]) -> str:
    if not tests:
        return '<p class="sub">No test marked <code>stress</code> ran.</p>'
    rows = "".join(
        f'<tr><td class="id"><code>{esc(t["nodeid"])}</code>'
        + (f'<div class="sub">{esc(t["promise"])}</div>' if t.get("promise") else "")
        + f"</td><td>{_pill(t['outcome'])}</td>"
        f'<td class="num">{esc(units.duration(t["duration_s"]))}</td><td>{esc(t.get("message", ""))}</td></tr>'
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
            when = (
                "whole test"
                if not window
                else f"{units.duration(window[0])} to {units.duration(window[1])} of runbook time"
            )
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


def _environment(env: dict[str, Any], trace: dict[str, Any] | None = None) -> str:
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
