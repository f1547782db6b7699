"""Documents through a real server: a real multipart upload (the GraphQL multipart request spec,
sent by httpx), the download through the signed link, and the refusals: a file too large, a file
of another kind, a multipart request without a token or with a query, a forged or dead link."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bootstrap.config import S3Store
from domain import file_types
from tests.e2e.support import (
    LiveServer,
    create_counsellor,
    e2e_config,
    free_port,
    register_client,
    start_server,
    stop_server,
)
from tests.support import samples
from tests.support.s3 import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    S3Server,
    create_bucket,
    list_objects,
    moto_server,
)

pytestmark = pytest.mark.e2e

UPLOAD = """mutation ($clientId: ID!, $file: Upload!) {
  uploadDocument(clientId: $clientId, file: $file) {
    id fileName contentType sizeBytes uploadedBy { displayName } downloadUrl client { id }
  }
}"""
MIB = 1024 * 1024


async def upload(
    live: LiveServer, token: str | None, client_id: str, name: str, data: bytes, query: str = UPLOAD
) -> httpx.Response:
    """One multipart request as the spec has it: `operations`, `map`, then the file part."""
    operations = {"query": query, "variables": {"clientId": client_id, "file": None}}
    form = {"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(
            live.graphql_url,
            data=form,
            files={"0": (name, data, "application/octet-stream")},
            headers=headers,
        )


async def download(live: LiveServer, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.get(live.base_url + path)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body.get("data") in (None, {}) or body["data"].get("uploadDocument") is None, body
    (error,) = body["errors"]
    found: dict[str, Any] = error
    return found


async def _folder(server: LiveServer) -> tuple[str, str]:
    """A counsellor's token and the id of a client they created (so they are its primary)."""
    admin = await server.admin_token()
    paula = await create_counsellor(server, admin, "Paula")
    data = await server.call(paula.token, 'mutation { createClient(input: {displayName: "Kim"}) { id } }')
    return paula.token, data["createClient"]["id"]


async def test_an_upload_and_its_download_through_the_link(server: LiveServer) -> None:
    token, client_id = await _folder(server)
    pdf = samples.pdf()
    response = await upload(server, token, client_id, "../Befund Müller.pdf", pdf)
    assert response.status_code == 200, response.text
    document = response.json()["data"]["uploadDocument"]
    assert document["fileName"] == "Befund Müller.pdf" and document["contentType"] == "application/pdf"
    assert document["sizeBytes"] == len(pdf) and document["uploadedBy"]["displayName"] == "Paula"
    assert document["client"]["id"] == client_id and document["downloadUrl"].startswith("/files/")

    got = await download(server, document["downloadUrl"])
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == (
        f"attachment; filename=\"Befund M_ller.pdf\"; filename*=UTF-8''{quote('Befund Müller.pdf')}"
    )
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["cache-control"] == "no-store"

    listed = await server.call(
        token,
        "query ($id: ID!) { client(id: $id) { documents { totalCount edges { node { id } } } } }",
        id=client_id,
    )
    assert listed["client"]["documents"]["edges"] == [{"node": {"id": document["id"]}}]

    await server.call(token, "mutation ($id: ID!) { deleteDocument(id: $id) }", id=document["id"])
    gone = await download(server, document["downloadUrl"])
    assert gone.status_code == 404 and gone.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_text_file_is_judged_by_content_not_by_name(server: LiveServer) -> None:
    token, client_id = await _folder(server)
    response = await upload(server, token, client_id, "notiz.pdf", samples.text())
    assert response.json()["data"]["uploadDocument"]["contentType"] == "text/plain; charset=utf-8"
    program = await upload(server, token, client_id, "Befund.pdf", samples.REFUSED["a program"])
    error = error_of(program)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "file"}
    assert "PDF, PNG, JPEG" in error["message"]


async def test_too_large_files_are_refused(server: LiveServer) -> None:
    token, client_id = await _folder(server)
    # Over the file limit, within the body limit of an upload: the use case stops reading it.
    just_over = await upload(server, token, client_id, "gross.txt", b"a" * (10 * MIB + 1))
    error = error_of(just_over)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "file"}
    assert "10 MiB" in error["message"]
    # Far over it: the server stops the body while it streams in.
    far_over = await upload(server, token, client_id, "riesig.txt", b"a" * (12 * MIB))
    assert far_over.status_code == 413
    assert far_over.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    listed = await server.call(
        token, "query ($id: ID!) { client(id: $id) { documents { totalCount } } }", id=client_id
    )
    assert listed["client"]["documents"]["totalCount"] == 0


