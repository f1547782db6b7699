"""How a RATE_LIMITED message states the wait."""

from __future__ import annotations

import pytest

from domain.throttling import wait_phrase


@pytest.mark.parametrize(
    ("seconds", "phrase"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (840, "14 minutes"),
        (900, "15 minutes"),
        (3600, "60 minutes"),
        (5401, "2 hours"),
    ],
)
def test_the_wait_is_rounded_up_to_the_unit_a_person_reads(seconds: int, phrase: str) -> None:
    assert wait_phrase(seconds) == phrase
