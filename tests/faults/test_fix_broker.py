"""The FIX 4.4 broker service spoken to by a bare FIX peer: Logon, heartbeats, orders and their reports,
cancels, duplicate ClOrdIDs, positions, sequence gaps and resends, a reset mid-message (issue 7).

Every service is stopped in a fixture's ``finally``; every wait is bounded (``fix_support.WAIT_S``).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest
from fix_support import LOOPBACK, WAIT_S, RawFix, get

from pytest_stress.faults.fix_broker import FixBrokerService


@pytest.fixture
def raw(service: FixBrokerService) -> Iterator[RawFix]:
    peer = RawFix(service.port)
    try:
        yield peer
    finally:
        peer.close()


# -- the session layer, spoken to directly ---------------------------------------------------------
def test_logon_is_answered_with_logon_heartbeat_interval_and_reset(raw: RawFix) -> None:
    reply = raw.logon(heartbeat=7)
    assert (get(reply, 34), get(reply, 108), get(reply, 141), get(reply, 56)) == ("1", "7", "Y", "RAW")


def test_test_request_is_answered_by_a_heartbeat_carrying_its_id(raw: RawFix) -> None:
    raw.logon()
    raw.send("1", [(112, "ARE-YOU-THERE")])
    assert get(raw.recv(), 112) == "ARE-YOU-THERE"


def test_silence_longer_than_heartbeat_interval_brings_a_heartbeat(raw: RawFix) -> None:
    raw.logon(heartbeat=1)
    started = time.monotonic()
    assert get(raw.recv(), 35) == "0"
    assert time.monotonic() - started < 1.6


def test_market_order_fills_at_the_replayed_price(service: FixBrokerService, raw: RawFix) -> None:
    raw.logon()
    report = raw.order("c1", qty=10)
    assert (get(report, 150), get(report, 39), get(report, 14), get(report, 31)) == ("F", "2", "10", "100")
    assert service.positions("RAW") == {"SPY": 10.0}


def test_callable_prices_fill_at_the_current_mark(make_service) -> None:
    marks = {"SPY": 101.5}
    service = make_service(prices=marks.get)
    peer = RawFix(service.port)
    try:
        peer.logon()
        assert get(peer.order("c1"), 31) == "101.5"
        marks["SPY"] = 99.0
        assert get(peer.order("c2", side=2), 31) == "99"
    finally:
        peer.close()


def test_partial_fill_then_the_rest_in_a_later_report(make_service) -> None:
    service = make_service(partial_fill_ratio=0.4)
    peer = RawFix(service.port)
    try:
        peer.logon()
        first = peer.order("c1", qty=10)
        assert (get(first, 39), get(first, 14), get(first, 151)) == ("1", "4", "6")
        rest = peer.expect("8")
        assert (get(rest, 39), get(rest, 32), get(rest, 14)) == ("2", "6", "10")
    finally:
        peer.close()


def test_rejected_symbol_gets_rejected_report_with_reason(make_service) -> None:
    service = make_service(reject_symbols=("GME",))
    peer = RawFix(service.port)
    try:
        peer.logon()
        report = peer.order("c1", symbol="GME")
        assert (get(report, 150), get(report, 39)) == ("8", "8")
        assert "GME" in get(report, 58)
        assert service.positions("RAW") == {}
    finally:
        peer.close()


def test_resting_limit_is_cancelled_once_then_cancel_is_rejected(raw: RawFix) -> None:
    raw.logon()
    raw.send("D", [(11, "L1"), (21, 1), (55, "SPY"), (54, 2), (38, 5), (40, 2), (44, 150), (60, "x")])
    assert get(raw.expect("8"), 150) == "0"  # not marketable: it rests
    raw.send("F", [(41, "L1"), (11, "L1-x1"), (55, "SPY"), (54, 2), (60, "x")])
    cancelled = raw.expect("8")
    assert (get(cancelled, 150), get(cancelled, 39), get(cancelled, 41)) == ("4", "4", "L1")
    raw.send("F", [(41, "L1"), (11, "L1-x2"), (55, "SPY"), (54, 2), (60, "x")])
    refused = raw.expect("9")
    assert get(refused, 11) == "L1-x2"
    assert "CANCELLED" in get(refused, 58)


def test_duplicate_clordid_creates_no_second_order(service: FixBrokerService, raw: RawFix) -> None:
    raw.logon()
    first = raw.order("dup", qty=3)
    again = raw.order("dup", qty=3)
    assert get(again, 150) == "I"
    assert get(again, 37) == get(first, 37)
    assert get(again, 14) == "3"
    assert service.received == ["dup", "dup"]
    assert len(service.orders) == 1
    assert service.positions("RAW") == {"SPY": 3.0}


def test_positions_request_answers_ack_then_one_report_per_symbol(raw: RawFix) -> None:
    raw.logon()
    raw.order("b1", qty=4)
    raw.order("s1", symbol="QQQ", qty=2, side=2)
    raw.send("AN", [(710, "P1"), (724, 0), (263, 0)])
    ack = raw.expect("AO")
    assert get(ack, 727) == "2"
    reports = [raw.expect("AP"), raw.expect("AP")]
    assert {get(r, 55): (get(r, 704), get(r, 705)) for r in reports} == {"QQQ": ("0", "2"), "SPY": ("4", "0")}


def test_sequence_gap_brings_resend_request_and_the_gap_fill_resumes(raw: RawFix) -> None:
    raw.logon()
    raw.send("D", [(11, "g1"), (21, 1), (55, "SPY"), (54, 1), (38, 1), (40, 1)], seq=5)
    request = raw.expect("2")
    assert (get(request, 7), get(request, 16)) == ("2", "0")
    raw.send("4", [(123, "Y"), (36, 5)], seq=2, poss_dup=True)
    raw.send("D", [(11, "g1"), (21, 1), (55, "SPY"), (54, 1), (38, 1), (40, 1)], seq=5, poss_dup=True)
    assert get(raw.expect("8"), 11) == "g1"


def test_low_sequence_number_without_possdup_ends_with_logout(raw: RawFix) -> None:
    raw.logon()
    raw.send("0")  # seq 2
    raw.send("0", seq=2, poss_dup=True)  # a duplicate: ignored, the session goes on
    raw.send("1", [(112, "alive")])  # seq 3
    assert get(raw.expect("0"), 112) == "alive"
    raw.send("0", seq=3)
    logout = raw.expect("5")
    assert "MsgSeqNum too low, expecting 4 but received 3" in get(logout, 58)


def test_resend_request_gets_gap_fill_for_admin_and_possdup_reports(raw: RawFix) -> None:
    raw.logon()
    raw.order("r1")
    raw.send("2", [(7, 1), (16, 0)])
    gap = raw.expect("4")
    assert (get(gap, 34), get(gap, 36), get(gap, 123), get(gap, 43)) == ("1", "2", "Y", "Y")
    resent = raw.expect("8")
    assert (get(resent, 34), get(resent, 43), get(resent, 11)) == ("2", "Y", "r1")


def test_session_reset_mid_message_is_dropped_and_a_new_logon_accepted(service: FixBrokerService) -> None:
    broken = socket.create_connection((LOOPBACK, service.port), timeout=WAIT_S)
    logon = b"8=FIX.4.4\x019=70\x0135=A\x0149=RAW\x0156=BROKER\x0134=1\x01"
    broken.sendall(logon[:25])
    broken.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    broken.close()  # linger 0: an RST in the middle of a message
    peer = RawFix(service.port)
    try:
        peer.logon()
        assert get(peer.order("after-reset"), 39) == "2"
    finally:
        peer.close()