async def test_multipart_needs_a_token_and_a_mutation(server: LiveServer) -> None:
    token, client_id = await _folder(server)
    # What a foreign page could post with a browser's cookies: no Authorization header.
    anonymous = await upload(server, None, client_id, "a.txt", b"hallo")
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    query = "query ($clientId: ID!, $file: Upload) { client(id: $clientId) { id } }"
    as_query = await upload(server, token, client_id, "a.txt", b"hallo", query)
    assert as_query.status_code == 400 and "mutations only" in as_query.text
    async with httpx.AsyncClient(timeout=60) as http:
        auth = {"Authorization": f"Bearer {token}"}
        garbled = await http.post(
            server.graphql_url,
            content=b"no parts here",
            headers={**auth, "Content-Type": "multipart/form-data; boundary=x"},
        )
        operations = {"query": UPLOAD, "variables": {"clientId": client_id, "file": None}}
        form = {"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})}
        two_files = await http.post(
            server.graphql_url,
            data=form,
            files=[("0", ("a.txt", b"a")), ("1", ("b.txt", b"b"))],
            headers=auth,
        )
    assert garbled.status_code == 400 and garbled.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert two_files.status_code == 400  # one file per request
    # A JSON body over the general limit is still refused: only uploads may be large.
    async with httpx.AsyncClient(timeout=60) as http:
        big_json = await http.post(
            server.graphql_url,
            json={"query": "{ me { role } }", "variables": {"pad": "x" * (300 * 1024)}},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert big_json.status_code == 413


async def test_forged_links_and_the_links_of_an_erased_client_lead_nowhere(server: LiveServer) -> None:
    token, client_id = await _folder(server)
    document = (await upload(server, token, client_id, "a.png", samples.png())).json()["data"][
        "uploadDocument"
    ]
    link = document["downloadUrl"]
    forged = await download(server, link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB"))
    assert forged.status_code == 404 and "not valid" in forged.text
    assert (await download(server, "/files/not-a-token")).status_code == 404

    admin = await server.admin_token()
    await server.call(admin, "mutation ($id: ID!) { eraseClient(clientId: $id) { id } }", id=client_id)
    erased = await download(server, link)
    assert erased.status_code == 404


async def test_a_client_cannot_upload_or_list(server: LiveServer) -> None:
    kim = await register_client(server, "Kim")
    refused = await upload(server, kim.token, kim.id, "a.txt", b"hallo")
    assert error_of(refused)["extensions"]["code"] == "FORBIDDEN"
    mine = await server.call(kim.token, "{ me { client { documents { totalCount } } } }")
    assert mine["me"]["client"]["documents"] is None


@pytest.fixture
def s3_live(tmp_path: Path) -> Iterator[tuple[LiveServer, S3Server, str]]:
    """A server whose document files go to a bucket of moto's S3 server (the composition root's
    S3 store, as STAMM_S3_* configure it)."""
    with moto_server(tmp_path / "moto.log") as s3:
        bucket = s3.bucket()
        asyncio.run(create_bucket(s3, bucket))
        store = S3Store(bucket, s3.endpoint_url, REGION, ACCESS_KEY, SECRET_KEY)
        port = free_port()
        config = e2e_config(f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}", "memory://", port, tmp_path)
        live = start_server(dataclasses.replace(config, s3=store), port)
        try:
            yield live, s3, bucket
        finally:
            stop_server(live)


async def test_with_an_s3_bucket_the_file_is_sealed_there_and_comes_back(
    s3_live: tuple[LiveServer, S3Server, str], tmp_path: Path
) -> None:
    live, s3, bucket = s3_live
    token, client_id = await _folder(live)
    docx = samples.docx()
    document = (await upload(live, token, client_id, "Brief.docx", docx)).json()["data"]["uploadDocument"]
    assert document["contentType"] == file_types.DOCX
    stored = await list_objects(s3, bucket)
    assert len(stored) == 1 and stored[0].startswith("documents/")
    assert not (tmp_path / "documents").exists()  # nothing in the local folder
    got = await download(live, document["downloadUrl"])
    assert got.status_code == 200 and got.content == docx
    await live.call(token, "mutation ($id: ID!) { deleteDocument(id: $id) }", id=document["id"])
    assert await list_objects(s3, bucket) == []
