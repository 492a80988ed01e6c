"""The HTML certification as a reviewer reads it: the verdict and what decides it first, a scenario x
check-family grid, the details folded away, numbers in their units."""

from __future__ import annotations

import re
import textwrap

import pytest

SESSION = """
    import pytest

    @pytest.mark.stress_scenario("flash_crash_lite", symbols=10)
    def test_lite(stress_run):
        stress_run.certify()

    @pytest.mark.stress_scenario("broker_api_outage")
    def test_outage(stress_run):
        stress_run.certify()
"""


@pytest.fixture
def page(pytester: pytest.Pytester) -> str:
    pytester.makepyfile(textwrap.dedent(SESSION))
    result = pytester.runpytest("--stress-report=html:r.html")
    result.assert_outcomes(passed=2)
    assert result.ret == 3  # broker_api_outage's checks need the stack: INCOMPLETE
    return (pytester.path / "r.html").read_text(encoding="utf-8")


def _text(page: str) -> str:
    """The page's visible prose and figures: outside charts, code (ids, hashes) and commands."""
    body = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    body = re.sub(r"<(code|pre)>.*?</\1>", "", body, flags=re.S)
    body = re.sub(r"<style>.*?</style>", "", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def test_the_first_screen_is_verdict_then_why_then_the_grid(page: str) -> None:
    order = [
        page.index(marker)
        for marker in ('id="verdict"', 'id="why"', 'class="grid"', '<details class="section"')
    ]
    assert order == sorted(order)
    why = page[page.index('id="why"') : page.index('class="grid"')]
    for check in ("oms_retries_per_order", "trading_paused_on_broker_loss", "positions_held"):
        assert check in why
    assert "flash_crash_lite" not in why  # it passed: not a reason


def test_the_grid_colours_each_scenario_family_by_its_worst_check(page: str) -> None:
    grid = page[page.index('class="grid"') : page.index("</table>", page.index('class="grid"'))]
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<th class="rowhead">([^<]+)</th>(.*?)</tr>', grid)}
    assert set(rows) == {"flash_crash_lite", "broker_api_outage"}
    assert 'class="cell passed"' in rows["flash_crash_lite"]
    assert "not_evaluated" not in rows["flash_crash_lite"]
    assert 'class="cell not_evaluated"' in rows["broker_api_outage"]


def test_every_detail_section_starts_folded(page: str) -> None:
    sections = re.findall(r"<details class=\"(?:section|run)\"([^>]*)>", page)
    assert len(sections) >= 6
    assert all("open" not in attrs for attrs in sections)


def test_numbers_carry_their_units_and_never_an_exponent(page: str) -> None:
    text = _text(page)
    assert not re.search(r"\d[eE][+-]?\d", text), re.search(r".{30}\d[eE][+-]?\d.{30}", text)
    assert re.search(r"drawdown \d+(\.\d+)? %", text)
    assert "%%" not in text


def test_the_details_carry_their_charts(page: str) -> None:
    """Charts where people would rather look than read: each run's price path, equity and drawdown, and the
    ranked weakest scenarios, inline SVG (matplotlib), nothing fetched."""
    for label in (
        "weakest scenarios ranked by drawdown",
        "flash_crash_lite: equity and drawdown",
        "broker_api_outage: equity and drawdown",
    ):
        assert f'aria-label="{label}"' in page
    assert page.count('<svg role="img"') >= 5
    assert "<script" not in page
