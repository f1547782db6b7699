"""Notes (Notizen): what staff write about a client in the client folder, never shown to the client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.errors import Forbidden
from domain.model import Viewer

# Characters (code points); persistence sizes nothing by it (the column is Text), the API refuses more.
MAX_NOTE = 20_000


@dataclass
class Note:
    """One staff note on a client; the text is encrypted at rest."""

    id: int
    client_id: int
    author_id: int | None
    text: str
    created_at: datetime
    edited_at: datetime | None = None


def require_note_author(viewer: Viewer, note: Note) -> None:
    """The author changes their own note; admins any; other staff who see the client only read it."""
    if viewer.is_admin or (viewer.counsellor_id is not None and viewer.counsellor_id == note.author_id):
        return
    raise Forbidden("Only the note's author or an admin may change it.", field="id")
