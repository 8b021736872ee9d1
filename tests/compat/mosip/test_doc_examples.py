"""Replays every example request of the MOSIP API page, in the page's order."""

from __future__ import annotations

import base64
import json
import re

import httpx
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from tests.compat.mosip import doc
from tests.compat.mosip.world import World, errors_of, payload_of
from tests.conftest import Caller

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_the_pages_examples_in_order(client: httpx.AsyncClient, caller: Caller) -> None:
    w = World(client, caller.headers)

    # POST /deviceprovider
    created = await w.post("/deviceprovider", doc.PROVIDER_CREATE)
    assert created["id"] == "io.mosip.masterdata.deviceprovider.create"
    assert created["version"] == "1.0"
    assert TIME.match(created["responsetime"])
    assert created["metadata"] is None and created["errors"] == []
    provider = created["response"]
    assert {k: provider[k] for k in doc.PROVIDER_CREATE["request"]} == doc.PROVIDER_CREATE[
        "request"
    ]
    assert provider["createdBy"] == f"tester@{caller.tenant}"
    assert provider["updatedBy"] is None and provider["isDeleted"] is None
    w.provider_id = provider["id"]

    # PUT /deviceprovider
    updated = await w.put(
        "/deviceprovider", doc.with_request(doc.PROVIDER_UPDATE, id=w.provider_id)
    )
    assert updated["errors"] == []
    expected = {**doc.PROVIDER_UPDATE["request"], "id": w.provider_id}
    assert {k: updated["response"][k] for k in expected} == expected
    assert updated["response"]["updatedBy"] == f"tester@{caller.tenant}"

    # POST and PUT /foundationaltrustprovider
    ftp = await w.post("/foundationaltrustprovider", doc.FTP_CREATE)
    assert ftp["errors"] is None and ftp["metadata"] is None
    shown = ftp["response"]
    assert (shown["name"], shown["email"], shown["contactNo"], shown["certAlias"]) == (
        "FTP 1",
        "FTP1@mosip.io",
        "9876543210",
        "Test",
    )
    ftp_updated = await w.put(
        "/foundationaltrustprovider", doc.with_request(doc.FTP_UPDATE, id=shown["id"])
    )
    assert ftp_updated["response"]["email"] == "FTP1test@mosip.io"
    assert ftp_updated["response"]["certAlias"] == "Change"
    assert TIME.match(ftp_updated["response"]["updatedDateTime"])

    # POST and PUT /mosipdeviceservice
    mds = await w.post(
        "/mosipdeviceservice", doc.with_request(doc.MDS_CREATE, deviceProviderId=w.provider_id)
    )
    assert mds["errors"] is None, mds
    assert mds["response"]["swVersion"] == "TestSwVersion1"
    assert mds["response"]["swBinaryHash"] == "Test Hash"
    assert mds["response"]["swExpiryDateTime"] == "2021-02-10T06:12:52.994Z"
    mds_updated = await w.put(
        "/mosipdeviceservice",
        doc.with_request(doc.MDS_UPDATE, deviceProviderId=w.provider_id, id=mds["response"]["id"]),
    )
    assert mds_updated["errors"] is None, mds_updated
    assert mds_updated["response"]["swExpiryDateTime"] == "2022-02-10T06:12:52.994Z"

    # POST /registereddevices: the signed answer
    registered = await w.register()
    assert registered["errors"] is None and registered["metadata"] is None, registered
    assert registered["id"] == "io.mosip.masterdata.device.create"
    signed = registered["response"]
    header_b64, payload_b64, signature_b64 = signed.split(".")
    assert json.loads(base64.b64decode(header_b64)) == {"alg": "RS256", "type": "JWS"}
    payload = payload_of(signed)
    assert list(payload) == ["status", "digitalId", "deviceCode", "env", "timeStamp"]
    assert payload["status"] == "REGISTERED" and payload["env"] == "local"
    digital = json.loads(base64.urlsafe_b64decode(payload["digitalId"] + "=="))
    assert digital["serialNo"] == "1801160992" and digital["deviceProviderId"] == w.provider_id
    code = payload["deviceCode"]

    # The signature verifies with the tenant's published key, through a JOSE library.
    jwks = (await client.get("/.well-known/jwks.json", params={"tenant": caller.tenant})).json()
    assert len(jwks["keys"]) == 1
    key = KeySet.import_key_set(jwks).keys[0]
    rs256 = JWSRegistry.algorithms["RS256"]
    signing_input = f"{header_b64}.{payload_b64}".encode()
    assert rs256.verify(signing_input, base64.b64decode(signature_b64), key)
    assert not rs256.verify(signing_input + b"x", base64.b64decode(signature_b64), key)

    # POST /masterdata/deviceprovidermanagement/validate, live and as of now (the page's
    # own path spelling, without /v1)
    live = await client.post(
        "/masterdata/deviceprovidermanagement/validate",
        json=doc.validation(code, w.provider_id),
        headers=caller.headers,
    )
    assert live.json()["response"] == [
        {"status": "Valid", "message": "Device details validated successfully"}
    ]
    assert live.json()["metadata"] == {} and live.json()["errors"] is None
    history = await w.validate(code, at=doc.now_text())
    assert history["response"] == [
        {"status": "Valid", "message": "Device details history validated successfully"}
    ]

    # PUT /registereddevices/status?devicecode='...'&status='REVOKED' (quotes as the page)
    status = await w.put(
        "/registereddevices/status", params={"devicecode": f"'{code}'", "status": "'REVOKED'"}
    )
    assert status["errors"] is None and status["metadata"] == {}
    assert status["response"] == {
        "status": "success",
        "message": "Device status updated successfully",
    }
    assert errors_of(await w.validate(code)) == [("ADM-DPM-002", "Device is revoked/retired")]
    await w.put(
        "/registereddevices/update/status", params={"deviceCode": code, "statusCode": "registered"}
    )

    # DELETE /registereddevices/deregister/{deviceCode}
    gone = await w.delete(f"/registereddevices/deregister/{code}")
    assert gone["id"] == "io.mosip.masterdata.device.delete" and gone["errors"] is None
    assert gone["response"] == {"status": "success", "message": "Device de-register successfully"}
    again = await w.delete(f"/registereddevices/deregister/{code}")
    assert errors_of(again) == [("KER-DPM-002", "Device already de-registered")]


async def test_auth_failures_use_the_pages_envelope(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/masterdata/deviceprovider", json=doc.PROVIDER_CREATE)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "io.mosip.masterdata.deviceprovider.create"
    assert body["version"] == "1.0" and body["metadata"] == {} and body["response"] is None
    assert body["errors"] == [{"errorCode": "KER-ATH-401", "message": "Authentication Failed"}]
