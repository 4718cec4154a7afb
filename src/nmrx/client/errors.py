"""Exceptions of the NMRX client. Each carries the server's reason and the HTTP status.

::

    NmrxError                 anything that went wrong (``.message``, ``.status``)
    ├── ConnectionFailed      the server could not be reached (after retries)
    ├── AuthError             401: no token, a wrong or revoked token, wrong password
    ├── NotFound              404
    ├── Refused               400/403/409/422 and other 4xx: the server refused, with its reason
    │   ├── Forbidden         403: the token lacks a scope, or the thing is not yours
    │   └── Conflict          409: the state does not allow it (e.g. the round is closed)
    ├── ServerError           5xx (after retries for 502/503/504)
    │   └── Unavailable       503: nothing was changed, try again later
    └── IntegrityError        a downloaded file does not match its SHA-256
"""

from __future__ import annotations


class NmrxError(Exception):
    """An error from NMRX: ``message`` is the server's reason, ``status`` its HTTP status."""

    exit_code = 1

    def __init__(self, message: str, *, status: int | None = None, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status else self.message


class ConnectionFailed(NmrxError):
    exit_code = 6


class AuthError(NmrxError):
    exit_code = 3


class NotFound(NmrxError):
    exit_code = 4


class Refused(NmrxError):
    exit_code = 5


class Forbidden(Refused):
    pass


class Conflict(Refused):
    pass


class ServerError(NmrxError):
    exit_code = 6


class Unavailable(ServerError):
    pass


class IntegrityError(NmrxError):
    exit_code = 7


def for_status(status: int, message: str, details: object = None) -> NmrxError:
    """The exception for an HTTP error status."""
    kind: type[NmrxError]
    if status == 401:
        kind = AuthError
    elif status == 403:
        kind = Forbidden
    elif status == 404:
        kind = NotFound
    elif status == 409:
        kind = Conflict
    elif status == 503:
        kind = Unavailable
    elif status >= 500:
        kind = ServerError
    else:
        kind = Refused
    return kind(message, status=status, details=details)
