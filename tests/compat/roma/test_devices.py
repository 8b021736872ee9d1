"""Devices through the SDK: create, list with every filter, show, update, delete, batch
delete, force-offline and the device count."""

from __future__ import annotations

from typing import Any

import huaweicloudsdkroma.v2 as sdk

from fleetkey.things.models import Device
from tests.compat.roma.support import (
    GOOD_PASSWORD,
    MASK,
    USER_NAME,
    Roma,
    compliant,
    expect_error,
    invalid_message,
    not_found_message,
    now_millis,
)


async def test_create_by_product_id_with_a_given_credential(roma: Roma) -> None:
    product = await roma.product()
    before = now_millis()
    created = await roma.device(
        product.id,
        device_name="boiler-01",
        node_id="AA-BB-CC-DD-EE-01",
        app_id="app-9",
        user_name="boiler-user-01",
        password=GOOD_PASSWORD,
        description="in the cellar",
        tags=["cellar", "heating"],
    )
    assert created.status_code == 201
    assert type(created.id) is int and created.device_id == created.id
    assert (created.device_name, created.node_id, created.app_id) == (
        "boiler-01",
        "AA-BB-CC-DD-EE-01",
        "app-9",
    )
    assert (created.instance_id, created.description, created.tags) == (
        roma.instance,
        "in the cellar",
        ["cellar", "heating"],
    )
    assert (created.status, created.online_status) == (0, 0)
    assert type(created.status) is int and type(created.online_status) is int
    assert (created.node_type, created.device_type) == (0, 0)
    assert type(created.created_datetime) is int
    assert before - 1000 <= created.created_datetime <= now_millis() + 1000
    assert created.client_id.startswith("D") and len(created.client_id) <= 32
    assert created.product.product_id == product.id and type(created.product.product_id) is int
    assert (created.product.product_name, created.product.manufacturer_id) == (
        product.name,
        "acme",
    )
    assert (created.product.model, created.product.product_type) == ("T1", 0)
    assert (created.authentication.user_name, created.authentication.password) == (
        "boiler-user-01",
        GOOD_PASSWORD,
    )
    assert created.connect_address == roma.server.settings.mqtt_address
    assert created.ssl_connect_address == roma.server.settings.mqtt_ssl_address

    shown = await roma.show_device(created.id)
    assert (shown.authentication.user_name, shown.authentication.password) == (
        "boiler-user-01",
        MASK,
    )
    assert await roma.device_auth("boiler-user-01", GOOD_PASSWORD, created.client_id) == "allow"
    assert await roma.device_auth("boiler-user-01", GOOD_PASSWORD, None) == "allow"
    assert await roma.device_auth("boiler-user-01", GOOD_PASSWORD + "x", None) == "deny"


async def test_create_by_manufacturer_and_model_with_a_generated_credential(roma: Roma) -> None:
    await roma.product(manufacturer_id="acme", model="OTHER")
    product = await roma.product(manufacturer_id="initech", model="M-7")
    created = await roma.device(
        0,
        product=sdk.ProductReferer(manufacturer_id="initech", model="M-7"),
    )
    assert created.status_code == 201
    assert created.product.product_id == product.id
    user_name, password = created.authentication.user_name, created.authentication.password
    assert USER_NAME.fullmatch(user_name)
    assert compliant(password)

    shown = await roma.show_device(created.id)
    assert (shown.authentication.user_name, shown.authentication.password) == (user_name, MASK)
    auth = await roma.call(
        "show_authentication",
        sdk.ShowAuthenticationRequest(instance_id=roma.instance, device_id=created.id),
    )
    assert (auth.user_name, auth.password) == (user_name, MASK)
    assert await roma.device_auth(user_name, password, created.client_id) == "allow"

    # A user name alone: the password is generated.
    named = await roma.device(product.id, user_name="named-device-01")
    assert named.authentication.user_name == "named-device-01"
    assert compliant(named.authentication.password)


