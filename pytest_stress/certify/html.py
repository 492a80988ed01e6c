"""The HTML certification: one self-contained page (inline CSS and SVG, no scripts, no fetches).

It is rendered from the same document as certification.json, so the two never disagree. Every
string that can come from a user (scenario names, test ids, messages, paths) goes through ``esc``.
"""

from __future__ import annotations

from typing import Any

from pytest_stress.certify import charts, evidence, units
from pytest_stress.certify.html_details import (
    environment,
    faults_table,
    regulatory,
    reproduce,
    run_card,
    tests_table,
    weakest,
)
from pytest_stress.certify.markup import esc, pill, threshold

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
            "Weakest scenarios",
            charts.weakest_chart(certified) + weakest(certified),
            f"{len(certified)} certified runs ranked",
        ),
        _section(
            "Scenario runs",
            "".join(run_card(r) for r in certified) or '<p class="sub">No certified scenario run.</p>',
            f"{len(certified)} certified",
        ),
    ]
    if exercised:
        parts.append(
            _section(
                "Other scenario runs (exercised by tests, not certified)",
                '<p class="sub">These runs served tests of the safety mechanisms (for example an '
                "over-leveraged book that must trip the kill switch); their checks do not enter the verdict.</p>"
                + "".join(run_card(r) for r in exercised),
                f"{len(exercised)} runs",
            )
        )
    faulted = [t for t in doc["tests"] if t.get("faults")]
    if faulted:
        n_faults = sum(len(t["faults"]) for t in faulted)
        parts.append(
            _section(
                "Fault injection",
                charts.fault_matrix_chart(doc["tests"]) + faults_table(faulted),
                f"{n_faults} faults in {len(faulted)} tests",
            )
        )
    parts += [
        _section("Stress tests", tests_table(doc["tests"]), _test_counts(verdict["counts"])),
        _section(
            "Regulatory evidence",
            regulatory(certified, measures, doc["tests"]),
            "mapping aid, not legal advice",
        ),
        _section(
            "Reproduce",
            reproduce(doc),
            f"{len(doc['reproduce'].get('failures') or [])} failures, each with its command; the session",
        ),
        _section(
            "Run environment and traceability",
            environment(env, doc.get("traceability")),
            _env_summary(env),
        ),
        f"<footer>Report schema {esc(doc['schema'])}; the same data is in certification.json. "
        f"Started {esc(doc['started_at'])}, finished {esc(doc['finished_at'])}.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)


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
            f'<td class="num">{esc(threshold(c["threshold"]))}</td>'
            f'<td class="num">{esc(units.value(c["measured"], c.get("unit", ""), c["check"]))}</td>'
            f'<td>{pill(c["status"])}</td><td class="detail" title="{detail}">{detail}</td></tr>'
        )
    kills = [r for r in runs if r["kill_switch_triggered"]]
    rows += [
        f'<tr><td>{esc(r["scenario"])}</td><td><code>KILL_SWITCH</code></td><td class="num">not fired</td>'
        f'<td class="num">fired at {esc(units.duration(r["kill_switch_tick"] * r["tick_ms"] / 1000))}</td>'
        f'<td>{pill("failed")}</td><td class="sub">tick {int(r["kill_switch_tick"])}</td></tr>'
        for r in kills
    ]
    failed_tests = [t for t in tests if t["outcome"] in ("failed", "error")]
    rows += [
        f'<tr><td colspan="2" class="id"><code>{esc(t["nodeid"])}</code></td><td class="num">passes</td>'
        f'<td class="num">{esc(t["outcome"])}</td><td>{pill(t["outcome"])}</td>'
        f'<td class="detail" title="{esc(t.get("message") or "")}">{esc((t.get("message") or "")[:300])}</td></tr>'
        for t in failed_tests
    ]
    not_run = [t for t in tests if t["outcome"] == "not_run"]
    if not_run:
        rows.append(
            f'<tr><td colspan="4">{len(not_run)} stress tests did not run (the session ended early)</td>'
            f'<td>{pill("not_evaluated", "not run")}</td><td class="sub">'
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


def _test_counts(counts: dict[str, Any]) -> str:
    return ", ".join(
        f"{int(counts.get(k, 0))} {label}"
        for k, label in (("tests_passed", "passed"), ("tests_failed", "failed"), ("tests_skipped", "skipped"),
                         ("tests_not_run", "not run"))
        if counts.get(k) or k == "tests_passed"
    )  # fmt: skip


def _env_summary(env: dict[str, Any]) -> str:
    return f"Python {env.get('python')}, numpy {env.get('numpy')}, numba {env.get('numba')}"
