"""The FIX 4.4 session layer shared by the broker service and the stack's FIX client: simplefix framing,
Logon/Logout, Heartbeat/TestRequest, sequence numbers with gap detection, ResendRequest and gap fill.

Sequence numbers start at 1 at every Logon (both sides send ResetSeqNumFlag 141=Y): a reconnect is a
fresh session. Orders lost with an old connection are recovered by the application (the client retries
with the same ClOrdID and asks for the status of its open orders), never by replaying stale orders.
"""

from __future__ import annotations

import contextlib
import itertools
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable

import simplefix
from simplefix.errors import ParsingError

from pytest_stress.stack.model import OrderStatus

BEGIN_STRING = "FIX.4.4"
ADMIN_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})
POLL_S = 0.05  # how often the reading loop looks at its timers and at ``stop``
LOGOUT_WAIT_S = 0.5  # after our Logout, how long we wait for the peer's before closing anyway
SEND_TIMEOUT_S = 2.0  # a peer that stops reading for this long ends the session

# OrdStatus (39) <-> the stack's states; "0" New is an acknowledged order with nothing filled yet.
ORD_STATUS = {
    OrderStatus.SUBMITTED: "0",
    OrderStatus.PARTIALLY_FILLED: "1",
    OrderStatus.FILLED: "2",
    OrderStatus.CANCELLED: "4",
    OrderStatus.REJECTED: "8",
}
STATUS_OF = {code: status for status, code in ORD_STATUS.items()} | {"C": OrderStatus.CANCELLED}

Pair = tuple[int, object]


def field(msg: simplefix.FixMessage, tag: int) -> str | None:
    raw = msg.get(tag)
    return None if raw is None else raw.decode("ascii", "replace")


def number(msg: simplefix.FixMessage, tag: int, default: float = 0.0) -> float:
    text = field(msg, tag)
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default


def fmt(value: object) -> str:
    # 12 significant digits: quantities and prices survive the round trip without float noise (0.1+0.2)
    return format(value, ".12g") if isinstance(value, float) else str(value)


