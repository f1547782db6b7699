"""Documents without a database: what a file is (by content), safe names, download links, and the
use cases' rules and order of writes over the fakes."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bootstrap.config import Config, S3Store
from bootstrap.settings import Settings, variable
from bootstrap.wiring import blob_store
from domain import file_types
from domain.errors import BadUserInput, Conflict, Forbidden, NotFound
from domain.model import Role, StaffRole, Viewer
from domain.use_cases import Deps
from domain.use_cases.documents import (
    ORPHAN_AFTER,
    delete_document,
    open_document,
    sweep_orphan_files,
    upload_document,
)
from domain.use_cases.privacy import erase_client
from graph.access_log import logged_path
from graph.file_links import PATH, FileLinks, LinkRefused
from graph.files import content_disposition
from persistence.blobs import SealedBlobs
from tests.fakes import START, FakeUnitOfWorkFactory, FixedClock, MemoryBlobs
from tests.support import samples
from tests.support.samples import SampleUpload as Upload


@pytest.mark.parametrize("kind", sorted(samples.ACCEPTED))
def test_each_accepted_type_is_judged_by_its_bytes(kind: str) -> None:
    make, expected = samples.ACCEPTED[kind]
    assert file_types.judge(make()) == expected


@pytest.mark.parametrize("kind", sorted(samples.REFUSED))
def test_other_files_are_not_accepted(kind: str) -> None:
    assert file_types.judge(samples.REFUSED[kind]) is None


def test_a_zip_bomb_part_is_not_inflated_to_judge_it() -> None:
    huge = samples._zip({"mimetype": file_types.ODT.encode() + b" " * 200_000})
    assert file_types.judge(huge) is None


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Befund.pdf", "Befund.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\kim\\Brief.docx", "Brief.docx"),
        ("Rechnung\u202efdp.exe", "Rechnungfdp.exe"),  # no right-to-left override
        ("zeile\r\numbruch.txt", "zeileumbruch.txt"),
        ("..", "document"),
        ("", "document"),
        (None, "document"),
        ("a" * 300 + ".pdf", "a" * 196 + ".pdf"),
    ],
)
def test_file_names_lose_paths_and_control_characters_and_stay_bounded(
    given: str | None, stored: str
) -> None:
    assert file_types.safe_file_name(given) == stored


def test_content_disposition_is_an_attachment_with_both_name_forms() -> None:
    header = content_disposition('Grüße "an" dich.pdf')
    assert (
        header
        == "attachment; filename=\"Gr__e _an_ dich.pdf\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22an%22%20dich.pdf"
    )


def test_a_link_carries_only_ids_and_expiry_and_lives_five_minutes() -> None:
    links = FileLinks(b"k" * 32)
    url = links.url(7, 3, START)
    assert url.startswith(PATH)
    token = url.removeprefix(PATH)
    found = links.read(token, START + timedelta(seconds=299))
    assert (found.document_id, found.counsellor_id) == (7, 3)
    assert found.expires_at == START + timedelta(minutes=5)
    with pytest.raises(LinkRefused) as expired:
        links.read(token, START + timedelta(minutes=5))
    assert expired.value.status == 403 and "expired" in expired.value.message
    assert len(base64.urlsafe_b64decode(token + "==")) == 17 + 32  # version, two ids, expiry, MAC


@pytest.mark.parametrize("mangle", ["other key", "flipped byte", "garbage", "truncated"])
def test_a_forged_or_damaged_link_is_refused(mangle: str) -> None:
    links = FileLinks(b"k" * 32)
    token = links.url(7, 3, START).removeprefix(PATH)
    raw = bytearray(base64.urlsafe_b64decode(token + "=="))
    raw[2] ^= 1
    forged = {
        "other key": FileLinks(b"x" * 32).url(7, 3, START).removeprefix(PATH),
        "flipped byte": base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="),
        "garbage": "%%%not-base64",
        "truncated": token[:20],
    }[mangle]
    with pytest.raises(LinkRefused) as refused:
        links.read(forged, START)
    assert refused.value.status == 404


# --- Use cases over the fakes ---------------------------------------------------------------------


@dataclass
class Folder:
    deps: Deps
    factory: FakeUnitOfWorkFactory
    blobs: MemoryBlobs
    admin: Viewer
    primary: Viewer
    colleague: Viewer
    client_id: int


@pytest.fixture
def folder(deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock) -> Folder:
    blobs = MemoryBlobs(clock)
    deps.blobs = blobs
    admin = factory.seed_counsellor(role=StaffRole.ADMIN)
    primary = factory.seed_counsellor()
    colleague = factory.seed_counsellor()
    client = factory.seed_client(primary_counsellor_id=primary.id)
    return Folder(
        deps,
        factory,
        blobs,
        Viewer(role=Role.ADMIN, counsellor_id=admin.id),
        Viewer(role=Role.COUNSELLOR, counsellor_id=primary.id),
        Viewer(role=Role.COUNSELLOR, counsellor_id=colleague.id),
        client.id,
    )


async def test_an_upload_stores_the_file_then_the_row_and_is_audited(folder: Folder) -> None:
    document = await upload_document(
        folder.deps, folder.primary, folder.client_id, Upload("a/Befund.pdf", samples.pdf())
    )
    assert (document.file_name, document.content_type) == ("Befund.pdf", file_types.PDF)
    assert (
        document.size_bytes == len(samples.pdf()) and document.uploaded_by_id == folder.primary.counsellor_id
    )
    assert folder.blobs.files[document.blob_key] == samples.pdf()
    assert folder.factory.store.documents[document.id] == document
    assert [e.action for e in folder.factory.store.audit] == ["DOCUMENT_UPLOADED"]


async def test_a_file_over_the_limit_is_refused_without_reading_it_all(folder: Folder) -> None:
    folder.deps.max_upload_bytes = 100_000
    upload = Upload("big.txt", b"a" * 1_000_000)
    with pytest.raises(BadUserInput) as refused:
        await upload_document(folder.deps, folder.primary, folder.client_id, upload)
    assert refused.value.field == "file" and "larger than" in refused.value.message
    assert upload.position < 200_000
    assert not folder.blobs.files and not folder.factory.store.documents


async def test_a_file_at_the_limit_is_accepted(folder: Folder) -> None:
    folder.deps.max_upload_bytes = 1000
    document = await upload_document(
        folder.deps, folder.primary, folder.client_id, Upload("x.txt", b"a" * 1000)
    )
    assert document.size_bytes == 1000


@pytest.mark.parametrize("data", [samples.REFUSED["a program"], b""], ids=["program", "empty"])
async def test_a_file_of_another_kind_is_bad_input_on_file(folder: Folder, data: bytes) -> None:
    with pytest.raises(BadUserInput) as refused:
        await upload_document(folder.deps, folder.primary, folder.client_id, Upload("Befund.pdf", data))
    assert refused.value.field == "file"
    assert not folder.blobs.files


async def test_who_may_upload(folder: Folder) -> None:
    with pytest.raises(NotFound):  # a counsellor who does not see the client
        await upload_document(folder.deps, folder.colleague, folder.client_id, Upload("a.txt", b"hallo"))
    with pytest.raises(Forbidden):
        client = Viewer(role=Role.CLIENT, client_id=folder.client_id)
        await upload_document(folder.deps, client, folder.client_id, Upload("a.txt", b"hallo"))
    assert await upload_document(folder.deps, folder.admin, folder.client_id, Upload("a.txt", b"hallo"))


async def test_a_failed_row_leaves_no_file(folder: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file goes first; when the row cannot be written the file is deleted again."""

    async def refuse(*_: object) -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr("domain.use_cases.audit.record", refuse)
    with pytest.raises(RuntimeError):
        await upload_document(folder.deps, folder.primary, folder.client_id, Upload("a.txt", b"hallo"))
    assert not folder.blobs.files and not folder.factory.store.documents


