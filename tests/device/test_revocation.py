"""A disable, a delete or a reset takes effect on the very next connect: no stale cache.

Chosen (Argon2id) passwords are remembered once verified; each test first connects with
one so that the comparison is cached, then revokes, then connects again.
"""

from __future__ import annotations

import httpx
import pytest

from fleetkey.runtime import Runtime
from tests.device.support import (
    CHOSEN,
    OTHER_CHOSEN,
    Fleet,
    allowed,
    denials,
    native_device,
    new_fleet,
    password_of,
    roma_device,
    user_of,
)


async def _device(
    client: httpx.AsyncClient, fleet: Fleet, kind: str
) -> tuple[dict[str, object], str, str]:
    """A device with a generated (keyed) or a chosen (Argon2id) password."""
    if kind == "chosen":
        device = await roma_device(client, fleet, user_name="chosen-device-1", password=CHOSEN)
    else:
        device = await roma_device(client, fleet)
    return device, user_of(device), password_of(device)


async def _set_status(client: httpx.AsyncClient, fleet: Fleet, device_id: object, status: int):
    response = await client.put(
        f"{fleet.roma}/devices/{device_id}", json={"status": status}, headers=fleet.roma_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status


async def _reset(
    client: httpx.AsyncClient, fleet: Fleet, path: str, body: dict[str, str]
) -> dict[str, str]:
    response = await client.put(
        f"{fleet.roma}/{path}/authentication", json=body, headers=fleet.roma_headers
    )
    assert response.status_code == 200, response.text
    shown: dict[str, str] = response.json()
    return shown


@pytest.mark.parametrize("kind", ["generated", "chosen"])
async def test_disable_denies_at_once_and_enable_allows_again(
    client: httpx.AsyncClient, runtime: Runtime, kind: str
) -> None:
    fleet = await new_fleet(client, runtime)
    device, user, password = await _device(client, fleet, kind)
    assert await allowed(client, fleet, user, password)
    assert await allowed(client, fleet, user, password)  # a cache hit for "chosen"

    await _set_status(client, fleet, device["id"], 1)
    assert not await allowed(client, fleet, user, password)
    assert not await allowed(client, fleet, user, password, str(device["client_id"]))

    await _set_status(client, fleet, device["id"], 0)
    assert await allowed(client, fleet, user, password)
    assert await denials(runtime, fleet.caller.tenant_id) == [
        (str(device["id"]), "device is disabled"),
        (str(device["id"]), "device is disabled"),
    ]


@pytest.mark.parametrize("kind", ["generated", "chosen"])
async def test_delete_denies_at_once(
    client: httpx.AsyncClient, runtime: Runtime, kind: str
) -> None:
    fleet = await new_fleet(client, runtime)
    device, user, password = await _device(client, fleet, kind)
    assert await allowed(client, fleet, user, password)

    response = await client.delete(
        f"{fleet.roma}/devices/{device['id']}", headers=fleet.roma_headers
    )
    assert response.status_code == 204, response.text
    assert not await allowed(client, fleet, user, password)
    assert await denials(runtime, fleet.caller.tenant_id) == [("", "unknown user name")]


async def test_batch_delete_denies_at_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    fleet = await new_fleet(client, runtime)
    device, user, password = await _device(client, fleet, "chosen")
    assert await allowed(client, fleet, user, password)
    response = await client.request(
        "DELETE",
        f"{fleet.roma}/devices",
        json={"device_ids": [device["id"]]},
        headers=fleet.roma_headers,
    )
    assert response.status_code == 204, response.text
    assert not await allowed(client, fleet, user, password)


@pytest.mark.parametrize("kind", ["generated", "chosen"])
@pytest.mark.parametrize("new", ["generated", "chosen"])
async def test_reset_password_denies_the_old_one_at_once(
    client: httpx.AsyncClient, runtime: Runtime, kind: str, new: str
) -> None:
    fleet = await new_fleet(client, runtime)
    device, user, old = await _device(client, fleet, kind)
    assert await allowed(client, fleet, user, old)
    assert await allowed(client, fleet, user, old)

    body = {"password": OTHER_CHOSEN} if new == "chosen" else {}
    shown = await _reset(client, fleet, f"devices/{device['id']}", body)
    assert shown["user_name"] == user
    assert shown["password"] != old
    if new == "chosen":
        assert shown["password"] == OTHER_CHOSEN

    assert not await allowed(client, fleet, user, old)
    assert await allowed(client, fleet, user, shown["password"])
    assert await denials(runtime, fleet.caller.tenant_id) == [(str(device["id"]), "wrong password")]


async def test_reset_to_the_same_chosen_password_still_connects(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device, user, password = await _device(client, fleet, "chosen")
    assert await allowed(client, fleet, user, password)
    await _reset(client, fleet, f"devices/{device['id']}", {"password": password})
    assert await allowed(client, fleet, user, password)


async def test_renaming_the_user_denies_the_old_name_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device, user, password = await _device(client, fleet, "chosen")
    assert await allowed(client, fleet, user, password)

    shown = await _reset(
        client, fleet, f"devices/{device['id']}", {"user_name": "renamed-device-1"}
    )
    assert shown == {"user_name": "renamed-device-1", "password": "********"}
    assert not await allowed(client, fleet, user, password)
    assert await allowed(client, fleet, "renamed-device-1", password)


async def test_product_reset_denies_the_old_product_password_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    shared = await native_device(client, fleet, credential="product")
    cid = str(shared["client_id"])
    product = f"products/{fleet.product['id']}"

    chosen = await _reset(client, fleet, product, {"password": CHOSEN})
    assert chosen == {"user_name": fleet.product_user, "password": CHOSEN}
    assert not await allowed(client, fleet, fleet.product_user, fleet.product_password, cid)
    assert await allowed(client, fleet, fleet.product_user, CHOSEN, cid)
    assert await allowed(client, fleet, fleet.product_user, CHOSEN, cid)  # cached

    again = await _reset(client, fleet, product, {"password": OTHER_CHOSEN})
    assert not await allowed(client, fleet, fleet.product_user, CHOSEN, cid)
    assert await allowed(client, fleet, fleet.product_user, again["password"], cid)

    generated = await _reset(client, fleet, product, {})
    assert not await allowed(client, fleet, fleet.product_user, OTHER_CHOSEN, cid)
    assert await allowed(client, fleet, fleet.product_user, generated["password"], cid)


async def test_disabling_a_product_credential_device_denies_it_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    await _reset(client, fleet, f"products/{fleet.product['id']}", {"password": CHOSEN})
    shared = await native_device(client, fleet, credential="product")
    cid = str(shared["client_id"])
    assert await allowed(client, fleet, fleet.product_user, CHOSEN, cid)

    await _set_status(client, fleet, shared["id"], 1)
    assert not await allowed(client, fleet, fleet.product_user, CHOSEN, cid)
    response = await client.delete(
        f"{fleet.roma}/devices/{shared['id']}", headers=fleet.roma_headers
    )
    assert response.status_code == 204
    assert not await allowed(client, fleet, fleet.product_user, CHOSEN, cid)
    assert await denials(runtime, fleet.caller.tenant_id) == [
        (str(shared["id"]), "device is disabled"),
        ("", "client id is not a device of the product"),
    ]


async def test_a_device_given_its_own_credential_stops_using_the_products(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    shared = await native_device(client, fleet, credential="product")
    cid = str(shared["client_id"])
    assert await allowed(client, fleet, fleet.product_user, fleet.product_password, cid)

    own = await _reset(client, fleet, f"devices/{shared['id']}", {})
    assert own["user_name"].startswith("d-")
    assert not await allowed(client, fleet, fleet.product_user, fleet.product_password, cid)
    assert await allowed(client, fleet, own["user_name"], own["password"], cid)
