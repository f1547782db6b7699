"""The blob stores of document files: a local folder (the default) or an S3-compatible bucket, and
the AES-GCM seal around either (the files are stored encrypted with the data key).

Keys are the random hex names document rows hold; nothing else (no client, no file name) reaches
the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import ServiceUnavailable
from persistence.crypto import NONCE_BYTES

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TEMP_PREFIX = "tmp-"
SEAL_VERSION = b"SB1"


def checked_key(key: str) -> str:
    """A key as the stores take it: letters, digits, '-' and '_' (never a path)."""
    if not _KEY.match(key):
        raise ValueError("not a blob key")
    return key


class RawBlobs(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def delete(self, key: str) -> None: ...
    async def older_than(self, moment: datetime) -> list[str]: ...
    async def close(self) -> None: ...


class SealedBlobs:
    """Encrypts each file with AES-GCM under the data key: a fresh nonce per file, and the file's
    key as associated data, so a file copied under another key in the store does not decrypt."""

    def __init__(self, inner: RawBlobs, data_key: bytes) -> None:
        if len(data_key) != 32:
            raise ValueError("the data key must be 32 bytes")
        self._inner = inner
        self._aes = AESGCM(data_key)

    @staticmethod
    def _associated(key: str) -> bytes:
        return b"stamm document " + key.encode()

    async def put(self, key: str, data: bytes) -> None:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = await asyncio.to_thread(self._aes.encrypt, nonce, data, self._associated(checked_key(key)))
        await self._inner.put(key, SEAL_VERSION + nonce + sealed)

    async def get(self, key: str) -> bytes | None:
        stored = await self._inner.get(checked_key(key))
        if stored is None:
            return None
        if not stored.startswith(SEAL_VERSION):
            raise ValueError("a document file is not sealed by this service")
        body = stored[len(SEAL_VERSION) :]
        try:
            return await asyncio.to_thread(
                self._aes.decrypt, body[:NONCE_BYTES], body[NONCE_BYTES:], self._associated(key)
            )
        except InvalidTag as exc:
            raise ValueError("a document file does not decrypt with STAMM_DATA_KEY") from exc

    async def delete(self, key: str) -> None:
        await self._inner.delete(checked_key(key))

    async def older_than(self, moment: datetime) -> list[str]:
        return await self._inner.older_than(moment)

    async def close(self) -> None:
        await self._inner.close()


class LocalBlobs:
    """Files in a folder, one per key; written to a temporary file first and renamed into place,
    so a reader never sees half a file and a crash leaves at most a temporary file (swept)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def _path(self, key: str) -> Path:
        return self._folder / checked_key(key)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    def _write(self, path: Path, data: bytes) -> None:
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self._folder / f"{_TEMP_PREFIX}{secrets.token_hex(8)}"
        try:
            with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def older_than(self, moment: datetime) -> list[str]:
        return await asyncio.to_thread(self._older_than, moment.timestamp())

    def _older_than(self, before: float) -> list[str]:
        if not self._folder.exists():
            return []
        found = []
        for entry in os.scandir(self._folder):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file() and _KEY.match(entry.name) and entry.stat().st_mtime < before:
                    found.append(entry.name)
        return sorted(found)

    async def close(self) -> None:
        return None


# An S3 store that is down or hung must not hold a request for minutes (botocore's defaults are
# 60 s per read and up to 5 tries): a few seconds to connect, a bounded wait for each answer, one
# retry, and a deadline over the whole operation. The deadline is needed: botocore sends PutObject
# with "Expect: 100-continue", and aiohttp waits for the "100 Continue" without any read timeout.
S3_CONNECT_SECONDS = 5.0
S3_READ_SECONDS = 20.0
S3_ATTEMPTS = 2
S3_OPERATION_SECONDS = 60.0


class S3Blobs:
    """Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...) through aiobotocore. One client
    for the process, opened on first use. Credentials: the given ones, else botocore's usual chain
    (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, an instance role)."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "documents/",
        connect_timeout: float = S3_CONNECT_SECONDS,
        read_timeout: float = S3_READ_SECONDS,
        operation_seconds: float = S3_OPERATION_SECONDS,
    ) -> None:
        from aiobotocore.config import AioConfig  # only deployments on S3 load it

        self._bucket = bucket
        self._prefix = prefix
        self._operation_seconds = operation_seconds
        config = AioConfig(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": S3_ATTEMPTS, "mode": "standard"},
        )
        self._options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "config": config,
        }
        if access_key_id and secret_access_key:
            self._options |= {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._opening = asyncio.Lock()

    async def _s3(self) -> Any:
        async with self._opening:
            if self._client is None:
                from aiobotocore.session import get_session  # only deployments on S3 load it

                creator = get_session().create_client("s3", **self._options)
                self._client = await self._stack.enter_async_context(creator)
        return self._client

    @contextlib.asynccontextmanager
    async def _bounded(self) -> AsyncIterator[None]:
        """One operation within the deadline; the store's network and service failures (and a
        missed deadline) as SERVICE_UNAVAILABLE, not as an internal error."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            async with asyncio.timeout(self._operation_seconds):
                yield
        except (BotoCoreError, ClientError, OSError, TimeoutError) as exc:
            raise ServiceUnavailable("The document store is not reachable; try again later.") from exc

    def _name(self, key: str) -> str:
        return self._prefix + checked_key(key)

    async def put(self, key: str, data: bytes) -> None:
        async with self._bounded():
            await (await self._s3()).put_object(Bucket=self._bucket, Key=self._name(key), Body=data)

    async def get(self, key: str) -> bytes | None:
        async with self._bounded():
            s3 = await self._s3()
            try:
                found = await s3.get_object(Bucket=self._bucket, Key=self._name(key))
            except s3.exceptions.NoSuchKey:
                return None
            async with found["Body"] as body:
                data: bytes = await body.read()
            return data

    async def delete(self, key: str) -> None:
        async with self._bounded():
            await (await self._s3()).delete_object(Bucket=self._bucket, Key=self._name(key))

    async def older_than(self, moment: datetime) -> list[str]:
        async with self._bounded():
            s3 = await self._s3()
            found: list[str] = []
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=self._prefix)
            async for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(self._prefix) :]
                    modified: datetime = item["LastModified"]
                    if _KEY.match(key) and modified.astimezone(UTC) < moment:
                        found.append(key)
            return found

    async def close(self) -> None:
        async with self._opening:
            await self._stack.aclose()
            self._client = None
