"""What the runbook suite needs of a trading stack's parts, as ``typing.Protocol`` classes.

The reference stack in this package is one implementation; a user's own strategy, OMS, broker client,
risk governor or drift detector is certified by the same tests when it has these methods. Names follow
the runbooks (seed 001: ``generate_signals``, ``prepare_features``, ``submit_order``, ``detect_drift``;
seed 002: ``reset_circuit``). Every part that waits or reads the time does it through the ``Clock`` it
was built with, so the suite can run a 15-minute feed loss or a backoff schedule in simulated time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pytest_stress.stack.bus import EventBus, StackEvent
from pytest_stress.stack.model import (
    Bar,
    BrokerAck,
    ConnectionState,
    DriftReport,
    Fill,
    Order,
    OrderResult,
    PortfolioSnapshot,
    RiskDecision,
    Signal,
)

BROKER_CONNECTED = "Connected"
BROKER_DISCONNECTED = "Broker Disconnected"  # seed 001 scenario 3: the dashboard warning, verbatim


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Seconds, monotonic."""

    def sleep(self, seconds: float) -> None: ...


@runtime_checkable
class Strategy(Protocol):
    """Seed 001: fewer than 200 bars -> no signals; NaN features -> one ABSTAIN signal whose rationale
    names them; confidence below the abstain threshold -> ABSTAIN. Every prediction is one JSON line in
    ``predictions.jsonl`` under the stack's log directory."""

    name: str

    def on_market_data(self, bar: Bar) -> None: ...

    def generate_signals(self, portfolio: PortfolioSnapshot) -> list[Signal]: ...

    def buffer_sizes(self) -> Mapping[str, int]:
        """Current length of every buffer that grows with time (``price_history`` per symbol at most,
        ``performance_records``): seed 001 scenario 5 bounds them at 250 and 10,000."""


@runtime_checkable
class InferenceAdapter(Protocol):
    feature_names: Sequence[str]

    def prepare_features(self, features: Mapping[str, float]) -> Any:
        """The model's input vector. Raises ``ValueError`` naming every NaN feature (seed 001).
        ``features`` holds ``feature_names`` and may hold more (the reference adds ``close``, the price
        level that scale-free ratios need)."""

    def predict(self, features: Mapping[str, float]) -> tuple[float, float]:
        """``(probability the price rises, confidence)``, both in 0..1."""


@runtime_checkable
class BrokerClient(Protocol):
    """The broker as the OMS sees it. ``submit_order`` raises ``TimeoutError`` or ``ConnectionError``
    when the broker cannot be reached; a repeated ``client_order_id`` must return the first answer,
    never a second order. What fills at submission is reported in the ack (``filled_quantity``,
    ``avg_price``, ``fee``) and never again by ``poll_fills``, which reports only later fills."""

    @property
    def connection_state(self) -> ConnectionState: ...

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def submit_order(self, order: Order) -> BrokerAck: ...

    def cancel_order(self, client_order_id: str) -> BrokerAck: ...

    def get_positions(self) -> Mapping[str, float]:
        """Signed units per symbol; raises ``ConnectionError`` while disconnected."""

    def poll_fills(self) -> list[Fill]:
        """Fills since the last call (orders that rest or fill in parts report later fills here)."""


@dataclass(frozen=True)
class OMSStatus:
    broker: str  # BROKER_CONNECTED or BROKER_DISCONNECTED
    trading_paused: bool
    pause_reason: str = ""
    open_orders: tuple[str, ...] = ()  # client order ids still working at the broker
    consecutive_failures: int = 0


@dataclass(frozen=True)
class ReconciliationReport:
    matched: bool
    mismatches: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # symbol -> (local, broker)
    used_cache: bool = False  # the broker was unreachable: nothing compared
    detail: str = ""


