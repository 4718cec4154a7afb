"""Password hashing with argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with the library's recommended parameters (RFC 9106's low-memory choice)
DEFAULT_HASHER = PasswordHasher()
_hasher = DEFAULT_HASHER


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return False


# A real hash to verify against when the user does not exist (equal timing).
DUMMY_HASH = _hasher.hash("nmrx-dummy-password-for-timing")
