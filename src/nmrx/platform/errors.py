"""Errors services raise; the API and web layers map them to responses."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    status = 422


class Conflict(ServiceError):
    status = 409


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Unauthorized(ServiceError):
    status = 401


class Unavailable(ServiceError):
    """A dependency (Numerai) is unavailable: nothing was changed, try again later."""

    status = 503


class TooManyRequests(ServiceError):
    """A rate limit is reached: nothing was done; ``retry_after`` seconds until it allows again."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
