"""Calibrated reconstructions: a seeded synthetic market pinned to the published facts of a historic event.

``pin`` keeps the synthetic market's microstructure (GARCH noise, spreads, depth, volume, trades) and
moves its mids onto the event: for each symbol the log mid is the log-linear line through the pinned
prices plus the synthetic noise bridged to zero at every pin (a Brownian bridge), so the path passes
exactly through each fact and wanders realistically between them. Quoted distances from the mid scale
with the ``spread`` profile, book sizes and volume with ``depth``, the noise with ``vol``; a halt freezes
the quotes and stops trading; ``funding`` replaces the perpetual funding rate. ``check_targets`` measures
the published figures (moves, peak-to-trough, retracement, depth and spread collapse, realised volatility,
halts, funding) on the frame the replay sees, so a test can hold the reconstruction to its facts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pytest_stress.market.frame import Depth, MarketFrame
from pytest_stress.market.synthetic import CALENDAR, default_tick_size
from pytest_stress.specs.market import MarketSpec
from pytest_stress.specs.reconstruction import Pin, ReconstructionSpec, Target


def _profile(pins: tuple[Pin, ...], t_s: np.ndarray, default: float = 1.0) -> np.ndarray:
    """Linear between pins, flat before the first and after the last; ``default`` with no pins."""
    if not pins:
        return np.full(t_s.shape[0], default)
    return np.interp(t_s, [p.at_s for p in pins], [p.value for p in pins])


def pinned_log_mid(
    noise: np.ndarray, t_s: np.ndarray, start_price: float, pins: tuple[Pin, ...]
) -> np.ndarray:
    """Log mid of one symbol: the log-linear line through (0, start_price) and the pins, plus ``noise``
    (a log path starting at 0) minus its own line through the pin times, so it is 0 at every pin."""
    knots_t = np.array([0.0, *[p.at_s for p in pins]])
    knots_v = np.log(np.array([start_price, *[p.value for p in pins]]))
    if knots_t.shape[0] > 1 and knots_t[1] == 0.0:  # a pin at the start replaces start_price
        knots_t, knots_v = knots_t[1:], knots_v[1:]
    line = np.interp(t_s, knots_t, knots_v)
    at_knots = np.interp(knots_t, t_s, noise)
    # after the last pin the noise runs free from 0 again (no later fact to bridge to)
    bridge = noise - np.interp(t_s, knots_t, at_knots)
    return line + bridge


def pin(calm: MarketFrame, market: MarketSpec) -> MarketFrame:
    """The synthetic ``calm`` frame of ``market`` moved onto its reconstruction (a new frame)."""
    rec = market.reconstruction
    if rec is None:
        raise ValueError("pin() needs a market with a reconstruction section")
    n, s = calm.n_ticks, calm.n_symbols
    tick_s = market.tick_ms / 1000.0
    t_s = np.arange(n) * tick_s
    mid = calm.mid()
    noise = np.log(mid / mid[0])
    vol = _profile(rec.vol, t_s)
    steps = np.diff(noise, axis=0) * vol[1:, None]
    noise = np.vstack([np.zeros((1, s)), np.cumsum(steps, axis=0)])
    new_log = np.empty((n, s))
    for i, sym in enumerate(rec.symbols):
        new_log[:, i] = pinned_log_mid(noise[:, i], t_s, sym.start_price, sym.path)
    halted = np.zeros(n, dtype=bool)
    for h in rec.halts:
        lo = round(h.at_s / tick_s)
        hi = min(n, lo + max(1, round(h.duration_s / tick_s)))
        new_log[lo:hi] = new_log[lo]
        halted[lo:hi] = True
    new_mid = np.exp(new_log)
    # quoted distances keep their share of the mid, widened by the spread profile
    widen = _profile(rec.spread, t_s)[:, None]
    scale = new_mid / mid

    def move(px: np.ndarray, mids: np.ndarray, new: np.ndarray, mult: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(new + (px - mids) * (new / mids) * mult)

    bid = move(calm.bid, mid, new_mid, widen)
    ask = move(calm.ask, mid, new_mid, widen)
    last = move(calm.last, mid, new_mid, widen)
    size = _profile(rec.depth, t_s)[:, None]
    volume = calm.volume * size
    volume[halted] = 0.0
    depth = None
    if calm.depth is not None:
        d = calm.depth
        m3, n3, w3 = mid[..., None], new_mid[..., None], widen[..., None]
        depth = Depth(
            move(d.bid_px, m3, n3, w3),
            np.ascontiguousarray(d.bid_sz * size[..., None]),
            move(d.ask_px, m3, n3, w3),
            np.ascontiguousarray(d.ask_sz * size[..., None]),
        )
    funding = calm.funding_rate
    if funding is not None:
        funding = funding.copy()
        for i, sym in enumerate(rec.symbols):
            if sym.funding:
                funding[:, i] = _profile(sym.funding, t_s)
    del scale
    start_prices = np.array([sym.start_price for sym in rec.symbols])
    return replace(
        calm,
        bid=bid,
        ask=ask,
        last=last,
        volume=np.ascontiguousarray(volume),
        depth=depth,
        funding_rate=funding,
        symbols=rec.names,
        tick_size=default_tick_size(market.asset_class, start_prices),
        provenance={
            **calm.provenance,
            "source": "reconstruction",
            "start_utc": rec.start,
            "model": "synthetic gbm-garch(1,1) bridged through pinned prices",
        },
    )


# --- measuring the facts on a frame ---------------------------------------------------------------


@dataclass(frozen=True)
class TargetResult:
    target: Target
    measured: float

    @property
    def error(self) -> float:
        return self.measured - self.target.value

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.measured)) and abs(self.error) <= self.target.tol + 1e-12

    def line(self) -> str:
        t = self.target
        who = f" {t.symbol}" if t.symbol else ""
        verdict = "ok" if self.ok else "MISSED"
        return (
            f"{t.kind}{who} {t.start}..{t.end}: measured {self.measured:.4g}, pinned {t.value:g} "
            f"+/- {t.tol:g} ({verdict}){' - ' + t.fact if t.fact else ''}"
        )


def _rows(frame: MarketFrame, tick_ms: int, start_s: float, end_s: float) -> slice:
    tick_s = tick_ms / 1000.0
    return slice(round(start_s / tick_s), min(frame.n_ticks, round(end_s / tick_s) + 1))


def measure(frame: MarketFrame, market: MarketSpec, t: Target) -> float:
    """The figure a target names, measured on ``frame`` (the pinned market, before any stress)."""
    rows = _rows(frame, market.tick_ms, t.start_s, t.end_s)
    if t.ref_start_s is not None and t.ref_end_s is not None:
        before = _rows(frame, market.tick_ms, t.ref_start_s, t.ref_end_s)
    else:
        before = slice(0, max(1, rows.start))
    i = frame.symbols.index(t.symbol) if t.symbol else None
    mid = frame.mid()
    if t.kind in ("move", "peak_to_trough", "retrace"):
        m = mid[rows, i]
        if t.kind == "move":
            return float((m[-1] / m[0] - 1.0) * 100.0)
        trough = int(np.argmin(m))
        peak = float(np.max(m[: trough + 1]))
        if t.kind == "peak_to_trough":
            return float((1.0 - m[trough] / peak) * 100.0)
        return float((m[-1] - m[trough]) / (peak - m[trough])) if peak > m[trough] else float("nan")
    if t.kind == "depth_min":
        if frame.depth is not None:
            size = frame.depth.bid_sz.sum(axis=2) + frame.depth.ask_sz.sum(axis=2)
        else:
            size = frame.volume
        total = size.sum(axis=1)
        return float(total[rows].min() / total[before].mean())
    if t.kind == "spread_ratio":
        rel = ((frame.ask - frame.bid) / mid).mean(axis=1)
        return float(rel[rows].mean() / rel[before].mean())
    if t.kind == "vol_ratio":
        step = max(1, round(t.sample_s * 1000.0 / market.tick_ms))
        m = mid[rows, i][::step]
        r = np.diff(np.log(m))
        days, session_s = CALENDAR[market.asset_class]
        annual = float(np.std(r) * np.sqrt(days * session_s / t.sample_s))
        calm = 0.5 * (market.annual_vol[0] + market.annual_vol[1])
        return annual / calm
    if t.kind == "halt_s":
        traded = np.nan_to_num(frame.volume[rows]).sum(axis=1) > 0
        m = mid[rows]
        longest = run = 0
        for k in range(m.shape[0]):
            if traded[k]:
                run = 0
            elif run and np.array_equal(m[k], m[k - 1]):
                run += 1
            else:
                run = 1  # the first tick of a halt: nothing trades from here on
            longest = max(longest, run)
        return longest * market.tick_ms / 1000.0
    if t.kind in ("funding_min", "funding_max"):
        if frame.funding_rate is None:
            return float("nan")
        f = frame.funding_rate[rows, i]
        return float(f.min() if t.kind == "funding_min" else f.max())
    raise ValueError(f"unknown target kind {t.kind!r}")


def check_targets(frame: MarketFrame, market: MarketSpec) -> list[TargetResult]:
    """Every target of the market's reconstruction, measured on ``frame``."""
    rec: ReconstructionSpec | None = market.reconstruction
    if rec is None:
        return []
    return [TargetResult(t, measure(frame, market, t)) for t in rec.targets]


def reconstructed_frame(market: MarketSpec, seed: int | None = None) -> MarketFrame:
    """The pinned market of ``market`` as the replay builds it (the engine's market stream of the seed)."""
    from pytest_stress.market.synthetic import synthetic_frame

    seq = np.random.SeedSequence(market.seed if seed is None else seed)
    rng = np.random.default_rng(seq.spawn(3)[0])
    calm, _ = synthetic_frame(market, rng)
    return pin(calm, market)
