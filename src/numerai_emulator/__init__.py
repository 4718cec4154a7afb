"""A Numerai emulator: the GraphQL subset numerapi uses, over HTTP on loopback.

NMRX never imports this package; it talks to it over HTTP like to Numerai.
See docs/numerai-emulator.md.
"""

from .client import credentials, numerapi_pointed_at
from .errors import (
    INSUFFICIENT_PERMISSION,
    INVALID_KEY,
    NOT_AUTHENTICATED,
    ROUND_NOT_OPEN,
    UNAVAILABLE,
    EmulatorError,
)
from .server import EmulatorServer
from .state import SCOPES
from .universe import CLASSIC, SIGNALS
from .world import DEFAULT_ADMIN_TOKEN, World

__all__ = [
    "CLASSIC",
    "DEFAULT_ADMIN_TOKEN",
    "INSUFFICIENT_PERMISSION",
    "INVALID_KEY",
    "NOT_AUTHENTICATED",
    "ROUND_NOT_OPEN",
    "SCOPES",
    "SIGNALS",
    "UNAVAILABLE",
    "EmulatorError",
    "EmulatorServer",
    "World",
    "credentials",
    "numerapi_pointed_at",
]
