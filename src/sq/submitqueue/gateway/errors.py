"""What the gateway refuses, each with an HTTP status and a stable code for clients."""

from __future__ import annotations


class GatewayError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidRequestError(GatewayError):
    status = 400
    code = "invalid_request"


class NotFoundError(GatewayError):
    status = 404
    code = "not_found"


class AlreadySettledError(GatewayError):
    status = 409
    code = "already_settled"


class UnavailableError(GatewayError):
    """A dependency (the message queue) failed; nothing the client sent was wrong."""

    status = 503
    code = "unavailable"
