"""Errors a use case raises; the API maps each to its `extensions.code`."""


class DomainError(Exception):
    """Base of every expected error: its message is safe to show to the caller."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # More `extensions` of the API error, beyond code and field.
        self.extensions: dict[str, object] = {}


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class NotFound(DomainError):
    code = "NOT_FOUND"


class BadUserInput(DomainError):
    code = "BAD_USER_INPUT"


class Conflict(DomainError):
    code = "CONFLICT"


class EmailTaken(Conflict):
    """Another account holds the e-mail address: raised by a repository when the database's
    unique index refuses it; the use case names the field it came from."""

    def __init__(self) -> None:
        super().__init__("An account with this e-mail exists.")


class InvalidTransition(Conflict):
    """A request's state does not allow the change asked for (closing a closed one, ...).

    The request is always the one the operation's `id` argument names."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="id")


class TransactionAborted(Conflict):
    """The database rolled the transaction back to break a deadlock (or a serialization conflict)
    with a concurrent one: nothing of it was stored, and sending the same request again is safe.
    CONFLICT with `retryable: true` (docs/decisions.md: why not retried here)."""

    def __init__(self) -> None:
        super().__init__("A concurrent change got in the way and nothing was stored; send the request again.")
        self.extensions["retryable"] = True


class ServiceUnavailable(DomainError):
    code = "SERVICE_UNAVAILABLE"


class RateLimited(DomainError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after_seconds: int | None = None) -> None:
        super().__init__(message)
        if retry_after_seconds is not None:
            self.extensions["retryAfterSeconds"] = retry_after_seconds
