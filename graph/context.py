"""The per-request context: who is asking (resolved lazily) and batched loaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from domain.errors import Unauthenticated
from domain.model import ANONYMOUS, Client, Counsellor, PrimaryCounsellorChange, Viewer
from domain.model import Request as ClientRequest
from domain.ports import Page
from domain.use_cases import Deps, reads
from domain.use_cases.accounts import current_viewer
from graph.auth import TokenSigner, bearer_token


@dataclass
class AppState:
    """What the app holds for its lifetime (set up in the lifespan)."""

    deps: Deps
    signer: TokenSigner
    bus: Any  # persistence.event_bus.EventBus; typed loosely so tests can swap it
    presence: Any = None  # graph.presence_keeper.PresenceKeeper, when subscriptions count as alive
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
        if self._viewer is not None and not isinstance(self.request, WebSocket):
            return self._viewer
        token = bearer_token(self._authorization())
        if token is None:
            viewer = ANONYMOUS
        else:
            claims = self.state.signer.read(token)
            viewer = await current_viewer(
                self.deps,
                claims.role,
                claims.account_id,
                claims.token_id,
                claims.expires_at,
                claims.generation,
            )
        self._viewer = viewer
        return viewer

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
