"""Page sizes for connections."""

from domain.errors import BadUserInput

DEFAULT_PAGE = 20
MAX_PAGE = 100


def page_size(first: int | None) -> int:
    """`first`, by default 20; BAD_USER_INPUT outside 0..100 (large lists are slow to serialise)."""
    if first is None:
        return DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise BadUserInput(f"first must be between 0 and {MAX_PAGE}.", field="first")
    return first
