"""Products through the SDK: create, list with filters, show, update, delete, credentials."""

from __future__ import annotations

import huaweicloudsdkroma.v2 as sdk

from tests.compat.roma.support import (
    GOOD_PASSWORD,
    MASK,
    USER_NAME,
    USER_NAME_PROBLEM,
    Roma,
    compliant,
    expect_error,
    invalid_message,
    not_found_message,
    now_millis,
)


async def test_create_product_shows_a_generated_password_once(roma: Roma) -> None:
    before = now_millis()
    created = await roma.product(
        name="thermo-create",
        manufacturer_id="acme",
        manufacturer_name="Acme",
        model="T1000",
        product_type=1,
        protocol_type=4,
        app_id="app-7",
        description="a thermometer",
        device_type="Sensor",
        version="v2",
        data_format=1,
    )
    assert created.status_code == 201
    assert type(created.id) is int and created.id > 0
    assert (created.name, created.manufacturer_id, created.manufacturer_name) == (
        "thermo-create",
        "acme",
        "Acme",
    )
    assert (created.model, created.product_type, created.protocol_type) == ("T1000", 1, 4)
    assert (created.app_id, created.description, created.device_type) == (
        "app-7",
        "a thermometer",
        "Sensor",
    )
    assert (created.version, created.data_format) == ("v2", 1)
    assert type(created.created_datetime) is int
    assert before - 1000 <= created.created_datetime <= now_millis() + 1000
    user_name, password = created.authentication.user_name, created.authentication.password
    assert USER_NAME.fullmatch(user_name)
    assert compliant(password)

    shown = await roma.call(
        "show_product", sdk.ShowProductRequest(instance_id=roma.instance, product_id=created.id)
    )
    assert shown.status_code == 200
    assert shown.id == created.id
    assert (shown.authentication.user_name, shown.authentication.password) == (user_name, MASK)
    auth = await roma.call(
        "show_product_authentication",
        sdk.ShowProductAuthenticationRequest(instance_id=roma.instance, product_id=created.id),
    )
    assert (auth.user_name, auth.password) == (user_name, MASK)
    assert created.created_user.user_name == f"ak:{roma.ak}"


async def _list(roma: Roma, **query: object) -> sdk.ListProductsResponse:
    reply = await roma.call(
        "list_products", sdk.ListProductsRequest(instance_id=roma.instance, **query)
    )
    assert reply.status_code == 200
    assert reply.size == len(reply.items)
    return reply


def _ids(reply: sdk.ListProductsResponse) -> list[int]:
    return [item.id for item in reply.items]


async def test_list_products_filters_and_pages(roma: Roma) -> None:
    before = now_millis()
    a = await roma.product(name="alpha-sensor", manufacturer_id="acme", model="A1")
    b = await roma.product(
        name="beta-sensor",
        manufacturer_id="acme",
        manufacturer_name="Acme Two",
        model="B1",
        product_type=1,
        protocol_type=2,
        device_type="Gateway",
        app_id="app-2",
    )
    c = await roma.product(name="gamma-meter", manufacturer_id="umbrella", model="A1")
    all_ids = [a.id, b.id, c.id]

    everything = await _list(roma)
    assert (everything.total, everything.size, _ids(everything)) == (3, 3, all_ids)
    assert all(type(item.id) is int for item in everything.items)
    assert all(item.authentication.password == MASK for item in everything.items)

    assert _ids(await _list(roma, name="alpha-sensor")) == [a.id]
    assert _ids(await _list(roma, name="sensor")) == [a.id, b.id]  # a name fragment matches
    assert _ids(await _list(roma, manufacturer_id="acme")) == [a.id, b.id]
    assert _ids(await _list(roma, manufacturer_name="Acme Two")) == [b.id]
    assert _ids(await _list(roma, model="A1")) == [a.id, c.id]
    assert _ids(await _list(roma, manufacturer_id="umbrella", model="A1")) == [c.id]
    assert _ids(await _list(roma, product_type=1)) == [b.id]
    assert _ids(await _list(roma, product_type=0)) == [a.id, c.id]
    assert _ids(await _list(roma, protocol_type=2)) == [b.id]
    assert _ids(await _list(roma, device_type="Gateway")) == [b.id]
    assert _ids(await _list(roma, app_id="app-2")) == [b.id]
    assert _ids(await _list(roma, id=str(c.id))) == [c.id]
    assert _ids(await _list(roma, id="not-a-number")) == []
    assert _ids(await _list(roma, created_date_start=before - 1000)) == all_ids
    assert _ids(await _list(roma, created_date_end=before - 60_000)) == []
    nothing = await _list(roma, name="no-such-product")
    assert (nothing.total, nothing.size, nothing.items) == (0, 0, [])

    page = await _list(roma, limit=2, offset=0)
    assert (page.total, page.size, _ids(page)) == (3, 2, [a.id, b.id])
    page = await _list(roma, limit=2, offset=2)
    assert (page.total, page.size, _ids(page)) == (3, 1, [c.id])
    page = await _list(roma, limit=2, offset=3)
    assert (page.total, page.size, _ids(page)) == (3, 0, [])


