"""The certification journal (seed 000): ``journal.md`` beside the reports, one entry appended per session
with the verdict, the counts and every deviation, so the history of go/no-go decisions is never overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_stress.errors import ReportError

JOURNAL_NAME = "journal.md"
HEADER = "# Stress certification journal\n\nOne entry per certified session, newest last.\n"


def _line(text: Any, limit: int = 300) -> str:
    """One line of plain text: whitespace collapsed, cut at ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _code(text: Any) -> str:
    """Inline Markdown code that survives backticks in ``text``."""
    flat = _line(text, 1000)
    fence = "`"
    while fence in flat:
        fence += "`"
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _measured(check: Mapping[str, Any]) -> str:
    value = check.get("measured")
    if value is None:
        return "not measured" + (f" ({_line(check['detail'])})" if check.get("detail") else "")
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:.4g}{check.get('unit') or ''}"
    return f"{value}{check.get('unit') or ''}"


def deviations(doc: Mapping[str, Any]) -> list[str]:
    """Every check that did not pass (failed, not evaluated, waived), each fired kill switch, and every stress
    test that failed, errored or did not run: one Markdown list item each."""
    items: list[str] = []
    checks = [(r.get("nodeid", ""), c) for r in doc["runs"] if r.get("certified", True) for c in r["checks"]]
    checks += [("", c) for c in doc.get("measured_checks", [])]
    for nodeid, c in checks:
        if c["status"] == "passed":
            continue
        by = ", ".join(c.get("measured_by") or ([nodeid] if nodeid else []))
        item = (
            f"- check {c['status'].replace('_', ' ')}: {_line(c['scenario'])} {_code(c['check'])}: "
            f"threshold {_line(c['threshold'])}, measured {_measured(c)}"
        )
        if by:
            item += f" (by {_code(by)})"
        if c.get("reproduce"):
            item += f"; reproduce: {_code(c['reproduce'])}"
        items.append(item)
    for r in doc["runs"]:
        if r.get("certified", True) and r.get("kill_switch_triggered"):
            items.append(
                f"- kill switch fired: {_line(r['scenario'])} at tick {r.get('kill_switch_tick')} "
                f"(by {_code(r.get('nodeid', ''))})"
            )
    for t in doc["tests"]:
        if t["outcome"] not in ("failed", "error", "not_run"):
            continue
        item = f"- test {t['outcome'].replace('_', ' ')}: {_code(t['nodeid'])}"
        if t.get("message"):
            item += f": {_line(t['message'])}"
        if t.get("reproduce") and t["outcome"] != "not_run":
            item += f"; reproduce: {_code(t['reproduce'])}"
        items.append(item)
    return items


def entry(doc: Mapping[str, Any], reports: Iterable[Path] = ()) -> str:
    """The journal entry of one certification document, as a Markdown block."""
    verdict = doc["verdict"]
    session = doc.get("session") or {}
    env = doc.get("environment") or {}
    counts = dict(verdict.get("counts") or {})
    counts.setdefault("tests_not_run", len(session.get("not_run") or []))
    state = "interrupted" if session.get("interrupted") else f"exit status {session.get('exit_status')}"
    sha = env.get("git_sha") or "not a git checkout"
    if env.get("git_sha") and env.get("git_dirty"):
        sha += " (with uncommitted changes)"
    lines = [
        f"## {doc['finished_at']} {verdict['decision']}",
        "",
        f"- session: started {doc['started_at']}, finished {doc['finished_at']}, {state}",
        f"- command: {_code(doc['reproduce']['session'])}",
        f"- revision: {sha}; {env.get('package')} {env.get('version')}; profile {env.get('profile')}",
        "- counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
    ]
    written = [str(p) for p in reports]
    if written:
        lines.append("- reports: " + ", ".join(_code(p) for p in written))
    found = deviations(doc)
    if not found:  # GO, or nothing certified: the verdict's own words (else the deviations say it all)
        lines.append("- verdict: " + "; ".join(_line(r) for r in verdict.get("reasons") or ()))
    lines += ["", "Deviations:" if found else "Deviations: none.", *(["", *found] if found else [])]
    return "\n".join(lines) + "\n"


def append(path: Path, text: str) -> Path:
    """Append one entry to the journal at ``path`` in a single write (earlier entries are never rewritten);
    a new journal starts with a header. Failure raises ReportError, like a report that cannot be written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            lead = b""
            if size == 0:
                lead = HEADER.encode() + b"\n"
            else:
                fh.seek(size - 1)
                last = fh.read(1)
                lead = b"\n" if last == b"\n" else b"\n\n"
            fh.seek(0, os.SEEK_END)
            fh.write(lead + text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise ReportError(f"{path}: cannot append to the journal ({exc.strerror})") from None
    return path
