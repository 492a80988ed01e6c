"""A small HTTP/1.1 server over asyncio streams: keep-alive, Content-Length and chunked request bodies.

Just enough for the Toxiproxy API and its clients (requests, toxiproxy-python, curl); not a general server.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

MAX_BODY = 16 * 1024 * 1024  # a populate of thousands of proxies fits; a runaway client does not
MAX_HEADERS = 100


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without the query string
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    request_id: bool = True  # the real server's router answers 404/405 itself, without one
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    pass


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readline()
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _BadRequest from None
            if size == 0:
                while (await reader.readline()).strip():  # trailers, ignored
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise _BadRequest
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length_text = headers.get("content-length", "0").strip()
    if not length_text.isdigit() or int(length_text) > MAX_BODY:
        raise _BadRequest
    return await reader.readexactly(int(length_text))


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[Request, bool] | None:
    """The next request and whether the client wants the connection kept; None at a clean EOF."""
    line = await reader.readline()
    while line in (b"\r\n", b"\n"):  # tolerated before a request line, as RFC 9112 allows
        line = await reader.readline()
    if not line:
        return None
    try:
        method, target, version = line.decode("latin-1").split()
    except ValueError:
        raise _BadRequest from None
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep:
            raise _BadRequest
        headers[name.strip().lower()] = value.strip()
    else:
        raise _BadRequest
    if headers.get("expect", "").lower() == "100-continue":
        # curl asks before sending a body over 1 KiB; without this it waits a second for nothing.
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(reader, headers)
    connection = headers.get("connection", "").lower()
    keep = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return Request(method, unquote(urlsplit(target).path), headers, body), keep


def _encode(response: Response, keep: bool) -> bytes:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    if response.content_type is not None:
        lines.append(f"Content-Type: {response.content_type}")
    if response.request_id:  # clients may log it to match server logs
        lines.append(f"X-Toxiproxy-Request-Id: {secrets.token_hex(10)}")
    lines.append(f"Date: {formatdate(usegmt=True)}")
    lines.extend(f"{k}: {v}" for k, v in response.headers.items())
    if response.status != 204:
        lines.append(f"Content-Length: {len(response.body)}")
    if not keep:
        lines.append("Connection: close")
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + (response.body if response.status != 204 else b"")


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler
) -> None:
    """Answer requests on one connection until the client closes it or asks to."""
    try:
        while True:
            try:
                parsed = await _read_request(reader, writer)
            except (_BadRequest, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                bad = Response(400, b"400 Bad Request", "text/plain; charset=utf-8")
                writer.write(_encode(bad, keep=False))
                await writer.drain()
                return
            if parsed is None:
                return
            request, keep = parsed
            response = await handler(request)
            if request.method == "HEAD":
                response.body = b""
            writer.write(_encode(response, keep))
            await writer.drain()
            if not keep:
                return
    except (ConnectionError, OSError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()
