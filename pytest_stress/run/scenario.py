"""run_scenario: build the market, apply the stresses, replay the managed book through them, measure, check;
and prepare_market, the one way every runner (run_scenario, the harness, the services) builds its market.

The Python layer only prepares arrays and wraps results; every per-tick loop runs in a compiled kernel
(``replay.core``). Random streams are split from the scenario seed, so the intraday path does not change
when, say, the VaR lookback does, and the same seed gives bit-identical results in any process and for
any chunk size.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pytest_stress.checks import evaluate
from pytest_stress.errors import ReplayError
from pytest_stress.market import synthetic
from pytest_stress.market.frame import Depth, MarketFrame
from pytest_stress.market.synthetic import synthetic_daily_returns, synthetic_frame
from pytest_stress.metrics import RISK_LIMIT_METRICS
from pytest_stress.replay import core, risk, transforms
from pytest_stress.replay.accounting import Portfolio, open_book
from pytest_stress.replay.exchange import OrderKind
from pytest_stress.replay.session import OrderSchedule, ReplayOutput, ReplaySession
from pytest_stress.replay.transforms import AppliedStress, StressCarry, apply_stresses
from pytest_stress.run.measure import NOT_MEASURED, breaches, measure, policy_transitions
from pytest_stress.run.result import Fills, ScenarioResult
from pytest_stress.scenario import MAX_CELLS, OnBreach, Scenario, load_scenario
from pytest_stress.specs.execution import ExecutionSpec
from pytest_stress.specs.market import MarketSpec
from pytest_stress.specs.risk import RiskSpec

# The risk: section's trip for each live-limit metric (an expect: max replaces it).
_RISK_TRIPS = {
    "var_multiple": "var_trip_multiple",
    "position_delta_pct": "position_delta_trip_pct",
    "cvar_multiple": "cvar_trip_multiple",
}


class Streams(NamedTuple):
    """The independent random streams of a run, spawned from the scenario seed in this order (a stream
    does not depend on how many others exist): the market's path and stresses, the VaR history, the
    exchange's latency and rejects."""

    market: np.random.Generator
    history: np.random.Generator
    exchange: np.random.Generator


def streams(seed: int) -> Streams:
    return Streams(*(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)))


@dataclass
class PreparedMarket:
    """A scenario's market, ready to replay: ``pairs`` yields (calm, stressed) frames, one pair for the whole
    session or one per chunk; ``applied`` holds the stresses as applied once the first pair was drawn.
    ``scenario`` is the scenario with a data-backed market's real size filled in."""

    scenario: Scenario
    params: synthetic.SymbolParams
    pairs: Iterator[tuple[MarketFrame, MarketFrame]]
    _applied: list[tuple[AppliedStress, ...]] = field(default_factory=list, repr=False)

    @property
    def applied(self) -> tuple[AppliedStress, ...]:
        if not self._applied:
            raise ReplayError(f"{self.scenario.name}: no chunk of the market was drawn yet")
        return self._applied[0]

    def whole(self) -> tuple[MarketFrame, MarketFrame]:
        """The calm and the stressed frame of an unchunked market."""
        (pair,) = self.pairs
        return pair


def prepare_market(sc: Scenario, rng: Streams, chunk_ticks: int | None = None) -> PreparedMarket:
    """Build, check and stress the market of ``sc`` on ``rng.market``: the seeded generator (whole or
    ``chunk_ticks`` at a time), a reconstruction, or the user's data, whose size is known only once read
    (its stress windows are checked against it here). Every way of running prepares its market here."""
    preloaded = None
    if sc.market.historic is not None:
        from pytest_stress.market import historic
        from pytest_stress.specs.historic import with_data

        preloaded = historic.load_market(sc.market)
        market = with_data(sc.market, preloaded[0].n_ticks, preloaded[0].n_symbols)
        historic.check_stresses(sc, market)
        sc = dataclasses.replace(sc, market=market)
    market = sc.market
    if market.n_ticks * market.symbols > MAX_CELLS:  # a data-backed market: the schema could not know
        raise ReplayError(
            f"{sc.name}: {market.n_ticks} ticks x {market.symbols} symbols is above the "
            f"limit of {MAX_CELLS:,} cells"
        )
    if chunk_ticks is not None and chunk_ticks < 1:
        raise ReplayError(f"{sc.name}: chunk_ticks must be at least 1, got {chunk_ticks}")
    applied_box: list[tuple[AppliedStress, ...]] = []
    if chunk_ticks is None or market.source != "synthetic":
        # data and reconstructions are built whole (a bridge needs its later pins), then cut into chunks
        calm, params = preloaded or market_frame(market, rng.market)
        if chunk_ticks is None:
            frame, applied = apply_stresses(calm, market, sc.stress, rng.market)
            applied_box.append(applied)
            pairs: Iterator[tuple[MarketFrame, MarketFrame]] = iter(((calm, frame),))
        else:
            chunks = (calm.rows(lo, lo + chunk_ticks) for lo in range(0, calm.n_ticks, chunk_ticks))
            pairs = _stressed_chunks(sc, chunks, rng.market, applied_box)
    else:
        generator = synthetic.SyntheticMarket(market, rng.market)
        params = generator.params
        pairs = _stressed_chunks(sc, generator.chunks(int(chunk_ticks)), rng.market, applied_box)
    return PreparedMarket(sc, params, pairs, applied_box)


