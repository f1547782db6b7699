"""Entrypoint: `python -m graph.main` migrates, seeds the demo if asked, and serves with uvicorn."""

from __future__ import annotations

import asyncio
import gc
import logging

import uvicorn

from domain.use_cases import Deps
from graph.app import SystemClock, create_app, text_cipher
from graph.auth import Argon2Hasher
from graph.config import Config
from graph.demo import seed_demo
from persistence.database import create_engines
from persistence.event_bus import EventBus
from persistence.migrate import migrate
from persistence.unit_of_work import SqlUnitOfWorkFactory


async def prepare(config: Config) -> list[str] | None:
    """Migrate the database and, with STAMM_DEMO=1, seed a new one; the demo logins if seeded."""
    engines = create_engines(config.database_url)
    bus = EventBus("memory://")
    try:
        if config.migrate:
            await migrate(engines.write)
        if not config.demo:
            return None
        factory = SqlUnitOfWorkFactory(engines, bus.publish, text_cipher(config))
        deps = Deps(uow=factory, clock=SystemClock(), hasher=Argon2Hasher())
        await bus.connect()
        try:
            return await seed_demo(deps)
        finally:
            await bus.disconnect()
    finally:
        await engines.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = Config.from_env()
    logins = asyncio.run(prepare(config))
    if logins:
        print("Demo data seeded. Sign in with:", *logins, sep="\n  ")
    print(f"GraphiQL: http://{config.host}:{config.port}/graphql")
    # Start-up objects live for the whole process: keep them out of every later collection
    # (full collections over them caused the longest pauses in the benchmark).
    gc.collect()
    gc.freeze()
    # The app writes its own access log, without query strings (graph/access_log.py).
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