async def test_the_uploader_and_admins_delete_others_may_not(folder: Folder) -> None:
    first = await upload_document(folder.deps, folder.admin, folder.client_id, Upload("a.txt", b"eins"))
    second = await upload_document(folder.deps, folder.primary, folder.client_id, Upload("b.txt", b"zwei"))
    with pytest.raises(Forbidden) as refused:  # the primary sees the client but did not upload it
        await delete_document(folder.deps, folder.primary, first.id)
    assert refused.value.field == "id"
    with pytest.raises(NotFound):
        await delete_document(folder.deps, folder.colleague, second.id)
    assert await delete_document(folder.deps, folder.primary, second.id) == second.id
    assert await delete_document(folder.deps, folder.admin, first.id) == first.id
    assert not folder.blobs.files and not folder.factory.store.documents
    with pytest.raises(NotFound):
        await delete_document(folder.deps, folder.admin, first.id)


async def test_erasure_removes_rows_and_files_and_refuses_later_uploads(folder: Folder) -> None:
    await upload_document(folder.deps, folder.primary, folder.client_id, Upload("a.txt", b"eins"))
    await upload_document(folder.deps, folder.primary, folder.client_id, Upload("b.png", samples.png()))
    await erase_client(folder.deps, folder.admin, folder.client_id)
    assert not folder.blobs.files and not folder.factory.store.documents
    with pytest.raises(Conflict) as refused:
        await upload_document(folder.deps, folder.admin, folder.client_id, Upload("c.txt", b"drei"))
    assert refused.value.field == "clientId"


