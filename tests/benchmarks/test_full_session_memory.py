"""Peak memory of a full equity session replayed in chunks: 6.5 h at 1 s for 2,000 symbols.

The session is 23,401 ticks x 2,000 symbols = 46.8M cells; held whole, its bid, ask, last and volume
arrays alone take 1.5 GB (and a whole-frame run peaks near 3 GB). Streamed in chunks of 1,000 ticks
the peak must not depend on the session's length. The replay runs in a child process so that its peak
resident memory (ru_maxrss) is its own, not this test session's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

N_TICKS, N_SYMBOLS, CHUNK = 23_401, 2_000, 1_000
FIELDS = 4  # bid, ask, last, volume: what a whole frame holds at the least

CHILD = textwrap.dedent(
    """
    import dataclasses, json, resource, sys, time
    from pytest_stress import load_scenario, run_scenario

    sc = load_scenario("flash_crash_lite")
    market = dataclasses.replace(sc.market, symbols={symbols}, duration_s={seconds}, tick_ms=1000)
    sc = dataclasses.replace(sc, market=market)
    started = time.perf_counter()
    result = run_scenario(sc, chunk_ticks={chunk})
    json.dump(
        {{
            "n_ticks": result.n_ticks,
            "wall_s": time.perf_counter() - started,
            "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "max_drawdown_pct": result.max_drawdown_pct,
        }},
        sys.stdout,
    )
    """
)


def _replay_in_child(symbols: int, seconds: int, chunk: int) -> dict:
    code = CHILD.format(symbols=symbols, seconds=seconds, chunk=chunk)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_chunked_full_session_peak_memory(benchmark):
    out = benchmark.pedantic(_replay_in_child, args=(N_SYMBOLS, N_TICKS - 1, CHUNK), rounds=1, iterations=1)
    whole_frame_bytes = N_TICKS * N_SYMBOLS * 8 * FIELDS
    benchmark.extra_info.update(
        {
            "max_rss_mib": round(out["max_rss_bytes"] / 2**20),
            "whole_frame_mib": round(whole_frame_bytes / 2**20),
            "symbol_ticks_per_s": round(N_TICKS * N_SYMBOLS / out["wall_s"]),
        }
    )
    assert out["n_ticks"] == N_TICKS
    # the whole process (interpreter, numba, NumPy, the chunk buffers) stays under half of what the
    # frame's four price and volume arrays alone would take
    assert out["max_rss_bytes"] < whole_frame_bytes / 2


def test_chunked_peak_memory_does_not_grow_with_the_session():
    short = _replay_in_child(200, 2_340, CHUNK)
    long = _replay_in_child(200, 23_400, CHUNK)
    # ten times the session, the same chunk buffers: the peak grows by the per-tick results only
    # (equity and drawdown curves, 16 bytes a tick) and allocator noise, far from 10x
    assert long["max_rss_bytes"] < 1.3 * short["max_rss_bytes"]
