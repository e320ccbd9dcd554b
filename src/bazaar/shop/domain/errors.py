"""The shop's one exception tree. The API maps each class to an HTTP problem, once."""

from __future__ import annotations


class ShopError(Exception):
    """Base of every error the shop raises on purpose."""

    #: Whether the same request may succeed if the client simply tries again.
    retryable = False


class InvalidInput(ShopError):
    """A value broke a rule; ``field`` names it (dotted path, e.g. ``lines.0.quantity``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(ShopError):
    """No such thing (or not visible to the caller)."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class SoldOut(ShopError):
    """Not enough stock or room nights left for the request. Final: retrying will not help."""

    def __init__(self, kind: str, key: object, requested: int, available: int) -> None:
        super().__init__(
            f"{kind} {key} is sold out: requested {requested}, available {available}")
        self.kind = kind
        self.key = key
        self.requested = requested
        self.available = available


class NotHeld(ShopError):
    """More given back than is held: ``returned`` rooms of ``key`` when only ``held`` are
    taken — a double give-back. Never a client's mistake (the reservation's status and the
    version checks stop a second cancel), so it is raised, the transaction rolls back and the
    books stay as they were, and the service that catches it logs it as an error."""

    def __init__(self, kind: str, key: object, returned: int, held: int) -> None:
        super().__init__(f"{kind} {key}: giving back {returned} when {held} are held (a double "
                         "give-back); nothing was changed")
        self.kind = kind
        self.key = key
        self.returned = returned
        self.held = held


class RetryableConflict(ShopError):
    """A concurrent writer won this round (version check, lock timeout, deadlock): retry."""

    retryable = True


class StateConflict(ShopError):
    """The request conflicts with the current state (already cancelled, name taken).
    ``reason`` is a short machine-readable word for it (``checking_out``, ``cancelled``)."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class IdempotencyKeyReused(ShopError):
    """The same ``Idempotency-Key`` was sent before with a different request body."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different request; "
            "use a new key for a new order")
        self.key = key


class Forbidden(ShopError):
    """The caller is known but lacks the scope for this operation."""


class Unavailable(ShopError):
    """The database cannot be reached right now; nothing was written."""

    retryable = True

    def __init__(self, message: str, retry_after_s: int = 2) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
