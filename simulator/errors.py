"""Domain errors raised by the modules; the HTTP layer turns them into 4xx JSON."""


class SimulatorError(Exception):
    """Base class: carries the HTTP status and a short machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Invalid(SimulatorError):
    """The request names things correctly but asks for something malformed."""

    status = 400
    code = "invalid"


class NotFound(SimulatorError):
    """The request names a source, job, destination, entry or route that does not exist."""

    status = 404
    code = "not_found"


class Conflict(SimulatorError):
    """The request is well formed but the thing it acts on is in the wrong state."""

    status = 409
    code = "conflict"


class Unauthorized(SimulatorError):
    """An admin endpoint was called without the configured bearer token."""

    status = 401
    code = "unauthorized"


class MethodNotAllowed(SimulatorError):
    """The path exists but not for this method."""

    status = 405
    code = "method_not_allowed"


class TooLarge(SimulatorError):
    """The request body is over the limit."""

    status = 413
    code = "payload_too_large"
