"""Traceability of a certification: what exactly was run (file and dataset hashes, the Toxiproxy that served
the faults, the time scale as applied) and the command that reproduces each failure.

Plain data in, plain data out: it reads the records ``certify.session`` gathered and imports nothing of
pytest or of the run.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_stress.options import DEFAULT_TIME_SCALE

# pytest options (dest, flag) that change what a stress test does; a reproduce command repeats them as given
RERUN_OPTIONS = (
    ("stress_scenarios", "--stress-scenarios"),
    ("stress_stack", "--stress-stack"),
    ("stress_profile", "--stress-profile"),
    ("stress_time_scale", "--stress-time-scale"),
    ("toxiproxy_url", "--toxiproxy-url"),
)
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str] | None) -> str | None:
    """The SHA-256 (hex) of the file at ``path``; None when there is no such file or it cannot be read."""
    if not path:
        return None
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(_CHUNK):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def cli_options(getoption: Callable[[str], Any]) -> dict[str, Any]:
    """The values of the ``RERUN_OPTIONS`` a session was given (``config.getoption``), JSON-ready."""
    out: dict[str, Any] = {}
    for dest, _ in RERUN_OPTIONS:
        value = getoption(dest)
        if value not in (None, [], ()):
            out[dest] = [str(v) for v in value] if isinstance(value, (list, tuple)) else value
    return out


def _option_args(options: Mapping[str, Any]) -> list[str]:
    args: list[str] = []
    for dest, flag in RERUN_OPTIONS:
        value = options.get(dest)
        for v in value if isinstance(value, list) else [] if value is None else [value]:
            args += [flag, f"{v:g}" if isinstance(v, float) else str(v)]
    return args


def node_arg(nodeid: str, rootdir: Path | None, cwd: Path) -> str:
    """A test id usable from ``cwd``: pytest's ids are relative to the rootdir, which may differ."""
    if rootdir is None or Path(rootdir).resolve() == Path(cwd).resolve():
        return nodeid
    path, sep, rest = nodeid.partition("::")
    rel = os.path.relpath(Path(rootdir) / path, cwd)
    return f"{Path(rel).as_posix()}{sep}{rest}"


def pytest_command(nodeid: str, seed: int | None, options: Mapping[str, Any], node: str | None = None) -> str:
    """``python -m pytest 'ID' -p no:randomly [--stress-seed S] [the session's stress options]``."""
    args = [node or nodeid, "-p", "no:randomly"]
    if seed is not None:
        args += ["--stress-seed", str(int(seed))]
    return "python -m pytest " + shlex.join(args + _option_args(options))


def replay_command(ref: str, run: Mapping[str, Any]) -> str:
    return f"python -m pytest_stress run {shlex.quote(ref)} --seed {run['seed']} --symbols {run['symbols']}"


def toxiproxy_servers(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per distinct server (an xdist worker starts its own), with the number of tests it served."""
    servers: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in records:
        key = (r.get("kind"), r.get("url"), r.get("worker"), r.get("version"))
        entry = servers.setdefault(key, {**dict(r), "tests": 0})
        entry["tests"] += 1
    return sorted(servers.values(), key=lambda s: (str(s.get("worker")), str(s.get("url"))))


def applied_faults(faults: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Fault records with the window as applied: runbook seconds divided by the recorded time scale."""
    out = []
    for f in faults:
        f = dict(f)
        window, scale = f.get("window"), f.get("time_scale")
        if window and scale:
            f["window_applied_s"] = [float(window[0]) / scale, float(window[1]) / scale]
        else:
            f["window_applied_s"] = None
        out.append(f)
    return out


def time_scale(options: Mapping[str, Any], given: Mapping[str, Any], faults: list[Mapping[str, Any]]) -> dict:
    """The factor runbook durations were divided by, where it came from, and what the faults applied."""
    profile = options.get("profile")
    factor = float(options.get("time_scale") or DEFAULT_TIME_SCALE.get(str(profile), 1.0))
    applied = sorted({float(f["time_scale"]) for f in faults if f.get("time_scale") is not None})
    return {
        "factor": factor,
        "origin": "--stress-time-scale" if "stress_time_scale" in given else f"profile {profile}",
        "profile": profile,
        "faults_scaled": sum(1 for f in faults if f.get("time_scale") is not None),
        "applied": applied,
    }


def scenario_files(runs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The scenario files behind the runs, one entry per file and scenario."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for r in runs:
        key = (str(r["scenario"]), str(r.get("source") or ""))
        seen.setdefault(key, {"scenario": key[0], "source": key[1] or None, "sha256": r.get("source_sha256")})
    return sorted(seen.values(), key=lambda e: (e["scenario"], e["source"] or ""))


def datasets(runs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The data behind runs on a historic or dataset market: path or dataset name, and its content hash."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in runs:
        p = r.get("provenance") or {}
        if not p.get("dataset_sha256") and not p.get("dataset_path"):
            continue
        path = str(p.get("dataset_path") or p.get("dataset") or "")
        key = (str(r["scenario"]), path, str(p.get("dataset_sha256") or ""))
        seen.setdefault(
            key,
            {
                "scenario": key[0],
                "market": p.get("market"),
                "path": path,
                "sha256": p.get("dataset_sha256") or None,
            },
        )
    return sorted(seen.values(), key=lambda e: (e["scenario"], e["path"]))
