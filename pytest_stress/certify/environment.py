"""The run environment printed in a certification: versions, git revision, platform, options."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_revision(cwd: Path) -> tuple[str | None, bool | None]:
    """(SHA, dirty) of the checkout at ``cwd``, or (None, None) outside git or without git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return sha or None, bool(status.strip())


def collect(cwd: Path, options: dict[str, Any]) -> dict[str, Any]:
    sha, dirty = git_revision(cwd)
    return {
        "package": "pytest-trading-stress",
        "version": _version("pytest-trading-stress") or "unknown",
        "git_sha": sha,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "pytest": _version("pytest"),
        "argv": list(sys.argv),
        **options,
    }
