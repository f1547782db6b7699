"""Documents on both databases and both blob stores (a local folder, and S3 over HTTP against moto's
standalone server): files sealed at rest, pages, deletion, erasure, the orphan sweep, and the races
that matter (two deletions; an upload against an erasure)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain import file_types
from domain.errors import Conflict, NotFound, ServiceUnavailable
from domain.model import Viewer
from domain.use_cases import Deps
from domain.use_cases.clients import ClientProfile, create_client
from domain.use_cases.documents import (
    ORPHAN_AFTER,
    delete_document,
    document_page_unchecked,
    open_document,
    sweep_orphan_files,
    upload_document,
)
from domain.use_cases.members import delete_client
from domain.use_cases.privacy import erase_client, export_client_data
from domain.use_cases.routing import Dispatcher
from persistence.blobs import LocalBlobs, RawBlobs, S3Blobs, SealedBlobs
from persistence.event_bus import EventBus
from persistence.sweeper import QueueSweeper
from tests.fakes import FixedClock
from tests.integration.conftest import World, staff
from tests.support import samples
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server, create_bucket, moto_server
from tests.support.samples import SampleUpload
from tests.support.server import free_port


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as found:
        yield found


@dataclass
class Store:
    raw: RawBlobs
    sealed: SealedBlobs


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path, deps: Deps) -> AsyncIterator[Store]:
    """The blob store under test, sealed with a data key, set as the use cases' store."""
    raw: RawBlobs
    if request.param == "local":
        raw = LocalBlobs(tmp_path / "documents")
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        bucket = server.bucket()
        await create_bucket(server, bucket)
        raw = S3Blobs(
            bucket,
            endpoint_url=server.endpoint_url,
            region=REGION,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
        )
    found = Store(raw, SealedBlobs(raw, secrets.token_bytes(32)))
    deps.blobs = found.sealed
    try:
        yield found
    finally:
        await found.sealed.close()


@dataclass
class Folder:
    world: World
    primary: Viewer
    client_id: int


@pytest.fixture
async def folder(world: World) -> Folder:
    primary = await world.counsellor("Paula")
    as_primary = staff(primary)
    client = await create_client(world.deps, as_primary, ClientProfile(display_name="Kim"), None)
    return Folder(world, as_primary, client.id)


async def test_a_file_is_sealed_in_the_store_and_comes_back_whole(store: Store, folder: Folder) -> None:
    deps = folder.world.deps
    pdf = samples.pdf()
    document = await upload_document(deps, folder.primary, folder.client_id, SampleUpload("Befund.pdf", pdf))
    stored = await store.raw.get(document.blob_key)
    assert stored is not None and b"%PDF" not in stored and len(stored) == len(pdf) + 3 + 12 + 16
    assert folder.primary.counsellor_id is not None
    found, data = await open_document(deps, document.id, folder.primary.counsellor_id)
    assert (data, found.content_type, found.file_name) == (pdf, file_types.PDF, "Befund.pdf")
    # The file's key is its associated data: the same bytes under another key do not open.
    await store.raw.put("moved", stored)
    with pytest.raises(ValueError, match="does not decrypt"):
        await store.sealed.get("moved")


async def test_pages_are_newest_first_and_a_deletion_removes_row_and_file(
    store: Store, folder: Folder
) -> None:
    deps = folder.world.deps
    uploaded = []
    for n in range(3):
        folder.world.tick()
        name = f"Notiz {n}.txt"
        uploaded.append(
            await upload_document(deps, folder.primary, folder.client_id, SampleUpload(name, b"Text"))
        )
    first = await document_page_unchecked(deps, folder.client_id, 2, None)
    assert [d.id for _, d in first.items] == [uploaded[2].id, uploaded[1].id]
    assert (first.has_next, first.total) == (True, 3)
    rest = await document_page_unchecked(deps, folder.client_id, 2, first.items[-1][0])
    assert [d.file_name for _, d in rest.items] == ["Notiz 0.txt"] and not rest.has_next

    await delete_document(deps, folder.primary, uploaded[1].id)
    assert await store.raw.get(uploaded[1].blob_key) is None
    assert (await document_page_unchecked(deps, folder.client_id, 10, None)).total == 2


async def test_erasure_removes_the_clients_files_and_no_others(store: Store, folder: Folder) -> None:
    deps, admin = folder.world.deps, folder.world.admin
    mine = await upload_document(deps, folder.primary, folder.client_id, SampleUpload("a.png", samples.png()))
    other_client = await create_client(deps, folder.primary, ClientProfile(display_name="Alex"), None)
    other = await upload_document(deps, folder.primary, other_client.id, SampleUpload("b.odt", samples.odt()))
    exported = await export_client_data(deps, admin, folder.client_id)
    assert [d["file_name"] for d in exported["documents"]] == ["a.png"]
    assert "blob_key" not in exported["documents"][0]

    await erase_client(deps, admin, folder.client_id)
    assert await store.raw.get(mine.blob_key) is None
    assert await store.raw.get(other.blob_key) is not None
    assert (await document_page_unchecked(deps, folder.client_id, 10, None)).total == 0
    with pytest.raises(Conflict):
        await upload_document(deps, admin, folder.client_id, SampleUpload("c.txt", b"neu"))


