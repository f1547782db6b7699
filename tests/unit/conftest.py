"""Unit-test fixtures: use cases over in-memory fakes, a fixed clock, a fast hasher."""

from __future__ import annotations

import pytest

from domain.use_cases import Deps
from domain.use_cases.routing import Dispatcher
from tests.fakes import COUNTER_SECRET, FakeUnitOfWorkFactory, FixedClock, PlainHasher, settling


@pytest.fixture
def factory() -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def deps(factory: FakeUnitOfWorkFactory, clock: FixedClock) -> Deps:
    deps = Deps(uow=factory, clock=clock, hasher=PlainHasher(), counter_secret=COUNTER_SECRET)
    deps.dispatch = settling(Dispatcher(deps))
    return deps
