"""moto's standalone S3-compatible server on a free loopback port, for the S3 blob store's tests:
the real aiobotocore client talks HTTP to it, as it would to MinIO or AWS."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port

STARTUP_TIMEOUT = 30.0
REGION = "eu-central-1"
ACCESS_KEY = "stamm-test-key"
SECRET_KEY = "stamm-test-secret"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def bucket(self) -> str:
        """A new, empty bucket's name (created on first use by `create_bucket`)."""
        return f"stamm-{uuid.uuid4().hex[:12]}"


@contextmanager
def moto_server(log_path: Path) -> Iterator[S3Server]:
    """A running `moto.server` process; skipped only when moto is not installed (it is a dev dependency)."""
    if importlib.util.find_spec("moto") is None:
        pytest.skip("moto[server] is not installed (pip install -e '.[dev]')")
    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                if httpx.get(f"{url}/moto-api/", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto_server did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.05)
        yield S3Server(url)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _options(server: S3Server) -> dict[str, str]:
    return {
        "endpoint_url": server.endpoint_url,
        "region_name": REGION,
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
    }


async def create_bucket(server: S3Server, bucket: str) -> None:
    from aiobotocore.session import get_session

    async with get_session().create_client("s3", **_options(server)) as s3:
        await s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})


async def list_objects(server: S3Server, bucket: str) -> list[str]:
    """Every object key in the bucket, as the S3 API lists them."""
    from aiobotocore.session import get_session

    async with get_session().create_client("s3", **_options(server)) as s3:
        found = await s3.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in found.get("Contents", [])]
