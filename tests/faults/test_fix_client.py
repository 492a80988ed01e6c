"""The stack's FIX client against the broker service, then the reference OMS trading over FIX through a
Toxiproxy proxy: fills, a slicer, an outage by timeout and by disable, reset_peer, lost reports (issue 7).

Every service, client thread and proxy is stopped in a fixture's ``finally``; every wait is bounded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from fix_support import LOOPBACK, wait_until
from toxiproxy.proxy import Proxy

from pytest_stress.faults.fix_broker import FixBrokerService
from pytest_stress.faults.fix_client import FixBrokerClient
from pytest_stress.stack.bus import EventBus, EventType
from pytest_stress.stack.clock import WallClock
from pytest_stress.stack.governor import ReferenceRiskGovernor
from pytest_stress.stack.model import ConnectionState, Order, OrderStatus, OrderType, Side
from pytest_stress.stack.oms import ReferenceOMS

_names = itertools.count(1)


@pytest.fixture
def client(service: FixBrokerService) -> Iterator[FixBrokerClient]:
    fix = FixBrokerClient(LOOPBACK, service.port, timeout_s=1.0)
    try:
        fix.connect()
        yield fix
    finally:
        fix.close()


def test_client_ack_carries_the_immediate_fill_and_poll_only_later_ones(make_service) -> None:
    service = make_service(partial_fill_ratio=0.5)
    with FixBrokerClient(LOOPBACK, service.port, timeout_s=1.0) as fix:
        ack = fix.submit_order(Order("SPY", Side.BUY, 10.0))
        assert (ack.status, ack.filled_quantity, ack.avg_price) == (OrderStatus.PARTIALLY_FILLED, 5.0, 100.0)
        fills: list = []
        wait_until(lambda: bool(fills.extend(fix.poll_fills()) or fills), "the later fill")
        assert [(f.quantity, f.price) for f in fills] == [(5.0, 100.0)]
        assert fix.get_positions() == {"SPY": 10.0}


def test_client_disconnect_refuses_positions_and_reconnects(client: FixBrokerClient) -> None:
    client.disconnect()
    assert client.connection_state is ConnectionState.DISCONNECTED
    with pytest.raises(ConnectionError):
        client.get_positions()
    client.connect()
    assert client.connection_state is ConnectionState.CONNECTED
    assert client.get_positions() == {}


def test_client_reconnects_by_itself_after_the_service_drops_it(
    service: FixBrokerService, client: FixBrokerClient
) -> None:
    service.drop_sessions()
    wait_until(
        lambda: client.sessions == 2 and client.connection_state is ConnectionState.CONNECTED, "relogon"
    )
    assert client.submit_order(Order("QQQ", Side.SELL, 1.0)).status is OrderStatus.FILLED


def test_client_cancel_of_resting_limit(client: FixBrokerClient) -> None:
    order = Order("SPY", Side.BUY, 2.0, OrderType.LIMIT, limit_price=90.0)
    assert client.submit_order(order).status is OrderStatus.SUBMITTED
    assert client.cancel_order(order.client_order_id).status is OrderStatus.CANCELLED
    refused = client.cancel_order(order.client_order_id)
    assert refused.status is OrderStatus.REJECTED
    assert "CANCELLED" in refused.reject_reason


# -- the reference OMS over FIX, through Toxiproxy ------------------------------------------------------
@pytest.fixture
def proxy(toxiproxy, service: FixBrokerService) -> Iterator[Proxy]:
    """A proxy on the plugin's session Toxiproxy (--toxiproxy-url, a binary on PATH, else embedded)."""
    made = toxiproxy.client.create(
        upstream=service.address, name=f"fix_broker_{next(_names)}", listen=f"{LOOPBACK}:0"
    )
    try:
        yield made
    finally:
        made.destroy()


class Stack:
    """The FIX client behind the proxy and the reference OMS on it (pause after one FAILED order)."""

    def __init__(self, proxy: Proxy, clock: WallClock) -> None:
        host, port = proxy.listen.rsplit(":", 1)
        self.bus = EventBus()
        self.fix = FixBrokerClient(host, int(port), timeout_s=0.3, clock=clock)
        governor = ReferenceRiskGovernor(bus=self.bus, clock=clock)
        self.oms = ReferenceOMS(
            self.fix, governor, bus=self.bus, clock=clock, backoff_base_s=0.01, pause_after_failures=1
        )

    def reconnected(self) -> None:
        wait_until(
            lambda: self.fix.connection_state is ConnectionState.CONNECTED, "the FIX client to relogon"
        )

    def heartbeat_until_resumed(self) -> None:
        """The OMS's heartbeat, repeated until the client has logged on again after the fault."""
        wait_until(lambda: self.oms.heartbeat() or not self.oms.status().trading_paused, "trading to resume")