async def test_list_products_limit_above_999_is_refused(roma: Roma) -> None:
    await roma.product()
    assert (await _list(roma, limit=999)).total == 1
    exc = await roma.fails(
        "list_products", sdk.ListProductsRequest(instance_id=roma.instance, limit=1000)
    )
    expect_error(
        exc, 400, "ROMA.00110001", invalid_message("limit:must be an integer from 0 to 999")
    )


async def test_show_update_and_delete_a_product(roma: Roma) -> None:
    created = await roma.product(name="to-update", description="old", version="v1")
    updated = await roma.call(
        "update_product",
        sdk.UpdateProductRequest(
            instance_id=roma.instance,
            product_id=created.id,
            body=sdk.UpdateProductRequestBody(
                name="updated-name",
                description="new",
                manufacturer_id="initech",
                manufacturer_name="Initech",
                model="X9",
                device_type="Meter",
                version="v3",
            ),
        ),
    )
    assert updated.status_code == 200
    assert (updated.id, updated.name, updated.description) == (created.id, "updated-name", "new")
    assert (updated.manufacturer_id, updated.manufacturer_name, updated.model) == (
        "initech",
        "Initech",
        "X9",
    )
    assert (updated.device_type, updated.version) == ("Meter", "v3")
    assert updated.created_datetime == created.created_datetime
    # Not in the SDK's UpdateProductResponse, but on the wire: the credential stays masked.
    raw = roma.wire.last.json()
    assert raw["authentication"] == {
        "user_name": created.authentication.user_name,
        "password": MASK,
    }
    assert type(raw["last_updated_datetime"]) is int
    assert raw["last_updated_datetime"] >= created.created_datetime

    # Fields left out of the update keep their values.
    partial = await roma.call(
        "update_product",
        sdk.UpdateProductRequest(
            instance_id=roma.instance,
            product_id=created.id,
            body=sdk.UpdateProductRequestBody(description="newer"),
        ),
    )
    assert (partial.name, partial.description, partial.model) == ("updated-name", "newer", "X9")

    shown = await roma.call(
        "show_product", sdk.ShowProductRequest(instance_id=roma.instance, product_id=created.id)
    )
    assert (shown.name, shown.description, shown.version) == ("updated-name", "newer", "v3")

    deleted = await roma.call(
        "delete_product",
        sdk.DeleteProductRequest(instance_id=roma.instance, product_id=created.id),
    )
    assert deleted.status_code == 204
    assert roma.wire.last.content == b""

    exc = await roma.fails(
        "show_product", sdk.ShowProductRequest(instance_id=roma.instance, product_id=created.id)
    )
    expect_error(exc, 404, "ROMA.00110006", not_found_message(created.id))
    exc = await roma.fails(
        "delete_product",
        sdk.DeleteProductRequest(instance_id=roma.instance, product_id=created.id),
    )
    expect_error(exc, 404, "ROMA.00110006", not_found_message(created.id))


