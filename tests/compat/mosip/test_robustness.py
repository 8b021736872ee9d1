"""Property-based robustness of the MOSIP surface: junk in, a MOSIP error envelope out.

Every MOSIP operation gets malformed JSON, wrong types, huge strings, deep nesting, bad
base64 and random bytes, mostly as mutations of the API page's own example request
(``doc.py``): a field replaced by a random JSON value, deleted, or joined by junk keys.
Registration also gets a ``deviceData`` that is random base64, base64 of random JSON,
base64 of a valid deviceData with mutated fields, and dot-separated (JWS-like) parts.

Properties, for every request:

* HTTP 200 and exactly MOSIP's keys ``{id, version, responsetime, metadata, response,
  errors}``;
* on failure ``response`` is null and each error has a string ``errorCode`` and
  ``message``; the code is never ``KER-MSD-500`` (that is a server fault);
* afterwards the tenant's rows grew only by what the successful requests wrote (junk never
  leaves a ``registered_devices`` row, a history row or an audit event behind).

The hypothesis/async bridge is explained in ``tests/fuzz_support.py``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from fleetkey.runtime import Runtime
from tests.compat.mosip import doc
from tests.conftest import Caller
from tests.fuzz_support import (
    B64_ALPHABET,
    Bridge,
    Ledger,
    b64,
    bodies,
    encode_json,
    fuzz_settings,
    json_values,
    mutated,
    path_ids,
    query_values,
    regressions,
    run_property,
)

BASE = "/v1/masterdata"
ENVELOPE_KEYS = {"id", "version", "responsetime", "metadata", "response", "errors"}
JSON = {"Content-Type": "application/json"}


def check_envelope(response: httpx.Response, sent: Any) -> bool:
    """Assert MOSIP's failure contract; True when the request succeeded."""
    where = f"request {sent!r:.300}"
    assert response.status_code == 200, f"{where}: HTTP {response.status_code} {response.text:.500}"
    body = response.json()
    assert isinstance(body, dict) and set(body) == ENVELOPE_KEYS, f"{where}: {body!r:.500}"
    assert isinstance(body["id"], str) and isinstance(body["version"], str), where
    errors = body["errors"]
    assert errors is None or isinstance(errors, list), f"{where}: {body!r:.500}"
    if not errors:
        return True
    assert body["response"] is None, f"{where}: {body!r:.500}"
    for error in errors:
        assert isinstance(error, dict), f"{where}: {body!r:.500}"
        assert isinstance(error.get("errorCode"), str), f"{where}: {body!r:.500}"
        assert isinstance(error.get("message"), str), f"{where}: {body!r:.500}"
        assert error["errorCode"] != "KER-MSD-500", f"{where}: server fault {body!r:.500}"
    return False


# ---------------------------------------------------------------- a small MOSIP world


@dataclass
class World:
    client: httpx.AsyncClient
    caller: Caller
    ledger: Ledger
    provider_id: str = ""
    ftp_id: str = ""
    mds_id: str = ""
    device_code: str = ""

    async def ok(self, path: str, body: Any) -> Any:
        response = await self.client.post(BASE + path, json=body, headers=self.caller.headers)
        envelope = response.json()
        assert not envelope["errors"], envelope
        return envelope["response"]

    async def send(
        self, method: str, path: str, content: bytes | None = None, params: Any = None
    ) -> httpx.Response:
        return await self.client.request(
            method, path, content=content, params=params, headers={**self.caller.headers, **JSON}
        )

    def record(self, response: httpx.Response, sent: Any) -> None:
        self.ledger.record(check_envelope(response, sent))


# What one successful call writes.
CREATES = {"entity_history": 1, "audit_events": 1}
UPDATES = {"entity_history": 1, "audit_events": 1}
READS: dict[str, int] = {}


