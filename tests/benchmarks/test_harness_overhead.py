"""Per-bar overhead of the Python bar-by-bar harness (issue 4), against the compiled replay of the same
bars in the same run: the harness's extra cost is what each bar's Python decisions add.

Baseline: the same session fed bar by bar with no Python component. Measured: the harness with a small
momentum strategy (orders every bar) and with the reference stack (ml_direction_v1: features, model,
prediction log). Per-bar figures and ratios go to extra_info.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_stress.replay.session import ReplaySession
from pytest_stress.run.harness import run_harness
from pytest_stress.run.scenario import stressed_frame, warm_up
from pytest_stress.scenario import load_scenario
from pytest_stress.stack.momentum import make_momentum_stack

SYMBOLS = 10
_per_bar_us: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warm_up()


def _record(benchmark, name: str, bars: int) -> None:
    if benchmark.stats is None:  # --benchmark-disable
        return
    us = benchmark.stats.stats.median / bars * 1e6
    _per_bar_us[name] = us
    benchmark.extra_info["us_per_bar"] = round(us, 1)
    if name != "core" and "core" in _per_bar_us:
        benchmark.extra_info["python_us_per_bar"] = round(us - _per_bar_us["core"], 1)
        benchmark.extra_info["x_core_only"] = round(us / _per_bar_us["core"], 1)


def test_core_only_bar_by_bar(benchmark):
    sc = load_scenario("flash_crash_lite").with_overrides(symbols=SYMBOLS)
    calm, frame = stressed_frame(sc)

    def replay_bars():
        s = ReplaySession(
            np.zeros(SYMBOLS), 1e6, execution=sc.execution, risk_spec=sc.risk, rng=np.random.default_rng(0),
            tick_ms=sc.market.tick_ms, manage_book=False,
        )  # fmt: skip
        s.observe_calm(calm)
        for lo in range(frame.n_ticks):
            s.feed(frame.rows(lo, lo + 1))
        return s

    benchmark(replay_bars)
    _record(benchmark, "core", frame.n_ticks)


@pytest.mark.parametrize("stack", ["momentum", "reference"])
def test_harness_bar_by_bar(benchmark, tmp_path, stack):
    factory = make_momentum_stack if stack == "momentum" else "reference"
    counter = iter(range(10**6))

    def run():
        return run_harness(
            "flash_crash_lite",
            factory,
            symbols=SYMBOLS,
            ticks_per_bar=1,
            log_dir=tmp_path / str(next(counter)),
        )

    result = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    assert result.bars == 601
    if stack == "momentum":
        assert result.fills > 0
    _record(benchmark, stack, result.bars)
    benchmark.extra_info["orders"] = result.orders
    benchmark.extra_info["fills"] = result.fills
