"""Whether a chat or mail from the viewer would be answered now."""

from __future__ import annotations

import strawberry

from graph.types.counsellor import CounsellorPresence
from graph.types.request import Request


@strawberry.type(description="Availability as the viewer may see it.")
class Availability:
    chat_available: bool = strawberry.field(
        description="A new chat request from the viewer would be delivered now."
    )
    mail_available: bool = strawberry.field(
        description="A new mail request from the viewer would be delivered now."
    )
    primary_counsellor: CounsellorPresence | None = strawberry.field(
        description="The viewer's primary counsellor; null for anonymous visitors and clients without one."
    )
    queued_request: Request | None = strawberry.field(
        default=None, description="The client's oldest QUEUED request, with its position and estimated wait."
    )
