"""Use cases: one transaction each, over the ports; the API calls exactly one per operation."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from domain.limits import Limits
from domain.ports import BlobStore, Clock, PasswordHasher, Throttle, UnitOfWorkFactory


@dataclass
class Deps:
    """What every use case needs: transactions, time, password hashing, and a dispatch trigger."""

    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    # Asks for a queued-request dispatch after a committed change that may free capacity; the app's
    # (Dispatcher.request) returns at once and never raises: a committed change always answers.
    dispatch: Callable[[], Awaitable[None]] = field(default=lambda: _nothing())
    limits: Limits = field(default_factory=Limits)
    # Counts attempts against the abuse limits; None: in the database, through `uow`.
    throttle: Throttle | None = None
    # Keys the hashes that name attempt counters (domain.throttling.counter_key). Processes sharing
    # counters need the same secret: the composition root derives it from STAMM_SECRET_KEY.
    counter_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # Monitoring statistics withhold cells of fewer contacts or clients (STAMM_MONITORING_MIN_CELL).
    monitoring_min_cell: int = 5
    # Where document files live (encrypted by the adapter); None: uploads are refused.
    blobs: BlobStore | None = None
    # The largest document accepted (STAMM_MAX_UPLOAD_BYTES).
    max_upload_bytes: int = 10 * 1024 * 1024
    # Member management: where invitation links point, and how long a deleted client's data is
    # kept (restorable) before the sweep erases it.
    public_url: str = "http://127.0.0.1:8000"
    deletion_grace_days: int = 30


async def _nothing() -> None:
    return None


async def hash_password(deps: Deps, password: str) -> str:
    """Hash in a worker thread: argon2 takes tens of milliseconds and would stall the event loop."""
    return await asyncio.to_thread(deps.hasher.hash, password)


async def password_matches(deps: Deps, password_hash: str, password: str) -> bool:
    """Verify in a worker thread (see hash_password)."""
    return await asyncio.to_thread(deps.hasher.verify, password_hash, password)
