"""Abuse limits: how much one account or address may do in a window (configurable)."""

from __future__ import annotations

from dataclasses import dataclass

# Registrations are counted per address and hour.
REGISTRATION_WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class Limits:
    # Failed sign-ins before sign-in is refused for a while, per e-mail and per address.
    login_failures_per_account: int = 5
    login_failures_per_address: int = 20
    login_window_seconds: int = 900
    # A client's requests: per hour, and open (QUEUED or ASSIGNED) at once.
    submits_per_hour: int = 20
    open_requests_per_client: int = 3
    # Self-registrations per address and hour.
    registrations_per_address_per_hour: int = 10

    @property
    def longest_window_seconds(self) -> int:
        """No counted attempt older than this is in any window: the sweep deletes it."""
        return max(self.login_window_seconds, REGISTRATION_WINDOW_SECONDS)