async def test_the_sweep_removes_only_old_files_no_row_names(
    store: Store, folder: Folder, clock: FixedClock
) -> None:
    deps = folder.world.deps
    kept = await upload_document(deps, folder.primary, folder.client_id, SampleUpload("a.txt", b"bleibt"))
    await store.sealed.put("orphan", b"an upload whose row never came")
    # Stores stamp files with the real time: move the test's clock past it by more than the grace.
    clock.advance((datetime.now(UTC) - clock.now() + ORPHAN_AFTER).total_seconds() + 60)
    assert await sweep_orphan_files(deps) == 1
    assert await store.raw.get("orphan") is None
    assert await store.raw.get(kept.blob_key) is not None


async def test_two_deletions_of_one_document_one_wins(store: Store, folder: Folder) -> None:
    deps = folder.world.deps
    document = await upload_document(deps, folder.primary, folder.client_id, SampleUpload("a.txt", b"weg"))
    outcomes = await asyncio.gather(
        delete_document(deps, folder.primary, document.id),
        delete_document(deps, folder.world.admin, document.id),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["NotFound", "int"]
    assert await store.raw.get(document.blob_key) is None
    audit = await _actions(deps)
    assert audit.count("DOCUMENT_DELETED") == 1


async def test_an_upload_racing_an_erasure_leaves_no_file_and_no_row(store: Store, folder: Folder) -> None:
    deps, admin = folder.world.deps, folder.world.admin
    outcomes = await asyncio.gather(
        upload_document(deps, folder.primary, folder.client_id, SampleUpload("a.txt", b"gleichzeitig")),
        erase_client(deps, admin, folder.client_id),
        return_exceptions=True,
    )
    upload = outcomes[0]
    assert not isinstance(outcomes[1], BaseException), outcomes[1]
    # Either the upload came first (and the erasure removed it) or it was refused: nothing stays.
    assert isinstance(upload, (Conflict, NotFound)) or not isinstance(upload, BaseException)
    assert (await document_page_unchecked(deps, folder.client_id, 10, None)).total == 0
    leftovers = await store.raw.older_than(datetime.now(UTC).replace(year=2100))
    assert leftovers == []


async def _actions(deps: Deps) -> list[str]:
    async with deps.uow(write=False) as uow:
        page = await uow.audit.page(100, None)
    return [entry.action for _, entry in page.items]


@contextlib.asynccontextmanager
async def silent_endpoint() -> AsyncIterator[str]:
    """An S3 endpoint that accepts connections and never answers (a hung or overloaded store)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


# Far above the store's deadline set below: a store that still hangs fails the test, not the run.
HANG_GUARD_SECONDS = 30


@pytest.mark.parametrize("endpoint", ["silent", "closed"])
async def test_an_unreachable_s3_store_refuses_the_upload_and_leaves_no_row(
    folder: Folder, endpoint: str
) -> None:
    """S3 down or hung mid-upload: the request neither hangs nor fails as an internal error; it is
    SERVICE_UNAVAILABLE, and no row names a file that was never stored."""
    deps = folder.world.deps
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(silent_endpoint())
        if endpoint == "closed":
            url = f"http://127.0.0.1:{free_port()}"
        raw = S3Blobs(
            "stamm",
            endpoint_url=url,
            region=REGION,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            connect_timeout=1,
            read_timeout=1,
            operation_seconds=3,
        )
        deps.blobs = SealedBlobs(raw, secrets.token_bytes(32))
        stack.push_async_callback(deps.blobs.close)
        upload = upload_document(deps, folder.primary, folder.client_id, SampleUpload("a.txt", b"Text"))
        with pytest.raises(ServiceUnavailable):
            await asyncio.wait_for(upload, HANG_GUARD_SECONDS)
        with pytest.raises(ServiceUnavailable):
            await asyncio.wait_for(deps.blobs.get("somekey"), HANG_GUARD_SECONDS)
    assert (await document_page_unchecked(deps, folder.client_id, 10, None)).total == 0


async def test_the_sweep_erases_due_clients_while_the_s3_store_is_down(
    folder: Folder, clock: FixedClock, bus: EventBus
) -> None:
    """A deleted client's erasure is due by law: a file store that is down holds up only the
    orphan sweep, not the erasure in the same round."""
    deps, admin = folder.world.deps, folder.world.admin
    down = S3Blobs(
        "stamm",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        connect_timeout=1,
        operation_seconds=3,
    )
    deps.blobs = SealedBlobs(down, secrets.token_bytes(32))
    try:
        await delete_client(deps, admin, folder.client_id)
        clock.advance(timedelta(days=31).total_seconds())
        await QueueSweeper(deps, Dispatcher(deps), bus, period=60).sweep()
    finally:
        await deps.blobs.close()
    assert (await folder.world.stored_client(folder.client_id)).erased_at is not None
