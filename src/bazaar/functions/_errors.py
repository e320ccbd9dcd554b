"""One exception tree for the function platform; mapped to HTTP problems at the frontend."""

from __future__ import annotations


class FunctionsError(Exception):
    """Base of every error the function platform raises."""

    status = 500
    code = "ServiceException"


class InvalidRequest(FunctionsError):
    """Bad input: a malformed name, setting, package or event. Nothing was changed."""

    status = 400
    code = "InvalidParameterValueException"


class InvalidPackage(InvalidRequest):
    """The zip is unreadable, unsafe, too large, or has no handler module."""

    code = "InvalidZipFileException"


class PayloadTooLarge(InvalidRequest):
    """The event is larger than the platform accepts (6 MiB, as Lambda's sync limit)."""

    status = 413
    code = "RequestTooLargeException"


class ResourceNotFound(FunctionsError):
    """No such function, version, alias, package or dead letter."""

    status = 404
    code = "ResourceNotFoundException"


class Conflict(FunctionsError):
    """The resource already exists."""

    status = 409
    code = "ResourceConflictException"


class TooManyRequests(FunctionsError):
    """The function's concurrency limit is reached (Lambda answers 429 too)."""

    status = 429
    code = "TooManyRequestsException"


class NoCapacity(FunctionsError):
    """No registered worker host has room for another sandbox."""

    status = 503
    code = "ServiceUnavailableException"


class HostLost(FunctionsError):
    """The worker host running the invocation went away (crashed, killed, timed out)."""

    status = 502
    code = "ServiceException"


class Unauthorized(FunctionsError):
    """No valid token (401), or a token without the ``functions:admin`` scope (403)."""

    status = 401
    code = "UnauthorizedException"


class QueueError(FunctionsError):
    """The durable event queue could not be read or written."""


class InvalidRequestContent(InvalidRequest):
    """An invocation's payload is not JSON (Lambda's ``InvalidRequestContentException``)."""

    code = "InvalidRequestContentException"
