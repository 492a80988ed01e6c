"""Throughput of the compiled core in symbol-ticks per second, single thread (pytest-benchmark).

The core pass is what run_scenario does after the market is drawn: the stress transforms, then the
exchange, the ledger and the risk engine tick by tick, on a levered book whose Kelly clamp trades. It is
read against two references measured in the same run on the same kind of data:

- a vectorised NumPy pass over the part of that work that vectorises: the same stress, marks, equity,
  drawdown, limits, liquidity ratios and halts (no order flow: orders depend on the previous tick, so
  this reference does less than the core and the ratio flatters NumPy);
- a plain Python loop doing the core's per-tick work (quote scan, marks, EWMA volatility, liquidity and
  halts, drawdown, limits) on a small frame, so it finishes in well under a second.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from pytest_stress import load_scenario
from pytest_stress.market.synthetic import synthetic_frame
from pytest_stress.replay.session import replay
from pytest_stress.replay.transforms import apply_stresses
from pytest_stress.run.scenario import warm_up
from pytest_stress.specs.risk import RiskSpec

SYMBOLS, SECONDS = 100, 600  # 6,001 ticks of 100 ms
SMALL_SYMBOLS, SMALL_SECONDS = 10, 6  # the Python loop: 61 ticks
_rates: dict[str, float] = {}


def _market(symbols: int, seconds: int):
    sc = load_scenario("flash_crash_lite")
    market = dataclasses.replace(sc.market, symbols=symbols, duration_s=float(seconds))
    calm, _ = synthetic_frame(market, np.random.default_rng(7))
    return sc, market, calm


@pytest.fixture(scope="module")
def big():
    warm_up()
    return _market(SYMBOLS, SECONDS)


def _record(benchmark, name: str, cells: int) -> None:
    if benchmark.stats is None:  # --benchmark-disable
        return
    rate = cells / benchmark.stats.stats.median
    _rates[name] = rate
    benchmark.extra_info["symbol_ticks"] = cells
    benchmark.extra_info["symbol_ticks_per_s"] = round(rate)


def python_loop(mid0, half0, f, g, qty, cash, var0, liq_base, limits):
    """The core's per-tick work in plain Python: the flash crash (mid x f, spread x g), the quote scan,
    marks, EWMA volatility, liquidity and halts, equity, drawdown, VaR multiple and position delta."""
    n, s = len(mid0), len(mid0[0])
    last_b = [mid0[0][i] - half0[0][i] for i in range(s)]
    last_a = [mid0[0][i] + half0[0][i] for i in range(s)]
    var, prev_mid, ratio, halt = list(var0), [None] * s, [1.0] * s, [0] * s
    lam = 0.5 ** (0.1 / 5.0)
    start = peak = None
    net0 = sum(qty[i] * mid0[0][i] for i in range(s))
    gross0 = sum(abs(qty[i]) * mid0[0][i] for i in range(s))
    breach = [-1, -1, -1]
    for t in range(n):
        equity, net = cash, 0.0
        for i in range(s):
            m, h = mid0[t][i] * f[t], half0[t][i] * g[t]
            b, a = m - h, m + h
            if b > 0.0 and a >= b and a < math.inf:
                last_b[i], last_a[i] = b, a
                if prev_mid[i] is not None:
                    r = m / prev_mid[i] - 1.0
                    var[i] = lam * var[i] + (1.0 - lam) * r * r / 0.1
                prev_mid[i] = m
                ratio[i] = (m / (a - b)) / liq_base[i]
                halt[i] = 2 if ratio[i] < 0.02 else (1 if ratio[i] < 0.25 else 0)
            q = qty[i]
            equity += q * (last_b[i] if q > 0 else last_a[i])
            net += q * 0.5 * (last_b[i] + last_a[i])
        start = equity if start is None else start
        peak = equity if peak is None else max(peak, equity)
        values = (
            (peak - equity) / peak * 100.0,
            max(start - equity, 0.0) / 10_000.0,
            abs(net - net0) / gross0 * 100.0,
        )
        for k in range(3):
            if breach[k] < 0 and values[k] > limits[k]:
                breach[k] = t
    return breach


def crash_path(market, shock: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """flash_crash_lite's path per tick: the mid's factor (down at once, linear recovery over the 60 s
    window) and the spread's (x3 inside it); the NumPy and Python references apply it themselves."""
    k = np.arange(n)
    window = market.tick_of(60.0)
    f = 1.0 + shock * np.clip(1.0 - k / window, 0.0, 1.0) * (k > 0)
    g = np.where((k > 0) & (k < window), 3.0, 1.0)
    return f, g