@pytest.fixture
async def world(client: httpx.AsyncClient, caller: Caller, runtime: Runtime) -> World:
    w = World(client, caller, Ledger(runtime, caller.tenant_id))
    w.provider_id = (await w.ok("/deviceprovider", doc.PROVIDER_CREATE))["id"]
    w.ftp_id = (await w.ok("/foundationaltrustprovider", doc.FTP_CREATE))["id"]
    mds = doc.with_request(doc.MDS_CREATE, deviceProviderId=w.provider_id)
    mds["request"]["swExpiryDateTime"] = doc.now_text(86400 * 365)
    w.mds_id = (await w.ok("/mosipdeviceservice", mds))["id"]
    signed = await w.ok("/registereddevices", doc.registration(w.provider_id))
    w.device_code = json.loads(base64.b64decode(signed.split(".")[1]))["deviceCode"]
    return w


# ---------------------------------------------------------------- JSON-body operations


@dataclass(frozen=True)
class BodyOp:
    name: str
    method: str
    path: str
    template: Callable[[World], dict[str, Any]]
    writes: dict[str, int]  # rows one successful call adds


BODY_OPS = [
    BodyOp(
        "provider-create",
        "POST",
        "/deviceprovider",
        lambda w: doc.PROVIDER_CREATE,
        {"device_providers": 1, **CREATES},
    ),
    BodyOp(
        "provider-update",
        "PUT",
        "/deviceprovider",
        lambda w: doc.with_request(doc.PROVIDER_UPDATE, id=w.provider_id),
        UPDATES,
    ),
    BodyOp(
        "ftp-create",
        "POST",
        "/foundationaltrustprovider",
        lambda w: doc.FTP_CREATE,
        {"trust_providers": 1, **CREATES},
    ),
    BodyOp(
        "ftp-update",
        "PUT",
        "/foundationaltrustprovider",
        lambda w: doc.with_request(doc.FTP_UPDATE, id=w.ftp_id),
        UPDATES,
    ),
    BodyOp(
        "mds-create",
        "POST",
        "/mosipdeviceservice",
        lambda w: doc.with_request(doc.MDS_CREATE, deviceProviderId=w.provider_id, swVersion="v2"),
        {"device_software": 1, **CREATES},
    ),
    BodyOp(
        "mds-update",
        "PUT",
        "/mosipdeviceservice",
        lambda w: doc.with_request(doc.MDS_UPDATE, id=w.mds_id, deviceProviderId=w.provider_id),
        UPDATES,
    ),
    BodyOp(
        "validate",
        "POST",
        "/deviceprovidermanagement/validate",
        lambda w: doc.validation(w.device_code, w.provider_id),
        READS,
    ),
    BodyOp(
        "validate-doc-spelling",
        "POST",
        "/masterdata/deviceprovidermanagement/validate",
        lambda w: doc.validation(w.device_code, w.provider_id, at=doc.now_text()),
        READS,
    ),
]


def url(path: str) -> str:
    return path if path.startswith("/masterdata/") else BASE + path


@pytest.mark.parametrize("op", BODY_OPS, ids=[op.name for op in BODY_OPS])
async def test_junk_bodies_get_a_mosip_error(world: World, op: BodyOp) -> None:
    template = op.template(world)
    await world.ledger.open()

    def build(call: Bridge) -> Callable[[], None]:
        @fuzz_settings(max_examples=50)
        @given(
            body=bodies(template),
            params=st.none() | st.dictionaries(st.text(max_size=8), query_values, max_size=2),
        )
        def prop(body: bytes, params: dict[str, str] | None) -> None:
            world.record(call(world.send(op.method, url(op.path), body, params)), (body, params))

        for variant in regressions(template):
            prop = example(body=encode_json(variant), params=None)(prop)
            # The same with a lone surrogate as raw bytes (ED A0 80), not as an escape:
            # json.loads decodes those too, and once they reached the store (KER-MSD-500).
            prop = example(body=encode_json(variant, ascii_only=False), params=None)(prop)
        return example(body=encode_json(template), params={"x": "\x00"})(prop)

    await run_property(build)
    await world.ledger.assert_growth(op.writes)


