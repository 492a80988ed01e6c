"""Toxiproxy's HTTP API (as toxiproxy-server 2.12.0 answers it) over the embedded proxies.

Status codes, JSON shapes, error texts, content types and the order of checks follow the recorded contract.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from pytest_stress.faults.gojson import (
    BodyError,
    Field,
    decode,
    decode_struct,
    encode,
    json_kind,
    require_object,
)
from pytest_stress.faults.http11 import Request, Response
from pytest_stress.faults.proxy import ListenError, Proxy
from pytest_stress.faults.toxics import KINDS, STREAMS, Toxic

API_VERSION = "2.12.0"  # the release whose API this reproduces; clients may gate features on it
JSON = "application/json"
PLAIN = "text/plain; charset=utf-8"  # what 2.12.0 labels its JSON error bodies with

PROXY_FIELDS = (
    Field("name", "string"),
    Field("listen", "string"),
    Field("upstream", "string"),
    Field("enabled", "bool"),
)
TOXIC_FIELDS = (
    Field("name", "string"),
    Field("type", "string"),
    Field("stream", "string"),
    Field("toxicity", "float32"),
)
POPULATE_ENTRY = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'

# Allowed methods per route shape; a known path with another method answers 405 with an empty body.
ROUTES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("version",): ("GET",),
    ("proxies",): ("GET", "POST"),
    ("populate",): ("POST",),
    ("reset",): ("POST",),
    ("proxies", "*"): ("GET", "POST", "PATCH", "DELETE"),
    ("proxies", "*", "toxics"): ("GET", "POST"),
    ("proxies", "*", "toxics", "*"): ("GET", "POST", "PATCH", "DELETE"),
}


class ApiError(Exception):
    """An error answer: ``{"error": message, "status": status}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _ok(status: int, value: Any) -> Response:
    return Response(status, encode(value), JSON)


def _body_error(err: BodyError) -> ApiError:
    return ApiError(400, f"bad request body: {err}")


def _route(path: str) -> tuple[tuple[str, ...], list[str]] | None:
    parts = path.split("/")[1:] if path.startswith("/") else []
    if not parts or any(p == "" for p in parts):  # gorilla/mux refuses empty segments: /proxies/ is 404
        return None
    shape = tuple("*" if i % 2 == 1 and parts[0] == "proxies" else p for i, p in enumerate(parts))
    if shape not in ROUTES:
        return None
    return shape, [p for i, p in enumerate(parts) if shape[i] == "*"]