def stressed_frame(sc: Scenario) -> tuple[MarketFrame, MarketFrame]:
    """The calm and the stressed market of a scenario, drawn exactly as run_scenario draws them."""
    return prepare_market(sc, streams(sc.market.seed)).whole()


_warm = False


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel on a tiny input, once per process.

    run_scenario calls it before starting its clock, so ``runtime_ms`` measures the replay, not the
    compiler; the first-call cost is reported separately by the benchmarks.
    """
    global _warm
    if _warm:
        return
    synthetic.warm_up()
    transforms.warm_up()
    price_index(
        MarketFrame(np.arange(2, dtype=np.int64), np.ones((2, 1)), np.ones((2, 1)), ("A",)), np.ones(1)
    )
    risk.historical_var(risk.portfolio_pnl(np.ones(2), np.zeros((3, 2))), 0.99)
    risk.historical_cvar(risk.portfolio_pnl(np.ones(2), np.zeros((3, 2))), 0.99)
    ts = np.arange(4, dtype=np.int64) * 100_000_000
    b, a = np.full((4, 2), 99.0), np.full((4, 2), 101.0)
    schedule = OrderSchedule.from_rows(
        [
            (0, 0, 1.0, OrderKind.MARKET, np.nan),
            (0, 1, -1.0, OrderKind.LIMIT, 99.0),
            (1, 1, 0.0, OrderKind.CANCEL, np.nan),
        ]
    )
    depth = Depth(b[..., None].copy(), np.ones((4, 2, 1)), a[..., None].copy(), np.ones((4, 2, 1)))
    for frame in (
        MarketFrame(ts, b, a, ("A", "B")),
        MarketFrame(ts, b, a, ("A", "B"), volume=np.ones((4, 2)), depth=depth),
    ):
        session = ReplaySession(
            np.full(2, 0.5), 1e6, execution=ExecutionSpec(), risk_spec=RiskSpec(), rng=np.random.default_rng(0),
            schedule=schedule,
        )  # fmt: skip
        session.feed(frame)
        session.reset_kill_switch()
    _warm = True


def run_scenario(
    scenario: Scenario | str | Path,
    *,
    symbols: int | None = None,
    seed: int | None = None,
    portfolio: Portfolio | None = None,
    chunk_ticks: int | None = None,
) -> ScenarioResult:
    """Replay ``scenario`` (a Scenario, a library name or a YAML path) and return the measured result.

    ``symbols`` and ``seed`` override the scenario's market; ``portfolio`` replaces its default
    equal-weight book (its weights must have one entry per symbol). ``chunk_ticks`` stresses and replays
    the session that many ticks at a time (same result, less memory per step).
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    sc = sc.with_overrides(symbols=symbols, seed=seed)
    warm_up()
    started = time.perf_counter_ns()
    rng = streams(sc.market.seed)
    prepared = prepare_market(sc, rng, chunk_ticks)
    sc, market, pairs = prepared.scenario, prepared.scenario.market, prepared.pairs
    book = portfolio if portfolio is not None else Portfolio.from_spec(sc.portfolio, market.symbols)
    if book.weights.shape[0] != market.symbols:
        raise ReplayError(
            f"{sc.name}: the portfolio has {book.weights.shape[0]} weights but the market has "
            f"{market.symbols} symbols"
        )
    # the pre-stress baselines need the calm market's first BASELINE_TICKS rows before the replay starts
    head: list[tuple[MarketFrame, MarketFrame]] = []
    for pair in pairs:
        head.append(pair)
        if sum(c.n_ticks for c, _ in head) >= core.BASELINE_TICKS:
            break
    calm0 = head[0][0]

    capital = float(book.initial_capital)
    qty, _ = open_book(book.weights, capital, calm0.bid[0], calm0.ask[0])
    exposures = qty * 0.5 * (calm0.bid[0] + calm0.ask[0])
    history = synthetic_daily_returns(prepared.params, sc.portfolio.var_lookback_days, rng.history)
    pnl = risk.portfolio_pnl(exposures, history)
    conf = sc.portfolio.var_confidence
    var_1d, cvar_1d = risk.historical_var(pnl, conf), risk.historical_cvar(pnl, conf)
    tail = {
        f"{kind}_{round(c * 100)}": float(fn(pnl, c))
        for kind, fn in (("var", risk.historical_var), ("cvar", risk.historical_cvar))
        for c in (0.95, 0.99)
    }
    # per-second variance of the book's return, from its daily history: the volatility estimate's prior;
    # the market's calendar (a 6.5 h equity day, a 24 h crypto one) turns days into seconds and years
    days_per_year, session_s = synthetic.CALENDAR[market.asset_class]
    vol_prior = float(np.var(pnl)) / capital**2 / session_s

    session = ReplaySession(
        book.weights,
        capital,
        execution=sc.execution,
        risk_spec=sc.risk,
        rng=rng.exchange,
        limits=live_limits(sc),
        kill_on_breach=sc.on_breach is OnBreach.KILL_SWITCH,
        var_1d=var_1d,
        cvar_1d=cvar_1d,
        vol_prior=vol_prior,
        tick_ms=market.tick_ms,
        year_s=days_per_year * session_s,
    )
    for calm_chunk, _ in head:
        session.observe_calm(calm_chunk)
    base_mid = 0.5 * (calm0.bid[0] + calm0.ask[0])
    price_parts: list[np.ndarray] = []
    for _, stressed in itertools.chain(head, pairs):
        if stressed.n_ticks:
            session.feed(stressed)
            price_parts.append(price_index(stressed, base_mid))
    out = session.output()
    runtime_ms = (time.perf_counter_ns() - started) / 1e6
    return _result(
        sc,
        book,
        out,
        prepared.applied,
        var_1d,
        cvar_1d,
        tail,
        runtime_ms,
        chunk_ticks,
        dict(calm0.provenance),
        _forward_fill(np.concatenate(price_parts)),
    )


