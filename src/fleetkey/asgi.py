"""The ASGI application uvicorn serves (``fleetkey.asgi:app``)."""

from fleetkey.app import create_app

app = create_app()
