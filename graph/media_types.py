"""The media type of a GraphQL response over HTTP, chosen from the request's Accept header.

GraphQL over HTTP: `application/graphql-response+json` when the client asks for it; the legacy
`application/json` without an Accept header and for wildcards; None when the client accepts
neither, which the transport answers with 406.
"""

from __future__ import annotations

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

# What each acceptable media range offers, and how specific it is (a tie in quality goes to the
# more specific range, so "application/graphql-response+json, application/json" picks the first).
_OFFERS = {
    GRAPHQL_RESPONSE_JSON: (GRAPHQL_RESPONSE_JSON, 2),
    JSON: (JSON, 1),
    "application/*": (JSON, 0),
    "*/*": (JSON, 0),
}


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def response_media_type(accept: str | None) -> str | None:
    """The supported media type the client prefers, or None when it accepts none of them."""
    if accept is None or not accept.strip():
        return JSON
    best: tuple[float, int, str] | None = None
    for media_range in accept.split(","):
        media, *params = media_range.split(";")
        offer = _OFFERS.get(media.strip().lower())
        quality = _quality(params)
        if offer is None or quality <= 0:
            continue
        candidate = (quality, offer[1], offer[0])
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best else None