def price_index(frame: MarketFrame, base_mid: np.ndarray) -> np.ndarray:
    """The market's price path, one value per row of ``frame``: the equal-weight mean over symbols of
    mid / ``base_mid`` (the calm market's first mid, so the index opens at 1.0 and a stress already under
    way at tick 0 shows). Quotes the replay could not use (bid <= 0, ask < bid, not finite) and symbols
    without a usable base are left out of a row's mean; a row with none is NaN. One compiled pass, row by
    row, so any chunking gives the same values."""
    from pytest_stress.market.kernels import mean_mid_ratio

    out = np.empty(frame.n_ticks)
    mean_mid_ratio(frame.bid, frame.ask, np.ascontiguousarray(base_mid, dtype=np.float64), out)
    return out


def _forward_fill(series: np.ndarray) -> np.ndarray:
    """NaN rows take the last finite value before them (the replay forward-fills its marks the same way);
    leading NaNs stay."""
    finite = np.isfinite(series)
    if finite.all() or not finite.any():
        return series
    last = np.maximum.accumulate(np.where(finite, np.arange(series.shape[0]), -1))
    return np.where(last >= 0, series[np.maximum(last, 0)], np.nan)


def live_limits(sc: Scenario) -> dict[str, float]:
    """The live limit of each RISK_LIMIT_METRICS metric: the expect: max, else the risk: section's trip."""
    limits: dict[str, float] = {}
    for metric in RISK_LIMIT_METRICS:
        e = sc.expectation(metric)
        if e is not None and e.max is not None:
            limits[metric] = e.max
        elif metric in _RISK_TRIPS and getattr(sc.risk, _RISK_TRIPS[metric]) is not None:
            limits[metric] = getattr(sc.risk, _RISK_TRIPS[metric])
    return limits


def market_frame(market: MarketSpec, rng: np.random.Generator) -> tuple[MarketFrame, synthetic.SymbolParams]:
    """The unstressed market of ``market`` and the per-symbol parameters behind its VaR history: the seeded
    generator, the generator pinned to a reconstruction, or the user's data (``historic``/``dataset``)."""
    if market.historic is not None:
        from pytest_stress.market import historic

        return historic.load_market(market)
    calm, params = synthetic_frame(market, rng)
    if market.source == "reconstruction":
        from pytest_stress.market import reconstruct

        calm = reconstruct.pin(calm, market)
    return calm, params


