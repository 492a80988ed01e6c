"""Plugin tests run pytest in-process with pytester, which snapshots and restores sys.modules around each
inner run. NumPy cannot be imported twice in one process, and numba registers each compiled kernel once, so
the replay core is imported and every kernel compiled (or loaded from numba's cache) here, before any inner
run, whatever order the tests are collected in.

Every certification.json an inner run writes is validated against the shipped JSON Schema when the test
ends, whether the test reads it or not (tests read reports through ``report_support.read_report``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from report_support import read_report, reports_under

from pytest_stress.run.scenario import warm_up

warm_up()


@pytest.fixture(autouse=True)
def _every_report_is_valid(request: pytest.FixtureRequest) -> Iterator[None]:
    if "pytester" not in request.fixturenames:
        yield
        return
    root = request.getfixturevalue("pytester").path
    yield
    for path in reports_under(root):
        read_report(path)
