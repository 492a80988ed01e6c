"""Atomic file writes: a report is either the old file or the complete new one, never half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pytest_stress.errors import ReportError


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to a temp file beside ``path``, flush it to disk, then rename it over ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ReportError(f"{path}: cannot write the report ({exc.strerror})") from None
    try:
        # mkstemp makes the file private (0600); a report is read by the review and the CI artifact
        # store, so it is readable like any report (0644)
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ReportError(f"{path}: cannot write the report ({exc.strerror})") from None
        raise
    return path
