"""Abuse limits under parallel bursts (issue 8.4): an attempt is counted, committed, before the
password hash is computed or checked, a refused attempt stays counted, and no burst passes a limit.

Use cases run on the real database with the attempts counted in the database and in Redis; one
test sends its bursts through the HTTP API of a live server. A counting hasher tells how many
password checks (argon2 in production) actually ran.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from domain.errors import DomainError
from domain.limits import Limits
from domain.model import Channel, Viewer
from domain.ports import Throttle
from domain.throttling import StoredThrottle
from domain.use_cases import Deps
from domain.use_cases.accounts import login, register_client
from domain.use_cases.counsellors import NewCounsellor, add_counsellor
from domain.use_cases.requests import submit_request
from persistence.crypto import TextCipher
from persistence.database import Engines
from persistence.event_bus import EventBus
from persistence.redis_throttle import RedisThrottle
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.e2e.support import ADMIN_EMAIL, e2e_config, free_port, start_server, stop_server
from tests.fakes import FixedClock, PlainHasher
from tests.security.support import post_json
from tests.services import REDIS_URL, REQUIRED, Backend, unique_name

LIMITS = Limits(
    login_failures_per_account=5,
    login_failures_per_address=20,
    login_window_seconds=900,
    submits_per_hour=3,
    open_requests_per_client=100,
    registrations_per_address_per_hour=10,
)
PASSWORD = "burst-password-1"
WRONG = "wrong-password-1"
ADDRESS = "203.0.113.7"
OTHER_ADDRESS = "198.51.100.9"


class CountingHasher:
    """The plain test hasher, counting how many hashes and checks ran (from worker threads)."""

    def __init__(self, inner: Any = None) -> None:
        self._inner = inner or PlainHasher()
        self._lock = threading.Lock()
        self.hashes = 0
        self.verifications = 0

    def hash(self, password: str) -> str:
        with self._lock:
            self.hashes += 1
        return str(self._inner.hash(password))

    def verify(self, password_hash: str, password: str) -> bool:
        with self._lock:
            self.verifications += 1
        return bool(self._inner.verify(password_hash, password))

    def reset(self) -> None:
        with self._lock:
            self.hashes = self.verifications = 0


@pytest.fixture
def uow(engines: Engines, bus: EventBus) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engines, bus.publish, TextCipher(secrets.token_bytes(32)))


@pytest.fixture(params=["database", "redis"])
async def throttle(
    request: pytest.FixtureRequest, uow: SqlUnitOfWorkFactory
) -> AsyncIterator[Throttle | None]:
    """Where attempts are counted: None is the database (the default), else a Redis of its own."""
    if request.param == "database":
        yield None
        return
    if not REDIS_URL:
        if REQUIRED:
            pytest.fail("STAMM_REQUIRE_SERVICES=1 but TEST_REDIS_URL is unset")
        pytest.skip("TEST_REDIS_URL is unset")
    found = RedisThrottle(REDIS_URL, unique_name("stamm.test"), StoredThrottle(uow))
    try:
        yield found
    finally:
        await found.close()


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def deps(
    uow: SqlUnitOfWorkFactory, clock: FixedClock, hasher: CountingHasher, throttle: Throttle | None
) -> Deps:
    return Deps(uow=uow, clock=clock, hasher=hasher, limits=LIMITS, throttle=throttle)


async def burst(attempts: list[Awaitable[Any]]) -> list[Any]:
    """Run the attempts at once; each result is a value or the DomainError it raised."""
    results = await asyncio.gather(*attempts, return_exceptions=True)
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, DomainError)]
    assert not unexpected, unexpected
    return results


def codes(results: list[Any]) -> Counter[str]:
    return Counter(r.code if isinstance(r, DomainError) else "OK" for r in results)


def refusals(results: list[Any]) -> list[DomainError]:
    return [r for r in results if isinstance(r, DomainError) and r.code == "RATE_LIMITED"]


async def counsellor_email(deps: Deps, hasher: CountingHasher) -> str:
    email = f"{unique_name('burst')}@example.org"
    await add_counsellor(deps, NewCounsellor(email=email, password=PASSWORD, display_name="Burst"))
    hasher.reset()
    return email


# Sign-in ---------------------------------------------------------------------------------------


async def test_thirty_parallel_wrong_passwords_check_at_most_five(
    deps: Deps, hasher: CountingHasher, clock: FixedClock
) -> None:
    email = await counsellor_email(deps, hasher)

    results = await burst([login(deps, email, WRONG) for _ in range(30)])

    assert hasher.verifications == 5
    assert codes(results) == {"UNAUTHENTICATED": 5, "RATE_LIMITED": 25}
    for refused in refusals(results):
        assert refused.extensions == {"retryAfterSeconds": 900}
        assert refused.message == "Too many failed sign-ins; try again in 15 minutes."
    # The right password waits as long as the message said, and costs no check meanwhile.
    clock.advance(899)
    with pytest.raises(DomainError) as still:
        await login(deps, email, PASSWORD)
    assert (still.value.code, still.value.extensions) == ("RATE_LIMITED", {"retryAfterSeconds": 1})
    assert "try again in 1 second." in still.value.message
    assert hasher.verifications == 5
    clock.advance(1)
    assert (await login(deps, email, PASSWORD)).counsellor_id is not None


async def test_an_unknown_e_mail_is_limited_alike(deps: Deps, hasher: CountingHasher) -> None:
    results = await burst([login(deps, "nobody@example.org", WRONG) for _ in range(30)])
    assert hasher.verifications == 5  # each a check against the dummy hash
    assert codes(results) == {"UNAUTHENTICATED": 5, "RATE_LIMITED": 25}


async def test_parallel_attempts_from_one_address_check_at_most_twenty(
    deps: Deps, hasher: CountingHasher
) -> None:
    emails = [f"{unique_name('spread')}@example.org" for _ in range(40)]

    results = await burst([login(deps, email, WRONG, ADDRESS) for email in emails])

    assert hasher.verifications == 20
    assert codes(results) == {"UNAUTHENTICATED": 20, "RATE_LIMITED": 20}
    assert {r.extensions["retryAfterSeconds"] for r in refusals(results)} == {900}
    # An e-mail refused for its address was not counted against itself: from elsewhere it has all five.
    refused_email = next(
        e
        for e, r in zip(emails, results, strict=True)
        if isinstance(r, DomainError) and r.code == "RATE_LIMITED"
    )
    hasher.reset()
    again = await burst([login(deps, refused_email, WRONG, OTHER_ADDRESS) for _ in range(8)])
    assert hasher.verifications == 5
    assert codes(again) == {"UNAUTHENTICATED": 5, "RATE_LIMITED": 3}


async def test_a_successful_sign_in_uncounts_itself_and_forgives_the_e_mails_failures(
    deps: Deps, hasher: CountingHasher
) -> None:
    email = await counsellor_email(deps, hasher)
    for _ in range(4):
        with pytest.raises(DomainError, match="wrong"):
            await login(deps, email, WRONG, ADDRESS)
    # Twenty-five sign-ins from an address that allows twenty failures: successes are not failures.
    for _ in range(25):
        assert isinstance(await login(deps, email, PASSWORD, ADDRESS), Viewer)
    results = await burst([login(deps, email, WRONG, ADDRESS) for _ in range(5)])
    assert codes(results) == {"UNAUTHENTICATED": 5}  # the four earlier typos were forgiven


# Registration ----------------------------------------------------------------------------------


async def test_refused_registrations_count_and_no_burst_passes_ten(
    deps: Deps, hasher: CountingHasher
) -> None:
    taken = f"{unique_name('taken')}@example.org"
    await register_client(deps, "Erste", taken, PASSWORD, None)  # no address: not limited
    hasher.reset()

    results = await burst(
        [register_client(deps, "Wieder", taken, PASSWORD, None, origin=ADDRESS) for _ in range(15)]
    )

    assert codes(results) == {"CONFLICT": 10, "RATE_LIMITED": 5}
    assert hasher.hashes == 10  # refused attempts hash nothing
    for refused in refusals(results):
        assert refused.extensions == {"retryAfterSeconds": 3600}
        assert refused.message == "Too many registrations from this address; try again in 60 minutes."
    # The ten CONFLICT answers used up the address's hour: a free e-mail is refused too.
    with pytest.raises(DomainError) as refused_new:
        await register_client(deps, "Neu", f"{unique_name('free')}@example.org", PASSWORD, None, ADDRESS)
    assert refused_new.value.code == "RATE_LIMITED"
    assert hasher.hashes == 10
    viewer = await register_client(
        deps, "Neu", f"{unique_name('free')}@example.org", PASSWORD, None, OTHER_ADDRESS
    )
    assert viewer.client_id is not None


# Submits ---------------------------------------------------------------------------------------


async def _client(deps: Deps) -> Viewer:
    return await register_client(deps, "Flut", f"{unique_name('flood')}@example.org", PASSWORD, None)


async def _stored_requests(deps: Deps, client_id: int) -> int:
    async with deps.uow(write=False) as uow:
        return await uow.requests.count_of_client(client_id, None, open_only=False)


@pytest.mark.parametrize("throttle", ["database"], indirect=True)
async def test_parallel_submits_stay_within_the_hourly_limit(deps: Deps, clock: FixedClock) -> None:
    client = await _client(deps)

    results = await burst(
        [submit_request(deps, client, Channel.MAIL, f"Anfrage {i}", None, None) for i in range(10)]
    )

    assert codes(results) == {"OK": 3, "RATE_LIMITED": 7}
    assert client.client_id is not None and await _stored_requests(deps, client.client_id) == 3
    for refused in refusals(results):
        assert refused.extensions == {"retryAfterSeconds": 3600}
        assert refused.message == "At most 3 requests an hour; try again in 60 minutes."
    clock.advance(1800)
    with pytest.raises(DomainError) as later:
        await submit_request(deps, client, Channel.MAIL, "später", None, None)
    assert later.value.extensions == {"retryAfterSeconds": 1800}


@pytest.mark.parametrize("throttle", ["database"], indirect=True)
async def test_parallel_submits_stay_within_the_open_request_limit(deps: Deps) -> None:
    deps.limits = dataclasses.replace(LIMITS, submits_per_hour=100, open_requests_per_client=3)
    client = await _client(deps)

    results = await burst(
        [submit_request(deps, client, Channel.MAIL, f"Anfrage {i}", None, None) for i in range(10)]
    )

    assert codes(results) == {"OK": 3, "RATE_LIMITED": 7}
    assert client.client_id is not None and await _stored_requests(deps, client.client_id) == 3


# Redis out of reach ------------------------------------------------------------------------------


@pytest.mark.parametrize("throttle", ["database"], indirect=True)
async def test_while_redis_is_out_of_reach_attempts_are_counted_in_the_database(
    deps: Deps, hasher: CountingHasher
) -> None:
    """Sign-in keeps working during a Redis outage, and stays limited."""
    unreachable = RedisThrottle("redis://127.0.0.1:1/0", "stamm.test", StoredThrottle(deps.uow), 0.5)
    deps.throttle = unreachable
    email = await counsellor_email(deps, hasher)
    try:
        results = await burst([login(deps, email, WRONG, ADDRESS) for _ in range(8)])
        assert codes(results) == {"UNAUTHENTICATED": 5, "RATE_LIMITED": 3}
        assert hasher.verifications == 5
        deps.throttle = None  # the database alone sees the same five
        with pytest.raises(DomainError) as refused:
            await login(deps, email, PASSWORD)
        assert refused.value.code == "RATE_LIMITED"
    finally:
        await unreachable.close()


# Over HTTP -------------------------------------------------------------------------------------

LOGIN = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
REGISTER = "mutation ($input: RegisterClientInput!) { registerClient(input: $input) { token } }"


@pytest.mark.e2e
async def test_bursts_over_http_are_refused_with_the_real_wait(
    backend: Backend, database_url: str, tmp_path: Path
) -> None:
    """Default limits, a real server: on PostgreSQL with Redis the attempts are counted in Redis."""
    port = free_port()
    config = dataclasses.replace(e2e_config(database_url, backend.bus_url, port, tmp_path), limits=Limits())
    live = start_server(config, port)
    try:
        counting = CountingHasher(live.app.state.stamm.deps.hasher)
        live.app.state.stamm.deps.hasher = counting

        logins = await asyncio.gather(
            *[
                post_json(live, {"query": LOGIN, "variables": {"e": ADMIN_EMAIL, "p": WRONG}})
                for _ in range(12)
            ]
        )
        errors = [e for r in logins for e in r.json()["errors"]]
        assert Counter(e["extensions"]["code"] for e in errors) == {"UNAUTHENTICATED": 5, "RATE_LIMITED": 7}
        assert counting.verifications == 5
        for error in (e for e in errors if e["extensions"]["code"] == "RATE_LIMITED"):
            assert 890 <= error["extensions"]["retryAfterSeconds"] <= 900, error
            assert error["message"] == "Too many failed sign-ins; try again in 15 minutes."

        register = {"displayName": "Doppelt", "email": ADMIN_EMAIL, "password": PASSWORD}
        registrations = await asyncio.gather(
            *[post_json(live, {"query": REGISTER, "variables": {"input": register}}) for _ in range(15)]
        )
        errors = [e for r in registrations for e in r.json()["errors"]]
        assert Counter(e["extensions"]["code"] for e in errors) == {"CONFLICT": 10, "RATE_LIMITED": 5}
        assert counting.hashes == 10
        for error in (e for e in errors if e["extensions"]["code"] == "RATE_LIMITED"):
            assert 3590 <= error["extensions"]["retryAfterSeconds"] <= 3600, error
    finally:
        stop_server(live)
