"""Domain errors. Each carries a stable ``code`` and the HTTP status the API answers with;
one exception handler (ui/http.py) turns them into ``{"error": {"code", "message"}}``."""

from __future__ import annotations


class InboxError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(InboxError):
    status = 400
    code = "bad_request"


class Unauthenticated(InboxError):
    status = 401
    code = "unauthenticated"


class Forbidden(InboxError):
    status = 403
    code = "forbidden"


class NotFound(InboxError):
    status = 404
    code = "not_found"


class Conflict(InboxError):
    status = 409
    code = "conflict"


class PayloadTooLarge(InboxError):
    status = 413
    code = "payload_too_large"


class Invalid(InboxError):
    status = 422
    code = "invalid"


class TooManyRequests(InboxError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after
