"""One-model-one-secret: a device without a credential of its own connects with its
product's user name and password plus its own client id."""

from __future__ import annotations

from typing import Any

import httpx
import huaweicloudsdkroma.v2 as sdk

from tests.compat.roma.support import GOOD_PASSWORD, MASK, Roma, compliant


async def _native_device(roma: Roma, product_id: int, credential: str = "product") -> Any:
    async with httpx.AsyncClient(base_url=roma.server.url, timeout=30) as http:
        reply = await http.post(
            f"/api/v1/instances/{roma.instance}/devices",
            json={
                "product_id": product_id,
                "device_name": f"shared-{credential}",
                "node_id": f"node-{credential}",
                "credential": credential,
            },
            headers={"Authorization": f"Bearer {roma.token}"},
        )
    assert reply.status_code == 201, reply.text
    return reply.json()


def _reset_product(roma: Roma, product_id: int, **fields: str) -> Any:
    return sdk.ResetProductAuthenticationRequest(
        instance_id=roma.instance,
        product_id=product_id,
        body=sdk.ResetProductAuthenticationRequestBody(**fields),
    )


async def test_a_device_connects_with_its_products_credential(roma: Roma) -> None:
    product = await roma.product()
    user_name, password = product.authentication.user_name, product.authentication.password
    device = await _native_device(roma, product.id)
    assert set(device) == {"id", "client_id", "product_id"}  # no credential of its own
    assert device["product_id"] == product.id
    client_id = device["client_id"]

    assert await roma.device_auth(user_name, password, client_id) == "allow"
    assert await roma.device_auth(user_name, password, None) == "deny"  # which device?
    assert await roma.device_auth(user_name, password + "x", client_id) == "deny"
    assert await roma.device_auth(user_name, password, client_id + "x") == "deny"
    assert await roma.device_auth(user_name, password, client_id) == "allow"

    # Through ROMA the device shows no credential; its authentication is the product's.
    shown = await roma.show_device(device["id"])
    assert (shown.id, shown.client_id, shown.authentication) == (device["id"], client_id, None)
    auth = await roma.call(
        "show_authentication",
        sdk.ShowAuthenticationRequest(instance_id=roma.instance, device_id=device["id"]),
    )
    assert (auth.user_name, auth.password) == (user_name, MASK)


async def test_the_product_credential_is_no_key_to_other_devices(roma: Roma) -> None:
    product = await roma.product()
    other_product = await roma.product()
    user_name, password = product.authentication.user_name, product.authentication.password
    own = await roma.device(product.id)  # one-device-one-secret, same product
    foreign = await _native_device(roma, other_product.id)  # shared, another product
    assert await roma.device_auth(user_name, password, own.client_id) == "deny"
    assert await roma.device_auth(user_name, password, foreign["client_id"]) == "deny"
    # And a device's own credential is no key to another device's client id.
    shared = await _native_device(roma, product.id)
    assert (
        await roma.device_auth(
            own.authentication.user_name, own.authentication.password, shared["client_id"]
        )
        == "deny"
    )


async def test_resetting_the_product_secret_takes_effect_at_once(roma: Roma) -> None:
    product = await roma.product()
    user_name, old = product.authentication.user_name, product.authentication.password
    device = await _native_device(roma, product.id)
    client_id = device["client_id"]
    assert await roma.device_auth(user_name, old, client_id) == "allow"

    generated = await roma.call("reset_product_authentication", _reset_product(roma, product.id))
    assert generated.user_name == user_name
    assert compliant(generated.password) and generated.password != old
    assert await roma.device_auth(user_name, old, client_id) == "deny"
    assert await roma.device_auth(user_name, generated.password, client_id) == "allow"

    chosen = await roma.call(
        "reset_product_authentication",
        _reset_product(roma, product.id, password=GOOD_PASSWORD),
    )
    assert (chosen.user_name, chosen.password) == (user_name, GOOD_PASSWORD)
    assert await roma.device_auth(user_name, generated.password, client_id) == "deny"
    assert await roma.device_auth(user_name, GOOD_PASSWORD, client_id) == "allow"

    # A new product user name: the old name stops working, the password stays.
    renamed = await roma.call(
        "reset_product_authentication",
        _reset_product(roma, product.id, user_name="shared-secret-01"),
    )
    assert (renamed.user_name, renamed.password) == ("shared-secret-01", MASK)
    assert await roma.device_auth(user_name, GOOD_PASSWORD, client_id) == "deny"
    assert await roma.device_auth("shared-secret-01", GOOD_PASSWORD, client_id) == "allow"


async def test_disabling_a_shared_secret_device(roma: Roma) -> None:
    product = await roma.product()
    user_name, password = product.authentication.user_name, product.authentication.password
    device = await _native_device(roma, product.id)
    disabled = await roma.call(
        "update_device",
        sdk.UpdateDeviceRequest(
            instance_id=roma.instance,
            device_id=device["id"],
            body=sdk.UpdateDeviceRequestBody(status=1),
        ),
    )
    assert disabled.status == 1
    assert await roma.device_auth(user_name, password, device["client_id"]) == "deny"


async def test_resetting_the_device_gives_it_a_secret_of_its_own(roma: Roma) -> None:
    product = await roma.product()
    user_name, password = product.authentication.user_name, product.authentication.password
    device = await _native_device(roma, product.id)
    client_id = device["client_id"]

    reset = await roma.reset(device["id"], sdk.ResetAuthenticationRequestBody())
    assert reset.user_name != user_name
    assert compliant(reset.password) and reset.password != password
    assert await roma.device_auth(reset.user_name, reset.password, client_id) == "allow"
    # It no longer connects with the product's credential; the product's other devices do.
    assert await roma.device_auth(user_name, password, client_id) == "deny"
    other = await _native_device(roma, product.id)
    assert await roma.device_auth(user_name, password, other["client_id"]) == "allow"
    shown = await roma.show_device(device["id"])
    assert (shown.authentication.user_name, shown.authentication.password) == (
        reset.user_name,
        MASK,
    )


async def test_a_native_device_with_its_own_credential(roma: Roma) -> None:
    product = await roma.product()
    device = await _native_device(roma, product.id, credential="own")
    auth = device["authentication"]
    assert compliant(auth["password"])
    assert await roma.device_auth(auth["user_name"], auth["password"], device["client_id"]) == (
        "allow"
    )
    shown = await roma.show_device(device["id"])
    assert (shown.authentication.user_name, shown.authentication.password) == (
        auth["user_name"],
        MASK,
    )