@runtime_checkable
class OMS(Protocol):
    """Seed 001 scenario 3: 3 retries with exponential backoff, then FAILED with a reason naming the
    cause and an alert; trading paused until the broker is back; cached positions meanwhile; a
    reconciliation mismatch activates the kill switch. Every order is a JSON line in ``orders.jsonl``."""

    def submit_order(self, order: Order) -> OrderResult: ...

    def positions(self) -> Mapping[str, float]:
        """The broker's positions when reachable, the last known ones otherwise (never raises)."""

    def fills(self) -> Sequence[Fill]: ...

    def orders(self) -> Mapping[str, OrderResult]:
        """The latest result of every order this OMS was given, by client order id."""

    def reconcile(self) -> ReconciliationReport: ...

    def heartbeat(self) -> None:
        """Check the broker connection, collect fills, resume trading once the broker is back."""

    def status(self) -> OMSStatus: ...


OrderManagementSystem = OMS  # seed 001's name for it


@dataclass(frozen=True)
class GovernorStatus:
    kill_switch_active: bool
    kill_switch_reason: str = ""
    halted_strategies: frozenset[str] = frozenset()
    drawdown_pct: float = 0.0  # portfolio drawdown from its peak, percent


@runtime_checkable
class RiskGovernor(Protocol):
    """Pre-trade checks, drawdown breakers (5 % strategy, 10 % portfolio) and the kill switch, which
    blocks every new order, keeps positions, and stays on until ``reset_circuit`` (seeds 001, 002)."""

    def check_order(self, order: Order, portfolio: PortfolioSnapshot) -> RiskDecision:
        """Approve or refuse before the order is sent; the strategy breaker applies to
        ``order.strategy``; price checks compare with ``portfolio.marks``."""

    def on_equity(self, equity: float, *, strategy: str | None = None) -> None:
        """Mark the equity of one strategy (its breaker) or, with None, of the portfolio."""

    @property
    def kill_switch_active(self) -> bool: ...

    def activate_kill_switch(self, reason: str) -> None: ...

    def reset_circuit(self, reason: str, operator: str = "") -> None: ...

    def status(self) -> GovernorStatus: ...


@runtime_checkable
class DriftDetector(Protocol):
    """Seed 001 scenario 4: PSI > 0.2 or KL > 0.3 or health < 70 or a model older than 90 days alerts
    ("Model drift detected for NAME"); it never pauses trading by itself."""

    model_name: str
    trained_at: dt.datetime
    reference_distributions: Mapping[str, Sequence[float]]

    def detect_drift(
        self, features: Mapping[str, Sequence[float]], *, as_of: dt.datetime | None = None
    ) -> DriftReport: ...


@runtime_checkable
class FeedMonitor(Protocol):
    """Seed 001 data feed loss: no bar for more than 15 minutes raises DATA_FEED_LOSS."""

    def on_bar(self, bar: Bar) -> None: ...

    def check(self) -> list[StackEvent]:
        """Events raised by this check (an alert once per loss, not on every call)."""


@runtime_checkable
class ResourceGuard(Protocol):
    """Seed 001 scenario 5: alert when one signal generation takes over 1 s or memory passes 80 % of
    the limit."""

    memory_limit_bytes: int

    def observe(self, *, signal_seconds: float, memory_bytes: int) -> list[StackEvent]: ...


# --- what a stack factory receives and returns (``make_stack(ctx: StackContext) -> TradingStack``) ---


@dataclass
class StackContext:
    broker: BrokerClient
    bus: EventBus
    clock: Clock
    log_dir: Path
    options: dict[str, Any] = field(default_factory=dict)  # free-form settings a factory may read


@dataclass
class TradingStack:
    """The parts under test. ``inference``, ``feed_monitor`` and ``resource_guard`` may be None: the
    runbook checks that need them are then reported as not evaluated (skipped), never as passed."""

    name: str
    strategy: Strategy
    oms: OMS
    broker: BrokerClient
    risk_governor: RiskGovernor
    drift_detector: DriftDetector
    bus: EventBus
    clock: Clock
    log_dir: Path
    inference: InferenceAdapter | None = None
    feed_monitor: FeedMonitor | None = None
    resource_guard: ResourceGuard | None = None

    @property
    def predictions_log(self) -> Path:
        return self.log_dir / "predictions.jsonl"

    @property
    def orders_log(self) -> Path:
        return self.log_dir / "orders.jsonl"


Factory = Callable[[StackContext], TradingStack]