async def test_a_link_opens_the_file_only_while_its_holder_may_see_the_client(folder: Folder) -> None:
    document = await upload_document(folder.deps, folder.primary, folder.client_id, Upload("a.txt", b"eins"))
    primary_id = folder.primary.counsellor_id
    assert primary_id is not None
    found, data = await open_document(folder.deps, document.id, primary_id)
    assert (found.id, data) == (document.id, b"eins")
    assert folder.factory.store.audit[-1].action == "DOCUMENT_DOWNLOADED"
    colleague_id = folder.colleague.counsellor_id
    assert colleague_id is not None
    with pytest.raises(NotFound):
        await open_document(folder.deps, document.id, colleague_id)
    await delete_document(folder.deps, folder.primary, document.id)
    with pytest.raises(NotFound):
        await open_document(folder.deps, document.id, primary_id)


async def test_the_sweep_removes_old_files_no_row_names(folder: Folder, clock: FixedClock) -> None:
    kept = await upload_document(folder.deps, folder.primary, folder.client_id, Upload("a.txt", b"eins"))
    await folder.blobs.put("orphan", b"sealed bytes")
    clock.advance(60)
    await folder.blobs.put("young-orphan", b"an upload about to commit")
    clock.advance(ORPHAN_AFTER.total_seconds() - 30)
    assert await sweep_orphan_files(folder.deps) == 1
    assert set(folder.blobs.files) == {kept.blob_key, "young-orphan"}


# --- Settings -------------------------------------------------------------------------------------


def test_document_files_go_to_the_data_folder_unless_a_bucket_is_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [variable(field) for field in Settings.model_fields]:  # only what this test sets
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAMM_DATA_DIR", str(tmp_path))
    local = Config.from_env()
    assert (local.blob_dir, local.s3, local.api.max_upload_bytes) == (
        tmp_path / "documents",
        None,
        10 * 2**20,
    )
    assert isinstance(blob_store(local, b"k" * 32), SealedBlobs)

    values = {
        "STAMM_S3_BUCKET": "stamm-files",
        "STAMM_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "STAMM_S3_REGION": "eu-central-1",
        "STAMM_S3_ACCESS_KEY_ID": "key",
        "STAMM_S3_SECRET_ACCESS_KEY": "very-secret",
        "STAMM_MAX_UPLOAD_BYTES": "1000",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    remote = Config.from_env()
    assert remote.s3 == S3Store("stamm-files", "http://127.0.0.1:9000", "eu-central-1", "key", "very-secret")
    assert "very-secret" not in repr(remote)
    assert remote.api.max_upload_bytes == 1000


def test_download_tokens_stay_out_of_the_access_logs() -> None:
    assert logged_path("/files/AQAAAAEAAAAB") == "/files/…" and logged_path("/graphql") == "/graphql"
    logger = logging.getLogger("uvicorn.access")
    message = '%s - "%s %s HTTP/%s" %d'
    args = ("127.0.0.1:5000", "GET", "/files/AQAAAAEAAAAB?x=1", "1.1", 200)
    record = logger.makeRecord("uvicorn.access", logging.INFO, __file__, 1, message, args, None)
    assert logger.filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /files/… HTTP/1.1" 200'
