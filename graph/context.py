"""The per-request context: who is asking (resolved lazily) and batched loaders."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from domain.errors import Unauthenticated
from domain.model import ANONYMOUS, Client, Counsellor, PrimaryCounsellorChange, Role, SessionClaims, Viewer
from domain.model import Request as ClientRequest
from domain.ports import Page
from domain.use_cases import Deps, reads
from domain.use_cases.accounts import Caller, current_viewer
from graph.auth import TokenSigner, bearer_token
from graph.file_links import FileLinks


@dataclass
class AppState:
    """What the app holds for its lifetime (set up in the lifespan)."""

    deps: Deps
    signer: TokenSigner
    bus: Any  # persistence.event_bus.EventBus; typed loosely so tests can swap it
    presence: Any = None  # graph.presence_keeper.PresenceKeeper, when subscriptions count as alive
    # Signs document download links; the composition root derives its key from STAMM_SECRET_KEY.
    links: FileLinks = field(default_factory=lambda: FileLinks(secrets.token_bytes(32)))
    observer: Any = None  # graph.metrics.PrometheusObserver, when the app serves /metrics
    live: Any = None  # graph.live.LiveView; made on first use when the composition root made none


class Loaders:
    """DataLoaders for one HTTP request or one subscription event (never longer: data goes stale)."""

    def __init__(self, deps: Deps) -> None:
        self.counsellor = DataLoader[int, Counsellor | None](self._by_key(reads.counsellors_by_id, deps))
        self.client = DataLoader[int, Client | None](self._by_key(reads.clients_by_id, deps))
        self.holders = DataLoader[int, set[int]](self._by_key(reads.holders_by_client, deps, set()))
        self.history = DataLoader[int, list[PrimaryCounsellorChange]](self._by_key(reads.histories, deps, []))
        self.first_requests = DataLoader[tuple[int, int, Viewer], Page[ClientRequest]](
            self._first_pages(deps)
        )
        self.open_requests = DataLoader[tuple[int, Viewer], int](self._open_counts(deps))
        self.last_request = DataLoader[int, Any](self._by_key(reads.last_request_times, deps))
        self.primary_counts = DataLoader[int, int](self._by_key(reads.primary_client_counts, deps, 0))

    @staticmethod
    def _open_counts(deps: Deps) -> Any:
        """Open requests per client the viewer may see, batched per viewer."""

        async def load(keys: Sequence[tuple[int, Viewer]]) -> list[int]:
            groups: dict[Viewer, list[int]] = {}
            for client_id, viewer in keys:
                groups.setdefault(viewer, []).append(client_id)
            counts: dict[tuple[int, Viewer], int] = {}
            for viewer, client_ids in groups.items():
                found = await reads.open_request_counts(deps, viewer, client_ids)
                counts.update({(c, viewer): found.get(c, 0) for c in client_ids})
            return [counts[key] for key in keys]

        return load

    @staticmethod
    def _first_pages(deps: Deps) -> Any:
        """First pages of clients' requests, batched per (viewer, page size)."""

        async def load(keys: Sequence[tuple[int, int, Viewer]]) -> list[Page[ClientRequest]]:
            groups: dict[tuple[int, Viewer], list[int]] = {}
            for client_id, first, viewer in keys:
                groups.setdefault((first, viewer), []).append(client_id)
            pages: dict[tuple[int, int, Viewer], Page[ClientRequest]] = {}
            for (first, viewer), client_ids in groups.items():
                found = await reads.first_request_pages(deps, viewer, client_ids, first)
                pages.update({(c, first, viewer): found[c] for c in client_ids})
            return [pages[key] for key in keys]

        return load

    @staticmethod
    def _by_key(fetch: Any, deps: Deps, missing: Any = None) -> Any:
        async def load(keys: Sequence[int]) -> list[Any]:
            found = await fetch(deps, list(keys))
            return [found.get(k, missing) for k in keys]

        return load


class Context:
    """Strawberry sets `connection_params` from the websocket's connection_init payload."""

    def __init__(self, state: AppState, request: Request | WebSocket) -> None:
        self.state = state
        self.request = request
        self.connection_params: dict[str, Any] | None = None
        self._loaders: Loaders | None = None
        self._viewer: Viewer | None = None

    @property
    def deps(self) -> Deps:
        return self.state.deps

    @property
    def loaders(self) -> Loaders:
        """Made when first used: most subscription events need none."""
        if self._loaders is None:
            self._loaders = Loaders(self.state.deps)
        return self._loaders

    def fresh_loaders(self) -> None:
        """New loaders for one subscription event (the connection's context lives long)."""
        self._loaders = None

    def _authorization(self) -> object:
        if isinstance(self.request, WebSocket):
            params = self.connection_params or {}
            return params.get("Authorization", params.get("authorization"))
        return self.request.headers.get("authorization")

    async def viewer(self) -> Viewer:
        """Who is asking; UNAUTHENTICATED for an invalid, expired or revoked token."""
        caller = self.caller()
        return caller if isinstance(caller, Viewer) else await self._check(caller)

    async def _check(self, claims: SessionClaims) -> Viewer:
        self._viewer = await current_viewer(self.deps, claims)
        return self._viewer

    def caller(self) -> Caller:
        """Who is asking, for a use case that checks the session in its own transaction
        (accounts.viewer_in; one transaction less). Pass the viewer it returns to `checked`.

        UNAUTHENTICATED for an invalid or expired token; a websocket's session is checked anew
        by every operation, an HTTP request's once."""
        if self._viewer is not None and not isinstance(self.request, WebSocket):
            return self._viewer
        token = bearer_token(self._authorization())
        return ANONYMOUS if token is None else self.state.signer.read(token)

    async def viewer_checked_by_use_case(self) -> Viewer:
        """Who is asking, for a use case that checks a client's session in its own transaction
        (submit_request: the check rides on its first statement instead of costing one more).

        A client token is read without the database; staff and anonymous callers are checked as
        by `viewer` (a staff role is read from the account). Pass the viewer to `checked` once
        the use case has succeeded."""
        if isinstance(self.request, WebSocket):
            return await self.viewer()
        caller = self.caller()
        if isinstance(caller, Viewer):
            return caller
        if caller.role is not Role.CLIENT:
            return await self._check(caller)
        return Viewer(
            Role.CLIENT,
            client_id=caller.account_id,
            token_id=caller.token_id,
            expires_at=caller.expires_at,
            session_generation=caller.generation,
        )

    def checked(self, viewer: Viewer) -> None:
        """A use case checked this viewer's session: later fields of the request need not."""
        if not isinstance(self.request, WebSocket):
            self._viewer = viewer

    @property
    def address(self) -> str | None:
        """The caller's network address (behind a proxy: the proxy's, unless it is trusted)."""
        return self.request.client.host if self.request.client else None

    async def signed_in(self) -> Viewer:
        viewer = await self.viewer()
        if viewer.is_anonymous:
            raise Unauthenticated("Sign in first.")
        return viewer


GraphInfo = Info[Context, None]
