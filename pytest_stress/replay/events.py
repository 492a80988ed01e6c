"""Events of a replay: every activation of a risk control, halt or exchange anomaly, with tick and reason.

Kernels append events to a struct-of-arrays buffer (``EventBuffer``): tick (int64), code (int64),
symbol (int64, -1 for the whole book) and value (float64, the measured quantity that triggered it).
Codes are plain integers so kernels can use them; ``EVENT_NAMES`` and ``EVENT_REASONS`` turn them into
the words a risk officer reads in the report. Add new codes at the end of their block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

# --- risk engine (1xx) ---
KILL_SWITCH_ON = 100
KILL_SWITCH_RESET = 101
STRATEGY_BREAKER = 102
PORTFOLIO_BREAKER = 103
KELLY_CLAMP = 104
VOL_TARGET_SCALE = 105
VAR_TRIP = 106
CVAR_TRIP = 107
POSITION_DELTA_TRIP = 108
PRICE_COLLAR_REJECT = 109
ORDER_BLOCKED_KILL_SWITCH = 110
LIMIT_REJECT = 111  # max order value / volume / position
DRAWDOWN_TRIP = 112  # drawdown above the max_drawdown_pct limit of `expect:`
ORDER_BLOCKED_BREAKER = 113  # risk-increasing order refused while the strategy breaker is on
POLICY_CHANGE = 114  # the risk policy the book runs under changed (value: the new RiskPolicy)
# --- exchange (2xx) ---
HALT_PARTIAL = 200
HALT_FULL = 201
HALT_END = 202
ORDER_REJECTED = 203  # random failure (failure_rate)
ORDER_REJECTED_HALT = 204  # refused because of a halt (e.g. a position-increasing order in PARTIAL)
LATENCY_SPIKE = 205
PARTIAL_FILL = 206
ORDER_CANCELLED_KILL_SWITCH = 207  # working or in-flight orders cancelled when the kill switch fired
# --- data (3xx) ---
DATA_GAP = 300
DATA_CORRUPT_TICK = 301
CROSSED_BOOK = 302

EVENT_NAMES: dict[int, str] = {
    KILL_SWITCH_ON: "KILL_SWITCH",
    KILL_SWITCH_RESET: "KILL_SWITCH_RESET",
    STRATEGY_BREAKER: "STRATEGY_CIRCUIT_BREAKER",
    PORTFOLIO_BREAKER: "PORTFOLIO_CIRCUIT_BREAKER",
    KELLY_CLAMP: "KELLY_CLAMP",
    VOL_TARGET_SCALE: "VOL_TARGET_SCALE",
    VAR_TRIP: "VAR_TRIP",
    CVAR_TRIP: "CVAR_TRIP",
    POSITION_DELTA_TRIP: "POSITION_DELTA_TRIP",
    PRICE_COLLAR_REJECT: "PRICE_COLLAR_REJECT",
    ORDER_BLOCKED_KILL_SWITCH: "ORDER_BLOCKED_KILL_SWITCH",
    LIMIT_REJECT: "LIMIT_REJECT",
    DRAWDOWN_TRIP: "DRAWDOWN_TRIP",
    ORDER_BLOCKED_BREAKER: "ORDER_BLOCKED_BREAKER",
    POLICY_CHANGE: "POLICY_CHANGE",
    HALT_PARTIAL: "HALT_PARTIAL",
    HALT_FULL: "HALT_FULL",
    HALT_END: "HALT_END",
    ORDER_REJECTED: "ORDER_REJECTED",
    ORDER_REJECTED_HALT: "ORDER_REJECTED_HALT",
    LATENCY_SPIKE: "LATENCY_SPIKE",
    PARTIAL_FILL: "PARTIAL_FILL",
    ORDER_CANCELLED_KILL_SWITCH: "ORDER_CANCELLED_KILL_SWITCH",
    DATA_GAP: "DATA_GAP",
    DATA_CORRUPT_TICK: "DATA_CORRUPT_TICK",
    CROSSED_BOOK: "CROSSED_BOOK",
}

EVENT_REASONS: dict[int, str] = {
    KILL_SWITCH_ON: "a risk limit or the portfolio breaker tripped; new orders blocked, open ones cancelled, "
    "positions kept, until reset",
    KILL_SWITCH_RESET: "kill switch reset explicitly",
    STRATEGY_BREAKER: "strategy drawdown above its circuit-breaker limit",
    PORTFOLIO_BREAKER: "portfolio drawdown above its circuit-breaker limit",
    KELLY_CLAMP: "drawdown passed its threshold: Kelly utilisation clamped",
    VOL_TARGET_SCALE: "realised volatility above target: exposure scaled down",
    VAR_TRIP: "loss above the VaR multiple limit",
    CVAR_TRIP: "loss above the CVaR limit",
    POSITION_DELTA_TRIP: "net position changed more than its limit",
    PRICE_COLLAR_REJECT: "order price too far from the mid (max price deviation)",
    ORDER_BLOCKED_KILL_SWITCH: "order blocked: kill switch is on",
    LIMIT_REJECT: "order above a pre-trade limit (value, volume or position)",
    DRAWDOWN_TRIP: "drawdown above its limit",
    ORDER_BLOCKED_BREAKER: "risk-increasing order blocked: strategy circuit breaker is on",
    POLICY_CHANGE: "risk policy changed (0 normal, 1 vol-scaled, 2 Kelly-clamped, 3 breaker, 4 kill switch)",
    HALT_PARTIAL: "book liquidity collapsed: only position-reducing orders accepted",
    HALT_FULL: "trading halted: no orders accepted",
    HALT_END: "halt lifted",
    ORDER_REJECTED: "order rejected by the exchange",
    ORDER_REJECTED_HALT: "order refused during a halt",
    LATENCY_SPIKE: "order latency spike",
    PARTIAL_FILL: "order partly filled (not enough displayed size or volume)",
    ORDER_CANCELLED_KILL_SWITCH: "open orders cancelled by the kill switch (value: how many)",
    DATA_GAP: "ticks missing from the feed",
    DATA_CORRUPT_TICK: "corrupted tick (NaN, spike, duplicate, stale or out of order)",
    CROSSED_BOOK: "bid above ask",
}


@njit(cache=True)
def push_event(ev_tick, ev_code, ev_symbol, ev_value, count, tick, code, symbol, value):
    """Append one event to the buffer arrays; ``count`` is a 1-element int64 array. Drops when full
    (the caller sizes the buffer; ``count`` keeps counting so the overflow is visible)."""
    i = count[0]
    if i < ev_tick.shape[0]:
        ev_tick[i] = tick
        ev_code[i] = code
        ev_symbol[i] = symbol
        ev_value[i] = value
    count[0] = i + 1


@njit(cache=True)
def emit(ev, tick, code, symbol, value):
    """``push_event`` with the five buffer arrays as one tuple (``EventBuffer.arrays()``), as kernels pass them."""
    push_event(ev[0], ev[1], ev[2], ev[3], ev[4], tick, code, symbol, float(value))


@dataclass(frozen=True)
class Event:
    """One activation: at ``tick`` (``time_ms`` after tick 0), ``event`` (a runbook name such as
    KILL_SWITCH or HALT_PARTIAL) on ``symbol`` (None: the whole book), with the measured ``value``."""

    tick: int
    time_ms: float
    event: str
    symbol: str | None
    value: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "tick": self.tick,
            "time_ms": self.time_ms,
            "event": self.event,
            "symbol": self.symbol,
            "value": self.value,
            "reason": self.reason,
        }


@dataclass(eq=False)
class EventBuffer:
    """Preallocated event arrays a kernel writes to; ``count[0]`` is the number pushed (may exceed capacity)."""

    tick: np.ndarray
    code: np.ndarray
    symbol: np.ndarray
    value: np.ndarray
    count: np.ndarray

    @classmethod
    def empty(cls, capacity: int = 4096) -> EventBuffer:
        return cls(
            np.zeros(capacity, dtype=np.int64),
            np.zeros(capacity, dtype=np.int64),
            np.zeros(capacity, dtype=np.int64),
            np.zeros(capacity, dtype=np.float64),
            np.zeros(1, dtype=np.int64),
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The five arrays in ``push_event`` order, to pass into a kernel."""
        return self.tick, self.code, self.symbol, self.value, self.count

    @property
    def dropped(self) -> int:
        return max(int(self.count[0]) - self.tick.shape[0], 0)

    @property
    def size(self) -> int:
        """Events held (never more than the capacity)."""
        return min(int(self.count[0]), self.tick.shape[0])

    def ensure_free(self, free: int) -> None:
        """Grow the arrays (doubling) until at least ``free`` more events fit; kept events stay."""
        capacity = self.tick.shape[0]
        need = int(self.count[0]) + free
        if need <= capacity:
            return
        while capacity < need:
            capacity *= 2
        for name in ("tick", "code", "symbol", "value"):
            old = getattr(self, name)
            grown = np.zeros(capacity, dtype=old.dtype)
            grown[: old.shape[0]] = old
            setattr(self, name, grown)

    def codes(self) -> np.ndarray:
        return self.code[: self.size]

    def events(
        self, tick_ms: float, symbols: tuple[str, ...] = (), timestamps_ns: np.ndarray | None = None
    ) -> tuple[Event, ...]:
        return tuple(Event(**r) for r in self.records(tick_ms, symbols, timestamps_ns))

    def records(
        self,
        tick_ms: float,
        symbols: tuple[str, ...] = (),
        timestamps_ns: np.ndarray | None = None,
    ) -> list[dict[str, Any]]:
        """One dict per event; ``time_ms`` is from ``timestamps_ns`` (tick -> ns, relative to tick 0) when
        given, so gaps in the feed are honoured, else ``tick * tick_ms``."""
        out = []
        for i in range(self.size):
            code, sym, tick = int(self.code[i]), int(self.symbol[i]), int(self.tick[i])
            if timestamps_ns is not None and 0 <= tick < timestamps_ns.shape[0]:
                time_ms = float(timestamps_ns[tick] - timestamps_ns[0]) / 1e6
            else:
                time_ms = float(tick * tick_ms)
            out.append(
                {
                    "tick": tick,
                    "time_ms": time_ms,
                    "event": EVENT_NAMES.get(code, str(code)),
                    "symbol": (symbols[sym] if 0 <= sym < len(symbols) else str(sym)) if sym >= 0 else None,
                    "value": float(self.value[i]),
                    "reason": EVENT_REASONS.get(code, ""),
                }
            )
        return out