@pytest.fixture
def stack(proxy: Proxy) -> Iterator[Stack]:
    made = Stack(proxy, WallClock())
    try:
        made.fix.connect()
        yield made
    finally:
        made.fix.close()


def test_oms_orders_over_fix_through_the_proxy_are_filled(service: FixBrokerService, stack: Stack) -> None:
    results = [stack.oms.submit_order(Order("SPY", Side.BUY, 5.0)) for _ in range(3)]
    assert [r.status for r in results] == [OrderStatus.FILLED] * 3
    assert stack.oms.reconcile().matched
    assert service.positions() == {"SPY": 15.0}


def test_slicer_toxic_splits_every_message_and_fills_stay_correct(
    service: FixBrokerService, proxy: Proxy, stack: Stack
) -> None:
    for stream in ("upstream", "downstream"):
        attributes = {"average_size": 3, "size_variation": 2, "delay": 0}
        proxy.add_toxic(type="slicer", name=f"slicer_{stream}", stream=stream, attributes=attributes)
    stack.fix.disconnect()
    stack.fix.connect()  # the Logon itself crosses the slicer too
    buy = stack.oms.submit_order(Order("SPY", Side.BUY, 7.0))
    sell = stack.oms.submit_order(Order("QQQ", Side.SELL, 2.0))
    assert (buy.status, buy.filled_quantity, buy.avg_price) == (OrderStatus.FILLED, 7.0, 100.0)
    assert (sell.status, sell.avg_price) == (OrderStatus.FILLED, 50.0)
    assert stack.fix.get_positions() == service.positions() == {"SPY": 7.0, "QQQ": -2.0}


def test_timeout_toxic_fails_order_after_retries_pauses_then_resumes(
    service: FixBrokerService, proxy: Proxy, stack: Stack
) -> None:
    """Seed 001 scenario 3: 3 retries with backoff, FAILED naming the cause, trading paused, then resumed."""
    proxy.add_toxic(type="timeout", name="blackhole", stream="upstream", attributes={"timeout": 0})
    failed = stack.oms.submit_order(Order("SPY", Side.BUY, 1.0))
    assert failed.status is OrderStatus.FAILED
    assert failed.attempts == 4
    assert "timeout" in failed.reject_reason or "connection" in failed.reject_reason
    assert stack.oms.status().trading_paused
    assert stack.oms.status().broker == "Broker Disconnected"
    assert stack.oms.submit_order(Order("SPY", Side.BUY, 1.0)).status is OrderStatus.REJECTED
    proxy.destroy_toxic("blackhole")
    stack.heartbeat_until_resumed()
    assert stack.fix.sessions >= 2  # removing the toxic ended the session; the client logged on again
    assert stack.bus.of_type(EventType.TRADING_RESUMED)
    assert stack.oms.submit_order(Order("SPY", Side.BUY, 2.0)).status is OrderStatus.FILLED
    assert service.positions() == {"SPY": 2.0}  # nothing of the failed order reached the market


def test_disabled_proxy_pauses_trading_until_enabled(
    service: FixBrokerService, proxy: Proxy, stack: Stack
) -> None:
    proxy.disable()
    wait_until(lambda: stack.fix.connection_state is ConnectionState.RECONNECTING, "the outage to be seen")
    refused = stack.oms.submit_order(Order("SPY", Side.BUY, 1.0))
    assert refused.status is OrderStatus.REJECTED
    assert "Broker Disconnected" in refused.reject_reason
    proxy.enable()
    stack.heartbeat_until_resumed()
    assert stack.oms.submit_order(Order("SPY", Side.BUY, 1.0)).status is OrderStatus.FILLED
    assert service.positions() == {"SPY": 1.0}


class HealOnBackoff(WallClock):
    """A real clock whose first backoff sleep runs ``heal`` (remove the fault, wait for the relogon)."""

    def __init__(self) -> None:
        self.heal: Callable[[], None] = lambda: None

    def sleep(self, seconds: float) -> None:
        heal, self.heal = self.heal, lambda: None
        heal()
        super().sleep(seconds)


