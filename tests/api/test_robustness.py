"""Property-based robustness of the native API: junk in, a 4xx in the native envelope out.

Every registry and system operation (``api/registry.py``, ``api/system.py``: providers,
trust providers, software, device types, white list, devices, validate, audit, changes,
JWKS, health) gets random JSON bodies (mutations of a valid body: fields replaced by
random JSON values or nasty strings, deleted, junk keys added; plus lists, numbers, bytes,
deep nesting, huge bodies, odd content types), random path ids (very long, unicode, NUL,
"/"), random query parameters (``limit``, ``cursor``, ``as_of``, ``status``, ...) and
random ``If-Match`` headers. Any other ``/api/v1`` route, found in the OpenAPI document,
gets junk built from its own request schema (``test_every_other_api_v1_route_...``).

Properties, for every request:

* the status is below 500;
* a 4xx body is ``{"error": {"code": str, "message": str, ...}}``;
* afterwards the tenant's rows grew only by what the successful requests wrote.

The hypothesis/async bridge is explained in ``tests/fuzz_support.py``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from fleetkey.api.bodies import MAX_BODY_READ
from fleetkey.runtime import Runtime
from tests.api.helpers import PROVIDER, TRUST_PROVIDER
from tests.compat.mosip import doc
from tests.conftest import Caller
from tests.fuzz_support import (
    Bridge,
    Ledger,
    bodies,
    encode_json,
    fuzz_settings,
    header_values,
    iso_datetimes,
    path_ids,
    query_values,
    regressions,
    run_property,
)

API = "/api/v1"
JSON = "application/json"
CONTENT_TYPES = [
    JSON,
    JSON,
    JSON,
    "",
    "application/merge-patch+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/json; charset=latin-1",
    "application/",
]


def software(provider_id: str, version: str = "TestSwVersion1") -> dict[str, Any]:
    return {
        "sw_version": version,
        "provider_id": provider_id,
        "type_code": "Finger",
        "subtype_code": "Single",
        "make": "MC01A",
        "model": "TVSFD",
        "binary_hash": "Test Hash",
        "sw_created_at": "2020-02-10T06:12:52.994Z",
        "sw_expires_at": "2030-02-10T06:12:52.994Z",
        "is_active": True,
    }


def check_native(response: httpx.Response, sent: Any) -> bool:
    """Assert the native failure contract; True when the request succeeded (2xx).

    A 3xx is neither: Starlette redirects ``/device-types/x/`` to ``/device-types/x``.
    """
    where = f"request {sent!r:.300}"
    status = response.status_code
    assert status < 500, f"{where}: HTTP {status} {response.text:.500}"
    if status < 400:
        return status < 300
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"{where}: {body!r:.500}"
    assert isinstance(body["error"].get("code"), str), f"{where}: {body!r:.500}"
    assert isinstance(body["error"].get("message"), str), f"{where}: {body!r:.500}"
    return False


# ---------------------------------------------------------------- a small registry


@dataclass
class Registry:
    client: httpx.AsyncClient
    caller: Caller
    ledger: Ledger
    ids: dict[str, str] = field(default_factory=dict)

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.client.request(method, path, json=body, headers=self.caller.headers)
        assert response.status_code < 300, response.text
        return response.json()

    async def send(
        self,
        method: str,
        path: str,
        content: bytes | None = None,
        params: Any = None,
        if_match: str | None = None,
        content_type: str = JSON,
    ) -> httpx.Response:
        headers: dict[str, Any] = dict(self.caller.headers)
        if content_type:
            headers["Content-Type"] = content_type
        if if_match is not None:
            headers["If-Match"] = if_match.encode("latin-1")
        return await self.client.request(
            method, path, content=content, params=params, headers=headers
        )


@pytest.fixture
async def registry(client: httpx.AsyncClient, caller: Caller, runtime: Runtime) -> Registry:
    r = Registry(client, caller, Ledger(runtime, caller.tenant_id))
    r.ids["provider"] = (await r.ok("POST", f"{API}/device-providers", PROVIDER))["id"]
    r.ids["trust"] = (await r.ok("POST", f"{API}/trust-providers", TRUST_PROVIDER))["id"]
    created = await r.ok("POST", f"{API}/device-software", software(r.ids["provider"]))
    r.ids["software"] = created["id"]
    entry = {"serial_number": "wl-1", "description": "white-listed"}
    r.ids["whitelist"] = (await r.ok("POST", f"{API}/whitelisted-devices", entry))["id"]
    registration = doc.registration(r.ids["provider"])
    signed = await r.ok("POST", "/v1/masterdata/registereddevices", registration)
    assert not signed["errors"], signed
    payload = json.loads(base64.b64decode(signed["response"].split(".")[1]))
    r.ids["device"] = payload["deviceCode"]
    return r


# ---------------------------------------------------------------- operations with a body

HISTORY = {"entity_history": 1, "audit_events": 1}


@dataclass(frozen=True)
class BodyOp:
    name: str
    method: str
    path: str  # "{id}" is the real id (of ``id_of``) or a random one
    template: Callable[[Registry], dict[str, Any]]
    writes: dict[str, int]  # rows one successful call adds
    id_of: str | None = None
    key: str | None = None  # successes writing one row per distinct value (PUT upserts)
    loose: tuple[str, ...] = ()


BODY_OPS = [
    BodyOp(
        "provider-create",
        "POST",
        "/device-providers",
        lambda r: PROVIDER,
        {"device_providers": 1, **HISTORY},
    ),
    BodyOp(
        "provider-update",
        "PUT",
        "/device-providers/{id}",
        lambda r: {**PROVIDER, "address": "new", "version": 1},
        HISTORY,
        "provider",
    ),
    BodyOp(
        "trust-create",
        "POST",
        "/trust-providers",
        lambda r: TRUST_PROVIDER,
        {"trust_providers": 1, **HISTORY},
    ),
    BodyOp(
        "trust-update",
        "PUT",
        "/trust-providers/{id}",
        lambda r: {**TRUST_PROVIDER, "email": "x@y.z", "version": 1},
        HISTORY,
        "trust",
    ),
    BodyOp(
        "software-create",
        "POST",
        "/device-software",
        lambda r: software(r.ids["provider"], "v2"),
        {"device_software": 1, **HISTORY},
    ),
    BodyOp(
        "software-update",
        "PUT",
        "/device-software/{id}",
        lambda r: {**software(r.ids["provider"]), "version": 1},
        HISTORY,
        "software",
    ),
    BodyOp(
        "device-type-put",
        "PUT",
        "/device-types/{id}",
        lambda r: {
            "name": "Palm",
            "subtypes": ["Left", "Right"],
            "alias_of": None,
            "is_active": True,
        },
        {"device_types": 1},
        None,
        key="id",
        loose=("device_subtypes",),
    ),
    BodyOp(
        "whitelist-create",
        "POST",
        "/whitelisted-devices",
        lambda r: {"serial_number": "wl-2", "description": "d"},
        {"whitelisted_devices": 1, "audit_events": 1},
    ),
    BodyOp(
        "device-status",
        "PUT",
        "/devices/{id}/status",
        lambda r: {"status": "Revoked", "version": 1},
        HISTORY,
        "device",
    ),
    BodyOp(
        "device-validate",
        "POST",
        "/devices/validate",
        lambda r: {
            "device_code": r.ids["device"],
            "sw_version": "TestSwVersion1",
            "purpose": "AUTH",
            "as_of": None,
            "digital_id": {
                "serial_no": "1801160992",
                "provider_name": "Test Vendor",
                "provider_id": r.ids["provider"],
                "make": "MC01A",
                "model": "TVSFD",
                "type": "Fingerprint",
                "subtype": "Single",
            },
        },
        {},
    ),
]


def safe_path(ident: str) -> str:
    return quote(ident, safe="")


def usable_id(ident: str) -> bool:
    # httpx (like any client) resolves "." and ".." path segments before sending.
    return ident not in (".", "..")


@pytest.mark.parametrize("op", BODY_OPS, ids=[op.name for op in BODY_OPS])
async def test_junk_bodies_get_a_native_error(registry: Registry, op: BodyOp) -> None:
    template = op.template(registry)
    real_id = registry.ids.get(op.id_of or "", "")
    ids = path_ids if not real_id else st.just(real_id) | st.just(real_id) | path_ids
    if op.name == "device-type-put":
        ids = st.sampled_from(["Palm", "Vein"]) | path_ids
    await registry.ledger.open()

    def build(call: Bridge) -> Callable[[], None]:
        @fuzz_settings(max_examples=40)
        @given(
            body=bodies(template),
            ident=ids,
            if_match=st.none() | st.none() | header_values,
            params=st.none() | st.dictionaries(st.text(max_size=8), query_values, max_size=2),
            content_type=st.sampled_from(CONTENT_TYPES),
        )
        def prop(
            body: bytes, ident: str, if_match: str | None, params: Any, content_type: str
        ) -> None:
            assume(usable_id(ident))
            path = API + op.path.replace("{id}", safe_path(ident))
            response = call(registry.send(op.method, path, body, params, if_match, content_type))
            ok = check_native(response, (body, ident, if_match, params, content_type))
            registry.ledger.record(ok, ident if op.key else None)

        valid = encode_json(template)
        ident = real_id or "Palm"
        for bad in ('"\xb2"', "\xb9", "9" * 5000, '"123456789012345678901234567890"'):
            prop = example(valid, ident, bad, None, JSON)(prop)
        for variant in regressions(template):
            prop = example(encode_json(variant), ident, None, None, JSON)(prop)
        return example(valid, "a\x00b", None, {"cursor": "\x00"}, JSON)(prop)

    await run_property(build)
    await registry.ledger.assert_growth(op.writes, op.loose)


# ---------------------------------------------------------------- reads, deletes and queries


@dataclass(frozen=True)
class QueryOp:
    name: str
    method: str
    path: str
    params: tuple[str, ...]
    id_of: str | None = None
    writes: dict[str, int] = field(default_factory=dict)


QUERY_OPS = [
    QueryOp("providers", "GET", "/device-providers", ("limit", "cursor")),
    QueryOp("provider", "GET", "/device-providers/{id}", (), "provider"),
    QueryOp("trust-providers", "GET", "/trust-providers", ("limit", "cursor")),
    QueryOp("trust-provider", "GET", "/trust-providers/{id}", (), "trust"),
    QueryOp("software-list", "GET", "/device-software", ("limit", "cursor")),
    QueryOp("software", "GET", "/device-software/{id}", (), "software"),
    QueryOp("device-types", "GET", "/device-types", ()),
    QueryOp("whitelist", "GET", "/whitelisted-devices", ("limit", "cursor")),
    QueryOp(
        "unwhitelist",
        "DELETE",
        "/whitelisted-devices/{id}",
        (),
        "whitelist",
        {"whitelisted_devices": -1, "audit_events": 1},
    ),
    QueryOp(
        "devices",
        "GET",
        "/devices",
        ("status", "purpose", "provider_id", "serial_number", "type_code", "limit", "cursor"),
    ),
    QueryOp("device", "GET", "/devices/{id}", ("as_of",), "device"),
    QueryOp("device-history", "GET", "/devices/{id}/history", (), "device"),
    QueryOp(
        "audit",
        "GET",
        "/audit",
        ("entity_type", "entity_id", "by", "since", "until", "before_id", "limit"),
    ),
    QueryOp("changes", "GET", "/changes", ("after", "limit")),
    QueryOp("jwks", "GET", "/../.well-known/jwks.json", ("tenant",)),
    QueryOp("healthz", "GET", "/../healthz", ()),
]

# Values a parameter might plausibly get wrong: numbers, dates, cursors, statuses.
PLAUSIBLE = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["0", "1", "1000", "1001", "-1", "1.5", "1e3", "", " 5", "٣"]),
    iso_datetimes,
    st.sampled_from(
        [
            "Registered",
            "REVOKED",
            "retired",
            "AUTH",
            "registration",
            "-1.-1",
            "1.2.3",
            f"{2**62}.0",
            "9" * 100,
            "0.0",
        ]
    ),
)


@pytest.mark.parametrize("op", QUERY_OPS, ids=[op.name for op in QUERY_OPS])
async def test_junk_paths_and_queries_get_a_native_error(registry: Registry, op: QueryOp) -> None:
    real_id = registry.ids.get(op.id_of or "", "")
    ids = st.just(real_id) | path_ids if real_id else st.just("")
    value = query_values | PLAUSIBLE
    known = st.sampled_from(op.params) if op.params else st.text(max_size=6)
    await registry.ledger.open()

    def build(call: Bridge) -> Callable[[], None]:
        @fuzz_settings(max_examples=30)
        @given(
            ident=ids,
            params=st.dictionaries(
                known | st.text(max_size=6), value | st.lists(value, max_size=2), max_size=4
            ),
        )
        def prop(ident: str, params: dict[str, Any]) -> None:
            assume(usable_id(ident))
            path = (API + op.path.replace("{id}", safe_path(ident))).replace("/api/v1/../", "/")
            response = call(registry.send(op.method, path, None, params))
            registry.ledger.record(check_native(response, (ident, params)))

        if real_id:
            prop = example("a\x00b", {})(prop)
        for name in op.params:
            for bad in ("\x00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9" * 99):
                prop = example(real_id, {name: bad})(prop)
        return prop

    await run_property(build)
    await registry.ledger.assert_growth(op.writes)


async def test_native_rejects_junk_without_a_token(client: httpx.AsyncClient) -> None:
    def build(call: Bridge) -> Callable[[], None]:
        @fuzz_settings(max_examples=30)
        @given(
            op=st.sampled_from(BODY_OPS),
            body=bodies(PROVIDER),
            token=st.none() | st.text(alphabet="abcdef0123456789.-_", max_size=60),
        )
        def prop(op: BodyOp, body: bytes, token: str | None) -> None:
            headers = {"Content-Type": "application/json"}
            if token is not None:
                headers["Authorization"] = f"Bearer {token}x"
            path = API + op.path.replace("{id}", "some-id")
            response = call(client.request(op.method, path, content=body, headers=headers))
            assert not check_native(response, body)
            # A body past the read limit is refused as too large before the token is read.
            expected = (413,) if len(body) > MAX_BODY_READ else (400, 401, 422)
            assert response.status_code in expected, response.text

        return prop

    await run_property(build)


# ---------------------------------------------------------------- every other /api/v1 route


def normalised(method: str, path: str) -> tuple[str, str]:
    return method.upper(), re.sub(r"\{[^}]+\}", "{}", path)


EXPLICIT = {normalised(op.method, API + op.path) for op in BODY_OPS} | {
    normalised(op.method, (API + op.path).replace("/api/v1/../", "/")) for op in QUERY_OPS
}


def sample(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A plausible value for an OpenAPI schema: the valid-looking start for mutations."""
    if "$ref" in schema:
        return sample(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return sample(schema[key][0], components)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: sample(v, components) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [sample(schema.get("items", {}), components)]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, "x")


