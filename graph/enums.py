"""The domain's enums, exposed under the contract's names (strawberry marks them in place)."""

import strawberry

from domain.model import (
    AccountStatus,
    AssignmentSource,
    Channel,
    InvitationStatus,
    MailAvailability,
    OnlineStatus,
    RequestStatus,
    Role,
    RoutingReason,
    StaffRole,
)
from domain.ports import ClientOrder

for _enum in (
    AccountStatus,
    ClientOrder,
    AssignmentSource,
    Channel,
    InvitationStatus,
    MailAvailability,
    OnlineStatus,
    RequestStatus,
    Role,
    RoutingReason,
    StaffRole,
):
    strawberry.enum(_enum)

__all__ = [
    "AccountStatus",
    "AssignmentSource",
    "Channel",
    "ClientOrder",
    "InvitationStatus",
    "MailAvailability",
    "OnlineStatus",
    "RequestStatus",
    "Role",
    "RoutingReason",
    "StaffRole",
]
