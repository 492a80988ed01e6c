"""The ``execution:`` section: how the simulated exchange treats orders (latency, slippage, rejects, halts, fees).

Defaults are the seeds' numbers: 30 ms broker ACK (seed 004), 0.1 % base slippage and 0.1 % failure rate
(seed 003). Owned by the exchange simulator (``pytest_stress.replay.exchange``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_stress.schema import INVALID, Checker, KeyPath, Num, Spec


@dataclass(frozen=True)
class ExecutionSpec:
    ack_latency_ms: float = 30.0
    base_slippage_pct: float = 0.001  # fraction of price (0.001 = 0.1 %)
    failure_rate: float = 0.001  # fraction of orders rejected at random (seeded)
    fee_bps: float = 0.0


EXECUTION_FIELDS: dict[str, Spec] = {
    "ack_latency_ms": Num(lo=0.0, hi=60_000.0, default=30.0),
    "base_slippage_pct": Num(lo=0.0, hi=0.5, default=0.001),
    "failure_rate": Num(lo=0.0, hi=1.0, default=0.001),
    "fee_bps": Num(lo=0.0, hi=1_000.0, default=0.0),
}


def parse_execution(chk: Checker, path: KeyPath, raw: Any) -> ExecutionSpec | Any:
    values = chk.mapping(path, raw, EXECUTION_FIELDS)
    if values is None or INVALID in values.values():
        return INVALID
    return ExecutionSpec(**values)