async def test_every_other_api_v1_route_survives_junk(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    """The routes above have tailored tests; any other ``/api/v1`` route (found in the
    OpenAPI document, so new ones are covered as they appear) gets junk bodies built from
    its own request schema, junk path ids and queries, with and without a token."""
    spec = (await client.get("/openapi.json")).json()
    components = spec.get("components", {}).get("schemas", {})
    listed = {normalised(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert EXPLICIT <= listed, f"tailored tests name routes that are gone: {EXPLICIT - listed}"
    others: dict[tuple[str, str], Any] = {}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if not path.startswith(API + "/") or normalised(method, path) in EXPLICIT:
                continue
            body = op.get("requestBody", {}).get("content", {}).get(JSON, {})
            template = sample(body["schema"], components) if body else None
            others[(method.upper(), path)] = template or {"junk": 1}
    if not others:
        pytest.skip("every /api/v1 route has a tailored test")
    strategies = {op: bodies(template) for op, template in others.items()}
    short_ids = path_ids.filter(lambda s: len(s) <= 500)

    def build(call: Bridge) -> Callable[[], None]:
        @fuzz_settings(max_examples=80)
        @given(
            data=st.data(),
            op=st.sampled_from(sorted(others)),
            ident=short_ids,
            params=st.dictionaries(st.text(max_size=8), query_values, max_size=2),
            authorised=st.booleans(),
        )
        def prop(
            data: st.DataObject,
            op: tuple[str, str],
            ident: str,
            params: dict[str, Any],
            authorised: bool,
        ) -> None:
            assume(usable_id(ident))
            body = data.draw(strategies[op])
            method, path = op
            path = re.sub(r"\{[^}]+\}", safe_path(ident), path)
            headers = {"Content-Type": JSON, **(caller.headers if authorised else {})}
            response = call(
                client.request(method, path, content=body, params=params, headers=headers)
            )
            check_native(response, (op, body, ident, params, authorised))

        return prop

    await run_property(build)
