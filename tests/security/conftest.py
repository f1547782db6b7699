"""Fixtures of the security tests: factories of live servers (see support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
