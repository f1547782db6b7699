"""A real server process on a free loopback port, as `make run` starts it: `python -m <module>`.

The process gets the environment it is given (documented settings only; the caller's STAMM_* and
TEST_* variables are not inherited), writes stdout and stderr to one log file, and counts as
started once GET /readyz answers 200. Used by tests/multiprocess, tests/e2e and bench/.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
# Bounds a failure only; a healthy process is ready within a few seconds.
STARTUP_TIMEOUT = 60.0
STOP_GRACE = 15.0
LOG_TAIL_LINES = 150


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_environment(port: int, settings: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without STAMM_*/TEST_* settings, plus HOST, PORT and `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAMM_", "TEST_"))}
    env.update(HOST="127.0.0.1", PORT=str(port), PYTHONUNBUFFERED="1")
    env.update(settings)
    return env


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log file)"
    cut = content[-lines:]
    skipped = len(content) - len(cut)
    return (f"... ({skipped} earlier lines in {path})\n" if skipped else "") + "\n".join(cut)


class NotReady(AssertionError):
    """The process ended or did not answer /readyz in time (the message carries its log)."""


@dataclass
class ServerProcess:
    """One server process; `settings` are its environment variables (DATABASE_URL, STAMM_...)."""

    name: str
    settings: Mapping[str, str]
    log_path: Path
    module: str = "graph.main"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def spawn(self) -> None:
        """Start the process (its log is appended to, so a restart keeps the earlier output)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                cwd=REPO_ROOT,
                env=server_environment(self.port, self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def _readiness(self, http: httpx.Client) -> str | None:
        """None once /readyz answers 200, else what it answered; NotReady if the process ended."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise NotReady(
                f"{self.name} exited with {self.process.returncode} during start-up\n{self.describe()}"
            )
        try:
            response = http.get(f"{self.base_url}/readyz")
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return None if response.status_code == 200 else f"{response.status_code} {response.text}"

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Block until /readyz answers 200; NotReady with the log when it does not in time."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as http:
            while (last := self._readiness(http)) is not None:
                if time.monotonic() > deadline:
                    raise NotReady(f"{self.name} not ready within {timeout} s ({last})\n{self.describe()}")
                time.sleep(0.05)

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        self.spawn()
        try:
            self.wait_ready(timeout)
        except NotReady:
            self.stop()
            raise

    async def start_async(self, within: float = STARTUP_TIMEOUT) -> None:
        await asyncio.to_thread(self.start, within)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL if it does not end within `grace`."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    async def stop_async(self, grace: float = STOP_GRACE) -> None:
        await asyncio.to_thread(self.stop, grace)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def describe(self) -> str:
        state = "not running"
        if self.process is not None:
            code = self.process.poll()
            state = f"pid {self.process.pid}, " + ("running" if code is None else f"exited with {code}")
        return f"--- process {self.name} (port {self.port}, {state}), log:\n{tail(self.log_path)}"
