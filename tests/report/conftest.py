"""The certification report looked at in a real browser: headless Chromium renders it to PNG.

The ``chromium`` fixture finds the browser (Debian's ``chromium``, which ``ci/install-system-deps.sh``
installs when ``make test`` runs as root with apt-get; ``STRESS_CHROMIUM=PATH`` names another). Without one
the browser tests skip, saying so, except under ``CI=true``, where a missing browser fails them.

The reports are made by in-process pytester sessions, so the replay kernels are compiled first here, as in
tests/plugin/conftest.py (numba registers each kernel once per process).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_stress.run.scenario import warm_up

warm_up()

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
# this machine's network is closed: without the background-networking flags Chromium hangs on connections
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
WIDTH = 1280
# Chromium logs every console message of the page (console.*, uncaught errors, CSP violations) on stderr,
# whatever its level, as
#   [pid:tid:MMDD/HHMMSS.micros:INFO:CONSOLE:3] "message", source: file:///page.html (3)
# (older builds: "...:INFO:CONSOLE(3)] ..."). The report has no script, so any such line is a fault.
CONSOLE = re.compile(r"^\[[^\]]*:CONSOLE\b[^\]]*\]\s*(?P<text>.*)$")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: renders a page in headless Chromium (the chromium fixture)")


@pytest.hookimpl(tryfirst=True)  # before -m selects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for the chromium fixture is marked browser (``-m "not browser"`` leaves it out)."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


def find_chromium() -> str | None:
    """``STRESS_CHROMIUM`` (a path or a command) if set, else the first of CANDIDATES found."""
    chosen = os.environ.get("STRESS_CHROMIUM")
    for name in (chosen,) if chosen else CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def console_messages(stderr: str) -> list[str]:
    """The page's console messages in Chromium's stderr (its own D-Bus and GPU chatter is left out)."""
    return [m.group("text") for m in map(CONSOLE.match, stderr.splitlines()) if m]


@dataclass(frozen=True)
class Shot:
    png: Path
    console: list[str]  # the page's console messages: errors, CSP violations, console.log
    stderr: str


@dataclass(frozen=True)
class Chromium:
    path: str

    def screenshot(self, page: Path, png: Path, *, height: int = 900, timeout_s: float = 120.0) -> Shot:
        """Render ``page`` (a local HTML file) in a 1280 x ``height`` window to ``png``, with a fresh
        profile. On a timeout, stops the browser it started (its own process group) and fails."""
        png.parent.mkdir(parents=True, exist_ok=True)
        png.unlink(missing_ok=True)
        with (
            tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile,
            tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as err,
        ):
            cmd = [
                self.path,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{height}",
                f"--screenshot={png}",
                page.resolve().as_uri(),
            ]
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:  # the browser and its helpers (renderer, GPU, zygote) share the group it leads
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            err.seek(0)
            stderr = err.read()
        if timed_out or proc.returncode != 0 or not png.is_file():
            tail = "\n".join(stderr.splitlines()[-15:])
            pytest.fail(
                f"chromium {'did not finish in ' + str(timeout_s) + ' s' if timed_out else 'failed'} "
                f"rendering {page} (exit {proc.returncode}, screenshot written: {png.is_file()}):\n{tail}",
                pytrace=False,
            )
        return Shot(png=png, console=console_messages(stderr), stderr=stderr)


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    path = find_chromium()
    if path is None:
        looked = os.environ.get("STRESS_CHROMIUM") or ", ".join(CANDIDATES)
        reason = (
            f"no Chromium found ({looked}); `sh ci/install-system-deps.sh` as root installs Debian's "
            "chromium (make test runs it)"
        )
        if _in_ci():
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    return Chromium(path)
