"""Documents in a client's folder (Dokumente): upload, list, delete, download, and the sweep.

Order of writes, so that a row never names a missing file: the file goes to the blob store first,
then the row commits; a file whose row never committed is an orphan the sweep removes. Deleting
goes the other way: the row first, then the file (or, if that fails, the sweep).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from datetime import timedelta

from domain.errors import BadUserInput, Conflict, Forbidden, NotFound, ServiceUnavailable
from domain.file_types import judge, safe_file_name
from domain.model import Client, Document, Role, StaffRole, Viewer
from domain.ports import BlobStore, IncomingFile, Page, UnitOfWork
from domain.use_cases import Deps, audit
from domain.use_cases.clients import visible_client
from domain.visibility import not_found, require_staff, sees_client

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
ACCEPTED = "PDF, PNG, JPEG, plain text (UTF-8), DOCX or ODT"
# A file stored this long without a row naming it is an orphan: its upload failed or was refused.
ORPHAN_AFTER = timedelta(hours=1)


def _blobs(deps: Deps) -> BlobStore:
    if deps.blobs is None:
        raise ServiceUnavailable("No file store is configured.")
    return deps.blobs


async def read_limited(file: IncomingFile, max_bytes: int) -> bytes:
    """The file's bytes, read in chunks; BAD_USER_INPUT on `file` as soon as it exceeds the limit
    (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise BadUserInput(f"The file is larger than {_size_text(max_bytes)}.", field="file")
        chunks.append(chunk)
    return b"".join(chunks)


def _size_text(size: int) -> str:
    mib = size / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 else f"{size} bytes"


def judged(data: bytes) -> str:
    """The content type of the bytes; BAD_USER_INPUT on `file` for empty or unaccepted files."""
    if not data:
        raise BadUserInput("The file is empty.", field="file")
    found = judge(data)
    if found is None:
        raise BadUserInput(f"This kind of file is not accepted; upload {ACCEPTED}.", field="file")
    return found


async def upload_document(deps: Deps, viewer: Viewer, client_id: int, file: IncomingFile) -> Document:
    """Staff who see the client add a file to the client's folder (audited)."""
    me = require_staff(viewer)
    blobs = _blobs(deps)
    async with deps.uow(write=False) as uow:  # refuse before reading a file nobody may store
        _unerased(await visible_client(uow, viewer, client_id, "clientId"))
    data = await read_limited(file, deps.max_upload_bytes)
    content_type = judged(data)
    name = safe_file_name(file.filename)
    key = secrets.token_hex(16)
    await blobs.put(key, data)
    committed = False
    try:
        async with deps.uow() as uow:
            # Locked: an erasure running now either finished (we see it) or waits for this commit.
            _unerased(await visible_client(uow, viewer, client_id, "clientId", lock=True))
            new = Document(0, client_id, name, content_type, len(data), deps.clock.now(), key, me)
            document = await uow.documents.add(new)
            detail = f"document {document.id}"
            await audit.record(uow, deps, viewer, "DOCUMENT_UPLOADED", "Client", client_id, detail)
            await uow.commit()
            committed = True
    except BaseException:
        if not committed:  # a committed row keeps its file, whatever fails after the commit
            await _remove(blobs, key)
        raise
    return document


def _unerased(client: Client) -> None:
    """Nothing is added to the folder of a client whose data was erased."""
    if client.erased_at is not None:
        raise Conflict("This client's data was erased.", field="clientId")


async def _remove(blobs: BlobStore, key: str) -> None:
    """Delete a file now if possible; the sweep removes it otherwise."""
    try:
        await blobs.delete(key)
    except Exception:
        log.warning("a document file was not deleted now; the sweep removes it", exc_info=True)


async def delete_document(deps: Deps, viewer: Viewer, document_id: int) -> int:
    """The uploader or an admin deletes a document of a client they see (audited); its id."""
    me = require_staff(viewer)
    async with deps.uow() as uow:
        document = await uow.documents.get(document_id)
        if document is None:
            raise not_found("Document")
        await _visible_client_of(uow, viewer, document)
        if not viewer.is_admin and document.uploaded_by_id != me:
            raise Forbidden("Only the uploader and admins may delete a document.", field="id")
        if await uow.documents.delete(document_id) is None:  # deleted in parallel
            raise not_found("Document")
        detail = f"document {document_id}"
        await audit.record(uow, deps, viewer, "DOCUMENT_DELETED", "Client", document.client_id, detail)
        await uow.commit()
    await _remove(_blobs(deps), document.blob_key)
    return document_id


async def _visible_client_of(uow: UnitOfWork, viewer: Viewer, document: Document) -> None:
    """A document of a client the viewer may not see reads as missing."""
    try:
        await visible_client(uow, viewer, document.client_id)
    except NotFound as exc:
        raise not_found("Document") from exc


async def get_document(deps: Deps, viewer: Viewer, document_id: int) -> Document:
    """One document, for staff who see its client."""
    require_staff(viewer)
    async with deps.uow(write=False) as uow:
        document = await uow.documents.get(document_id)
        if document is None:
            raise not_found("Document")
        await _visible_client_of(uow, viewer, document)
    return document


async def document_page_unchecked(
    deps: Deps, client_id: int, first: int, after: str | None
) -> Page[Document]:
    """A page of the client's documents, newest first (the caller decided the viewer may see them)."""
    async with deps.uow(write=False) as uow:
        return await uow.documents.page_of_client(client_id, first, after)


async def open_document(deps: Deps, document_id: int, counsellor_id: int) -> tuple[Document, bytes]:
    """The document and its bytes for a download link issued to `counsellor_id`: NOT_FOUND when
    the document or its client's data is gone, or the counsellor may no longer see the client
    (deactivated, handed over). Audited."""
    async with deps.uow(write=False) as uow:
        document = await uow.documents.get(document_id)
        counsellor = await uow.counsellors.get(counsellor_id)
        client = await uow.clients.get(document.client_id) if document else None
        if document is None or client is None or counsellor is None or not counsellor.active:
            raise not_found("Document")
        role = Role.ADMIN if counsellor.role is StaffRole.ADMIN else Role.COUNSELLOR
        viewer = Viewer(role=role, counsellor_id=counsellor.id)
        holders = await uow.clients.holder_ids(client.id)
        if client.erased_at is not None or not sees_client(viewer, client, holders):
            raise not_found("Document")
    data = await _blobs(deps).get(document.blob_key)
    if data is None:
        raise not_found("Document")
    async with deps.uow() as uow:
        detail = f"document {document.id}"
        await audit.record(uow, deps, viewer, "DOCUMENT_DOWNLOADED", "Client", document.client_id, detail)
        await uow.commit()
    return document, data


async def sweep_orphan_files(deps: Deps) -> int:
    """Delete files no document row names that were stored over ORPHAN_AFTER ago; how many.
    (A younger one may belong to an upload whose row is about to commit.)"""
    if deps.blobs is None:
        return 0
    keys = await deps.blobs.older_than(deps.clock.now() - ORPHAN_AFTER)
    if not keys:
        return 0
    async with deps.uow(write=False) as uow:
        known = await uow.documents.known_keys(keys)
    orphans = [key for key in keys if key not in known]
    for key in orphans:
        with contextlib.suppress(Exception):
            await deps.blobs.delete(key)
    return len(orphans)


async def remove_files(deps: Deps, documents: list[Document]) -> None:
    """After their rows were deleted and committed: delete the files (the sweep catches failures)."""
    if deps.blobs is None:
        return
    for document in documents:
        await _remove(deps.blobs, document.blob_key)
