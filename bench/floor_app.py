"""The floor: the same submitRequest transaction behind a plain Starlette JSON endpoint, no GraphQL.

The app is built from the production one (`bootstrap.wiring.create_app`): the same engines, event bus,
dispatcher, timers and lifespan, the same `/readyz`, and the token is read as the production
resolver reads it (`Context.viewer_checked_by_use_case()`: the signature here, revocation and
account inside the submission's transaction). What is missing is strawberry: parsing,
validation, execution and result serialisation. `python -m bench.floor_app` serves it with
uvicorn exactly as `graph.main` serves the API (same call, same log level).

    POST /requests  {"channel": "CHAT", "message": "..."}  with  Authorization: Bearer <token>
    -> {"id": ..., "status": ..., "routingReason": ...}
"""

from __future__ import annotations

import logging

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bootstrap.config import Config
from bootstrap.wiring import create_app
from domain.errors import DomainError
from domain.model import Channel
from domain.use_cases.requests import submit_request
from graph import ids
from graph.context import Context


def create_floor_app(config: Config) -> Starlette:
    api = create_app(config)
    state = api.state.stamm

    async def submit(request: Request) -> JSONResponse:
        try:
            viewer = await Context(state, request).viewer_checked_by_use_case()
            body = await request.json()
            found = await submit_request(
                state.deps,
                viewer,
                Channel(body["channel"]),
                body["message"],
                body.get("subject"),
                body.get("idempotencyKey"),
            )
        except DomainError as exc:
            return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=400)
        return JSONResponse(
            {
                "id": ids.encode("Request", found.id),
                "status": found.status.value,
                "routingReason": found.routing_reason.value if found.routing_reason else None,
            }
        )

    readyz = next(r for r in api.routes if isinstance(r, Route) and r.path == "/readyz")
    return Starlette(
        routes=[Route("/requests", submit, methods=["POST"]), readyz], lifespan=api.router.lifespan_context
    )


def main() -> None:
    """Serve like graph.main does (same uvicorn call and log level), without migrating or seeding."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = Config.from_env()
    uvicorn.run(create_floor_app(config), host=config.host, port=config.port, log_level="info")


if __name__ == "__main__":
    main()
