"""A cityops app served by uvicorn in a thread (plain or with mutual TLS), for the data tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(platform: Any, **ssl: Any) -> Iterator[str]:
    """The app over `platform` on a free port; yields its base URL (https when `ssl` is given:
    uvicorn's ssl_certfile, ssl_keyfile, ssl_ca_certs, ssl_cert_reqs)."""
    import uvicorn

    from cityops.api.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", **ssl))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"{'https' if ssl else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
