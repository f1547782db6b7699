"""Entrypoint: `python -m graph.main` reads the settings and serves the app with uvicorn.

The app (bootstrap.wiring) migrates, creates the admin from the environment and, with
STAMM_DEMO=1 (`make run`), seeds the demo when it starts.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import uvicorn

from bootstrap.config import Config
from bootstrap.wiring import banner, create_app
from graph.websocket_protocol import LightWebSocketProtocol


def main() -> None:
    config = Config.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(banner(config), flush=True)
    app = create_app(config)
    # Start-up objects live for the whole process: keep them out of every later collection
    # (full collections over them caused the longest pauses in the benchmark).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", **serving_options())


def serving_options() -> dict[str, Any]:
    """How uvicorn serves the app, here and in the end-to-end tests' servers."""
    return {
        # The app writes its own access log, without query strings (graph/access_log.py).
        "access_log": False,
        # No per-message compression: the messages are small JSON that hardly shrink, and a
        # deflate context per websocket costs CPU for every message fanned out and memory for
        # every widget.
        "ws_per_message_deflate": False,
        # Idle chat widgets cost memory per connection, not CPU: see graph/websocket_protocol.py.
        "ws": LightWebSocketProtocol,
    }


if __name__ == "__main__":
    main()
