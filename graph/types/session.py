"""Who is signed in: the viewer and their session."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph import enums
from graph.types.client import Client
from graph.types.counsellor import Counsellor


@strawberry.type(description="Who is asking: exactly one of counsellor and client is set.")
class Viewer:
    role: enums.Role
    counsellor: Counsellor | None
    client: Client | None


@strawberry.type
class Session:
    token: str = strawberry.field(
        description='Send as `Authorization: Bearer <token>`, or as {"Authorization": "Bearer <token>"} in the websocket connection_init payload.'
    )
    expires_at: datetime
    me: Viewer
