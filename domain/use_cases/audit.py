"""The audit log of staff actions: who did what to whom, when; readable by admins."""

from __future__ import annotations

from domain.model import AuditEntry, Viewer
from domain.ports import Page, UnitOfWork
from domain.use_cases import Deps
from domain.visibility import require_admin


async def record(
    uow: UnitOfWork,
    deps: Deps,
    viewer: Viewer,
    action: str,
    subject_type: str,
    subject_id: int,
    detail: str | None = None,
) -> None:
    """Append an entry in the caller's transaction (so the action and its record commit together)."""
    entry = AuditEntry(deps.clock.now(), viewer.counsellor_id, action, subject_type, subject_id, detail)
    await uow.audit.add(entry)


async def audit_page(deps: Deps, viewer: Viewer, first: int, after: str | None) -> Page[AuditEntry]:
    """Admins: the audit log, newest first."""
    require_admin(viewer)
    async with deps.uow(write=False) as uow:
        return await uow.audit.page(first, after)
