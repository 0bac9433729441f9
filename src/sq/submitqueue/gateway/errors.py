"""What the gateway refuses, each with an HTTP status and a stable code for clients."""

from __future__ import annotations

from sq.platform.errs import RETRY_AFTER_S


class GatewayError(Exception):
    status = 500
    code = "internal"
    retry_after_s: int | None = None

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def headers(self) -> dict[str, str] | None:
        """`Retry-After` when the client should try again later."""
        return None if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}


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
    """A dependency (the message queue) failed; nothing the client sent was wrong: try again."""

    status = 503
    code = "unavailable"
    retry_after_s = RETRY_AFTER_S
