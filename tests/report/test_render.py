"""The HTML certification as a reviewer sees it: real reports of GO, NO-GO and INCOMPLETE sessions rendered
by headless Chromium, with no console error, the verdict banner on the first screen, and the report of a
full stress-suite session within its size budget.

Colours are read from the report's own CSS (the banner rule of the verdict's class, the body background),
not written down here. ``STRESS_REPORT_SHOTS=DIR`` keeps a copy of every screenshot in DIR.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from pytest_stress.scenario import bundled_dir

HERE = Path(__file__).parent
STRESS_TESTS = HERE.parent / "stress"
FIRST_SCREEN_PX = 900
TALL_PX = 12_000  # the tallest screenshot taken; a report this tall or taller measures as TALL_PX
HEIGHT_BUDGET_PX = 8_000  # a full suite's report, every <details> collapsed
SIZE_BUDGET_BYTES = 2_000_000
# the banner is a wide block: at 1280 px it spans ~1000 px, so 20 rows of it are far more than the pills,
# chart lines and text that share its colour
BANNER_MIN_PIXELS = 20_000

SESSIONS = {
    # decision: (stress_scenario marker arguments, outcome of the test that certifies it)
    "GO": ('"flash_crash_lite", symbols=10', "passed"),
    "NO-GO": ('"strict_flash_crash_lite", symbols=10', "failed"),  # breaches, and the kill switch fires
    # broker_api_outage's checks are measured by the runbook suite, not by a replay: not evaluated here
    "INCOMPLETE": ('"broker_api_outage"', "passed"),
}


def strict_copy(name: str = "flash_crash_lite", max_drawdown_pct: float = 1.0) -> str:
    """A library scenario under a drawdown limit its book cannot meet, as ``strict_<name>``."""
    doc = yaml.safe_load((bundled_dir() / f"{name}.yaml").read_text(encoding="utf-8"))
    doc["name"] = f"strict_{name}"
    doc["expect"]["max_drawdown_pct"] = {"max": max_drawdown_pct}
    return yaml.safe_dump(doc, sort_keys=False)


# --- what the page says about itself -------------------------------------------------------------------


def _css(page: str) -> str:
    css = "\n".join(re.findall(r"<style[^>]*>(.*?)</style>", page, flags=re.S | re.I))
    return re.sub(r"/\*.*?\*/", "", css, flags=re.S)


def _rgb(value: str, css: str) -> tuple[int, int, int]:
    """A CSS colour (#rgb, #rrggbb, rgb(), var(--x) defined in the page) as an RGB triple."""
    value = value.strip().removesuffix("!important").strip()
    var = re.fullmatch(r"var\(\s*(--[\w-]+)\s*(?:,\s*(.+))?\)", value)
    if var:
        defined = re.findall(rf"{re.escape(var.group(1))}\s*:\s*([^;}}]+)", css)
        assert defined or var.group(2), f"CSS variable {var.group(1)} is not defined in the report"
        return _rgb(defined[-1] if defined else var.group(2), css)
    hexa = re.fullmatch(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", value)
    if hexa:
        digits = hexa.group(1) if len(hexa.group(1)) == 6 else "".join(c * 2 for c in hexa.group(1))
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    fn = re.fullmatch(r"rgba?\(\s*(\d+)[\s,]+(\d+)[\s,]+(\d+)\s*(?:[,/]\s*[\d.]+%?\s*)?\)", value)
    assert fn, f"cannot read the colour {value!r} from the report's CSS"
    return (int(fn.group(1)), int(fn.group(2)), int(fn.group(3)))


def _background(css: str, matches) -> tuple[int, int, int] | None:
    """The background colour of the last rule with a selector that ``matches`` (later rules win)."""
    found = None
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        if any(matches(s.strip()) for s in selectors.split(",")):
            decl = re.findall(r"background(?:-color)?\s*:\s*([^;]+)", body)
            if decl:
                found = _rgb(decl[-1], css)
    return found


def banner(page: str) -> tuple[str, tuple[int, int, int]]:
    """The verdict banner's classes and its background colour, from the page's CSS."""
    tag = re.search(r"<section\b[^>]*\bid=\"verdict\"[^>]*>", page)
    assert tag, 'no <section ... id="verdict"> (the verdict banner) in the report'
    cls = re.search(r'\bclass="([^"]*)"', tag.group(0))
    classes = set(cls.group(1).split()) if cls else set()
    assert "banner" in classes, f"the verdict section's classes {sorted(classes)} do not include banner"

    def matches(selector: str) -> bool:  # a compound selector of the banner (.banner.go, #verdict.go, ...)
        parts = re.fullmatch(r"(section)?((?:[.#][\w-]+)+)", selector)
        if not parts:
            return False
        names = re.findall(r"([.#])([\w-]+)", parts.group(2))
        own = {n for kind, n in names if kind == "."}
        ids = {n for kind, n in names if kind == "#"}
        return own <= classes and ids <= {"verdict"} and bool(own - {"banner"})  # the verdict's own rule

    colour = _background(_css(page), matches)
    assert colour, f"no background colour for the banner classes {sorted(classes)} in the report's CSS"
    return " ".join(sorted(classes)), colour


def page_background(page: str) -> tuple[int, int, int]:
    colour = _background(_css(page), lambda s: s in ("body", "html", ":root"))
    assert colour, "no body background colour in the report's CSS"
    return colour


def collapse_details(page: str) -> str:
    """The page with every <details> closed (its ``open`` attribute removed)."""
    return re.sub(
        r"<details\b[^>]*>",
        lambda m: re.sub(r"\s+open(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?(?=[\s>/])", "", m.group(0)),
        page,
        flags=re.I,
    )


# --- what the screenshot shows -------------------------------------------------------------------------


def _pixels(png: Path) -> np.ndarray:
    with Image.open(png) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def colour_pixels(png: Path, rgb: tuple[int, int, int], tolerance: int = 2) -> int:
    return int((np.abs(_pixels(png) - np.array(rgb)).max(axis=2) <= tolerance).sum())


def content_height(png: Path, background: tuple[int, int, int]) -> int:
    """1 + the last row with a pixel that is not the page background (0 for a blank page)."""
    rows = np.flatnonzero((_pixels(png) != np.array(background)).any(axis=(1, 2)))
    return int(rows[-1]) + 1 if rows.size else 0


def keep(png: Path, name: str) -> None:
    target = os.environ.get("STRESS_REPORT_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, Path(target) / name)


# --- the helper itself: the console detector fires ------------------------------------------------------

CSP = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"


def test_console_detector_reports_script_errors(chromium, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><h1>broken</h1><script>this is not javascript(</script>"
        "<script>undefinedFunction()</script><script>console.error('logged-error')</script></body></html>"
    )
    shot = chromium.screenshot(page, tmp_path / "broken.png")
    text = "\n".join(shot.console)
    assert "SyntaxError" in text, shot.stderr
    assert "ReferenceError: undefinedFunction is not defined" in text
    assert "logged-error" in text
    assert len(shot.console) == 3, shot.console


def test_console_detector_reports_csp_violations(chromium, tmp_path):
    """The report's own policy (no script, no fetch): an inline script and a remote image are blocked."""
    page = tmp_path / "blocked.html"
    page.write_text(
        f'<!DOCTYPE html><html><head>{CSP}</head><body><script>document.title = "ran"</script>'
        '<img src="http://127.0.0.1:9/pixel.png"></body></html>'
    )
    shot = chromium.screenshot(page, tmp_path / "blocked.png")
    assert any("inline script violates" in m and "Content Security Policy" in m for m in shot.console), (
        shot.console
    )
    assert any("Loading the image 'http://127.0.0.1:9/pixel.png' violates" in m for m in shot.console)


def test_console_detector_is_quiet_on_a_clean_page(chromium, tmp_path):
    """Chromium's own stderr chatter (D-Bus, GPU, sandbox warnings) is not taken for the page's."""
    page = tmp_path / "clean.html"
    page.write_text(
        f"<!DOCTYPE html><html><head>{CSP}<style>body{{background:#123456}}</style></head></html>"
    )
    shot = chromium.screenshot(page, tmp_path / "clean.png", height=300)
    assert shot.console == []
    assert shot.stderr.strip(), "chromium printed nothing on stderr: is --enable-logging=stderr honoured?"
    with Image.open(shot.png) as im:
        assert im.size == (1280, 300)
    assert colour_pixels(shot.png, (0x12, 0x34, 0x56), tolerance=0) == 1280 * 300
    assert content_height(shot.png, (0x12, 0x34, 0x56)) == 0


NEEDS_BROWSER = """
    def test_needs_a_browser(chromium):
        pass
"""


def test_without_a_browser_the_tests_skip_saying_why(pytester, monkeypatch):
    pytester.makeconftest((HERE / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(NEEDS_BROWSER)
    monkeypatch.setenv("STRESS_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*no Chromium found (/nonexistent/chromium)*install-system-deps.sh*"])


def test_without_a_browser_ci_fails(pytester, monkeypatch):
    pytester.makeconftest((HERE / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(NEEDS_BROWSER)
    monkeypatch.setenv("STRESS_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*CI=true: no Chromium found (/nonexistent/chromium)*"])


def test_collapse_details_closes_every_section():
    page = '<details open><summary>a</summary></details><details class="x" open="">b</details><DETAILS>c'
    assert (
        collapse_details(page)
        == '<details><summary>a</summary></details><details class="x">b</details><DETAILS>c'
    )
    assert collapse_details('<details data-opener="1">') == '<details data-opener="1">'


# --- real reports ---------------------------------------------------------------------------------------


def make_report(pytester: pytest.Pytester, decision: str) -> Path:
    """The HTML report of a session that certifies one scenario, whose verdict is ``decision``."""
    scenario, outcome = SESSIONS[decision]
    (pytester.mkdir("my_scenarios") / "strict_flash_crash_lite.yaml").write_text(strict_copy())
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.stress_scenario({scenario})
        def test_certify(stress_run):
            stress_run.certify()
    """)
    result = pytester.runpytest(
        "--stress-scenarios=my_scenarios", "--stress-report=html:r.html", "--stress-report=json:r.json"
    )
    result.assert_outcomes(**{outcome: 1})
    doc = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    assert doc["verdict"]["decision"] == decision
    return pytester.path / "r.html"


def check_first_screen(chromium, html: Path, png: Path, label: str) -> None:
    """Rendered at 1280 x 900: no console message, and the verdict banner, in its colour, on screen."""
    classes, colour = banner(html.read_text(encoding="utf-8"))
    shot = chromium.screenshot(html, png, height=FIRST_SCREEN_PX)
    keep(shot.png, f"{label}.png")
    assert shot.console == [], f"console messages rendering the {label} report: {shot.console}"
    seen = colour_pixels(shot.png, colour)
    assert seen >= BANNER_MIN_PIXELS, (
        f"the {label} banner ({classes}, #{bytes(colour).hex()}) is not on the first "
        f"{FIRST_SCREEN_PX} px: {seen} pixels of its colour, {BANNER_MIN_PIXELS} wanted"
    )


@pytest.mark.parametrize("decision", list(SESSIONS))
def test_first_screen_shows_the_verdict_banner(pytester, chromium, decision):
    html = make_report(pytester, decision)
    check_first_screen(chromium, html, pytester.path / "first-screen.png", decision)


# --- the report of a full stress-suite session ----------------------------------------------------------


@pytest.fixture(scope="module")
def suite_report(tmp_path_factory) -> tuple[Path, dict]:
    """The report of a session like `make stress-suite`: the real library certification (20 scenarios,
    breach-by-design ones exercised), the runbook suite and the flash-crash-lite promises, and stand-ins for
    the fault matrices (their tests, faults and measures, without their wall-clock streaming)."""
    root = tmp_path_factory.mktemp("suite")
    tests = root / "tests" / "stress"
    tests.mkdir(parents=True)
    for name in ("test_library.py", "test_runbook_suite.py", "test_flash_crash_lite.py"):
        shutil.copyfile(STRESS_TESTS / name, tests / name)
    shutil.copyfile(HERE / "fault_matrix_standins.py", tests / "test_fault_matrix_standins.py")
    cmd = [sys.executable, "-m", "pytest", "-m", "stress", "-q", "-p", "no:cacheprovider"]
    cmd += ["--stress-report=html:r.html", "--stress-report=json:r.json"]
    run = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600, check=False)
    # every test passes; the certification is INCOMPLETE (exit 3) while this version leaves required checks
    # unmeasured (the decision flood, ...): a check that was not run is not a pass
    assert run.returncode == 3, run.stdout[-4000:] + run.stderr[-2000:]
    doc = json.loads((root / "r.json").read_text(encoding="utf-8"))
    assert doc["verdict"]["decision"] == "INCOMPLETE"
    assert doc["verdict"]["counts"]["tests_failed"] == 0
    # as large as the real suite's: every library scenario, and the suite's tests with their faults
    assert len(doc["runs"]) >= 20
    assert len(doc["tests"]) >= 90
    assert sum(bool(t.get("faults")) for t in doc["tests"]) >= 34
    return root / "r.html", doc


def test_suite_report_first_screen(chromium, suite_report, tmp_path):
    check_first_screen(chromium, suite_report[0], tmp_path / "suite.png", "suite")


def test_suite_report_is_under_2_mb(suite_report):
    html, _ = suite_report
    size = html.stat().st_size
    assert size < SIZE_BUDGET_BYTES, f"the suite's report is {size:,} bytes; budget {SIZE_BUDGET_BYTES:,}"


def test_suite_report_is_under_8000_px_tall_with_details_collapsed(chromium, suite_report, tmp_path):
    html, _ = suite_report
    page = html.read_text(encoding="utf-8")
    collapsed = tmp_path / "collapsed.html"
    collapsed.write_text(collapse_details(page), encoding="utf-8")
    shot = chromium.screenshot(collapsed, tmp_path / "tall.png", height=TALL_PX)
    keep(shot.png, "suite-tall.png")
    height = content_height(shot.png, page_background(page))
    measured = f"at least {TALL_PX:,}" if height >= TALL_PX else f"{height:,}"
    assert height < HEIGHT_BUDGET_PX, (
        f"the suite's report is {measured} px tall at 1280 px wide with every <details> collapsed; "
        f"budget {HEIGHT_BUDGET_PX:,} px"
    )
