"""Seeding a tenant through the MOSIP surface itself (httpx): provider, MDS, devices."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import mosip


@dataclass
class Device:
    code: str
    serial: str


@dataclass
class World:
    provider_id: str
    software_id: str
    devices: list[Device] = field(default_factory=list)


class SeedError(RuntimeError):
    pass


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(mosip.BASE + path, json=body)
    response.raise_for_status()
    envelope = response.json()
    if envelope.get("errors"):
        raise SeedError(f"POST {path} failed: {envelope['errors']}")
    return envelope["response"]


def _payload(signed: str) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(signed.split(".")[1])))


async def register(client: httpx.AsyncClient, provider_id: str, serial: str) -> Device:
    body = mosip.registration(provider_id, serial, mosip.now_millis())
    signed = await _post(client, "/registereddevices", body)
    return Device(str(_payload(signed)["deviceCode"]), serial)


async def seed_world(
    base_url: str, token: str, devices: int, serial_prefix: str, concurrency: int = 8
) -> World:
    """A provider and its MDS, then ``devices`` devices registered ``concurrency`` at a time."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        provider = await _post(client, "/deviceprovider", mosip.PROVIDER_CREATE)
        software = await _post(client, "/mosipdeviceservice", mosip.mds_create(provider["id"]))
        world = World(provider["id"], software["id"])
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> Device:
            async with gate:
                return await register(client, world.provider_id, f"{serial_prefix}{i:07d}")

        world.devices = list(await asyncio.gather(*(one(i) for i in range(devices))))
        return world


async def check_validates(base_url: str, token: str, bodies: list[dict[str, Any]]) -> None:
    """Fail early (before a load run) if a sample of the bodies does not validate."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        for body in bodies:
            await _post(client, "/deviceprovidermanagement/validate", body)
