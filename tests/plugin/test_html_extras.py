"""pytest-html: with ``--html``, each stress test's row carries its run's chart and checks as an extra."""

from __future__ import annotations

import pytest

pytest.importorskip("pytest_html")


def test_each_stress_row_of_a_pytest_html_report_shows_its_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress_scenario("flash_crash_lite", symbols=10)
        def test_lite(stress_run):
            stress_run.certify()

        def test_plain():
            pass
    """)
    result = pytester.runpytest("--html=page.html", "--self-contained-html")
    result.assert_outcomes(passed=2)
    page = (pytester.path / "page.html").read_text(encoding="utf-8")
    # pytest-html keeps the rows as JSON in a data attribute, HTML-escaped
    # pytest-html keeps the rows as JSON in a data attribute, HTML-escaped: one extra, on the stress row
    assert page.count("&lt;div class=\\&#34;pts-extra\\&#34;&gt;") == 1
    assert "aria-label=\\&#34;flash_crash_lite: equity and drawdown\\&#34;" in page
    assert "&lt;code&gt;max_drawdown_pct&lt;/code&gt;" in page


def test_without_pytest_html_nothing_is_added(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.stress_scenario("flash_crash_lite", symbols=10)
        def test_lite(stress_run, request):
            pass

        def test_no_extras(request):
            pass
    """)
    pytester.makeconftest("""
        import pytest

        @pytest.hookimpl(trylast=True)
        def pytest_runtest_logreport(report):
            assert not getattr(report, "extras", []), report.nodeid
    """)
    pytester.runpytest("-p", "no:html").assert_outcomes(passed=2)
