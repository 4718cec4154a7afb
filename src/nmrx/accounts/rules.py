"""Account rules: usernames, password strength, API token scopes."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from pathlib import Path

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{2,29}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256  # refused before hashing: argon2 cost grows with the length
# The 10,000 most common passwords, most common first: the head of the "passwords" frequency
# list shipped by the zxcvbn package (MIT; from leaked-password corpora), one a line, lowercase.
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
_TRAILING_NOISE = re.compile(r"[\d\W_]+$")  # digits, punctuation, spaces at the end


@cache
def common_passwords() -> frozenset[str]:
    words = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").split()
    return frozenset(w.lower() for w in words) | _OURS


# the site's own names and the patterns refused before the list was shipped
_OURS = frozenset(
    {
        "numerai",
        "numeraire",
        "nmrx",
        "password12",
        "password123",
        "1234567890",
        "qwertyuiop",
        "123456789a",
        "iloveyou12",
        "numerai123",
        "letmein123",
        "passw0rd12",
        "abcdefghij",
    }
)


def is_common_password(password: str) -> bool:
    """True for a listed password, compared without case, also with trailing digits and
    punctuation stripped (``Password1!`` is ``password``, ``Dragon2024`` is ``dragon``)."""
    lowered = password.strip().lower()
    listed = common_passwords()
    base = _TRAILING_NOISE.sub("", lowered)
    return lowered in listed or (bool(base) and base in listed)


class Scope(StrEnum):
    READ = "read"
    TRADE = "trade"
    UPLOAD = "upload"
    TOKENS = "tokens"  # manage API tokens and sessions: mint, revoke, log out everywhere


ALL_SCOPES = frozenset(Scope)
# What `nmrx login` asks for by default: a password login asking for all of them is a full
# login, and its token may manage tokens too (the password could do so anyway).
FULL_LOGIN_SCOPES = frozenset({Scope.READ, Scope.TRADE, Scope.UPLOAD})


class AccountError(ValueError):
    """Bad account input; the message says what is wrong."""


def username_key(username: str | None) -> str:
    """The form a username is stored, compared and looked up in: trimmed, lowercase."""
    return (username or "").strip().lower()


def normalise_username(username: str) -> str:
    """A new account's username, checked: its key, which must match ``USERNAME_RE``."""
    name = username_key(username)
    if not USERNAME_RE.match(name):
        raise AccountError(
            "username must be 3–30 characters: lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def check_password_strength(password: str, *, username: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password is too weak: use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"password is too long: use at most {MAX_PASSWORD_LENGTH} characters")
    lowered = password.lower()
    if is_common_password(password):
        raise AccountError(
            "password is too weak: it is one of the most common passwords (even with "
            "digits or symbols added at the end); choose another, e.g. a few unrelated words"
        )
    if len(set(password)) < 4:
        raise AccountError("password is too weak: it is too repetitive")
    if username and username.lower() in lowered:
        raise AccountError("password is too weak: it must not contain the username")


def parse_scopes(scopes: list[str] | str) -> frozenset[Scope]:
    items = scopes.replace(",", " ").split() if isinstance(scopes, str) else list(scopes)
    if not items:
        raise AccountError("a token needs at least one scope: read, trade, upload or tokens")
    try:
        return frozenset(Scope(s.strip().lower()) for s in items)
    except ValueError as exc:
        raise AccountError(
            f"unknown scope in {items!r}; scopes are read, trade, upload, tokens"
        ) from exc


def login_token_scopes(requested: frozenset[Scope]) -> frozenset[Scope]:
    """The scopes of a token minted by a password login: those asked for, plus ``tokens``
    for a full login (the password itself may manage tokens)."""
    return requested | {Scope.TOKENS} if requested >= FULL_LOGIN_SCOPES else requested


def may_mint(parent: frozenset[Scope], wanted: frozenset[Scope]) -> str | None:
    """Why a token with ``parent`` scopes may not mint a token with ``wanted`` (None: it may)."""
    if Scope.TOKENS not in parent:
        return "this token lacks the 'tokens' scope, which managing tokens needs"
    if not wanted <= parent:
        return "a token cannot create a token with scopes it does not have itself"
    return None


def may_revoke(parent: frozenset[Scope], *, own_token: bool) -> str | None:
    """Why a token may not revoke a token (None: it may). Any token may revoke itself."""
    if own_token or Scope.TOKENS in parent:
        return None
    return "this token lacks the 'tokens' scope, which revoking another token needs"
