"""API servers as real subprocesses (`python -m graph.main`, `python -m bench.floor_app`)."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import NotReady, ServerProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0


GC_PROBE = """
# Written by the benchmark (--gc-log): logs each garbage collection that pauses the process >= 20 ms.
import gc, sys, time
_started = [0.0]
def _stamm_bench_gc(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    pause = time.perf_counter() - _started[0]
    if pause >= 0.02:
        sys.stderr.write(
            f"STAMM_BENCH_GC gen={info['generation']} ms={pause * 1000:.1f} collected={info['collected']}\\n"
        )
gc.callbacks.append(_stamm_bench_gc)
"""


@dataclass
class ServerEnv:
    """What every server process of one benchmark run shares."""

    database_url: str
    broadcast_url: str
    secret_key: str
    log_dir: Path
    gc_log: bool = False

    def gc_probe_dir(self) -> Path:
        folder = self.log_dir / "gcprobe"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "sitecustomize.py").write_text(GC_PROBE)
        return folder

    def environment(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STAMM_")}
        env.update(
            HOST="127.0.0.1",
            PORT=str(port),
            DATABASE_URL=self.database_url,
            BROADCAST_URL=self.broadcast_url,
            STAMM_SECRET_KEY=self.secret_key,
            # Every process must read what the others encrypted.
            STAMM_DATA_KEY=base64.b64encode(self.secret_key.encode()[:32].ljust(32, b"k")).decode(),
            STAMM_DEMO="0",
            # The benchmark migrated its database already; two processes need not race to do it.
            STAMM_MIGRATE="0",
            STAMM_DATA_DIR=str(self.log_dir / "data"),
            PYTHONUNBUFFERED="1",
        )
        if self.gc_log:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(self.gc_probe_dir()), env.get("PYTHONPATH")) if p
            )
        return env


class Server(ServerProcess):
    """One server subprocess (tests.support.server); its output goes to <log_dir>/<name>.log."""

    def __init__(self, name: str, module: str, env: ServerEnv) -> None:
        port = free_port()
        super().__init__(name, env.environment(port), env.log_dir / f"{name}.log", module, port)

    # ServerProcess.start_async/stop_async call self.start/stop, which this class overrides as
    # coroutines: call the blocking ones of ServerProcess directly.
    async def start(self) -> None:  # type: ignore[override]
        try:
            await asyncio.to_thread(ServerProcess.start, self, READY_TIMEOUT)
        except NotReady as exc:
            raise RuntimeError(str(exc)) from None

    async def stop(self) -> None:  # type: ignore[override]
        await asyncio.to_thread(ServerProcess.stop, self)


async def _ended(process: subprocess.Popen[bytes], grace: float) -> None:
    """Wait up to `grace` seconds for `process` to end, then kill it (this one process only)."""
    try:
        await asyncio.to_thread(process.wait, grace)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.wait)


def gc_pauses(log_dir: Path, since: dict[str, int] | None = None) -> tuple[list[float], dict[str, int]]:
    """Pauses (ms) the servers logged with --gc-log after the line counts in `since`; new counts."""
    pauses: list[float] = []
    counts: dict[str, int] = {}
    for log in sorted(log_dir.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        counts[log.name] = len(lines)
        for line in lines[(since or {}).get(log.name, 0) :]:
            if line.startswith("STAMM_BENCH_GC "):
                fields = dict(part.split("=", 1) for part in line.split()[1:])
                pauses.append(float(fields["ms"]))
    return pauses, counts


def api_server(name: str, env: ServerEnv) -> Server:
    return Server(name, "graph.main", env)


def floor_server(name: str, env: ServerEnv) -> Server:
    return Server(name, "bench.floor_app", env)


class Profiler:
    """Optional py-spy recordings (`--profile DIR`): one per server process and phase."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._running: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def _py_spy() -> str | None:
        candidate = Path(sys.executable).parent / "py-spy"
        return str(candidate) if candidate.exists() else None

    def start(self, phase: str, servers: list[Server]) -> None:
        if self.directory is None:
            return
        py_spy = self._py_spy()
        if py_spy is None:
            print("  (py-spy is not installed in the venv; no profile)")
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        for server in servers:
            # Collapsed stacks ("raw"): grep-able, and flamegraph.pl or speedscope draw them.
            out = self.directory / f"{phase}-{server.name}.txt"
            command = [py_spy, "record", "--pid", str(server.pid), "--rate", "100", "--format", "raw"]
            self._running.append(
                subprocess.Popen(
                    [*command, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )

    async def stop(self) -> None:
        running, self._running = self._running, []
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in running:
            await _ended(process, 20)
