"""Document rows in SQL: the metadata of the files in a client's folder (the bytes are in the blob store)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Row, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import Document
from domain.ports import Page
from persistence import rows
from persistence.crypto import TextCipher
from persistence.tables import documents as t


class SqlDocumentRepository:
    def __init__(self, conn: AsyncConnection, cipher: TextCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    def _read(self, row: Row[Any]) -> Document:
        m = row._mapping
        return Document(
            id=m["id"],
            client_id=m["client_id"],
            file_name=self._cipher.decrypt(m["file_name"]) or "",
            content_type=m["content_type"],
            size_bytes=m["size_bytes"],
            uploaded_at=m["uploaded_at"],
            blob_key=m["blob_key"],
            uploaded_by_id=m["uploaded_by_id"],
        )

    async def add(self, document: Document) -> Document:
        values = {
            "client_id": document.client_id,
            "file_name": self._cipher.encrypt(document.file_name),
            "content_type": document.content_type,
            "size_bytes": document.size_bytes,
            "uploaded_by_id": document.uploaded_by_id,
            "uploaded_at": document.uploaded_at,
            "blob_key": document.blob_key,
        }
        found = await self._conn.execute(t.insert().values(values).returning(t.c.id))
        return replace(document, id=found.scalar_one())

    async def get(self, document_id: int) -> Document | None:
        row = (await self._conn.execute(select(t).where(t.c.id == document_id))).first()
        return self._read(row) if row else None

    async def page_of_client(self, client_id: int, first: int, after: str | None) -> Page[Document]:
        mine = t.c.client_id == client_id
        page = select(t).where(mine).order_by(t.c.id.desc()).limit(first + 1)
        if after is not None:
            (last_id,) = rows.decode_cursor(after, int)
            page = page.where(t.c.id < last_id)
        found = [self._read(r) for r in await self._conn.execute(page)]
        total = (await self._conn.execute(select(func.count()).select_from(t).where(mine))).scalar_one()
        items = [(rows.encode_cursor(d.id), d) for d in found[:first]]
        return Page(items=items, has_next=len(found) > first, total=total)

    async def delete(self, document_id: int) -> Document | None:
        row = (await self._conn.execute(delete(t).where(t.c.id == document_id).returning(t))).first()
        return self._read(row) if row else None

    async def delete_of_client(self, client_id: int) -> list[Document]:
        found = await self._conn.execute(delete(t).where(t.c.client_id == client_id).returning(t))
        return [self._read(r) for r in found]

    async def of_client(self, client_id: int) -> list[Document]:
        query = select(t).where(t.c.client_id == client_id).order_by(t.c.id)
        return [self._read(r) for r in await self._conn.execute(query)]

    async def known_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(keys), 500):  # bounded IN lists
            chunk = list(keys[start : start + 500])
            found.update(
                r[0] for r in await self._conn.execute(select(t.c.blob_key).where(t.c.blob_key.in_(chunk)))
            )
        return found
