"""Health probes and the OpenAPI document."""

from __future__ import annotations

import gc

import httpx

from fleetkey.app import create_app
from fleetkey.runtime import Runtime
from tests.conftest import Store, make_settings

NATIVE_PATHS = {
    "/api/v1/device-providers",
    "/api/v1/device-providers/{provider_id}",
    "/api/v1/trust-providers",
    "/api/v1/trust-providers/{provider_id}",
    "/api/v1/device-software",
    "/api/v1/device-software/{software_id}",
    "/api/v1/device-types",
    "/api/v1/device-types/{code}",
    "/api/v1/whitelisted-devices",
    "/api/v1/whitelisted-devices/{entry_id}",
    "/api/v1/devices",
    "/api/v1/devices/{code}",
    "/api/v1/devices/{code}/history",
    "/api/v1/devices/{code}/status",
    "/api/v1/devices/validate",
    "/api/v1/audit",
    "/api/v1/changes",
}


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_names_the_store(client: httpx.AsyncClient, store: Store) -> None:
    response = await client.get("/readyz", headers={"X-Request-Id": "probe-1"})
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "store": store.backend}
    assert response.headers["x-request-id"] == "probe-1"


async def test_openapi_lists_the_native_api(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "fleetkey"
    paths = document["paths"]
    assert NATIVE_PATHS <= set(paths)
    assert {"/healthz", "/readyz", "/.well-known/jwks.json"} <= set(paths)
    # the MOSIP surface is a mounted app with its own (unpublished) schema
    assert not [p for p in paths if "masterdata" in p]
    assert set(paths["/api/v1/device-providers"]) == {"get", "post"}
    assert set(paths["/api/v1/devices/{code}/status"]) == {"put"}
    assert set(paths["/api/v1/whitelisted-devices/{entry_id}"]) == {"delete"}


async def test_unknown_route_uses_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "http.404", "message": "Not Found", "details": None}
    }


async def test_start_up_puts_what_it_made_out_of_the_collectors_sight(store: Store) -> None:
    """A worker's start-up objects are frozen (``gc.freeze``), so that no full collection
    under load has to walk them."""
    settings = make_settings(store)
    app = create_app(settings, Runtime.build(settings))
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()  # the test process is not a worker
