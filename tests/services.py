"""Which real services the suite runs against: SQLite + memory always, PostgreSQL + Redis when set.

TEST_DATABASE_URL and TEST_REDIS_URL switch the second configuration on; with
STAMM_REQUIRE_SERVICES=1 an unset or unreachable service fails the run instead of skipping.

Several runs share one PostgreSQL and one Redis (pytest-xdist workers of one run, other runs on
the same host): every database, bus channel and throttle namespace a test makes is named by
`unique_name`, so none of them meet.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest

REQUIRED = os.environ.get("STAMM_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")
# gw0, gw1, ... under pytest-xdist; empty in a plain run.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


@dataclass(frozen=True)
class Backend:
    """One configuration: a database kind and an event bus URL."""

    name: str
    bus_url: str


SQLITE = Backend("sqlite", "memory://")
POSTGRES = Backend("postgres", REDIS_URL or "memory://")


def backends() -> list[object]:
    """pytest params: sqlite always, postgres (+ redis) when configured or required."""
    postgres_ready = bool(POSTGRES_URL and REDIS_URL)
    if postgres_ready or REQUIRED:
        return [
            pytest.param(SQLITE, id="sqlite"),
            pytest.param(POSTGRES, id="postgres", marks=pytest.mark.postgres),
        ]
    return [
        pytest.param(SQLITE, id="sqlite"),
        pytest.param(
            POSTGRES,
            id="postgres",
            marks=pytest.mark.skip(reason="TEST_DATABASE_URL and TEST_REDIS_URL are unset"),
        ),
    ]


def require_postgres() -> str:
    if not POSTGRES_URL or not REDIS_URL:
        pytest.fail("STAMM_REQUIRE_SERVICES=1 but TEST_DATABASE_URL or TEST_REDIS_URL is unset")
    return POSTGRES_URL


def unique_name(prefix: str) -> str:
    """`prefix`, the xdist worker (when there is one) and a random part: unique across workers and runs.

    The worker only makes a leftover database tell whose it was; the random part alone keeps
    concurrent runs apart.
    """
    worker = f"_{WORKER}" if WORKER else ""
    return f"{prefix}{worker}_{uuid.uuid4().hex[:12]}"
