"""Error messages the emulator returns, kept stable so clients can match on them.

GraphQL errors come back as HTTP 200 with ``{"errors": [{"message": ...}]}`` (like the
real API); ``numerapi`` turns the last message into ``ValueError(message)``.
"""

from __future__ import annotations

INVALID_KEY = "Invalid API key"
"""The ``Authorization: Token public$secret`` header names no key or the secret is wrong."""

NOT_AUTHENTICATED = "You must be authenticated to perform this action"
"""An operation that needs a key was called without an ``Authorization`` header."""

INSUFFICIENT_PERMISSION = "Insufficient permission"
"""Prefix of every permission error (missing scope, or a model of another account)."""

MODEL_NOT_FOUND = "Model not found"
ROUND_NOT_OPEN = "Current round not open for submissions"
UNAVAILABLE = "Service temporarily unavailable"
"""Body message of an injected HTTP 503 or an injected GraphQL error."""


def missing_scope(scope: str) -> str:
    return f"{INSUFFICIENT_PERMISSION}: this API key lacks the '{scope}' scope"


def not_owner(model_id: str) -> str:
    return f"{INSUFFICIENT_PERMISSION}: model {model_id} does not belong to this account"


class EmulatorError(Exception):
    """A client error: becomes a GraphQL error (or an HTTP 4xx on admin routes)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