async def test_duplicate_product_name_is_refused(roma: Roma) -> None:
    first = await roma.product(name="same-name")
    exc = await roma.fails(
        "create_product",
        sdk.CreateProductRequest(
            instance_id=roma.instance, body=sdk.CreateProductRequestBody(name="same-name")
        ),
    )
    expect_error(
        exc, 400, "ROMA.00110001", invalid_message("a product named same-name already exists")
    )
    other = await roma.product(name="other-name")
    exc = await roma.fails(
        "update_product",
        sdk.UpdateProductRequest(
            instance_id=roma.instance,
            product_id=other.id,
            body=sdk.UpdateProductRequestBody(name="same-name"),
        ),
    )
    expect_error(
        exc, 400, "ROMA.00110001", invalid_message("a product named same-name already exists")
    )
    # Renaming a product to its own name is no clash.
    same = await roma.call(
        "update_product",
        sdk.UpdateProductRequest(
            instance_id=roma.instance,
            product_id=first.id,
            body=sdk.UpdateProductRequestBody(name="same-name"),
        ),
    )
    assert same.name == "same-name"


async def test_create_product_without_a_name_is_refused(roma: Roma) -> None:
    exc = await roma.fails(
        "create_product",
        sdk.CreateProductRequest(
            instance_id=roma.instance, body=sdk.CreateProductRequestBody(model="M")
        ),
    )
    expect_error(exc, 400, "ROMA.00110001", invalid_message("name:must not be null"))
    exc = await roma.fails(
        "create_product",
        sdk.CreateProductRequest(
            instance_id=roma.instance,
            body=sdk.CreateProductRequestBody(name="x" * 65, product_type=7),
        ),
    )
    expect_error(
        exc,
        400,
        "ROMA.00110001",
        invalid_message("name:size must be between 1 and 64", "product_type:must be one of 0, 1"),
    )


async def test_a_product_with_devices_cannot_be_deleted(roma: Roma) -> None:
    product = await roma.product()
    device = await roma.device(product.id)
    exc = await roma.fails(
        "delete_product",
        sdk.DeleteProductRequest(instance_id=roma.instance, product_id=product.id),
    )
    expect_error(
        exc,
        400,
        "ROMA.00110001",
        invalid_message(f"product {product.id} still has 1 devices"),
    )
    await roma.call(
        "delete_device", sdk.DeleteDeviceRequest(instance_id=roma.instance, device_id=device.id)
    )
    deleted = await roma.call(
        "delete_product",
        sdk.DeleteProductRequest(instance_id=roma.instance, product_id=product.id),
    )
    assert deleted.status_code == 204


async def test_product_authentication_show_and_reset(roma: Roma) -> None:
    product = await roma.product()
    first_name = product.authentication.user_name

    def reset(**fields: str) -> sdk.ResetProductAuthenticationRequest:
        return sdk.ResetProductAuthenticationRequest(
            instance_id=roma.instance,
            product_id=product.id,
            body=sdk.ResetProductAuthenticationRequestBody(**fields),
        )

    show = sdk.ShowProductAuthenticationRequest(instance_id=roma.instance, product_id=product.id)

    given = await roma.call(
        "reset_product_authentication", reset(user_name="product-user-01", password=GOOD_PASSWORD)
    )
    assert given.status_code == 200
    assert (given.user_name, given.password) == ("product-user-01", GOOD_PASSWORD)
    shown = await roma.call("show_product_authentication", show)
    assert (shown.user_name, shown.password) == ("product-user-01", MASK)

    generated = await roma.call("reset_product_authentication", reset())
    assert generated.user_name == "product-user-01"
    assert compliant(generated.password) and generated.password != GOOD_PASSWORD
    shown = await roma.call("show_product_authentication", show)
    assert (shown.user_name, shown.password) == ("product-user-01", MASK)

    renamed = await roma.call("reset_product_authentication", reset(user_name="product-user-02"))
    assert (renamed.user_name, renamed.password) == ("product-user-02", MASK)
    assert first_name != "product-user-02"

    exc = await roma.fails("reset_product_authentication", reset(user_name="bad_name_01"))
    expect_error(exc, 400, "ROMA.00110001", invalid_message(USER_NAME_PROBLEM))
    exc = await roma.fails(
        "reset_product_authentication",
        sdk.ResetProductAuthenticationRequest(
            instance_id=roma.instance, product_id=product.id + 10_000, body=None
        ),
    )
    expect_error(exc, 404, "ROMA.00110006", not_found_message(product.id + 10_000))