async def test_create_device_refusals(roma: Roma) -> None:
    product = await roma.product()

    async def refused(**fields: Any) -> Any:
        body = sdk.CreateDeviceRequestBody(**fields)
        return await roma.fails(
            "create_device", sdk.CreateDeviceRequest(instance_id=roma.instance, body=body)
        )

    exc = await refused(
        product=sdk.ProductReferer(manufacturer_id="nobody", model="none"),
        device_name="d1",
        node_id="n1",
    )
    expect_error(exc, 404, "ROMA.00110006", not_found_message("nobody/none"))
    exc = await refused(
        product=sdk.ProductReferer(product_id=product.id + 10_000), device_name="d1", node_id="n1"
    )
    expect_error(exc, 404, "ROMA.00110006", not_found_message(product.id + 10_000))
    exc = await refused(device_name="d1", node_id="n1")
    expect_error(
        exc,
        400,
        "ROMA.00110001",
        invalid_message("product:give product_id, or manufacturer_id and model"),
    )
    exc = await refused(product=sdk.ProductReferer(product_id=product.id))
    expect_error(
        exc,
        400,
        "ROMA.00110001",
        invalid_message("device_name:must not be null", "node_id:must not be null"),
    )
    exc = await refused(
        product=sdk.ProductReferer(product_id=product.id),
        device_name="d1",
        node_id="has space",
        status=5,
    )
    expect_error(
        exc,
        400,
        "ROMA.00110001",
        invalid_message(
            "node_id:letters, digits, _ and - only", "status:must be 0 (enabled) or 1 (disabled)"
        ),
    )
    first = await roma.device(product.id, user_name="taken-name-01")
    exc = await refused(
        product=sdk.ProductReferer(product_id=product.id),
        device_name="d2",
        node_id="n2",
        user_name="taken-name-01",
    )
    expect_error(
        exc, 400, "ROMA.00110001", invalid_message("user name taken-name-01 is already in use")
    )
    # A user name of a product is taken too (user names identify the subject at connect).
    exc = await refused(
        product=sdk.ProductReferer(product_id=product.id),
        device_name="d3",
        node_id="n3",
        user_name=product.authentication.user_name,
    )
    expect_error(
        exc,
        400,
        "ROMA.00110001",
        invalid_message(f"user name {product.authentication.user_name} is already in use"),
    )
    listed = await roma.call("list_devices", sdk.ListDevicesRequest(instance_id=roma.instance))
    assert [item.id for item in listed.items] == [first.id]


async def _list(roma: Roma, **query: Any) -> sdk.ListDevicesResponse:
    reply = await roma.call(
        "list_devices", sdk.ListDevicesRequest(instance_id=roma.instance, **query)
    )
    assert reply.status_code == 200
    assert reply.size == len(reply.items)
    return reply


def _ids(reply: sdk.ListDevicesResponse) -> list[int]:
    return [item.id for item in reply.items]


async def _set_online_status(roma: Roma, device_id: int, online_status: int) -> None:
    """The broker side sets this; the SDK cannot."""
    async with roma.runtime.db.unit_of_work() as session:
        row = await session.get(Device, device_id)
        assert row is not None
        row.online_status = online_status


