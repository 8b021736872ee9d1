"""The ASGI application uvicorn serves (``fleetkey.asgi:app``)."""

import gc

from fleetkey.app import create_app

app = create_app()
# Everything imported and built so far lives as long as the process. Moved out of the
# collector's generations, it is no longer scanned by every full collection, which under
# load otherwise costs a large share of each request (docs/performance.md).
gc.freeze()
