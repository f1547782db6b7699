"""Fixtures of the security tests: factories of live servers (see support.py), and the scene of the
permission tests (see scene.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.use_cases import Deps
from graph.context import AppState
from persistence.event_bus import EventBus
from tests.security.scene import SIGNER, Scene, WatchedBus, build_scene
from tests.security.support import Servers


@pytest.fixture
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Servers for one test, each on a fresh database."""
    found = Servers(tmp_path_factory.mktemp("security"))
    try:
        yield found
    finally:
        found.stop_all()


@pytest.fixture(scope="module")
def module_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Servers shared by a module's tests (which then use unique e-mails and touch no global state)."""
    found = Servers(tmp_path_factory.mktemp("security"))
    try:
        yield found
    finally:
        found.stop_all()


@pytest.fixture
async def scene(deps: Deps, bus: EventBus) -> Scene:
    """The scene, built through the use cases on the test's database."""
    raw, tokens = await build_scene(deps, SIGNER)
    return Scene(deps, AppState(deps=deps, signer=SIGNER, bus=WatchedBus(bus)), raw, tokens)
