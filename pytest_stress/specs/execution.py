"""The ``execution:`` section: how the simulated exchange treats orders (latency, slippage, rejects, halts, fees).

Defaults are the seeds' numbers: 30 ms broker ACK (seed 004), 0.1 % base slippage and 0.1 % failure rate
(seed 003), latency spikes of 1 s when enabled (seed 000: 1-3 s). Units are in the names: ``_ms`` and
``_s`` are durations, ``base_slippage_pct`` and every ratio here are fractions (0.001 = 0.1 %).
The rules themselves are in ``pytest_stress.replay.exchange``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_stress.schema import INVALID, Checker, Flag, KeyPath, Num, Spec


@dataclass(frozen=True)
class ExecutionSpec:
    ack_latency_ms: float = 30.0  # order to exchange (seed 004: 30 ms broker ACK)
    latency_spike_prob: float = 0.0  # probability that an order is delayed by a spike
    latency_spike_ms: float = 1000.0  # the extra delay of a spike
    base_slippage_pct: float = 0.001  # fraction of price (0.001 = 0.1 %), when there is no L2 book
    max_slippage_pct: float = 0.01  # cap of the slippage model (a crash's volatility would run away)
    failure_rate: float = 0.001  # fraction of orders rejected at random (seeded)
    fee_bps: float = 0.0  # of the filled value
    max_participation: float = 0.1  # fraction of a tick's volume one order may take (no L2 book)
    cancel_unfilled: bool = False  # true: orders are immediate-or-cancel; false: the rest stays working
    halt_partial_liquidity: float = 0.25  # liquidity / pre-stress below this: HaltMode.PARTIAL
    halt_full_liquidity: float = 0.02  # below this: HaltMode.FULL
    liquidity_halflife_s: float = 0.5  # smoothing of the liquidity ratio (0: none)
    vol_halflife_s: float = 5.0  # EWMA of each symbol's volatility, for slippage


EXECUTION_FIELDS: dict[str, Spec] = {
    "ack_latency_ms": Num(lo=0.0, hi=60_000.0, default=30.0),
    "latency_spike_prob": Num(lo=0.0, hi=1.0, default=0.0),
    "latency_spike_ms": Num(lo=0.0, hi=600_000.0, default=1000.0),
    "base_slippage_pct": Num(lo=0.0, hi=0.5, default=0.001),
    "max_slippage_pct": Num(lo=0.0, hi=0.5, default=0.01),
    "failure_rate": Num(lo=0.0, hi=1.0, default=0.001),
    "fee_bps": Num(lo=0.0, hi=1_000.0, default=0.0),
    "max_participation": Num(lo=0.0, lo_open=True, hi=1.0, default=0.1),
    "cancel_unfilled": Flag(default=False),
    "halt_partial_liquidity": Num(lo=0.0, hi=1.0, default=0.25),
    "halt_full_liquidity": Num(lo=0.0, hi=1.0, default=0.02),
    "liquidity_halflife_s": Num(lo=0.0, hi=3_600.0, default=0.5),
    "vol_halflife_s": Num(lo=0.0, lo_open=True, hi=86_400.0, default=5.0),
}


def parse_execution(chk: Checker, path: KeyPath, raw: Any) -> ExecutionSpec | Any:
    values = chk.mapping(path, raw, EXECUTION_FIELDS)
    if values is None or INVALID in values.values():
        return INVALID
    if values["halt_full_liquidity"] > values["halt_partial_liquidity"]:
        return chk.fail(
            (*path, "halt_full_liquidity"),
            f"{values['halt_full_liquidity']:g} is above halt_partial_liquidity "
            f"{values['halt_partial_liquidity']:g}; a full halt needs less liquidity than a partial one",
        )
    return ExecutionSpec(**values)