class FixSession:
    """One FIX session over a connected socket; ``run(stop)`` reads and dispatches until it ends.

    - ``initiator`` (the client) sends the Logon and waits for the answer; otherwise (the service) the
      first message must be a Logon addressed to ``sender``, and ``target`` is learnt from it. The
      acceptor adopts the Logon's HeartBtInt (108), ``heartbeat_s`` when it is missing or 0.
    - Inbound MsgSeqNum above the expected one: one ResendRequest (7=expected, 16=0) per gap, and the
      message is dropped (the peer sends it again). Below it without PossDupFlag (43=Y): Logout with
      "MsgSeqNum too low, expecting X but received Y", then close. Below it with 43=Y: ignored.
    - A ResendRequest is answered by resending application messages with 43=Y when ``resend_app``
      (the service), admin messages always being replaced by SequenceReset-GapFill (35=4, 123=Y);
      without ``resend_app`` (the client) the whole range is gap-filled: a stale order must not reach
      the market late, the OMS retries it itself.
    - A Heartbeat goes out after ``heartbeat_s`` of silence; after 1.2 x ``heartbeat_s`` without input a
      TestRequest, and ``heartbeat_s`` more without input ends the session ("heartbeat timeout").
    - ``stop`` set: Logout, wait up to ``LOGOUT_WAIT_S`` for the peer's Logout or EOF, close.
    ``on_app(session, msg)`` and ``on_logon(session)`` run on the reading thread; ``send`` may be called
    from any thread and raises ConnectionError once the session is over.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        sender: str,
        target: str = "",
        heartbeat_s: float = 30.0,
        initiator: bool,
        resend_app: bool,
        on_app: Callable[[FixSession, simplefix.FixMessage], None],
        on_logon: Callable[[FixSession], None] | None = None,
        logon_timeout_s: float = 5.0,
    ) -> None:
        self.sock = sock
        self.sender, self.target = sender, target
        self.heartbeat_s = float(heartbeat_s)
        self.initiator, self.resend_app = initiator, resend_app
        self.on_app, self.on_logon = on_app, on_logon
        self.logon_timeout_s = logon_timeout_s
        self.logged_on = threading.Event()
        self.next_out = 1
        self.expected_in = 1
        self.end_reason = ""
        self._sent: dict[int, tuple[str, list[Pair], str]] = {}  # seq -> (type, body, sending time)
        self._send_lock = threading.Lock()
        self._closed = threading.Event()
        self._parser = simplefix.FixParser()
        self._last_recv = self._last_sent = time.monotonic()
        self._test_request_at: float | None = None
        self._logout_at: float | None = None
        self._resend_asked_at = 0  # the expected number we last sent a ResendRequest for
        self._test_ids = itertools.count(1)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- sending ----------------------------------------------------------------------------------
    def send(self, msg_type: str, pairs: Iterable[Pair] = ()) -> int:
        """Send one message with the next MsgSeqNum (returned); ConnectionError when the session is over."""
        body = list(pairs)
        with self._send_lock:
            if self._closed.is_set():
                raise ConnectionError(f"FIX session closed: {self.end_reason or 'not connected'}")
            seq = self.next_out
            sent_at = self._write(msg_type, body, seq)
            self.next_out += 1
            self._sent[seq] = (msg_type, body, sent_at)
            return seq

    def _write(self, msg_type: str, body: list[Pair], seq: int, orig_time: str | None = None) -> str:
        msg = simplefix.FixMessage()
        for tag, value in (
            (8, BEGIN_STRING),
            (35, msg_type),
            (49, self.sender),
            (56, self.target),
            (34, seq),
        ):
            msg.append_pair(tag, value, header=True)
        if orig_time is not None:  # a resent message: PossDupFlag and the original SendingTime
            msg.append_pair(43, "Y", header=True)
            msg.append_pair(122, orig_time, header=True)
        msg.append_utc_timestamp(52, precision=3, header=True)
        for tag, value in body:
            msg.append_pair(tag, fmt(value))
        try:
            self.sock.sendall(msg.encode())
        except OSError as exc:
            raise ConnectionError(f"FIX send failed: {exc}") from exc
        self._last_sent = time.monotonic()
        return field(msg, 52) or ""

    def logout(self, reason: str = "") -> None:
        """Start a Logout; ``run`` ends at the peer's answer, at EOF or after ``LOGOUT_WAIT_S``."""
        if self._logout_at is not None:
            return
        self._logout_at = time.monotonic()
        with contextlib.suppress(ConnectionError):
            self.send("5", [(58, reason)] if reason else [])

    def close(self, reason: str = "closed") -> None:
        """End the session now, without a Logout (the reading loop notices within ``POLL_S``)."""
        self.end_reason = self.end_reason or reason
        self._closed.set()
        self.logged_on.clear()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    # -- the reading loop -------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> str:
        """Read and dispatch until the session ends; closes the socket and returns why it ended."""
        started = time.monotonic()
        self.sock.settimeout(SEND_TIMEOUT_S)  # bounds sendall; reads wait in select
        try:
            if self.initiator:
                self.send("A", [(98, 0), (108, max(1, round(self.heartbeat_s))), (141, "Y")])
            while not self._closed.is_set():
                if stop.is_set():
                    if not self.logged_on.is_set():
                        break
                    self.logout("session stopped")
                ready, _, _ = select.select([self.sock], [], [], POLL_S)
                if ready:
                    data = self.sock.recv(65536)
                    if not data:
                        self.close("peer closed the connection")
                        break
                    self._last_recv, self._test_request_at = time.monotonic(), None
                    self._parser.append_buffer(data)
                    while not self._closed.is_set() and (msg := self._parser.get_message()) is not None:
                        self._on_message(msg)
                self._on_timer(started)
        except (OSError, ValueError) as exc:  # ValueError: select on a socket closed under us
            self.close(f"connection lost: {exc}")
        except ParsingError as exc:
            self.close(f"garbled FIX message: {exc}")
        finally:
            self.close("session stopped")
            self.sock.close()
        return self.end_reason

    def _on_timer(self, started: float) -> None:
        now = time.monotonic()
        if self._logout_at is not None:
            if now - self._logout_at >= LOGOUT_WAIT_S:
                self.close(self.end_reason or "logout not answered")
            return
        if not self.logged_on.is_set():
            if now - started >= self.logon_timeout_s:
                self.close(f"no Logon within {self.logon_timeout_s:g} s")
            return
        if now - self._last_sent >= self.heartbeat_s:
            self.send("0")
        if self._test_request_at is None and now - self._last_recv >= 1.2 * self.heartbeat_s:
            self._test_request_at = now
            self.send("1", [(112, f"TEST-{next(self._test_ids)}")])
        elif self._test_request_at is not None and now - self._test_request_at >= self.heartbeat_s:
            self.close(f"heartbeat timeout: no answer to a TestRequest within {self.heartbeat_s:g} s")

    def _on_message(self, msg: simplefix.FixMessage) -> None:
        msg_type, seq = field(msg, 35) or "", int(number(msg, 34))
        if field(msg, 8) != BEGIN_STRING:
            self._fail(f"BeginString must be {BEGIN_STRING}, got {field(msg, 8)}")
        elif not self.logged_on.is_set():
            if msg_type != "A":  # the spec: anything before a Logon ends the connection, no Logout
                self.close(f"first message was 35={msg_type}, not a Logon")
            else:
                self._on_logon(msg, seq)
        elif msg_type == "4" and field(msg, 123) != "Y":  # SequenceReset-Reset ignores MsgSeqNum
            self.expected_in = max(self.expected_in, int(number(msg, 36)))
        elif seq > self.expected_in:
            if msg_type == "5":
                self._on_logout(msg)
                return
            if msg_type == "2":
                self._answer_resend(msg)
            if self._resend_asked_at != self.expected_in:
                self._resend_asked_at = self.expected_in
                self.send("2", [(7, self.expected_in), (16, 0)])
        elif seq < self.expected_in:
            if field(msg, 43) != "Y":
                self._fail(f"MsgSeqNum too low, expecting {self.expected_in} but received {seq}")
        else:
            self.expected_in = seq + 1
            self._dispatch(msg_type, msg)

    def _dispatch(self, msg_type: str, msg: simplefix.FixMessage) -> None:
        if msg_type == "1":
            self.send("0", [(112, field(msg, 112) or "")])
        elif msg_type == "2":
            self._answer_resend(msg)
        elif msg_type == "4":
            self.expected_in = max(self.expected_in, int(number(msg, 36)))
        elif msg_type == "5":
            self._on_logout(msg)
        elif msg_type == "A":
            self._fail("Logon received on a session already logged on")
        elif msg_type not in ADMIN_TYPES and self._logout_at is None:
            try:
                self.on_app(self, msg)
            except ConnectionError:
                raise
            except Exception as exc:  # a bad message must not end the session: Reject it, with why
                self.send(
                    "3", [(45, field(msg, 34) or ""), (372, msg_type), (58, f"{type(exc).__name__}: {exc}")]
                )

    def _on_logon(self, msg: simplefix.FixMessage, seq: int) -> None:
        if not self.initiator:
            if field(msg, 56) != self.sender:
                self._fail(f"unknown TargetCompID {field(msg, 56)!r}: this is {self.sender!r}")
                return
            self.target = field(msg, 49) or ""
            heartbeat = number(msg, 108)
            self.heartbeat_s = heartbeat if heartbeat > 0 else self.heartbeat_s
            self.send("A", [(98, 0), (108, max(1, round(self.heartbeat_s))), (141, "Y")])
        self.expected_in = seq + 1
        self.logged_on.set()
        if self.on_logon is not None:
            self.on_logon(self)

    def _on_logout(self, msg: simplefix.FixMessage) -> None:
        reason = field(msg, 58) or ""
        if self._logout_at is None:  # the peer started it: answer, then close
            with contextlib.suppress(ConnectionError):
                self.send("5")
        self.close(f"logout: {reason}" if reason else "logout")

    def _fail(self, reason: str) -> None:
        self.end_reason = reason
        self.logout(reason)

    def _answer_resend(self, msg: simplefix.FixMessage) -> None:
        begin, end = int(number(msg, 7, 1)), int(number(msg, 16))
        with self._send_lock:
            last = self.next_out - 1
            end = last if end <= 0 or end > last else end
            gap_from: int | None = None
            for seq in range(max(begin, 1), end + 1):
                kept = self._sent.get(seq)
                if kept is not None and self.resend_app and kept[0] not in ADMIN_TYPES:
                    if gap_from is not None:
                        self._write("4", [(123, "Y"), (36, seq)], gap_from, orig_time=kept[2])
                        gap_from = None
                    self._write(kept[0], kept[1], seq, orig_time=kept[2])
                elif gap_from is None:
                    gap_from = seq
            if gap_from is not None:
                self._write("4", [(123, "Y"), (36, end + 1)], gap_from, orig_time=self._sent_time(gap_from))

    def _sent_time(self, seq: int) -> str:
        kept = self._sent.get(seq)
        return kept[2] if kept is not None else ""
