"""Notes in the client folder: staff who see the client read and write them; the author or an admin
edits and deletes; audited like other staff writes."""

from __future__ import annotations

from domain import validation
from domain.errors import Conflict, NotFound
from domain.model import Viewer
from domain.notes import MAX_NOTE, Note, require_note_author
from domain.ports import Page, UnitOfWork
from domain.use_cases import Deps, audit
from domain.use_cases.clients import visible_client
from domain.visibility import not_found, require_staff


def _text(value: str, field: str) -> str:
    """1..MAX_NOTE characters after trimming."""
    return validation.text(value, field, MAX_NOTE)


async def add_note(deps: Deps, viewer: Viewer, client_id: int, text: str) -> Note:
    me = require_staff(viewer)
    text = _text(text, "input.text")
    async with deps.uow() as uow:
        # Locked: an erasure running now either finished (we see it) or waits for this commit.
        client = await visible_client(uow, viewer, client_id, "input.clientId", lock=True)
        if client.erased_at is not None:
            raise Conflict("This client's data was erased.", field="input.clientId")
        note = await uow.notes.add(Note(0, client_id, me, text, deps.clock.now()))
        await audit.record(uow, deps, viewer, "NOTE_ADDED", "Client", client_id, f"note {note.id}")
        await uow.commit()
    return note


async def _locked_note(uow: UnitOfWork, viewer: Viewer, note_id: int, field: str) -> Note:
    """The note, held until commit, if its client is visible to the viewer and the viewer may change
    it; NOT_FOUND for a note they may not see, FORBIDDEN for one they may only read."""
    require_staff(viewer)
    note = await uow.notes.lock(note_id)
    if note is None:
        raise not_found("Note", field)
    await visible_client(uow, viewer, note.client_id, field)
    require_note_author(viewer, note)
    return note


async def edit_note(deps: Deps, viewer: Viewer, note_id: int, text: str) -> Note:
    require_staff(viewer)
    text = _text(text, "input.text")
    async with deps.uow() as uow:
        note = await _locked_note(uow, viewer, note_id, "input.id")
        note.text, note.edited_at = text, deps.clock.now()
        if not await uow.notes.set_text(note.id, note.text, note.edited_at):
            raise not_found("Note", "input.id")
        await audit.record(uow, deps, viewer, "NOTE_EDITED", "Client", note.client_id, f"note {note.id}")
        await uow.commit()
    return note


async def delete_note(deps: Deps, viewer: Viewer, note_id: int) -> int:
    """The id of the deleted note."""
    async with deps.uow() as uow:
        note = await _locked_note(uow, viewer, note_id, "id")
        if not await uow.notes.delete(note.id):
            raise not_found("Note")
        await audit.record(uow, deps, viewer, "NOTE_DELETED", "Client", note.client_id, f"note {note.id}")
        await uow.commit()
    return note.id


async def notes_of_client(
    deps: Deps, viewer: Viewer, client_id: int, first: int, after: str | None
) -> Page[Note] | None:
    """Staff who see the client: their notes, newest first. None for clients (never theirs to read)
    and for staff who may not see the client."""
    if not viewer.is_staff:
        return None
    async with deps.uow(write=False) as uow:
        try:
            await visible_client(uow, viewer, client_id)
        except NotFound:
            return None
        return await uow.notes.page_of_client(client_id, first, after)


async def get_note(deps: Deps, viewer: Viewer, note_id: int) -> Note:
    """One note, for staff who see its client; NOT_FOUND for everyone else."""
    require_staff(viewer)
    async with deps.uow(write=False) as uow:
        note = await uow.notes.get(note_id)
        if note is None:
            raise not_found("Note")
        await visible_client(uow, viewer, note.client_id)
    return note
