"""Bring the database to the newest schema: `python -m bootstrap.migrate` (reads DATABASE_URL)."""

from __future__ import annotations

import asyncio

from bootstrap.settings import load_settings
from persistence.database import create_engines
from persistence.migrate import migrate


async def _main(database_url: str) -> None:
    engines = create_engines(database_url)
    try:
        await migrate(engines.write)
    finally:
        await engines.dispose()


if __name__ == "__main__":
    asyncio.run(_main(load_settings().database_url.get_secret_value()))
