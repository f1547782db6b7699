"""Per-address limits count what one party controls: an IPv6 subscriber holds a whole /64, and a
dual-stack socket shows an IPv4 peer as ::ffff:a.b.c.d. Neither may yield fresh counters."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable

import pytest

from domain.errors import DomainError
from domain.throttling import network_of
from domain.use_cases import Deps
from domain.use_cases.accounts import login, register_client

PASSWORD = "address-password-1"


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1%eth0", "2001:db8:1:2::/64"),
        ("testclient", "testclient"),
    ],
)
def test_an_address_is_counted_by_the_network_one_party_controls(address: str, network: str) -> None:
    assert network_of(address) == network


async def outcomes(attempts: list[Awaitable[object]]) -> list[str]:
    found = []
    for attempt in attempts:
        try:
            await attempt
            found.append("OK")
        except DomainError as exc:
            found.append(exc.code)
    return found


async def test_sign_ins_from_one_ipv6_prefix_share_the_address_limit(deps: Deps) -> None:
    deps.limits = dataclasses.replace(
        deps.limits, login_failures_per_account=100, login_failures_per_address=3
    )
    addresses = [f"2001:db8:1:2::{n:x}" for n in range(1, 6)]
    found = await outcomes(
        [login(deps, f"u{n}@example.org", "wrong-password", a) for n, a in enumerate(addresses)]
    )
    assert found == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"] * 2
    # Another /64 has a counter of its own.
    assert await outcomes([login(deps, "u9@example.org", "wrong-password", "2001:db8:1:3::1")]) == [
        "UNAUTHENTICATED"
    ]


async def test_registrations_from_ipv4_and_its_mapped_form_share_the_address_limit(deps: Deps) -> None:
    deps.limits = dataclasses.replace(deps.limits, registrations_per_address_per_hour=2)
    origins = ["198.51.100.9", "::ffff:198.51.100.9", "::ffff:c633:6409"]
    found = await outcomes(
        [register_client(deps, "Kim", f"r{n}@example.org", PASSWORD, None, o) for n, o in enumerate(origins)]
    )
    assert found == ["OK", "OK", "RATE_LIMITED"]
