"""Member management: blocking, deleting and restoring clients (the admins' Mitgliederverwaltung)."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.errors import Conflict
from domain.events import SessionsEnded
from domain.model import AccountStatus, Client, Viewer
from domain.use_cases import Deps, audit
from domain.use_cases.clients import visible_client
from domain.visibility import require_admin

ACTIVE, BLOCKED, DELETED = AccountStatus.ACTIVE, AccountStatus.BLOCKED, AccountStatus.DELETED


async def _change(
    deps: Deps,
    viewer: Viewer,
    client_id: int,
    to: AccountStatus,
    expected: tuple[AccountStatus, ...],
    action: str,
    **times: datetime | None,
) -> Client:
    """One conditional UPDATE of the status (no row read earlier is written back); leaving ACTIVE
    ends every session of the client and closes their subscriptions."""
    require_admin(viewer)
    async with deps.uow() as uow:
        found = await visible_client(uow, viewer, client_id)
        if found.erased_at is not None:
            raise Conflict("This client's data was erased; it cannot be changed.", field="id")
        changed = await uow.clients.change_status(client_id, to, expected, **times)
        if changed is None:
            current = (await uow.clients.get(client_id)) or found
            if current.erased_at is not None:
                raise Conflict("This client's data was erased; it cannot be changed.", field="id")
            raise Conflict(f"The client is {current.account_status.value}.", field="id")
        if to is not ACTIVE:
            uow.record(SessionsEnded(client_id=client_id))
        await audit.record(uow, deps, viewer, action, "Client", client_id)
        await uow.commit()
    return changed


async def block_client(deps: Deps, viewer: Viewer, client_id: int) -> Client:
    """Admins: the client cannot sign in or submit until unblocked; the primary stays."""
    return await _change(deps, viewer, client_id, BLOCKED, (ACTIVE,), "CLIENT_BLOCKED")


async def unblock_client(deps: Deps, viewer: Viewer, client_id: int) -> Client:
    return await _change(deps, viewer, client_id, ACTIVE, (BLOCKED,), "CLIENT_UNBLOCKED")


async def delete_client(deps: Deps, viewer: Viewer, client_id: int) -> Client:
    """Admins: DELETED at once (sessions end); the sweep erases the personal data when the grace
    period is over, and restoreClient undoes it until then."""
    now = deps.clock.now()
    due = now + timedelta(days=deps.deletion_grace_days)
    return await _change(
        deps,
        viewer,
        client_id,
        DELETED,
        (ACTIVE, BLOCKED),
        "CLIENT_DELETED",
        deleted_at=now,
        erasure_due_at=due,
    )


async def restore_client(deps: Deps, viewer: Viewer, client_id: int) -> Client:
    """Admins: undo a deletion within the grace period (CONFLICT once the data is erased)."""
    return await _change(
        deps, viewer, client_id, ACTIVE, (DELETED,), "CLIENT_RESTORED", deleted_at=None, erasure_due_at=None
    )