async def test_mosip_rejects_junk_without_a_token(client: httpx.AsyncClient) -> None:
    """Auth is checked before the body is read: junk without a token is KER-ATH-401."""

    def build(call: Bridge) -> Callable[[], None]:
        @fuzz_settings(max_examples=30)
        @given(
            op=st.sampled_from(BODY_OPS),
            body=bodies(doc.PROVIDER_CREATE),
            token=st.none() | st.text(alphabet="abcdef0123456789.-_", max_size=60),
        )
        def prop(op: BodyOp, body: bytes, token: str | None) -> None:
            headers = JSON if token is None else {**JSON, "Authorization": f"Bearer {token}x"}
            response = call(client.request(op.method, url(op.path), content=body, headers=headers))
            assert not check_envelope(response, body)
            assert response.json()["errors"][0]["errorCode"] == "KER-ATH-401"

        return prop

    await run_property(build)


# ---------------------------------------------------------------- registration


def fresh_device_data(w: World) -> dict[str, Any]:
    """The page's deviceData for this world's provider, stamped now, digitalId as an object."""
    body = doc.registration(w.provider_id, serial="fuzz-serial")
    data = json.loads(base64.b64decode(body["request"]["deviceData"]))
    data["foundationalTrustProviderId"] = w.ftp_id
    info = data["deviceInfo"]
    info["digitalId"] = json.loads(base64.b64decode(info["digitalId"]))
    return data


