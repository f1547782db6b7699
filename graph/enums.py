"""The domain's enums, exposed under the contract's names."""

import strawberry

from domain import model

Role = strawberry.enum(model.Role)
StaffRole = strawberry.enum(model.StaffRole)
Channel = strawberry.enum(model.Channel)
OnlineStatus = strawberry.enum(model.OnlineStatus)
MailAvailability = strawberry.enum(model.MailAvailability)
AccountStatus = strawberry.enum(model.AccountStatus)
InvitationStatus = strawberry.enum(model.InvitationStatus)
RequestStatus = strawberry.enum(model.RequestStatus)
RoutingReason = strawberry.enum(model.RoutingReason)
AssignmentSource = strawberry.enum(model.AssignmentSource)
