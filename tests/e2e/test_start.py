"""`python -m graph.main` as a process, the way the image and compose start it: empty unless the
demo is asked for (only `make run` asks), a word on how to create the first admin when nobody can
sign in, a banner that tells the truth about GraphiQL, and a bad setting refused in one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bootstrap.wiring import FIRST_ADMIN_HINT
from graph.demo import DEMO_ADMIN, DEMO_PASSWORD
from tests.e2e.support import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


@dataclass
class Output:
    stdout: str
    stderr: str


def _environment(folder: Path, port: int, database_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAMM_", "TEST_"))}
    env.update(
        DATABASE_URL=database_url,
        BROADCAST_URL="memory://",
        HOST="127.0.0.1",
        PORT=str(port),
        STAMM_DATA_DIR=str(folder),
        PYTHONUNBUFFERED="1",
        **settings,
    )
    for name in ("STAMM_DEMO",):  # the start's own default, unless the test names it
        if name not in settings:
            env.pop(name, None)
    return env


def _serve(folder: Path, database_url: str, **settings: str) -> tuple[Output, str]:
    """Start, wait for /readyz, sign in as the demo admin, stop: the output and the sign-in's answer."""
    port = free_port()
    out, err = folder / "stdout", folder / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "graph.main"],
            cwd=ROOT,
            env=_environment(folder, port, database_url, **settings),
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    try:
        answer = _demo_sign_in(process, f"http://127.0.0.1:{port}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    return Output(out.read_text(), err.read_text()), answer


def _demo_sign_in(process: subprocess.Popen[bytes], base_url: str) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=5, trust_env=False) as http:
        while True:
            assert process.poll() is None, "the server exited during start-up"
            assert time.monotonic() < deadline, "the server did not get ready"
            try:
                if http.get(f"{base_url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        query = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { me { role } } }"
        response = http.post(
            f"{base_url}/graphql", json={"query": query, "variables": {"e": DEMO_ADMIN, "p": DEMO_PASSWORD}}
        )
        return response.text


def test_a_bad_setting_stops_the_start_with_one_line(tmp_path: Path) -> None:
    env = _environment(
        tmp_path, free_port(), f"sqlite+aiosqlite:///{tmp_path / 'stamm.db'}", STAMM_TOKEN_TTL_SECONDS="8h"
    )
    done = subprocess.run(
        [sys.executable, "-m", "graph.main"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "STAMM_TOKEN_TTL_SECONDS" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "stamm.db").exists()  # refused before touching anything


async def test_a_start_without_settings_is_empty_and_says_how_to_create_the_first_admin(
    database_url: str, tmp_path: Path
) -> None:
    output, sign_in = _serve(tmp_path, database_url, STAMM_INTROSPECTION="0")
    assert "INVALID_CREDENTIALS" in sign_in or "UNAUTHENTICATED" in sign_in, sign_in
    assert "Demo data seeded" not in output.stdout
    assert FIRST_ADMIN_HINT in output.stderr
    assert output.stderr.count(FIRST_ADMIN_HINT) == 1
    assert "GraphiQL and introspection are off" in output.stdout
    assert "GraphiQL:" not in output.stdout


async def test_the_demo_is_seeded_only_when_asked_for(database_url: str, tmp_path: Path) -> None:
    output, sign_in = _serve(tmp_path, database_url, STAMM_DEMO="1")
    assert '"role":"ADMIN"' in sign_in.replace(" ", ""), sign_in
    assert f"{DEMO_ADMIN} / {DEMO_PASSWORD}" in output.stdout
    assert FIRST_ADMIN_HINT not in output.stderr
    assert "GraphiQL: http://127.0.0.1:" in output.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_seeds_the_demo_and_installs_only_the_service() -> None:
    """`make -n` prints the commands without running them (pip only when the stamp is stale)."""
    env = {k: v for k, v in os.environ.items() if k != "STAMM_DEMO"}
    planned = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "STAMM_DEMO=1 .venv/bin/python -m graph.main" in planned
    assert "[dev]" not in planned