async def test_list_devices_with_every_filter(roma: Roma) -> None:
    boilers = await roma.product(name="boiler-product")
    meters = await roma.product(name="meter-product")
    a = await roma.device(
        boilers.id, device_name="boiler-a", node_id="node-a", app_id="app-1", tags=["red", "x"]
    )
    b = await roma.device(
        boilers.id, device_name="boiler-b", node_id="node-b", app_id="app-2", tags=["blue"]
    )
    c = await roma.device(meters.id, device_name="meter-c", node_id="node-c", app_id="app-1")
    await _set_online_status(roma, b.id, 1)
    await _set_online_status(roma, c.id, 2)
    all_ids = [a.id, b.id, c.id]

    everything = await _list(roma)
    assert (everything.total, everything.size, _ids(everything)) == (3, 3, all_ids)
    assert everything.connect_address == roma.server.settings.mqtt_address
    assert everything.ssl_connect_address == roma.server.settings.mqtt_ssl_address
    for item in everything.items:
        assert type(item.id) is int and type(item.device_id) is int
        assert type(item.status) is int and type(item.online_status) is int
        assert type(item.created_datetime) is int
        assert item.authentication.password == MASK
    assert [item.online_status for item in everything.items] == [0, 1, 2]

    assert _ids(await _list(roma, product_id=boilers.id)) == [a.id, b.id]
    assert _ids(await _list(roma, product_id=meters.id)) == [c.id]
    assert _ids(await _list(roma, product_name="meter-product")) == [c.id]
    assert _ids(await _list(roma, product_name="product")) == all_ids  # a name fragment
    assert _ids(await _list(roma, device_name="boiler")) == [a.id, b.id]
    assert _ids(await _list(roma, device_name="boiler-b")) == [b.id]
    assert _ids(await _list(roma, client_id=c.client_id)) == [c.id]
    assert _ids(await _list(roma, node_id="node-a")) == [a.id]
    assert _ids(await _list(roma, app_id="app-1")) == [a.id, c.id]
    assert _ids(await _list(roma, online_status="0")) == [a.id]
    assert _ids(await _list(roma, online_status="0,1")) == [a.id, b.id]
    assert _ids(await _list(roma, online_status="1,2")) == [b.id, c.id]
    assert _ids(await _list(roma, node_type=0)) == all_ids
    assert _ids(await _list(roma, node_type=1)) == []  # no gateways
    assert _ids(await _list(roma, tag="red")) == [a.id]
    assert _ids(await _list(roma, tag="blue")) == [b.id]
    assert _ids(await _list(roma, tag="re")) == []  # whole tags only
    assert _ids(await _list(roma, product_id=boilers.id, online_status="1")) == [b.id]

    start, end = a.created_datetime, c.created_datetime
    assert _ids(await _list(roma, created_date_start=start)) == all_ids
    assert _ids(await _list(roma, created_date_start=start, created_date_end=end)) == all_ids
    assert _ids(await _list(roma, created_date_end=a.created_datetime)) == [a.id]
    assert _ids(await _list(roma, created_date_start=end + 1)) == []
    assert _ids(await _list(roma, created_date_end=start - 1)) == []

    nothing = await _list(roma, device_name="no-such-device")
    assert (nothing.total, nothing.size, nothing.items) == (0, 0, [])
    exc = await roma.fails(
        "list_devices", sdk.ListDevicesRequest(instance_id=roma.instance, online_status="on")
    )
    expect_error(exc, 400, "ROMA.00110001", invalid_message("online_status:0, 1 or 2"))


async def test_list_devices_pages(roma: Roma) -> None:
    product = await roma.product()
    ids = [(await roma.device(product.id)).id for _ in range(3)]

    page = await _list(roma, limit=999)
    assert (page.total, page.size, _ids(page)) == (3, 3, ids)
    page = await _list(roma, limit=2)
    assert (page.total, page.size, _ids(page)) == (3, 2, ids[:2])
    page = await _list(roma, limit=2, offset=2)
    assert (page.total, page.size, _ids(page)) == (3, 1, ids[2:])
    page = await _list(roma, limit=2, offset=5)
    assert (page.total, page.size, _ids(page)) == (3, 0, [])
    page = await _list(roma, limit=1, offset=1)
    assert (page.total, page.size, _ids(page)) == (3, 1, [ids[1]])

    exc = await roma.fails(
        "list_devices", sdk.ListDevicesRequest(instance_id=roma.instance, limit=1000)
    )
    expect_error(
        exc, 400, "ROMA.00110001", invalid_message("limit:must be an integer from 0 to 999")
    )