def _stressed_chunks(
    sc: Scenario,
    chunks: Iterator[MarketFrame],
    rng: np.random.Generator,
    applied_box: list[tuple[AppliedStress, ...]],
) -> Iterator[tuple[MarketFrame, MarketFrame]]:
    """(calm, stressed) chunk by chunk: the market helper's chunks (bit-identical to the whole frame) and one
    StressCarry through all of them (transforms work in global ticks), so the replay sees what it would
    see on the whole session, with memory that depends on the chunk only."""
    carry = StressCarry()
    for calm in chunks:
        frame, applied = apply_stresses(calm, sc.market, sc.stress, rng, carry)
        if not applied_box:
            applied_box.append(applied)
        yield calm, frame


def _data_provenance(sc: Scenario, market_info: dict[str, object]) -> dict[str, object]:
    """What the report shows of the market's origin: a reconstruction's event, window and sources; the
    content hash of the user's data (the dataset version)."""
    out: dict[str, object] = {
        k: market_info[k]
        for k in ("start_utc", "dataset_sha256", "dataset_path", "dataset")
        if k in market_info
    }
    p = sc.provenance
    if p is not None:
        out.update(
            {
                "event": p.event,
                "window_utc": list(p.window_utc),
                "sources": list(p.sources),
                "facts": list(p.facts),
            }
        )
    return out


def _result(
    sc: Scenario,
    book: Portfolio,
    out: ReplayOutput,
    applied: tuple[AppliedStress, ...],
    var_1d: float,
    cvar_1d: float,
    tail: dict[str, float],
    runtime_ms: float,
    chunk_ticks: int | None,
    market_info: dict[str, object],
    price: np.ndarray | None = None,
) -> ScenarioResult:
    market = sc.market
    measured = measure(out)
    found = breaches(out, RISK_LIMIT_METRICS)
    measured["breach_count"] = float(len(found))
    equity = out.equity
    kill_row = int(out.rs[risk.RS_FIRST_KILL_ROW])
    notes = [f"{name} not measured: {NOT_MEASURED[name]}" for name in ("failed_models", "failed_strategies")]
    if measured["data_quality_issues"] or measured["data_gaps"]:
        notes.append(
            f"replay degraded: {measured['data_quality_issues']} unusable quotes or ticks and "
            f"{measured['data_gaps']} gaps; marks forward-filled from the last usable quote"
        )
    if kill_row >= 0:
        notes.append(f"KILL_SWITCH fired at tick {kill_row}; orders after it were blocked")
    return ScenarioResult(
        scenario=sc.name,
        seed=market.seed,
        symbols=market.symbols,
        n_ticks=int(equity.shape[0]),
        tick_ms=market.tick_ms,
        initial_capital=float(book.initial_capital),
        gross_leverage=book.gross_leverage,
        max_drawdown_pct=measured["max_drawdown_pct"],
        var_multiple=measured["var_multiple"],
        position_delta_pct=measured["position_delta_pct"],
        var_1d=float(var_1d),
        var_confidence=sc.portfolio.var_confidence,
        worst_loss=float(max(equity[0] - equity.min(), 0.0)),
        breaches=found,
        kill_switch_triggered=kill_row >= 0,
        kill_switch_tick=kill_row if kill_row >= 0 else None,
        runtime_ms=runtime_ms,
        equity_curve=equity.copy(),
        drawdown_curve=out.drawdown.copy(),
        stresses=applied,
        checks=evaluate(sc.name, sc.expect, measured, NOT_MEASURED),
        source=sc.source,
        cvar_1d=float(cvar_1d),
        cvar_multiple=measured["cvar_multiple"],
        tail_risk=tail,
        metrics=measured,
        policy_transitions=policy_transitions(out),
        fills=Fills.from_output(out),
        events=out.events.events(market.tick_ms, out.symbols, out.timestamps_ns),
        events_dropped=out.events.dropped,
        notes=tuple(notes),
        provenance={
            "seed": market.seed,
            "market": market.source,
            "kind": sc.provenance_kind,
            **_data_provenance(sc, market_info),
            "symbols": market.symbols,
            "transforms": [s.type for s in sc.stress],
            "chunk_ticks": chunk_ticks,
            "limits": live_limits(sc),
        },
        symbol_names=out.symbols,
        price_index=price,
    )