class ToxiproxyApi:
    """The proxies of one server and the handlers that change them; runs on the server's event loop."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.proxies: dict[str, Proxy] = {}

    async def handle(self, request: Request) -> Response:
        routed = _route(request.path)
        if routed is None:
            return Response(404, b"404 page not found\n", PLAIN, request_id=False)
        shape, args = routed
        if request.method not in ROUTES[shape]:
            return Response(405, request_id=False)
        try:
            return await self._dispatch(shape, request.method, args, request.body)
        except ApiError as err:
            return Response(err.status, encode({"error": err.message, "status": err.status}) + b"\n", PLAIN)

    async def _dispatch(self, shape: tuple[str, ...], method: str, args: list[str], body: bytes) -> Response:
        if shape == ("version",):
            # A fixed text with a space after the colon, unlike every other (compact) body.
            body_text = f'{{"version": "{API_VERSION}"}}\n'.encode()
            return Response(200, body_text, "application/json;charset=utf-8")
        if shape == ("proxies",):
            if method == "GET":
                return _ok(200, {name: self.proxies[name].to_json() for name in sorted(self.proxies)})
            return await self.create_proxy(body)
        if shape == ("populate",):
            return await self.populate(body)
        if shape == ("reset",):
            await self.reset()
            return Response(204)
        proxy = self._proxy(args[0])  # a missing proxy is reported before the body is read
        if shape == ("proxies", "*"):
            if method == "GET":
                return _ok(200, proxy.to_json())
            if method == "DELETE":
                self.delete_proxy(proxy)
                return Response(204)
            return await self.update_proxy(proxy, body)
        if shape == ("proxies", "*", "toxics"):
            if method == "GET":
                return _ok(200, [t.to_json() for t in proxy.toxics.listing()])
            return self.create_toxic(proxy, body)
        toxic = proxy.toxics.get(args[1])
        if toxic is None:
            raise ApiError(404, "toxic not found")
        if method == "GET":
            return _ok(200, toxic.to_json())
        if method == "DELETE":
            proxy.remove_toxic(toxic)
            return Response(204)
        return self.update_toxic(proxy, toxic, body)

    def _proxy(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(404, "proxy not found")
        return proxy

    # --- proxies ----------------------------------------------------------------------------------
    @staticmethod
    def _proxy_fields(body: bytes) -> dict[str, Any]:
        try:
            return decode_struct(require_object(decode(body), "toxiproxy.Proxy"), PROXY_FIELDS, "Proxy")
        except BodyError as err:
            raise _body_error(err) from None

    async def create_proxy(self, body: bytes) -> Response:
        fields = self._proxy_fields(body)
        if not fields.get("name"):
            raise ApiError(400, "missing required field: name")
        if not fields.get("upstream"):
            raise ApiError(400, "missing required field: upstream")
        if fields["name"] in self.proxies:
            raise ApiError(409, "proxy already exists")
        proxy = Proxy(fields["name"], fields.get("listen", ""), fields["upstream"], self.rng)
        if fields.get("enabled", True):
            try:
                await proxy.start()
            except ListenError as err:
                raise ApiError(500, str(err)) from None
        self.proxies[proxy.name] = proxy
        return _ok(201, proxy.to_json())

    async def update_proxy(self, proxy: Proxy, body: bytes) -> Response:
        fields = self._proxy_fields(body)  # a name in the body is ignored: proxies cannot be renamed
        enabled = fields.get("enabled", proxy.enabled)
        if fields.get("listen", proxy.listen) != proxy.listen:
            # Moving the listener: the proxy stays disabled, showing the asked address, if the bind fails.
            proxy.stop()
            proxy.listen = fields["listen"]
        if fields.get("upstream", proxy.upstream) != proxy.upstream:
            proxy.close_connections()  # open connections see EOF; new ones reach the new upstream
            proxy.upstream = fields["upstream"]
        if enabled and not proxy.enabled:
            try:
                await proxy.start()
            except ListenError as err:
                raise ApiError(500, str(err)) from None
        elif not enabled and proxy.enabled:
            proxy.stop()
        return _ok(200, proxy.to_json())

    def delete_proxy(self, proxy: Proxy) -> None:
        proxy.stop()
        for toxic in proxy.toxics.items:
            toxic.removed = True
        del self.proxies[proxy.name]

    async def populate(self, body: bytes) -> Response:
        def fail(status: int, message: str, done: list[Proxy] | None) -> Response:
            proxies = [p.to_json() for p in done] if done else None
            return _ok(status, {"error": message, "status": status, "proxies": proxies})

        try:
            value = decode(body)
            if not isinstance(value, list):
                raise BodyError(
                    f"json: cannot unmarshal {json_kind(value)} into Go value of type []{POPULATE_ENTRY}"
                )
            entries = [
                decode_struct(require_object(item, POPULATE_ENTRY), PROXY_FIELDS, "") for item in value
            ]
        except BodyError as err:
            return fail(400, f"bad request body: {err}", None)
        # Every entry is checked before any is created, so a bad one leaves the server untouched.
        for number, entry in enumerate(entries, start=1):
            for required in ("name", "upstream"):
                if not entry.get(required):
                    return fail(400, f"missing required field: {required} at proxy {number}", None)
        done: list[Proxy] = []
        for entry in entries:
            existing = self.proxies.get(entry["name"])
            listen = entry.get("listen", "")
            if existing is not None and (existing.listen, existing.upstream) == (listen, entry["upstream"]):
                done.append(existing)  # identical: kept as it is, toxics included
                continue
            if existing is not None:
                self.delete_proxy(existing)
            proxy = Proxy(entry["name"], listen, entry["upstream"], self.rng)
            if entry.get("enabled", True):
                try:
                    await proxy.start()
                except ListenError as err:
                    return fail(500, str(err), done)  # earlier entries stay created
            self.proxies[proxy.name] = proxy
            done.append(proxy)
        return _ok(201, {"proxies": [p.to_json() for p in done] or None})

    async def reset(self) -> None:
        """Delete every toxic and enable every proxy; connections stay open but lose their toxics."""
        for name in sorted(self.proxies):
            proxy = self.proxies[name]
            for toxic in list(proxy.toxics.items):
                proxy.remove_toxic(toxic)
            # If its address was taken meanwhile it stays disabled, as a failed update leaves it.
            with contextlib.suppress(ListenError):
                await proxy.start()

    def shutdown(self) -> None:
        for proxy in self.proxies.values():
            for toxic in proxy.toxics.items:
                toxic.removed = True
            proxy.stop(hard=True)
        self.proxies.clear()

    # --- toxics -----------------------------------------------------------------------------------
    @staticmethod
    def _toxic_fields(body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        """The wrapper fields and the raw attributes object of a toxic body."""
        try:
            obj = require_object(decode(body), "toxics.ToxicWrapper")
            fields = decode_struct(obj, TOXIC_FIELDS, "ToxicWrapper")
            raw_attrs: Any = None
            for key, value in obj.items():
                if key.lower() == "attributes":
                    raw_attrs = value
            if raw_attrs is not None and not isinstance(raw_attrs, dict):
                kind = json_kind(raw_attrs)
                raise BodyError(
                    f"json: cannot unmarshal {kind} into Go struct field ToxicWrapper.attributes "
                    "of type toxics.NoopToxic"
                )
        except BodyError as err:
            raise _body_error(err) from None
        return fields, raw_attrs or {}

    @staticmethod
    def _attributes(toxic_type: str, raw: dict[str, Any]) -> dict[str, int]:
        kind = KINDS[toxic_type]
        try:
            return decode_struct(raw, kind.fields, kind.struct, "attributes.")
        except BodyError as err:
            raise _body_error(err) from None

    def create_toxic(self, proxy: Proxy, body: bytes) -> Response:
        fields, raw_attrs = self._toxic_fields(body)
        # Checked in the recorded order: stream, then type, then duplicate name, then attribute types.
        stream = fields.get("stream") or "downstream"
        if stream.lower() not in STREAMS:
            raise ApiError(400, "stream was invalid, can be either upstream or downstream")
        toxic_type = fields.get("type", "")
        if toxic_type not in KINDS:
            raise ApiError(400, "invalid toxic type")
        name = fields.get("name") or f"{toxic_type}_{stream}"
        if proxy.toxics.get(name) is not None:
            raise ApiError(409, "toxic already exists")
        attributes = KINDS[toxic_type].default_attributes()
        attributes.update(self._attributes(toxic_type, raw_attrs))
        toxic = Toxic(name, toxic_type, stream, fields.get("toxicity", 1.0), attributes)
        proxy.add_toxic(toxic)
        return _ok(200, toxic.to_json())

    def update_toxic(self, proxy: Proxy, toxic: Toxic, body: bytes) -> Response:
        fields, raw_attrs = self._toxic_fields(body)  # name, type and stream in the body are ignored
        attributes = self._attributes(toxic.type, raw_attrs)  # fails before anything changes
        toxicity = fields.get("toxicity", toxic.toxicity)
        toxicity_changed = toxicity != toxic.toxicity
        toxic.attributes.update(attributes)
        toxic.toxicity = toxicity
        proxy.toxic_updated(toxic, toxicity_changed)
        return _ok(200, toxic.to_json())
