"""Limits on what one request may ask for: size, depth, tokens, aliases, introspection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)


@dataclass(frozen=True)
class ApiLimits:
    """Each limit's setting is STAMM_<NAME upper-cased> (bootstrap/settings.py); docs/security.md explains them."""

    max_depth: int = 12
    max_tokens: int = 2_000
    max_aliases: int = 30
    max_body_bytes: int = 256 * 1024
    # A document upload (multipart POST to /graphql) may carry a file this large.
    max_upload_bytes: int = 10 * 1024 * 1024
    introspection: bool = True
    ws_init_timeout_seconds: float = 10.0
    ws_max_subscriptions: int = 20

    def extensions(self) -> list[Callable[[], SchemaExtension] | type[SchemaExtension]]:
        # The limiters' rule classes are built once: a new class per request would defeat the
        # validation cache, which keys on the rules (a quarter of a request's CPU, measured).
        rules = [
            *QueryDepthLimiter(max_depth=self.max_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=self.max_aliases).validation_rules,
        ]
        found: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
            lambda: AddValidationRules(rules),
            lambda: MaxTokensLimiter(max_token_count=self.max_tokens),
        ]
        if not self.introspection:
            found.append(DisableIntrospection)
        return found


# What a multipart upload carries besides the file: the operation, the map, part headers, boundaries.
MULTIPART_OVERHEAD = 64 * 1024


def _uploading(scope: Scope) -> bool:
    """A multipart POST to the GraphQL endpoint with a token: the one request that may carry a
    document (graph/uploads.py refuses the same without a token before reading its body)."""
    headers = dict(scope["headers"])
    if scope["method"] != "POST" or scope["path"] != "/graphql" or b"authorization" not in headers:
        return False
    content_type = headers.get(b"content-type", b"")
    return content_type.split(b";")[0].strip().lower() == b"multipart/form-data"


class BodySizeLimit:
    """Answers 413 to an HTTP request whose body exceeds the limit, before anything parses it and
    while it streams in: `max_bytes`, or for an upload the file limit plus the multipart overhead."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int = 0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes + MULTIPART_OVERHEAD if upload_bytes else 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = max(self.max_bytes, self.upload_bytes) if _uploading(scope) else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(send)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    body = (
        b'{"errors":[{"message":"The request body is too large.","extensions":{"code":"PAYLOAD_TOO_LARGE"}}]}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
