"""The hourly Flash-Crash Lite certification, run against the book in conftest.py."""

import pytest


@pytest.mark.stress_scenario("flash_crash_lite", symbols=100)
def test_my_book_survives_flash_crash_lite(stress_run):
    stress_run.certify()
