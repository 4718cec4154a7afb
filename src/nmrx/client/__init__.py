"""The NMRX Python SDK (see :class:`nmrx.client.Client`) and the ``nmrx`` CLI's commands."""

from nmrx.client._base import new_key
from nmrx.client.client import Client
from nmrx.client.errors import (
    AuthError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    IntegrityError,
    NmrxError,
    NotFound,
    Refused,
    ServerError,
    Unavailable,
)
from nmrx.client.files import predictions_csv

__all__ = [
    "AuthError",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "IntegrityError",
    "NmrxError",
    "NotFound",
    "Refused",
    "ServerError",
    "Unavailable",
    "new_key",
    "predictions_csv",
]