def test_python_loop_reference(benchmark):
    sc, market, calm = _market(SMALL_SYMBOLS, SMALL_SECONDS)
    f, g = crash_path(market, sc.stress[0].params["price_shock_pct"], calm.n_ticks)
    mid0, half0 = calm.mid(), 0.5 * (calm.ask - calm.bid)
    qty = 0.025 * 1e6 / mid0[0]
    liq_base = (mid0 / (2 * half0)).mean(axis=0)
    cash = 1e6 - float(np.dot(qty, calm.bid[0]))
    args = (mid0.tolist(), half0.tolist(), f.tolist(), g.tolist(), qty.tolist(), cash, [1e-8] * SMALL_SYMBOLS,
            liq_base.tolist(), [5.0, 2.0, 10.0])  # fmt: skip
    benchmark(python_loop, *args)
    _record(benchmark, "python", calm.n_ticks * calm.n_symbols)


def test_numpy_vectorised_reference(benchmark, big):
    sc, market, calm = big
    n = calm.n_ticks
    f, g = crash_path(market, sc.stress[0].params["price_shock_pct"], n)
    mid0, half0 = calm.mid(), 0.5 * (calm.ask - calm.bid)
    qty = 0.025 * 1e6 / mid0[0]
    liq_base = (mid0 / (2 * half0)).mean(axis=0)

    def vectorised():
        mid = mid0 * f[:, None]
        half = half0 * g[:, None]
        bid, ask = mid - half, mid + half
        marks = np.where(qty > 0, bid, ask)
        cash = 1e6 - marks[0] @ qty
        equity = cash + marks @ qty
        net = mid @ qty
        peak = np.maximum.accumulate(equity)
        drawdown = (peak - equity) / peak * 100.0
        var_multiple = np.maximum(equity[0] - equity, 0.0) / 10_000.0
        delta = np.abs(net - net[0]) / (np.abs(qty) @ mid[0]) * 100.0
        r = np.diff(mid, axis=0) / mid[:-1]
        var = np.cumsum(r * r, axis=0)  # the EWMA does not vectorise: a running sum stands in for it
        ratio = (mid / (2 * half)) / liq_base
        halts = np.where(ratio < 0.02, 2, np.where(ratio < 0.25, 1, 0))
        first = [int(np.argmax(x > lim)) for x, lim in ((drawdown, 5.0), (var_multiple, 2.0), (delta, 10.0))]
        return first, var[-1], halts.sum()

    benchmark(vectorised)
    _record(benchmark, "numpy", n * calm.n_symbols)


def test_core_stress_execution_accounting_risk(benchmark, big):
    sc, market, calm = big
    weights = np.full(SYMBOLS, 0.025)  # 2.5x long: the drawdown passes 5 %, the Kelly clamp sells half
    spec = RiskSpec(portfolio_drawdown_pct=100.0)

    def core_pass():
        frame, _ = apply_stresses(calm, market, sc.stress, np.random.default_rng(1))
        return replay(frame, weights, 1e6, risk_spec=spec, calm=calm, kill_on_breach=False, tick_ms=100.0,
                      limits={"max_drawdown_pct": 5.0, "var_multiple": 2.0, "position_delta_pct": 10.0},
                      var_1d=10_000.0)  # fmt: skip

    out = benchmark(core_pass)
    assert out.fills_f.shape[1] > 0, "the benchmark must exercise the exchange"
    _record(benchmark, "core", calm.n_ticks * calm.n_symbols)
    if benchmark.stats is None:
        return
    benchmark.extra_info["fills"] = int(out.fills_f.shape[1])
    if "python" in _rates:
        x_python = _rates["core"] / _rates["python"]
        benchmark.extra_info["x_python_loop"] = round(x_python, 1)
        # the core does more than the loop (orders, fills, events) and still runs several times faster; a
        # kernel that fell back to Python would run slower than the loop, far below this line
        assert x_python > 2, (
            f"the core is only {x_python:.1f}x a plain Python loop: is a kernel not compiled?"
        )
    if "numpy" in _rates:
        benchmark.extra_info["x_numpy_vectorised"] = round(_rates["core"] / _rates["numpy"], 3)
