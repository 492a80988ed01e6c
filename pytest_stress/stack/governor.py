"""The reference risk governor: pre-trade limits, drawdown circuit breakers, the Kelly clamp, VaR and
position-delta trips and the kill switch, in plain Python (seeds 000, 001, 002; numbers as specs/risk.py).

Units: every ``*_pct`` is percent (5.0 = 5 %); equity, order value, loss and VaR are currency; positions
and volumes are units. Events go to the bus after the lock is released, so a handler may call back in.
"""

from __future__ import annotations

import logging
import math
import threading

from pytest_stress.stack.bus import EventBus, EventType, StackEvent
from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.model import Order, OrderType, PortfolioSnapshot, RiskDecision
from pytest_stress.stack.protocols import Clock, GovernorStatus

log = logging.getLogger(__name__)
SOURCE = "risk_governor"


class ReferenceRiskGovernor:
    """``protocols.RiskGovernor``.

    - ``check_order`` refuses, in this order: kill switch on ("kill switch active: <reason>"); a halted
      strategy's order that increases the position; quantity above ``max_order_volume``; a price (limit,
      else ``reference_price``) more than ``max_price_deviation_pct`` from ``portfolio.marks[symbol]``
      (skipped when either is missing); value above ``max_order_value``; a resulting |position| above
      ``max_position`` that is larger than the current one. Every refusal publishes ORDER_REJECTED.
      The strategy is the ``strategy=`` argument, else ``order.strategy`` ("" means none; read with
      ``getattr`` so an order type without the field works too).
    - ``on_equity``: a strategy drawdown >= ``strategy_drawdown_pct`` halts that strategy (CIRCUIT_BREAKER,
      level "strategy"); a portfolio drawdown >= ``portfolio_drawdown_pct`` publishes CIRCUIT_BREAKER
      (level "portfolio") and activates the kill switch.
    - ``on_pnl``: loss / VaR above ``var_trip_multiple`` activates the kill switch; ``on_exposure``: a net
      exposure change above ``position_delta_trip_pct`` of gross does too (seed 002).
    - The kill switch blocks every new order, never closes a position, and stays on until
      ``reset_circuit``, which also clears halted strategies and re-bases every peak at the last equity.
    """

    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock | None = None,
        strategy_drawdown_pct: float = 5.0,
        portfolio_drawdown_pct: float = 10.0,
        max_price_deviation_pct: float = 5.0,
        max_order_value: float = 1e6,
        max_order_volume: float = 1e5,
        max_position: float = 1e6,
        kelly_max_utilisation: float = 0.5,
        kelly_clamp_after_drawdown_pct: float = 5.0,
        var_trip_multiple: float = 2.0,
        position_delta_trip_pct: float = 10.0,
    ) -> None:
        self.bus = bus
        self.clock: Clock = clock or WallClock()
        self.strategy_drawdown_pct = strategy_drawdown_pct
        self.portfolio_drawdown_pct = portfolio_drawdown_pct
        self.max_price_deviation_pct = max_price_deviation_pct
        self.max_order_value = max_order_value
        self.max_order_volume = max_order_volume
        self.max_position = max_position
        self.kelly_max_utilisation = kelly_max_utilisation
        self.kelly_clamp_after_drawdown_pct = kelly_clamp_after_drawdown_pct
        self.var_trip_multiple = var_trip_multiple
        self.position_delta_trip_pct = position_delta_trip_pct
        self._lock = threading.RLock()
        self._kill_reason: str | None = None
        self._halted: dict[str, str] = {}  # strategy -> why
        self._peak: dict[str | None, float] = {}  # None is the portfolio
        self._last: dict[str | None, float] = {}
        self._drawdown: dict[str | None, float] = {}
        self._max_drawdown = 0.0  # portfolio, since the last reset: drives the Kelly clamp
        self._portfolio_breaker_fired = False

    # -- kill switch ------------------------------------------------------------------------------
    @property
    def kill_switch_active(self) -> bool:
        with self._lock:
            return self._kill_reason is not None

    def activate_kill_switch(self, reason: str, *, limit: str = "manual") -> None:
        """Block every new order until ``reset_circuit``. A second activation keeps the first reason."""
        with self._lock:
            if self._kill_reason is not None:
                return
            self._kill_reason = reason
        log.critical("KILL_SWITCH triggered: %s", reason)  # seed 002's grep line
        self._publish(EventType.KILL_SWITCH, reason, limit=limit)

    def reset_circuit(self, reason: str, operator: str = "") -> None:
        """The explicit operator action of seed 002 (``POST /api/v1/risk/reset_circuit``)."""
        if not reason.strip():
            raise ValueError("reset_circuit needs a reason: the runbook requires saying why trading resumes")
        with self._lock:
            previous = self._kill_reason or ""
            self._kill_reason = None
            self._halted.clear()
            self._peak = dict(self._last)  # drawdowns are measured from here on, not from the old peak
            self._drawdown = dict.fromkeys(self._last, 0.0)
            self._max_drawdown = 0.0
            self._portfolio_breaker_fired = False
        log.warning("KILL_SWITCH reset by %s: %s", operator or "<unknown>", reason)
        self._publish(EventType.KILL_SWITCH_RESET, reason, operator=operator, previous_reason=previous)

    # -- pre-trade --------------------------------------------------------------------------------
    def check_order(
        self, order: Order, portfolio: PortfolioSnapshot, *, strategy: str | None = None
    ) -> RiskDecision:
        strategy = strategy or getattr(order, "strategy", None) or None  # "" on an Order means none
        decision = self._decide(order, portfolio, strategy)
        if not decision.approved:
            self._publish(
                EventType.ORDER_REJECTED,
                decision.reason,
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                limit=decision.limit,
                strategy=strategy,
            )
        return decision

    def _decide(self, order: Order, portfolio: PortfolioSnapshot, strategy: str | None) -> RiskDecision:
        with self._lock:
            kill_reason = self._kill_reason
            halted_why = self._halted.get(strategy) if strategy is not None else None
        if kill_reason is not None:
            return RiskDecision(False, f"kill switch active: {kill_reason}", "kill_switch")
        qty = order.quantity
        if not (math.isfinite(qty) and qty > 0):
            return RiskDecision(False, f"invalid quantity {qty}: must be finite and > 0", "quantity")
        before = float(portfolio.positions.get(order.symbol, 0.0))
        after = before + order.signed_quantity
        increases = abs(after) > abs(before)
        if halted_why is not None and increases:
            return RiskDecision(False, f"strategy {strategy} halted: {halted_why}", "strategy_drawdown_pct")
        if qty > self.max_order_volume:
            return RiskDecision(
                False,
                f"order volume {qty:g} > max_order_volume {self.max_order_volume:g}",
                "max_order_volume",
            )
        price = order.limit_price if order.order_type is OrderType.LIMIT else order.reference_price
        mark = portfolio.marks.get(order.symbol)
        if _usable(price) and _usable(mark):
            deviation = abs(price / mark - 1.0) * 100.0  # type: ignore[operator]
            if deviation > self.max_price_deviation_pct:
                return RiskDecision(
                    False,
                    f"price collar: {order.symbol} order price {price:g} is {deviation:.2f} % from mark "
                    f"{mark:g} > max_price_deviation_pct {self.max_price_deviation_pct:g} %",
                    "max_price_deviation_pct",
                )
        value_px = next((p for p in (order.limit_price, order.reference_price, mark) if _usable(p)), None)
        if value_px is not None and qty * value_px > self.max_order_value:
            return RiskDecision(
                False,
                f"order value {qty * value_px:,.2f} > max_order_value {self.max_order_value:,.2f}",
                "max_order_value",
            )
        if abs(after) > self.max_position and increases:
            return RiskDecision(
                False,
                f"resulting position {after:g} {order.symbol} exceeds max_position {self.max_position:g}",
                "max_position",
            )
        return RiskDecision(True)

    # -- breakers and trips -----------------------------------------------------------------------
    def on_equity(self, equity: float, *, strategy: str | None = None) -> None:
        if not math.isfinite(equity):
            raise ValueError(f"on_equity(strategy={strategy!r}): equity must be finite, got {equity}")
        strategy = strategy or None  # "" is how an Order says "no strategy": the portfolio
        with self._lock:
            self._last[strategy] = equity
            peak = max(self._peak.get(strategy, equity), equity)
            self._peak[strategy] = peak
            dd = (peak - equity) / peak * 100.0 if peak > 0 else 0.0
            self._drawdown[strategy] = dd
            halt = fire = False
            if strategy is not None:
                halt = dd >= self.strategy_drawdown_pct and strategy not in self._halted
                if halt:
                    self._halted[strategy] = (
                        f"drawdown {dd:.2f} % >= strategy_drawdown_pct {self.strategy_drawdown_pct:g} %"
                    )
            else:
                self._max_drawdown = max(self._max_drawdown, dd)
                fire = dd >= self.portfolio_drawdown_pct and not self._portfolio_breaker_fired
                self._portfolio_breaker_fired = self._portfolio_breaker_fired or fire
        if halt:
            self._publish(
                EventType.CIRCUIT_BREAKER,
                f"strategy {strategy} halted: drawdown {dd:.2f} % >= {self.strategy_drawdown_pct:g} %",
                level="strategy",
                strategy=strategy,
                drawdown_pct=dd,
            )
        if fire:
            reason = (
                f"portfolio drawdown {dd:.2f} % >= portfolio_drawdown_pct {self.portfolio_drawdown_pct:g} %"
            )
            self._publish(EventType.CIRCUIT_BREAKER, reason, level="portfolio", drawdown_pct=dd)
            self.activate_kill_switch(reason, limit="portfolio_drawdown_pct")

    def kelly_utilisation(self, requested: float) -> float:
        """Seed 000: once the portfolio's max drawdown passes the clamp level, utilisation <= the cap."""
        with self._lock:
            clamped = self._max_drawdown > self.kelly_clamp_after_drawdown_pct
        return min(requested, self.kelly_max_utilisation) if clamped else requested

    def on_pnl(self, loss: float, var_1d: float) -> bool:
        """``loss`` since the start and ``var_1d`` as positive currency; True when the VaR trip fired."""
        if not (math.isfinite(var_1d) and var_1d > 0):
            raise ValueError(f"on_pnl: var_1d must be finite and > 0, got {var_1d}")
        multiple = loss / var_1d
        if multiple <= self.var_trip_multiple:
            return False
        self.activate_kill_switch(
            f"VaR multiple {multiple:.2f}x > var_trip_multiple {self.var_trip_multiple:g}x "
            f"(loss {loss:,.2f}, 1-day VaR {var_1d:,.2f})",
            limit="var_trip_multiple",
        )
        return True

    def on_exposure(self, net_before: float, net_after: float, gross: float) -> bool:
        """Seed 002 position-delta trip; True when it fired. A book with no gross exposure cannot trip."""
        if not (gross > 0 and math.isfinite(gross)):
            return False
        delta_pct = abs(net_after - net_before) / gross * 100.0
        if delta_pct <= self.position_delta_trip_pct:
            return False
        self.activate_kill_switch(
            f"position delta {delta_pct:.2f} % of gross > position_delta_trip_pct "
            f"{self.position_delta_trip_pct:g} %",
            limit="position_delta_trip_pct",
        )
        return True

    def status(self) -> GovernorStatus:
        with self._lock:
            return GovernorStatus(
                kill_switch_active=self._kill_reason is not None,
                kill_switch_reason=self._kill_reason or "",
                halted_strategies=frozenset(self._halted),
                drawdown_pct=self._drawdown.get(None, 0.0),
            )

    def _publish(self, kind: EventType, reason: str, **data: object) -> None:
        self.bus.publish(StackEvent(kind, reason, SOURCE, self.clock.now(), data))


def _usable(px: float | None) -> bool:
    return px is not None and math.isfinite(px) and px > 0
