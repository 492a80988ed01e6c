"""The bar-by-bar harness: Python components decide, the compiled core supplies the market and the fills."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytest_stress.market.frame import MarketFrame
from pytest_stress.run.harness import bars_of, run_harness
from pytest_stress.stack.momentum import make_momentum_stack

SCENARIO = "flash_crash_lite"


def _run(tmp_path: Path, factory=make_momentum_stack, **kw):
    return run_harness(SCENARIO, factory, symbols=3, ticks_per_bar=5, log_dir=tmp_path, **kw)


def test_bars_are_the_ohlcv_of_the_mid_over_each_bar():
    ts = np.arange(4, dtype=np.int64) * 100_000_000
    bid = np.array([[99.0], [100.0], [97.0], [98.0]])
    frame = MarketFrame(ts, bid, bid + 2.0, ("X",), volume=np.full((4, 1), 5.0))
    (bar,) = bars_of(frame, 0, 4)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (100.0, 101.0, 98.0, 99.0, 20.0)
    assert bar.timestamp_ns == ts[-1]


def test_orders_decided_in_python_are_filled_by_the_core(tmp_path):
    res = _run(tmp_path)
    assert res.bars == 121  # 601 ticks in bars of 5
    assert res.orders > 0
    assert res.fills > 0
    assert res.python_ns > 0
    assert res.core_ns > 0


def test_the_oms_book_equals_the_core_ledger(tmp_path):
    """Every fill the core made reached the OMS once: its positions (sum of fills) equal the ledger's."""
    res = _run(tmp_path)
    fills = [e for e in res.events if e.type.value == "ORDER_FAILED"]
    assert not fills
    ledger = res.final_positions
    book = res.oms_positions
    assert set(ledger) == {s for s, q in book.items() if q != 0.0}
    for sym, qty in ledger.items():
        assert book[sym] == pytest.approx(qty, abs=1e-9)


def test_same_seed_same_decisions_and_fills(tmp_path):
    a, b = _run(tmp_path / "a"), _run(tmp_path / "b")
    assert (a.orders, a.fills, a.final_positions, a.equity) == (
        b.orders,
        b.fills,
        b.final_positions,
        b.equity,
    )


def test_kill_switch_in_the_governor_keeps_every_order_from_the_core(tmp_path):
    def halted(ctx):
        stack = make_momentum_stack(ctx)
        stack.risk_governor.activate_kill_switch("pre-open manual override")
        return stack

    res = _run(tmp_path, halted)
    assert res.orders > 0
    assert res.rejected == res.orders
    assert res.fills == 0
    assert res.final_positions == {}


def test_reference_strategy_abstains_until_it_has_200_bars(tmp_path):
    """flash_crash_lite has 601 ticks: at one tick a bar the reference model first speaks at bar 200."""
    res = run_harness(SCENARIO, "reference", symbols=2, ticks_per_bar=1, log_dir=tmp_path)
    assert res.signals == 2 * (res.bars - 199)
    assert (tmp_path / "predictions.jsonl").exists()


def test_the_stack_monitors_see_every_bar(tmp_path):
    """The harness feeds the stack's feed monitor and resource guard: with a guard whose memory limit is
    below any Python process, the memory alert of seed 001 scenario 5 fires during the replay."""

    def tiny_memory(ctx):
        ctx.options["resource_guard"] = {"memory_limit_bytes": 1024}
        return make_momentum_stack(ctx)

    res = _run(tmp_path, tiny_memory)
    alerts = [e for e in res.events if e.type.value == "RESOURCE_ALERT"]
    assert len(alerts) == 1  # once, not once per bar
    assert not [e for e in res.events if e.type.value == "DATA_FEED_LOSS"]  # 100 ms ticks: no silence
