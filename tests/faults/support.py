"""Helpers for the fault tests: the app's configuration, and a Redis that can be killed and restarted.

The shared Redis on 6379 is never touched: a test that needs Redis starts `redis-server` on a
free port as a subprocess, kills it with SIGKILL and starts it again on the same port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bootstrap.config import Config
from tests.e2e.support import ADMIN_EMAIL, ADMIN_PASSWORD, LiveServer

REDIS_START_TIMEOUT = 10.0
REQUEST = "query ($id: ID!) { request(id: $id) { id status counsellor { id } } }"


def app_config(database_url: str, broadcast_url: str, port: int, data_dir: Path) -> Config:
    """The app's configuration as production builds it: from the documented environment variables.

    Every other STAMM_* variable is left unset, so new settings take their defaults.
    """
    settings = {
        "DATABASE_URL": database_url,
        "BROADCAST_URL": broadcast_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "STAMM_SECRET_KEY": "faults-secret-key-" + "x" * 40,
        "STAMM_DATA_KEY": base64.b64encode(b"k" * 32).decode(),
        "STAMM_ADMIN_EMAIL": ADMIN_EMAIL,
        "STAMM_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "STAMM_DEMO": "0",
        "STAMM_MIGRATE": "1",
        "STAMM_DATA_DIR": str(data_dir),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in os.environ:
            if name.startswith("STAMM_"):
                patch.delenv(name)
        for name, value in settings.items():
            patch.setenv(name, value)
        return Config.from_env()


class RedisServer:
    """One `redis-server` without persistence on a fixed loopback port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        assert not self.running, "redis-server is already running"
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while not self._answers_ping():
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server on port {self.port} did not answer PING")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the connected clients, like a crashed or OOM-killed Redis."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


async def request_once(
    live: LiveServer, token: str, request_id: str, status: str, within: float = 10.0
) -> dict[str, Any]:
    """The request as soon as it has `status` (the dispatch after a change runs in the background,
    after the mutation answered); as last read when it does not get there `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found: dict[str, Any] = (await live.call(token, REQUEST, id=request_id))["request"]
        if found["status"] == status or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


class SilentListener:
    """Accepts TCP connections on a loopback port and never reads or writes a byte."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def connections(self) -> int:
        return len(self._accepted)

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the socket closed: stop
            while True:
                self._accepted.append(self._socket.accept()[0])

    def __enter__(self) -> SilentListener:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        # close() alone does not wake a thread blocked in accept(): the join would wait out its
        # timeout. shutdown() makes that accept() fail at once, so the thread ends.
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(5)
        assert not self._thread.is_alive(), "the silent listener's accept thread did not end"
        for accepted in self._accepted:
            accepted.close()
