"""A private Redis for the run: pub/sub channels are server-wide, and another Stamm on the same
Redis (tests, a dev server) would publish into the benchmark's `stamm.events` and vice versa."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

from redis import asyncio as aioredis

from bench.servers import _ended, free_port


class PrivateRedis:
    """`redis-server` on a free loopback port, no persistence; stopped (this process only) at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self._log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        with (self._log_dir / "redis.log").open("ab") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    async def start(self) -> None:
        self.process = self._spawn()
        deadline = time.monotonic() + 10
        while True:
            client = aioredis.Redis.from_url(self.url)
            try:
                if await client.ping():
                    return
            except OSError:
                pass
            except aioredis.ConnectionError:
                pass
            finally:
                await client.aclose()
            if time.monotonic() > deadline:
                raise RuntimeError("the private redis-server did not start")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            await _ended(process, 10)
