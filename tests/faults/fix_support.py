"""Helpers for the FIX broker tests: a bare FIX peer, a factory of broker services, bounded waiting.

Plain classes and functions; the test modules wrap them in fixtures that always stop what they start.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import simplefix

from pytest_stress.faults.fix_broker import FixBrokerService

LOOPBACK = "127.0.0.1"
WAIT_S = 3.0
PRICES = {"SPY": 100.0, "QQQ": 50.0}


class ServiceFactory:
    """Starts ``FixBrokerService``s (``PRICES`` unless told) and stops every one of them in ``stop_all``."""

    def __init__(self) -> None:
        self.made: list[FixBrokerService] = []

    def __call__(self, **kwargs) -> FixBrokerService:
        self.made.append(FixBrokerService(prices=kwargs.pop("prices", PRICES), **kwargs).start())
        return self.made[-1]

    def stop_all(self) -> None:
        errors = []
        for service in self.made:  # every one, even when an earlier stop fails
            try:
                service.stop()
            except RuntimeError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


class RawFix:
    """A bare FIX peer on a socket, so a test controls every sequence number and byte."""

    def __init__(self, port: int, sender: str = "RAW") -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=WAIT_S)
        self.sender, self.seq = sender, 1
        self.parser = simplefix.FixParser()

    def send(self, msg_type: str, pairs=(), *, seq: int | None = None, poss_dup: bool = False) -> None:
        msg = simplefix.FixMessage()
        for tag, value in ((8, "FIX.4.4"), (35, msg_type), (49, self.sender), (56, "BROKER")):
            msg.append_pair(tag, value, header=True)
        msg.append_pair(34, self.seq if seq is None else seq, header=True)
        if poss_dup:
            msg.append_pair(43, "Y", header=True)
        msg.append_utc_timestamp(52, header=True)
        for tag, value in pairs:
            msg.append_pair(tag, value)
        self.sock.sendall(msg.encode())
        if seq is None:
            self.seq += 1

    def recv(self) -> simplefix.FixMessage:
        deadline = time.monotonic() + WAIT_S
        while (msg := self.parser.get_message()) is None:
            assert time.monotonic() < deadline, "no FIX message within the wait"
            data = self.sock.recv(65536)
            assert data, "the service closed the connection"
            self.parser.append_buffer(data)
        return msg

    def expect(self, msg_type: str) -> simplefix.FixMessage:
        """The next message of ``msg_type``, skipping heartbeats."""
        while True:
            msg = self.recv()
            if get(msg, 35) == msg_type:
                return msg
            assert get(msg, 35) == "0", f"expected 35={msg_type}, got {msg}"

    def logon(self, heartbeat: int = 30) -> simplefix.FixMessage:
        self.send("A", [(98, 0), (108, heartbeat), (141, "Y")])
        return self.expect("A")

    def order(self, cid: str, symbol: str = "SPY", qty: float = 10, **extra) -> simplefix.FixMessage:
        pairs = [(11, cid), (21, 1), (55, symbol), (54, extra.pop("side", 1)), (38, qty), (40, 1), (60, "x")]
        self.send("D", pairs + list(extra.items()))
        return self.expect("8")

    def close(self) -> None:
        self.sock.close()


def get(msg: simplefix.FixMessage, tag: int) -> str | None:
    value = msg.get(tag)
    return None if value is None else value.decode()


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
