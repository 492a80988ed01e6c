"""Certify your own book: override the `stress_portfolio` fixture with your positions.

Run from this directory: `pytest -m stress --stress-report=html`.
"""

import numpy as np
import pytest

from pytest_stress import Portfolio


@pytest.fixture
def stress_portfolio():
    # 100 names, 1.2x gross: 0.9 long and 0.3 short, as fractions of 5,000,000 of capital.
    weights = np.concatenate([np.full(75, 0.9 / 75), np.full(25, -0.3 / 25)])
    return Portfolio(initial_capital=5_000_000, weights=weights)
