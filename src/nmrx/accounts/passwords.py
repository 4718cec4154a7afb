"""Password hashing with argon2id."""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with the library's recommended parameters (RFC 9106's low-memory choice)
DEFAULT_HASHER = PasswordHasher()
_hasher = DEFAULT_HASHER


# At most this many password hashes run at once in a process (half the cores, at least one):
# a burst of logins waits here, costing no CPU, instead of taking every core (argon2 runs
# 4 lanes each) from the other requests being served.
HASH_SLOTS = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) // 2))


def hash_password(password: str) -> str:
    with HASH_SLOTS:
        return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    with HASH_SLOTS:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash was made with other parameters than today's."""
    try:
        return bool(_hasher.check_needs_rehash(password_hash))
    except (InvalidHashError, ValueError):
        return False


# A real hash to verify against when the user does not exist (equal timing).
DUMMY_HASH = _hasher.hash("nmrx-dummy-password-for-timing")
