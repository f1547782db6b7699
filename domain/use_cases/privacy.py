"""Data protection: export everything stored about a client (GDPR Art. 15), erase it (Art. 17)."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

from domain.errors import Conflict
from domain.events import RequestChanged, SessionsEnded
from domain.model import (
    AccountStatus,
    AssignmentSource,
    Client,
    Document,
    InvitationStatus,
    Request,
    Role,
    Viewer,
)
from domain.ports import UnitOfWork
from domain.use_cases import Deps, audit
from domain.use_cases.clients import visible_client
from domain.use_cases.documents import remove_files
from domain.use_cases.routing import make_primary, release
from domain.visibility import require_admin

ERASED_NAME = "Gelöschte:r Klient:in"
# Who erases after a deletion's grace period: the sweep, an admin of no account (audited as such).
SYSTEM = Viewer(role=Role.ADMIN)


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _profile(client: Client) -> dict[str, Any]:
    found = _plain(client)
    found.pop("password_hash")
    found["has_password"] = client.password_hash is not None
    return dict(found)


async def export_client_data(deps: Deps, viewer: Viewer, client_id: int) -> dict[str, Any]:
    """Admins: everything stored about the client, as JSON-ready data (audited)."""
    require_admin(viewer)
    async with deps.uow() as uow:
        client = await visible_client(uow, viewer, client_id, "clientId")
        requests = await uow.requests.of_client(client_id)
        history = (await uow.history.for_clients([client_id]))[client_id]
        invitations = await uow.outbox.of_client(client_id)
        folder = await _folder(uow, client_id)
        documents = await uow.documents.of_client(client_id)
        await audit.record(uow, deps, viewer, "CLIENT_EXPORTED", "Client", client_id)
        await uow.commit()
    return {
        "exportedAt": deps.clock.now().isoformat(),
        "client": _profile(client),
        "requests": [_plain(r) for r in requests],
        "primaryCounsellorHistory": [_plain(c) for c in history],
        "invitations": [_plain(i) for i in invitations],
        **folder,
        # The files themselves are downloaded one by one (Document.downloadUrl).
        "documents": [{k: v for k, v in _plain(d).items() if k != "blob_key"} for d in documents],
    }


# Exports read the whole folder at once; a folder is a few hundred records at most.
FOLDER_EXPORT_LIMIT = 100_000


async def _folder(uow: UnitOfWork, client_id: int) -> dict[str, Any]:
    """The client folder's notes and documented contacts (oldest first)."""
    notes = await uow.notes.page_of_client(client_id, FOLDER_EXPORT_LIMIT, None)
    entries = await uow.monitoring.page_of_client(client_id, FOLDER_EXPORT_LIMIT, None)
    return {
        "notes": [_plain(n) for _, n in reversed(notes.items)],
        "monitoringEntries": [_plain(e) for _, e in reversed(entries.items)],
    }


async def _cancel_open_requests(uow: UnitOfWork, client_id: int, now: datetime) -> None:
    # Lock every open request before freeing any slot: a close or cancel racing the erasure
    # locks its request, then its counsellor, and must never wait for us the other way round.
    locked: list[Request] = []
    for found in await uow.requests.of_client(client_id):
        request = await uow.requests.lock(found.id) if found.is_open else None
        if request is not None and request.is_open:  # else a racing close or cancel came first
            locked.append(request)
    for request in locked:
        await release(uow, request.cancel(now), request.channel)
        await uow.requests.save_transition(request)
        uow.record(RequestChanged(request))


async def erase_client(deps: Deps, viewer: Viewer, client_id: int) -> Client:
    """Admins: remove the client's personal data, message texts and documents; keep the requests as anonymous
    counts and the history with the client pseudonymised (audited)."""
    require_admin(viewer)
    async with deps.uow() as uow:
        # Locked before it is read: a profile change or invitation waits for it, and a racing
        # sign-in or password change (conditional writes) then finds the account erased.
        client = await visible_client(uow, viewer, client_id, "clientId", lock=True)
        if client.erased_at is not None:
            raise Conflict("This client's data was erased already.", field="clientId")
        documents = await erase_locked(uow, deps, viewer, client)
        await uow.commit()
    await remove_files(deps, documents)
    await deps.dispatch()
    return client


async def erase_locked(uow: UnitOfWork, deps: Deps, actor: Viewer, client: Client) -> list[Document]:
    """Every step of an erasure, on a client this transaction locked: the one path for erasures by
    an admin and by the sweep after a deletion's grace period (add new personal data here).
    Returns the documents whose files go once the transaction has committed (`remove_files`)."""
    now = deps.clock.now()
    client_id = client.id
    await _cancel_open_requests(uow, client_id, now)
    await uow.requests.erase_texts(client_id)
    await uow.outbox.erase_for(client_id)
    await uow.mails.erase_for(client_id)
    # The folder: notes go; documented contacts stay as anonymous counts without their texts.
    await uow.notes.erase_for(client_id)
    await uow.monitoring.erase_texts(client_id)
    # Rows now, files once the rows are gone for good (a failed file deletion: the sweep).
    documents = await uow.documents.delete_of_client(client_id)
    if client.primary_counsellor_id is not None:
        reason = "client data erased"
        await make_primary(uow, client, None, AssignmentSource.MANUAL, now, actor.counsellor_id, reason)
    _pseudonymise(client, now)
    await uow.clients.erase(client)
    uow.record(SessionsEnded(client_id=client_id))
    await audit.record(uow, deps, actor, "CLIENT_ERASED", "Client", client_id)
    return documents


async def erase_due_clients(deps: Deps, limit: int = 50) -> int:
    """The sweep: erase deleted clients whose grace period is over, each in its own transaction.
    Each is locked and checked again first: a restore that came first wins, and one that comes
    later finds the data erased."""
    now = deps.clock.now()
    async with deps.uow(write=False) as uow:
        due = await uow.clients.erasure_due(now, limit)
    erased = 0
    for client_id in due:
        async with deps.uow() as uow:
            client = await uow.clients.lock(client_id)
            if client is None or not _still_due(client, now):
                continue
            documents = await erase_locked(uow, deps, SYSTEM, client)
            await uow.commit()
        await remove_files(deps, documents)
        erased += 1
    if erased:
        await deps.dispatch()
    return erased


def _still_due(client: Client, now: datetime) -> bool:
    return (
        client.account_status is AccountStatus.DELETED
        and client.erased_at is None
        and client.erasure_due_at is not None
        and client.erasure_due_at <= now
    )


def _pseudonymise(client: Client, now: datetime) -> None:
    client.display_name = f"{ERASED_NAME} {client.client_code}"
    client.email = client.first_name = client.last_name = client.phone = client.language = None
    client.password_hash = None
    client.last_login_at = None
    client.invitation_status = InvitationStatus.NO_ACCESS
    client.account_status = AccountStatus.DELETED
    client.session_generation += 1
    client.erased_at = now
    client.deleted_at = client.erasure_due_at = None
