"""Building a small MOSIP world through the MOSIP surface itself."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx

from tests.compat.mosip import doc

BASE = "/v1/masterdata"


@dataclass
class World:
    client: httpx.AsyncClient
    headers: dict[str, str]
    provider_id: str = ""
    software_id: str = ""

    async def post(self, path: str, body: Any) -> dict[str, Any]:
        response = await self.client.post(BASE + path, json=body, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def put(self, path: str, body: Any = None, params: Any = None) -> dict[str, Any]:
        response = await self.client.put(
            BASE + path, json=body, params=params, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def delete(self, path: str) -> dict[str, Any]:
        response = await self.client.delete(BASE + path, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def register(self, **kwargs: Any) -> dict[str, Any]:
        return await self.post("/registereddevices", doc.registration(self.provider_id, **kwargs))

    async def register_ok(self, **kwargs: Any) -> str:
        """Register and return the device code from the signed payload."""
        body = await self.register(**kwargs)
        assert body["errors"] is None, body
        return str(payload_of(body["response"])["deviceCode"])

    async def validate(self, code: str, **kwargs: Any) -> dict[str, Any]:
        return await self.post(
            "/deviceprovidermanagement/validate", doc.validation(code, self.provider_id, **kwargs)
        )


async def build_world(client: httpx.AsyncClient, headers: dict[str, str]) -> World:
    world = World(client, headers)
    created = await world.post("/deviceprovider", doc.PROVIDER_CREATE)
    world.provider_id = created["response"]["id"]
    mds = await world.post(
        "/mosipdeviceservice", doc.with_request(doc.MDS_CREATE, deviceProviderId=world.provider_id)
    )
    assert mds["errors"] is None, mds
    world.software_id = mds["response"]["id"]
    return world


def errors_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    assert body["response"] is None, body
    return [(e["errorCode"], e["message"]) for e in body["errors"]]


def payload_of(signed: str) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(signed.split(".")[1])))
