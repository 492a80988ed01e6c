"""Invariants of the stresses on random frames and parameters (Hypothesis): books stay uncrossed and prices
positive (all but data_corruption), the flash-crash trough is the shock, draws follow the seed, the input is
never written, and a session stressed chunk by chunk equals the session stressed whole."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pytest_stress.market.frame import Depth, MarketFrame
from pytest_stress.replay.transforms import StressCarry, apply_stresses
from pytest_stress.scenario import MarketSpec, StressSpec
from pytest_stress.specs.stresses import CORRUPTION_KINDS

TICK_S = 0.1
PROPS = settings(max_examples=150, deadline=None)


def market_for(frame: MarketFrame) -> MarketSpec:
    n = frame.start_tick + frame.n_ticks
    return MarketSpec(
        source="synthetic", symbols=frame.n_symbols, duration_s=(n - 1) * TICK_S, tick_ms=100, seed=0
    )


@st.composite
def frames(draw, min_ticks: int = 4, max_ticks: int = 30) -> MarketFrame:
    """A random walk per symbol with a relative half-spread up to 40 % and a book of 0-3 levels, some of
    them empty (size 0)."""
    n = draw(st.integers(min_ticks, max_ticks))
    s = draw(st.integers(1, 4))
    levels = draw(st.integers(0, 3))
    start = draw(arrays(np.float64, s, elements=st.floats(0.01, 1e4)))
    steps = draw(arrays(np.float64, (n, s), elements=st.floats(-0.05, 0.05)))
    steps[0] = 0.0
    mid = start * np.exp(np.cumsum(steps, axis=0))
    half = mid * draw(arrays(np.float64, (n, s), elements=st.floats(1e-5, 0.4)))
    bid, ask = mid - half, mid + half
    out = np.cumsum(draw(arrays(np.float64, (n, s, levels), elements=st.floats(0.0, 0.15))), axis=2)
    out -= out[..., :1]  # level 0 is the top of book
    size = st.one_of(st.just(0.0), st.floats(0.1, 100.0))
    depth = Depth(
        np.ascontiguousarray(bid[..., None] - mid[..., None] * out),
        draw(arrays(np.float64, (n, s, levels), elements=size)),
        np.ascontiguousarray(ask[..., None] + mid[..., None] * out),
        draw(arrays(np.float64, (n, s, levels), elements=size)),
    )
    return MarketFrame(
        np.arange(n, dtype=np.int64) * 100_000_000,
        bid,
        ask,
        tuple(f"S{i}" for i in range(s)),
        volume=draw(arrays(np.float64, (n, s), elements=st.floats(0.0, 1e3))),
        depth=depth if levels else None,
    )


def _window(draw, n: int) -> dict:
    a = draw(st.integers(0, n - 3))
    d = draw(st.integers(2, n - 1 - a))
    return {"start_s": a * TICK_S, "duration_s": d * TICK_S}


def _mult(lo: float = 1.0, hi: float = 1000.0):
    return st.floats(lo, hi)


@st.composite
def stress_specs(draw, n: int, kinds: tuple[str, ...], corruptions=CORRUPTION_KINDS) -> StressSpec:
    """One valid stress of a kind from ``kinds`` for an ``n``-tick market."""
    kind = draw(st.sampled_from(kinds))
    if kind == "flash_crash":
        w = _window(draw, n)
        fall = draw(st.integers(0, round(w["duration_s"] / TICK_S) - 1)) * TICK_S
        shock = draw(st.floats(-0.99, -1e-4))
        size = {"price_shock_pct": shock} if draw(st.booleans()) else {"drop_pct": -shock}
        recovery = draw(st.sampled_from(["linear", "exponential", "none"]))
        p = {**w, **size, "fall_s": fall, "spread_mult": draw(_mult()), "recovery": recovery}
    elif kind == "volatility_spike":
        p = {**_window(draw, n), "multiplier": draw(st.floats(0.05, 10.0))}
    elif kind == "liquidity_drop":
        p = {**_window(draw, n), "drop_pct": draw(st.floats(0.0, 1.0))}
    elif kind == "spread_explosion":
        p = {**_window(draw, n), "spread_mult": draw(_mult())}
    elif kind == "depth_collapse":
        p = {
            **_window(draw, n),
            "levels_left": draw(st.integers(1, 4)),
            "spread_mult": draw(_mult()),
            "volume_drop_pct": draw(st.floats(0.0, 1.0)),
        }
    elif kind == "correlation_breakdown":
        p = {**_window(draw, n), "mode": draw(st.sampled_from(["decorrelate", "flip"]))}
    elif kind == "pump_and_dump":
        a = draw(st.integers(0, n - 3))
        pump = draw(st.integers(1, n - 2 - a))
        dump = draw(st.integers(1, n - 1 - a - pump))
        p = {
            "start_s": a * TICK_S,
            "pump_s": pump * TICK_S,
            "dump_s": dump * TICK_S,
            "pump_pct": draw(st.floats(1e-3, 100.0)),
            "dump_pct": draw(st.floats(0.0, 0.99)),
            "spread_mult": draw(_mult()),
            "symbols": draw(st.floats(0.01, 1.0)),
        }
    elif kind == "data_corruption":
        chosen = draw(st.lists(st.sampled_from(corruptions), min_size=1, max_size=5, unique=True))
        p = {
            **_window(draw, n),
            "corruption_pct": draw(st.floats(0.01, 1.0)),
            "corruption_types": tuple(chosen),
            "spike_pct": draw(st.floats(0.01, 0.5)),
            "stale_ticks": draw(st.integers(1, 6)),
        }
    elif kind == "mixed_custom":
        inner = tuple(k for k in kinds if k not in ("mixed_custom", "gap"))
        nested = draw(st.lists(stress_specs(n, inner, corruptions), min_size=1, max_size=3))
        p = {"stresses": tuple({"type": s.type, **s.params} for s in nested)}
    else:  # gap
        a = draw(st.integers(0, n - 2))
        p = {"start_s": a * TICK_S, "ticks": draw(st.integers(1, n - 1 - a))}
    return StressSpec(kind, p)


CLEAN = (
    "flash_crash",
    "volatility_spike",
    "liquidity_drop",
    "spread_explosion",
    "depth_collapse",
    "correlation_breakdown",
    "pump_and_dump",
    "mixed_custom",
)


@st.composite
def scenario(
    draw, kinds: tuple[str, ...] = CLEAN, corruptions: tuple[str, ...] = CORRUPTION_KINDS
) -> tuple[MarketFrame, tuple[StressSpec, ...]]:
    """A frame and 1-3 stresses of ``kinds`` for it, sometimes followed by a gap (gaps come last)."""
    frame = draw(frames())
    specs = draw(st.lists(stress_specs(frame.n_ticks, kinds, corruptions), min_size=1, max_size=3))
    if draw(st.booleans()):
        specs.append(draw(stress_specs(frame.n_ticks, ("gap",))))
    return frame, tuple(specs)


def stressed(frame: MarketFrame, specs, seed: int = 0, carry: StressCarry | None = None) -> MarketFrame:
    return apply_stresses(frame, market_for(frame), specs, np.random.default_rng(seed), carry)[0]


def fields(frame: MarketFrame) -> dict[str, np.ndarray]:
    out = {k: getattr(frame, k) for k in ("timestamps_ns", "bid", "ask", "last", "volume")}
    if frame.depth is not None:
        out.update({f"depth.{k}": getattr(frame.depth, k) for k in ("bid_px", "bid_sz", "ask_px", "ask_sz")})
    return out


@PROPS
@given(scenario())
def test_every_stress_but_corruption_keeps_books_uncrossed_and_prices_positive(case):
    frame, specs = case
    out = stressed(frame, specs)
    assert np.all(out.bid > 0.0)
    assert np.all(out.bid <= out.ask)
    assert np.all(out.last > 0.0)
    assert np.all(np.isfinite(out.ask))
    assert np.all(out.volume >= 0.0)
    assert np.all(np.diff(out.timestamps_ns) > 0)
    if out.depth is not None:
        d = out.depth
        bid_lv, ask_lv = d.bid_sz > 0.0, d.ask_sz > 0.0
        assert np.all(d.bid_px[bid_lv] > 0.0)
        assert np.all((d.bid_px <= out.bid[..., None])[bid_lv])  # no level better than the top of book
        assert np.all((d.ask_px >= out.ask[..., None])[ask_lv])
        both = bid_lv & ask_lv
        assert np.all(d.bid_px[both] <= d.ask_px[both])
        assert np.all(d.bid_sz >= 0.0)
        assert np.all(d.ask_sz >= 0.0)


@PROPS
@given(
    frames(min_ticks=6),
    st.floats(-0.99, -1e-4),
    st.sampled_from(["linear", "exponential", "none"]),
    st.booleans(),
    st.data(),
)
def test_the_flash_crash_trough_is_the_shock(frame, shock, recovery, as_drop, data):
    n = frame.n_ticks
    start = data.draw(st.integers(0, n - 3))
    span = data.draw(st.integers(2, n - 1 - start))
    fall = data.draw(st.integers(1, span - 1))
    size = {"drop_pct": -shock} if as_drop else {"price_shock_pct": shock}
    params = {"start_s": start * TICK_S, "duration_s": span * TICK_S, "fall_s": fall * TICK_S, **size}
    params.update(spread_mult=data.draw(st.floats(1.0, 1000.0)), recovery=recovery)
    out = stressed(frame, (StressSpec("flash_crash", params),))
    ratio = out.mid() / frame.mid()
    np.testing.assert_allclose(ratio[start + fall], 1.0 + shock, rtol=1e-9)
    assert np.all(ratio >= (1.0 + shock) * (1 - 1e-9))  # never below the trough
    # on a flat market the trough of the mid is exactly the shock
    flat = MarketFrame(
        frame.timestamps_ns, np.full_like(frame.bid, 99.0), np.full_like(frame.ask, 101.0), frame.symbols
    )
    assert stressed(flat, (StressSpec("flash_crash", params),)).mid().min() == pytest.approx(
        100.0 * (1.0 + shock)
    )


ALL = (*CLEAN, "data_corruption")


@PROPS
@given(scenario(ALL), st.integers(0, 2**32))
def test_the_same_seed_gives_bit_identical_output_and_the_input_is_never_written(case, seed):
    frame, specs = case
    before = {k: v.copy() for k, v in fields(frame).items()}
    first, second = stressed(frame, specs, seed), stressed(frame, specs, seed)
    for name, arr in fields(frame).items():
        np.testing.assert_array_equal(arr, before[name], err_msg=f"input {name} was written")
    for (name, a), b in zip(fields(first).items(), fields(second).values(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


SEEDED = {
    "data_corruption": {"corruption_pct": 0.05, "corruption_types": CORRUPTION_KINDS, "spike_pct": 0.2, "stale_ticks": 3},
    "correlation_breakdown": {"mode": "decorrelate"},
    "correlation_breakdown (flip)": {"mode": "flip"},
    "pump_and_dump": {"pump_pct": 0.2, "dump_pct": 0.1, "pump_s": 1.0, "dump_s": 1.0, "symbols": 0.5, "spread_mult": 1.0},
}  # fmt: skip


@pytest.mark.parametrize("label", sorted(SEEDED))
def test_the_seeded_stresses_draw_differently_for_other_seeds(label):
    from pytest_stress.market.synthetic import synthetic_frame

    market = MarketSpec(source="synthetic", symbols=16, duration_s=5.0, tick_ms=100, seed=3)
    calm, _ = synthetic_frame(market, np.random.default_rng(3))
    window = {} if label == "pump_and_dump" else {"duration_s": 4.0}
    spec = StressSpec(label.split()[0], {"start_s": 0.5, **window, **SEEDED[label]})
    outs = [apply_stresses(calm, market, (spec,), np.random.default_rng(seed))[0] for seed in range(6)]
    keys = {(o.bid.tobytes(), o.timestamps_ns.tobytes()) for o in outs}
    assert len(keys) == 6


def concat(chunks: list[MarketFrame]) -> MarketFrame:
    first = chunks[0]
    depth = None
    if first.depth is not None:
        depth = Depth(
            *(
                np.concatenate([getattr(c.depth, k) for c in chunks])
                for k in ("bid_px", "bid_sz", "ask_px", "ask_sz")
            )
        )
    return MarketFrame(
        np.concatenate([c.timestamps_ns for c in chunks]),
        np.concatenate([c.bid for c in chunks]),
        np.concatenate([c.ask for c in chunks]),
        first.symbols,
        last=np.concatenate([c.last for c in chunks]),
        volume=np.concatenate([c.volume for c in chunks]),
        depth=depth,
    )


# out_of_order swaps a tick with the next one, which a chunk ending there cannot see (documented)
NO_SWAP = tuple(k for k in CORRUPTION_KINDS if k != "out_of_order")


@PROPS
@given(scenario(ALL, NO_SWAP), st.data())
def test_stressing_a_session_chunk_by_chunk_equals_stressing_it_whole(case, data):
    frame, specs = case
    cuts = sorted(data.draw(st.lists(st.integers(1, frame.n_ticks - 1), min_size=1, max_size=3, unique=True)))
    whole = stressed(frame, specs, seed=7)
    carry = StressCarry()
    market = market_for(frame)
    bounds = [0, *cuts, frame.n_ticks]
    chunks = [
        apply_stresses(frame.rows(lo, hi), market, specs, np.random.default_rng(7), carry)[0]
        for lo, hi in itertools.pairwise(bounds)
    ]
    joined = concat([c for c in chunks if c.n_ticks] or chunks[:1])
    for (name, a), b in zip(fields(whole).items(), fields(joined).values(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


def with_book(frame: MarketFrame, levels: int = 3) -> MarketFrame:
    """The frame with a volume and a book whose level k sits k half-spreads further out."""
    half = (frame.ask - frame.bid)[..., None] / 2
    out = half * np.arange(levels)
    sizes = np.ascontiguousarray(np.broadcast_to(100.0 + np.arange(levels), (*frame.bid.shape, levels)))
    depth = Depth(frame.bid[..., None] - out, sizes, frame.ask[..., None] + out, sizes.copy())
    return MarketFrame(
        frame.timestamps_ns,
        frame.bid,
        frame.ask,
        frame.symbols,
        volume=np.full(frame.bid.shape, 50.0),
        depth=depth,
    )


@pytest.mark.parametrize("kind", ["flash_crash", "spread_explosion", "liquidity_drop", "volatility_spike"])
def test_chunk_equivalence_on_a_synthetic_market(kind):
    from pytest_stress.market.synthetic import synthetic_frame

    market = MarketSpec(source="synthetic", symbols=30, duration_s=60.0, tick_ms=100, seed=11)
    calm = with_book(synthetic_frame(market, np.random.default_rng(11))[0])
    params = {
        "flash_crash": {
            "price_shock_pct": -0.2,
            "fall_s": 3.0,
            "spread_mult": 4.0,
            "recovery": "exponential",
        },
        "spread_explosion": {"spread_mult": 15.0},
        "liquidity_drop": {"drop_pct": 0.95},
        "volatility_spike": {"multiplier": 8.0},
    }[kind]
    spec = (StressSpec(kind, {"start_s": 10.0, "duration_s": 30.0, **params}),)
    whole = apply_stresses(calm, market, spec, np.random.default_rng(0))[0]
    carry = StressCarry()
    parts = [
        apply_stresses(calm.rows(lo, hi), market, spec, np.random.default_rng(0), carry)[0]
        for lo, hi in ((0, 250), (250, 601))
    ]
    for (name, a), b in zip(fields(whole).items(), fields(concat(parts)).values(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    changed = [k for k, v in fields(whole).items() if not np.array_equal(v, fields(calm)[k])]
    assert changed, "the stress changed nothing"
