"""run_scenario: build the market, apply the stresses, hold the book through it, measure, check.

The Python layer only prepares arrays and wraps results; every per-tick loop runs in a compiled kernel.
Random streams are split from the scenario seed, so the intraday path does not change when, say, the
VaR lookback does, and the same seed gives bit-identical results in any process.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pytest_stress.certify.checks import evaluate
from pytest_stress.errors import ReplayError
from pytest_stress.market import synthetic
from pytest_stress.market.synthetic import synthetic_daily_returns, synthetic_frame
from pytest_stress.metrics import RISK_LIMIT_METRICS
from pytest_stress.replay import risk, transforms
from pytest_stress.replay.accounting import Portfolio, open_book, revalue
from pytest_stress.replay.result import Breach, ScenarioResult
from pytest_stress.replay.transforms import apply_stresses
from pytest_stress.scenario import MAX_CELLS, MAX_SYMBOLS, OnBreach, Scenario, load_scenario

# Independent random streams spawned from the scenario seed.
_STREAM_MARKET, _STREAM_HISTORY = 0, 1


def _streams(seed: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)]


_warm = False


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel on a tiny input, once per process.

    run_scenario calls it before starting its clock, so ``runtime_ms`` measures the replay, not the
    compiler; the first-call cost is reported separately by the benchmarks.
    """
    global _warm
    if _warm:
        return
    bid = np.full((3, 2), 99.0)
    ask = np.full((3, 2), 101.0)
    synthetic.gbm_bid_ask(
        np.full(2, 100.0), np.full(2, 1e-4), 0.5, np.zeros(3), np.zeros((3, 2)), np.full(2, 1e-4), bid, ask
    )
    transforms.flash_crash(bid, ask, 0, 1, 2, -0.01, 2.0, 0)
    qty, cash = open_book(np.full(2, 0.5), 1.0, bid[0], ask[0])
    equity, exposure, drawdown = np.empty(3), np.empty(3), np.empty(3)
    revalue(bid, ask, qty, cash, equity, exposure)
    risk.historical_var(risk.portfolio_pnl(np.ones(2), np.zeros((3, 2))), 0.99)
    risk.risk_pass(equity, exposure, 1.0, 1.0, np.full(risk.N_RISK_METRICS, np.nan), True, drawdown)
    _warm = True


def run_scenario(
    scenario: Scenario | str | Path,
    *,
    symbols: int | None = None,
    seed: int | None = None,
    portfolio: Portfolio | None = None,
) -> ScenarioResult:
    """Replay ``scenario`` (a Scenario, a library name or a YAML path) and return the measured result.

    ``symbols`` and ``seed`` override the scenario's market; ``portfolio`` replaces its default
    equal-weight book (its weights must have one entry per symbol).
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    sc = sc.with_overrides(symbols=symbols, seed=seed)
    market = sc.market
    if not 1 <= market.symbols <= MAX_SYMBOLS:
        raise ReplayError(f"{sc.name}: symbols must be between 1 and {MAX_SYMBOLS:,}, got {market.symbols}")
    if not 0 <= market.seed < 2**63:
        raise ReplayError(f"{sc.name}: seed must be between 0 and 2**63 - 1, got {market.seed}")
    if market.n_ticks * market.symbols > MAX_CELLS:
        raise ReplayError(
            f"{sc.name}: {market.n_ticks} ticks x {market.symbols} symbols is above the "
            f"limit of {MAX_CELLS:,} cells"
        )
    book = portfolio if portfolio is not None else Portfolio.from_spec(sc.portfolio, market.symbols)
    if book.weights.shape[0] != market.symbols:
        raise ReplayError(
            f"{sc.name}: the portfolio has {book.weights.shape[0]} weights but the market has "
            f"{market.symbols} symbols"
        )

    warm_up()
    started = time.perf_counter_ns()
    rng = _streams(market.seed)
    calm, symbol_params = synthetic_frame(market, rng[_STREAM_MARKET])
    frame, applied = apply_stresses(calm, market, sc.stress, rng[_STREAM_MARKET])

    qty, cash = open_book(book.weights, float(book.initial_capital), calm.bid[0], calm.ask[0])
    equity = np.empty(frame.n_ticks)
    net_exposure = np.empty(frame.n_ticks)
    revalue(frame.bid, frame.ask, qty, cash, equity, net_exposure)

    history = synthetic_daily_returns(symbol_params, sc.portfolio.var_lookback_days, rng[_STREAM_HISTORY])
    exposures = qty * calm.mid()[0]
    var_1d = risk.historical_var(risk.portfolio_pnl(exposures, history), sc.portfolio.var_confidence)

    limits = np.full(risk.N_RISK_METRICS, np.nan)
    for m, metric in enumerate(RISK_LIMIT_METRICS):
        e = sc.expectation(metric)
        if e is not None and e.max is not None:
            limits[m] = e.max
    drawdown = np.empty(frame.n_ticks)
    worst, breach_tick, breach_value, kill_tick = risk.risk_pass(
        equity,
        net_exposure,
        float(np.abs(exposures).sum()),
        var_1d,
        limits,
        sc.on_breach is OnBreach.KILL_SWITCH,
        drawdown,
    )
    runtime_ms = (time.perf_counter_ns() - started) / 1e6

    breaches = tuple(
        Breach(
            metric,
            int(breach_tick[m]),
            float(breach_tick[m] * market.tick_ms),
            float(limits[m]),
            float(breach_value[m]),
        )
        for m, metric in enumerate(RISK_LIMIT_METRICS)
        if breach_tick[m] >= 0
    )
    breaches = tuple(sorted(breaches, key=lambda b: b.tick))
    measured = {
        "max_drawdown_pct": float(worst[risk.DRAWDOWN]),
        "var_multiple": float(worst[risk.VAR_MULTIPLE]),
        "position_delta_pct": float(worst[risk.POSITION_DELTA]),
        "kill_switch_triggered": kill_tick >= 0,
        "breach_count": float(len(breaches)),
    }
    return ScenarioResult(
        scenario=sc.name,
        seed=market.seed,
        symbols=market.symbols,
        n_ticks=frame.n_ticks,
        tick_ms=market.tick_ms,
        initial_capital=float(book.initial_capital),
        gross_leverage=book.gross_leverage,
        max_drawdown_pct=measured["max_drawdown_pct"],
        var_multiple=measured["var_multiple"],
        position_delta_pct=measured["position_delta_pct"],
        var_1d=float(var_1d),
        var_confidence=sc.portfolio.var_confidence,
        worst_loss=float(max(equity[0] - equity.min(), 0.0)),
        breaches=breaches,
        kill_switch_triggered=kill_tick >= 0,
        kill_switch_tick=int(kill_tick) if kill_tick >= 0 else None,
        runtime_ms=runtime_ms,
        equity_curve=equity,
        drawdown_curve=drawdown,
        stresses=applied,
        checks=evaluate(sc.name, sc.expect, measured),
        source=sc.source,
    )