async def test_show_update_and_delete_a_device(roma: Roma) -> None:
    product = await roma.product()
    created = await roma.device(product.id, device_name="dev-one", description="first", tags=["a"])
    shown = await roma.show_device(created.id)
    assert shown.status_code == 200
    assert (shown.id, shown.device_id, shown.client_id) == (
        created.id,
        created.id,
        created.client_id,
    )
    for value in (shown.id, shown.device_id, shown.status, shown.online_status):
        assert type(value) is int
    assert type(shown.created_datetime) is int and type(shown.last_updated_datetime) is int
    assert shown.created_datetime == created.created_datetime
    assert shown.last_login_datetime is None
    assert (shown.device_name, shown.description, shown.tags) == ("dev-one", "first", ["a"])

    updated = await roma.call(
        "update_device",
        sdk.UpdateDeviceRequest(
            instance_id=roma.instance,
            device_id=created.id,
            body=sdk.UpdateDeviceRequestBody(
                device_name="dev-renamed", status=1, description="second", tags=["b", "c"]
            ),
        ),
    )
    assert updated.status_code == 200
    assert (updated.id, updated.device_name, updated.status) == (created.id, "dev-renamed", 1)
    assert (updated.description, updated.tags) == ("second", ["b", "c"])
    assert updated.last_updated_datetime >= created.created_datetime
    assert updated.authentication.password == MASK

    # A disabled device may not connect, whatever its password.
    user_name, password = created.authentication.user_name, created.authentication.password
    assert await roma.device_auth(user_name, password, created.client_id) == "deny"
    enabled = await roma.call(
        "update_device",
        sdk.UpdateDeviceRequest(
            instance_id=roma.instance,
            device_id=created.id,
            body=sdk.UpdateDeviceRequestBody(status=0),
        ),
    )
    assert (enabled.status, enabled.device_name, enabled.tags) == (0, "dev-renamed", ["b", "c"])
    assert await roma.device_auth(user_name, password, created.client_id) == "allow"

    exc = await roma.fails(
        "update_device",
        sdk.UpdateDeviceRequest(
            instance_id=roma.instance,
            device_id=created.id,
            body=sdk.UpdateDeviceRequestBody(status=2),
        ),
    )
    expect_error(
        exc, 400, "ROMA.00110001", invalid_message("status:must be 0 (enabled) or 1 (disabled)")
    )

    deleted = await roma.call(
        "delete_device", sdk.DeleteDeviceRequest(instance_id=roma.instance, device_id=created.id)
    )
    assert deleted.status_code == 204
    assert roma.wire.last.content == b""
    exc = await roma.fails(
        "show_device", sdk.ShowDeviceRequest(instance_id=roma.instance, device_id=created.id)
    )
    expect_error(exc, 404, "ROMA.00110006", not_found_message(created.id))
    exc = await roma.fails(
        "delete_device", sdk.DeleteDeviceRequest(instance_id=roma.instance, device_id=created.id)
    )
    expect_error(exc, 404, "ROMA.00110006", not_found_message(created.id))
    assert await roma.device_auth(user_name, password, created.client_id) == "deny"


async def test_batch_delete_with_resources_through_the_sdk(roma: Roma) -> None:
    product = await roma.product()
    a, b, c = [await roma.device(product.id) for _ in range(3)]

    def batch(ids: list[int]) -> sdk.BatchDeleteDevicesRequest:
        return sdk.BatchDeleteDevicesRequest(
            instance_id=roma.instance, body=sdk.BatchDeleteDevicesRequestBody(resources=ids)
        )

    # All or nothing: one unknown id fails the batch and deletes none.
    missing = c.id + 10_000
    exc = await roma.fails("batch_delete_devices", batch([a.id, missing]))
    expect_error(exc, 404, "ROMA.00110006", not_found_message(missing))
    assert _ids(await _list(roma)) == [a.id, b.id, c.id]

    done = await roma.call("batch_delete_devices", batch([a.id, b.id, a.id]))
    assert done.status_code == 204
    assert roma.wire.last.content == b""
    assert _ids(await _list(roma)) == [c.id]

    exc = await roma.fails("batch_delete_devices", batch([]))
    expect_error(exc, 400, "ROMA.00110001", invalid_message("resources:must not be empty"))