def encodings() -> st.SearchStrategy[Callable[[bytes], str]]:
    def std(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    def url_unpadded(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def wrapped(raw: bytes) -> str:
        text = base64.b64encode(raw).decode()
        return "\n".join(text[i : i + 76] for i in range(0, len(text), 76))

    return st.sampled_from([std, url_unpadded, wrapped])


def device_data_values(w: World) -> st.SearchStrategy[Any]:
    @st.composite
    def mutated_valid(draw: st.DrawFn) -> str:
        data = draw(mutated(fresh_device_data(w)))
        info = data.get("deviceInfo")
        if (
            isinstance(info, dict)
            and isinstance(info.get("digitalId"), dict)
            and draw(st.booleans())
        ):
            info["digitalId"] = b64(info["digitalId"])
        if isinstance(info, dict) and draw(st.booleans()):
            data["deviceInfo"] = b64(info)
        return draw(encodings())(encode_json(data, draw(st.booleans())))

    single = st.one_of(
        st.binary(max_size=120).map(b64),
        st.text(alphabet=B64_ALPHABET, max_size=120),
        json_values.map(b64),
        mutated_valid(),
        mutated_valid(),
        mutated_valid(),
    )
    dotted = st.lists(single, min_size=0, max_size=4).map(".".join)
    return st.one_of(single, single, dotted, json_values)


def registration_regressions(w: World) -> list[bytes]:
    """Registrations that once reached the database and failed there (KER-MSD-500)."""
    nested: Any = 1
    for _ in range(40):
        nested = [nested]
    changes: list[tuple[str, dict[str, Any]]] = [
        ("digital", {"extra": float("nan")}),  # jsonb refuses NaN; a JSON response too
        ("digital", {"extra": float("inf")}),
        ("digital", {"extra": nested}),  # too deep to store and sign
        ("digital", {"serialNo": "a\x00b"}),  # PostgreSQL text refuses NUL
        ("digital", {"make": "\ud800"}),  # not UTF-8 at all
        ("data", {"foundationalTrustProviderId": "x" * 40}),  # below L1, stored unchecked
        ("data", {"deviceId": "\udfff"}),
        ("info", {"timeStamp": "0001-01-01T00:00:00+01:00"}),  # before the first UTC instant
        ("info", {"deviceExpiry": "9999-12-31T23:59:59-01:00"}),  # after the last one
    ]
    out = []
    for n, (part, change) in enumerate(changes):
        data = fresh_device_data(w)
        digital = data["deviceInfo"]["digitalId"]
        digital["serialNo"] = f"regression-{n}"  # a new serial: the row would be written
        {"data": data, "info": data["deviceInfo"], "digital": digital}[part].update(change)
        body = doc.registration(w.provider_id)
        body["request"]["deviceData"] = b64(data)
        out.append(encode_json(body))
    return out


async def test_junk_device_data_registers_nothing_else(world: World) -> None:
    """Random deviceData: only a still-valid one may register, and only that leaves rows."""
    await world.ledger.open()
    envelope = doc.registration(world.provider_id)
    envelope["request"] = {"deviceData": "placeholder"}

    def wrap(device_data: Any) -> bytes:
        return encode_json({**envelope, "request": {"deviceData": device_data}})

    def build(call: Bridge) -> Callable[[], None]:
        @fuzz_settings(max_examples=120)
        @given(
            body=st.one_of(
                device_data_values(world).map(wrap),
                device_data_values(world).map(wrap),
                bodies(envelope),
            )
        )
        def prop(body: bytes) -> None:
            world.record(call(world.send("POST", BASE + "/registereddevices", body)), body)

        for body in registration_regressions(world):
            prop = example(body=body)(prop)
        return prop

    await run_property(build)
    await world.ledger.assert_growth({"registered_devices": 1, **CREATES})


# ---------------------------------------------------------------- path and query operations


async def test_deregister_random_codes(world: World) -> None:
    await world.ledger.open()

    def build(call: Bridge) -> Callable[[], None]:
        @fuzz_settings(max_examples=60)
        @given(code=path_ids | st.just(world.device_code) | st.sampled_from(["", "a/b", "é/"]))
        def prop(code: str) -> None:
            # httpx (like any client) resolves "." and ".." segments before sending, and
            # Starlette's Mount("/v1/masterdata") never matches a path holding a newline.
            assume(not {".", ".."} & set(code.split("/")) and "\n" not in code)
            path = f"{BASE}/registereddevices/deregister/{quote(code, safe='/')}"
            world.record(call(world.send("DELETE", path)), code)

        return example("a\x00b")(example("x" * 5000)(prop))

    await run_property(build)
    await world.ledger.assert_growth(UPDATES)


STATUS_PATHS = {
    "/registereddevices/status": ("devicecode", "status"),
    "/registereddevices/update/status": ("deviceCode", "statusCode"),
}


@pytest.mark.parametrize("path", sorted(STATUS_PATHS))
async def test_status_change_random_query(world: World, path: str) -> None:
    await world.ledger.open()
    code_key, status_key = STATUS_PATHS[path]
    codes = query_values | st.just(world.device_code) | st.just(f"'{world.device_code}'")
    statuses = query_values | st.sampled_from(["Revoked", "'REVOKED'", "Registered", "Retired"])

    def build(call: Bridge) -> Callable[[], None]:
        @fuzz_settings(max_examples=60)
        @given(
            params=st.fixed_dictionaries(
                {},
                optional={
                    code_key: codes | st.lists(codes, max_size=3),
                    status_key: statuses | st.lists(statuses, max_size=3),
                    "extra": query_values,
                },
            ),
            body=st.none() | bodies(doc.PROVIDER_CREATE),
        )
        def prop(params: dict[str, Any], body: bytes | None) -> None:
            world.record(call(world.send("PUT", BASE + path, body, params)), params)

        for params in (
            {code_key: "a\x00b", status_key: "Revoked"},
            {code_key: world.device_code, status_key: "\x00"},
            {code_key: "x" * 5000, status_key: "x" * 5000},
        ):
            prop = example(params, None)(prop)
        return prop

    await run_property(build)
    await world.ledger.assert_growth(UPDATES)


async def test_random_ids_in_update_bodies(world: World) -> None:
    """``request.id`` of every update, from path-like junk: unknown ids are clean errors."""
    await world.ledger.open()
    templates = {
        "/deviceprovider": doc.PROVIDER_UPDATE,
        "/foundationaltrustprovider": doc.FTP_UPDATE,
        "/mosipdeviceservice": doc.with_request(doc.MDS_UPDATE, deviceProviderId=world.provider_id),
    }

    def build(call: Bridge) -> Callable[[], None]:
        @fuzz_settings(max_examples=60)
        @given(path=st.sampled_from(sorted(templates)), ident=path_ids | json_values)
        def prop(path: str, ident: Any) -> None:
            body = encode_json(doc.with_request(templates[path], id=ident))
            world.record(call(world.send("PUT", BASE + path, body)), ident)

        for path in templates:
            prop = example(path, "\x00")(example(path, "x" * 5000)(prop))
        return prop

    await run_property(build)
    await world.ledger.assert_growth(UPDATES)