def test_reset_peer_on_the_ack_then_retry_after_reconnect_is_not_duplicated(
    service: FixBrokerService, proxy: Proxy
) -> None:
    """The order reaches the broker, the reset eats its ack: the OMS retries the same ClOrdID after the
    reconnect and the service answers with the existing order, so the position counts it once."""
    clock = HealOnBackoff()
    made = Stack(proxy, clock)
    try:
        made.fix.connect()

        def heal() -> None:
            proxy.destroy_toxic("reset_ack")
            made.reconnected()

        clock.heal = heal
        proxy.add_toxic(type="reset_peer", name="reset_ack", stream="downstream", attributes={"timeout": 0})
        order = Order("SPY", Side.BUY, 4.0)
        result = made.oms.submit_order(order)
        assert (result.status, result.filled_quantity, result.attempts) == (OrderStatus.FILLED, 4.0, 2)
        assert service.received == [order.client_order_id] * 2
        assert len(service.orders) == 1
        made.oms.heartbeat()
        assert made.oms.reconcile().matched
        assert service.positions() == made.oms.local_positions() == {"SPY": 4.0}
        assert made.fix.sessions == 2
    finally:
        made.fix.close()


def test_reset_peer_on_the_order_fails_it_without_reaching_the_market(
    service: FixBrokerService, proxy: Proxy, stack: Stack
) -> None:
    proxy.add_toxic(type="reset_peer", name="reset_order", stream="upstream", attributes={"timeout": 0})
    failed = stack.oms.submit_order(Order("SPY", Side.BUY, 1.0))
    assert failed.status is OrderStatus.FAILED
    assert "connection" in failed.reject_reason
    proxy.destroy_toxic("reset_order")
    stack.heartbeat_until_resumed()
    assert stack.oms.submit_order(Order("SPY", Side.BUY, 3.0)).status is OrderStatus.FILLED
    assert service.positions() == {"SPY": 3.0}
    assert service.received.count(failed.client_order_id) == 0


def test_client_silenced_by_the_network_notices_by_heartbeat_and_reconnects(
    proxy: Proxy, stack: Stack
) -> None:
    """Nothing comes back (a timeout toxic downstream): the TestRequest goes unanswered, the session ends."""
    proxy.add_toxic(type="timeout", name="silence", stream="downstream", attributes={"timeout": 0})
    wait_until(lambda: stack.fix.connection_state is ConnectionState.RECONNECTING, "heartbeat timeout", 4.0)
    assert "heartbeat timeout" in stack.fix.last_error
    with pytest.raises(ConnectionError):
        stack.fix.get_positions()
    proxy.destroy_toxic("silence")
    stack.reconnected()
    assert stack.fix.get_positions() == {}


def test_fill_lost_with_the_connection_is_recovered_by_status_request_at_relogon(
    service: FixBrokerService, proxy: Proxy, stack: Stack
) -> None:
    order = Order("SPY", Side.BUY, 2.0, OrderType.LIMIT, limit_price=95.0)
    assert stack.fix.submit_order(order).status is OrderStatus.SUBMITTED  # rests: the price is 100
    proxy.add_toxic(type="timeout", name="lost_fill", stream="downstream", attributes={"timeout": 0})
    service.set_price("SPY", 90.0)  # now marketable: the fill's report is swallowed on its way
    wait_until(lambda: service.positions() == {"SPY": 2.0}, "the resting order to fill")
    proxy.destroy_toxic("lost_fill")
    wait_until(
        lambda: stack.fix.sessions == 2 and stack.fix.connection_state is ConnectionState.CONNECTED, "relogon"
    )
    fills: list = []
    wait_until(lambda: bool(fills.extend(stack.fix.poll_fills()) or fills), "the recovered fill")
    assert [(f.client_order_id, f.quantity, f.price) for f in fills] == [(order.client_order_id, 2.0, 90.0)]


def test_client_detects_a_sequence_gap_and_the_service_resends(
    service: FixBrokerService, client: FixBrokerClient
) -> None:
    """A message lost in transit, simulated by the service skipping a MsgSeqNum: the client drops the
    next report, asks for a resend, and gets the gap filled and the report again (PossDupFlag)."""
    # the service files the session just after answering the Logon: wait for it, bounded
    wait_until(lambda: client.sender in service._sessions, "the service to register the session")
    session = service._sessions[client.sender]
    with session._send_lock:
        session.next_out += 1
    ack = client.submit_order(Order("SPY", Side.SELL, 3.0))
    assert (ack.status, ack.filled_quantity) == (OrderStatus.FILLED, 3.0)
    assert client.get_positions() == {"SPY": -3.0}