async def test_batch_delete_with_device_ids_over_raw_http(roma: Roma) -> None:
    """The current doc's body (``device_ids``), sent with a fleetkey token."""
    product = await roma.product()
    a, b, c = [await roma.device(product.id) for _ in range(3)]
    reply = await roma.http("DELETE", "/devices", json={"device_ids": [a.id, c.id]})
    assert reply.status_code == 204
    assert reply.content == b""
    assert reply.headers["X-Request-Id"]
    assert _ids(await _list(roma)) == [b.id]

    reply = await roma.http("DELETE", "/devices", json={"device_ids": "all"})
    assert reply.status_code == 400
    body = reply.json()
    assert body == {
        "error_code": "ROMA.00110001",
        "error_msg": invalid_message("device_ids:must be a list of integers"),
        "request_id": reply.headers["X-Request-Id"],
    }
    reply = await roma.http("DELETE", "/devices")
    assert reply.status_code == 400
    assert reply.json()["error_msg"] == invalid_message("resources:must not be empty")


async def test_force_offline(roma: Roma) -> None:
    product = await roma.product()
    online = await roma.device(product.id, device_name="online-one")
    never = await roma.device(product.id, device_name="never-one")
    await _set_online_status(roma, online.id, 1)
    missing = never.id + 10_000

    reply = await roma.call(
        "batch_freeze_devices",
        sdk.BatchFreezeDevicesRequest(
            instance_id=roma.instance,
            body=sdk.BatchFreezeDevicesRequestBody(device_ids=[online.id, never.id, missing]),
        ),
    )
    assert reply.status_code == 200
    assert [(s.id, s.device_id, s.device_name) for s in reply.success] == [
        (online.id, online.id, "online-one"),
        (never.id, never.id, "never-one"),
    ]
    assert [(f.id, f.device_id, f.device_name) for f in reply.failed] == [(missing, missing, None)]
    assert (await roma.show_device(online.id)).online_status == 2
    assert (await roma.show_device(never.id)).online_status == 0  # never connected stays so


async def test_devices_count(roma: Roma) -> None:
    normal = await roma.product(product_type=0)
    await roma.product(product_type=1)
    await roma.product(product_type=1)
    ids = [(await roma.device(normal.id)).id for _ in range(4)]
    await _set_online_status(roma, ids[0], 1)
    await _set_online_status(roma, ids[1], 2)
    await _set_online_status(roma, ids[2], 2)

    counted = await roma.call("count_devices", sdk.CountDevicesRequest(instance_id=roma.instance))
    assert counted.status_code == 200
    assert counted.product_templates.product_templates_numbers == 0
    assert counted.products.normal_products_numbers == 1
    assert counted.products.gateway_products_numbers == 2
    devices = counted.devices.normal_devices
    assert (devices.never_connected, devices.online, devices.offline) == (1, 1, 2)
    for kind in (counted.devices.gateway_devices, counted.devices.subsets_devices):
        assert (kind.never_connected, kind.online, kind.offline) == (0, 0, 0)
    summary = await roma.call(
        "list_devices_in_product",
        sdk.ListDevicesInProductRequest(instance_id=roma.instance, product_id=normal.id),
    )
    assert summary.summary == 4


async def test_tag_filter_with_any_characters(roma: Roma) -> None:
    """Tags are matched whole, whatever they hold: non-ASCII (SQLite keeps it escaped in the
    JSON text, PostgreSQL does not), quotes, commas and LIKE wildcards."""
    product = await roma.product()
    a = await roma.device(product.id, tags=["温度", "café"])
    b = await roma.device(product.id, tags=['say "hi"', "a,b"])
    c = await roma.device(product.id, tags=["50%", "x_y"])
    cases = {
        "温度": [a.id],
        "café": [a.id],
        "cafe": [],
        'say "hi"': [b.id],
        "a,b": [b.id],
        "a": [],
        "50%": [c.id],
        "5%": [],
        "x_y": [c.id],
        "x%y": [],
        "xay": [],
    }
    for tag, expected in cases.items():
        assert _ids(await _list(roma, tag=tag)) == expected, tag
