"""The OMS under random sequences of submits, broker outages, reconnects and kill-switch toggles
(Hypothesis state machine), with the invariants the runbooks imply at every step.

Invariants: no order is both FILLED and FAILED; at most 1 + 3 broker attempts per order; no attempt
reaches the broker while the kill switch is on; the OMS's positions equal the sum of its fills, and the
broker's book moved by exactly the same amounts.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from pytest_stress.runbook.market import SUITE_PRICES, order
from pytest_stress.stack.model import OrderStatus, Side

pytestmark = pytest.mark.stress

MAX_ATTEMPTS = 1 + 3
SYMBOLS = ("SPY", "QQQ")


class OMSMachine(RuleBasedStateMachine):
    """Drives one stack; the stack persists across examples, so every check compares with the broker's
    book at the start (``baseline``) and keeps a history per order id."""

    stack = None
    faults = None

    def __init__(self) -> None:
        super().__init__()
        self.statuses: dict[str, set[OrderStatus]] = {}

    @initialize()
    def start_clean(self) -> None:
        self.faults.restore()
        gov = self.stack.risk_governor
        if gov.kill_switch_active:
            gov.reset_circuit("state machine: new example", operator="suite")
        self.stack.oms.heartbeat()

    @rule(symbol=st.sampled_from(SYMBOLS), qty=st.integers(1, 20), sell=st.booleans())
    def submit(self, symbol: str, qty: int, sell: bool) -> None:
        side = Side.SELL if sell else Side.BUY
        result = self.stack.oms.submit_order(order(symbol, float(qty), side))
        self.statuses.setdefault(result.client_order_id, set()).add(result.status)

    @rule(kind=st.sampled_from(("timeout", "disconnect", "timeout_after_accept")))
    def break_broker(self, kind: str) -> None:
        if kind == "timeout_after_accept":
            self.faults.timeout_after_accept(times=1)
        else:
            getattr(self.faults, kind)()

    @rule()
    def reconnect(self) -> None:
        self.faults.restore()
        self.stack.oms.heartbeat()

    @rule(seconds=st.floats(0.0, 120.0))
    def time_passes(self, seconds: float) -> None:
        self.stack.clock.advance(seconds)
        self.stack.oms.heartbeat()

    @rule(on=st.booleans())
    def toggle_kill_switch(self, on: bool) -> None:
        gov = self.stack.risk_governor
        if on:
            gov.activate_kill_switch("state machine: manual override")
        elif gov.kill_switch_active:
            gov.reset_circuit("state machine: resume", operator="suite")

    @invariant()
    def never_filled_and_failed(self) -> None:
        for oid, result in self.stack.oms.orders().items():
            self.statuses.setdefault(oid, set()).add(result.status)
        both = [
            oid for oid, seen in self.statuses.items() if {OrderStatus.FILLED, OrderStatus.FAILED} <= seen
        ]
        assert not both, f"orders both FILLED and FAILED: {both}"

    @invariant()
    def retries_bounded(self) -> None:
        counts: dict[str, int] = {}
        for a in self.faults.attempts:
            counts[a.client_order_id] = counts.get(a.client_order_id, 0) + 1
        worst = max(counts.values(), default=0)
        assert worst <= MAX_ATTEMPTS, f"an order reached the broker {worst} times"

    @invariant()
    def nothing_sent_under_the_kill_switch(self) -> None:
        leaked = self.faults.attempts_while("kill_switch")
        assert not leaked, f"orders sent while the kill switch was on: {[a.client_order_id for a in leaked]}"

    @invariant()
    def positions_equal_fills(self) -> None:
        fills: dict[str, float] = {}
        for f in self.stack.oms.fills():
            fills[f.symbol] = fills.get(f.symbol, 0.0) + f.signed_quantity
        truth = self.faults.true_positions()
        for sym in SYMBOLS:
            moved = truth.get(sym, 0.0) - self.baseline.get(sym, 0.0)
            assert abs(moved - fills.get(sym, 0.0)) * SUITE_PRICES[sym] <= 1.0, (
                f"{sym}: broker moved {moved}, fills sum to {fills.get(sym, 0.0)}"
            )


def test_oms_invariants_hold_under_random_faults(trading_stack, broker_faults):
    """A Hypothesis state machine over the stack's OMS; see the module docstring for the invariants."""
    broker_faults.record_flag("kill_switch", lambda: trading_stack.risk_governor.kill_switch_active)
    baseline = dict(broker_faults.true_positions())
    machine = type(
        "OMSMachineForStack",
        (OMSMachine,),
        {"stack": trading_stack, "faults": broker_faults, "baseline": baseline},
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
