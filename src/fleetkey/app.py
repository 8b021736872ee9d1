"""create_app(): one process, every surface mounted on one runtime."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from fleetkey import __version__
from fleetkey.api import (
    challenges,
    device_auth,
    device_bootstrap,
    errors,
    otp,
    registry,
    studies,
    system,
    things,
)
from fleetkey.api.bodies import capped
from fleetkey.api.hot import HotRoutes
from fleetkey.api.middleware import RequestIdMiddleware
from fleetkey.channels.service import delivery_worker
from fleetkey.compat.abs.app import create_abs_router
from fleetkey.compat.clinicalone import app as clinicalone
from fleetkey.compat.mosip.app import create_mosip_app
from fleetkey.compat.roma.app import create_roma_app
from fleetkey.config import Settings, get_settings
from fleetkey.runtime import Runtime

# MOSIP's own path, and the API page's spelling of validate.
MOSIP_PREFIXES = ("/v1/masterdata", "/masterdata")


class FleetkeyApp(FastAPI):
    """FastAPI, with the hot paths (api/hot.py) answered before its middleware and routing."""

    def __init__(self, hot: HotRoutes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hot = hot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.hot.route_for(scope)
        if route is None:
            if scope["type"] == "http":
                receive = capped(receive, scope.setdefault("state", {}))
            await super().__call__(scope, receive, send)
            return
        await self.hot.serve(route, scope, receive, send)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FleetkeyApp:
    settings = settings or get_settings()
    rt = runtime or Runtime.build(settings)
    logging.basicConfig(level=settings.log_level.upper())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # What start-up made lives as long as the worker: out of the collector's sight.
        # Otherwise the first full collection under load walks all of it, a pause of
        # 96-126 ms per worker measured here (every request in flight waits it out).
        gc.collect()
        gc.freeze()
        # Retries notification deliveries that failed (see channels/service.py).
        worker = asyncio.create_task(delivery_worker(rt.db, rt.vault, rt.settings))
        yield
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await rt.db.dispose()

    mosip = create_mosip_app(rt)
    hot = {**device_auth.HOT_ROUTES, **otp.HOT_ROUTES, **device_bootstrap.HOT_ROUTES}
    for prefix in MOSIP_PREFIXES:
        hot.update({(m, prefix + p): route for (m, p), route in mosip.state.hot_routes.items()})
    app = FleetkeyApp(
        HotRoutes(rt, hot, clinicalone.HOT_PATTERNS),
        title="fleetkey",
        version=__version__,
        summary="Device identity and credential registry",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    errors.install(app)

    app.add_middleware(RequestIdMiddleware)

    app.include_router(system.router)
    app.include_router(registry.router)
    app.include_router(things.router)
    app.include_router(device_auth.router)
    app.include_router(studies.router)
    app.include_router(device_bootstrap.router)
    app.include_router(otp.router)
    app.include_router(challenges.router)
    app.include_router(create_abs_router(rt))
    for prefix in MOSIP_PREFIXES:
        app.mount(prefix, mosip)
    app.mount("/v2", create_roma_app(rt))
    app.mount(clinicalone.PREFIX, clinicalone.create_clinicalone_app(rt))
    return app
