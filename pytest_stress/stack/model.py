"""The domain types the stack's parts exchange: bars, signals, orders, fills and what the OMS answers.

States are enums whose values are the runbooks' words (``ABSTAIN``, ``FAILED``), so ``result.status ==
"FAILED"`` reads as the runbook does and an operator can grep the logs for the same word.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class SignalSide(str, enum.Enum):
    BUY = "BUY"
    SELL = "SELL"
    ABSTAIN = "ABSTAIN"  # seed 001: the model declines to trade (low confidence, NaN features)


class Side(str, enum.Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(str, enum.Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderStatus(str, enum.Enum):
    PENDING = "PENDING"  # created, not yet accepted by the broker
    SUBMITTED = "SUBMITTED"  # acknowledged by the broker, nothing filled yet
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"  # refused before or by the broker (risk check, kill switch, broker reject)
    FAILED = "FAILED"  # seed 001: the broker could not be reached after every retry

    @property
    def terminal(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.FAILED)


class ConnectionState(str, enum.Enum):
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    RECONNECTING = "RECONNECTING"


@dataclass(frozen=True)
class Bar:
    """One OHLCV bar of one symbol; ``timestamp_ns`` is the bar's close, UTC nanoseconds."""

    symbol: str
    timestamp_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    def is_finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.open, self.high, self.low, self.close, self.volume))


@dataclass(frozen=True)
class Signal:
    """What a strategy wants: a side, the model's confidence (0..1) and why.

    ``explanation`` follows the prediction log of seed 001: ``{"rationale": ..., "abstain_reason": ...}``.
    """

    symbol: str
    side: SignalSide
    confidence: float
    quantity: float = 0.0
    timestamp_ns: int = 0
    explanation: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rationale(self) -> str:
        return str(self.explanation.get("rationale", ""))


_order_ids = itertools.count(1)


def new_client_order_id(prefix: str = "ord") -> str:
    """A process-unique client order id; the OMS keeps it across retries so a broker can drop repeats."""
    return f"{prefix}-{next(_order_ids):08d}"


@dataclass(frozen=True)
class Order:
    """An order as the strategy and risk governor see it. ``quantity`` > 0; ``side`` gives the direction."""

    symbol: str
    side: Side
    quantity: float
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    client_order_id: str = field(default_factory=new_client_order_id)
    reference_price: float | None = None  # the price the decision was made at, for the collar check
    strategy: str = ""  # the strategy that decided it ("" = none): its drawdown breaker applies

    @property
    def signed_quantity(self) -> float:
        return self.side.sign * self.quantity


@dataclass(frozen=True)
class BrokerAck:
    """The broker's answer to one submission."""

    client_order_id: str
    broker_order_id: str
    status: OrderStatus
    filled_quantity: float = 0.0
    avg_price: float = math.nan
    reject_reason: str = ""
    fee: float = 0.0  # fees of the fills this ack reports (filled_quantity), in currency


@dataclass(frozen=True)
class Fill:
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float = 0.0
    timestamp_ns: int = 0

    @property
    def signed_quantity(self) -> float:
        return self.side.sign * self.quantity


@dataclass(frozen=True)
class OrderResult:
    """What ``OMS.submit_order`` answers: the final status, why it was refused, and how hard it tried."""

    client_order_id: str
    status: OrderStatus
    filled_quantity: float = 0.0
    avg_price: float = math.nan
    reject_reason: str = ""
    attempts: int = 0


@dataclass(frozen=True)
class RiskDecision:
    """A pre-trade check's answer; ``reason`` names the limit that refused the order."""

    approved: bool
    reason: str = ""
    limit: str = ""


@dataclass(frozen=True)
class PortfolioSnapshot:
    """What a strategy sees of the book: cash, signed positions (units) and the latest marks."""

    cash: float
    positions: Mapping[str, float]
    marks: Mapping[str, float]
    timestamp_ns: int = 0

    @property
    def equity(self) -> float:
        return self.cash + sum(q * self.marks.get(s, 0.0) for s, q in self.positions.items())

    def gross_exposure(self) -> float:
        return sum(abs(q) * self.marks.get(s, 0.0) for s, q in self.positions.items())


@dataclass(frozen=True)
class DriftReport:
    """``DriftDetector.detect_drift`` answer (seed 001 scenario 4)."""

    psi: float  # the largest per-feature population stability index
    kl: float  # the largest per-feature KL divergence
    feature_scores: Mapping[str, Mapping[str, float]]  # feature -> {"psi": .., "kl": ..}
    health_score: float  # 0..100
    alert: bool
    reasons: tuple[str, ...] = ()
    pause_trading: bool = False  # always False in the reference: the runbook requires a human decision
    model_age_days: float = math.nan  # days since the model was trained, at ``as_of``

    def __getitem__(self, key: str) -> Any:  # the runbook reads drift_metrics['psi']
        return getattr(self, key)
