"""Secrets at rest: AES-GCM under a key ring (``NMRX_ENCRYPTION_KEYS``), separate from the
signing secret (``NMRX_SECRET_KEY``).

The ring is ``id:base64key,id:base64key…``: the first key encrypts, every key decrypts, and
each ciphertext names the id of the key that made it, so keys rotate without downtime (add a
new key first, re-encrypt with ``nmrx keys rotate``, then drop the old one). Each purpose
(``"numerai-api-key"``, ``"files"``…) gets its own key derived from a ring key (HKDF), and
every ciphertext binds an *associated data* string (e.g. the owning user id) so a ciphertext
copied to another row does not decrypt. Ciphertexts made before the ring (version ``v1``, no
key id, a key derived from the signing secret) still decrypt when the ring carries that
legacy secret, and rotation re-encrypts them under the ring.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"v1"  # legacy: no key id; the key derives from the signing secret
RING_VERSION = b"v2"  # v2, the key id's length (1 byte), the key id, nonce, ciphertext
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
KEY_BYTES = 32
MIN_SECRET_LENGTH = 32
MIN_DISTINCT = 12


class DecryptionFailed(Exception):
    """The ciphertext was tampered with, moved, or made with another key."""


class WeakSecret(ValueError):
    """A secret or key too short, too repetitive or malformed to protect anything."""


def check_secret(name: str, value: str) -> None:
    """Refuses a low-entropy secret: whitespace, too short, too few distinct characters."""
    if value != value.strip() or any(ch.isspace() for ch in value):
        raise WeakSecret(f"{name} must not contain whitespace")
    if len(value) < MIN_SECRET_LENGTH:
        raise WeakSecret(f"{name} must be at least {MIN_SECRET_LENGTH} characters long")
    if len(set(value)) < MIN_DISTINCT:
        raise WeakSecret(f"{name} is too repetitive: use a random value")


def generate_key() -> str:
    """A new ring key, base64 (urlsafe) of 32 random bytes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _decode_key(key_id: str, text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError) as exc:
        raise WeakSecret(f"NMRX_ENCRYPTION_KEYS: key '{key_id}' is not base64") from exc
    if len(raw) != KEY_BYTES:
        raise WeakSecret(
            f"NMRX_ENCRYPTION_KEYS: key '{key_id}' must be {KEY_BYTES} random bytes, base64"
        )
    if len(set(raw)) < MIN_DISTINCT:
        raise WeakSecret(f"NMRX_ENCRYPTION_KEYS: key '{key_id}' is not random")
    return raw


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]  # the first encrypts
    legacy_secret: str | None = None  # decrypts ciphertexts made before the ring

    @classmethod
    def parse(cls, text: str, *, legacy_secret: str | None = None) -> KeyRing:
        """``id1:base64key,id2:base64key``; refuses duplicates, bad ids and weak keys."""
        keys: list[tuple[str, bytes]] = []
        for item in (text or "").split(","):
            if not item.strip():
                continue
            key_id, sep, encoded = item.strip().partition(":")
            if not sep or not KEY_ID_RE.match(key_id):
                raise WeakSecret(
                    "NMRX_ENCRYPTION_KEYS must read id:base64key[,id:base64key…] with ids of "
                    "letters, digits, '-' or '_'"
                )
            if key_id in dict(keys):
                raise WeakSecret(f"NMRX_ENCRYPTION_KEYS names key '{key_id}' twice")
            keys.append((key_id, _decode_key(key_id, encoded.strip())))
        if not keys:
            raise WeakSecret("NMRX_ENCRYPTION_KEYS is empty: give at least one id:base64key")
        return cls(tuple(keys), legacy_secret)

    @property
    def primary_id(self) -> str:
        return self.keys[0][0]


def _aead(material: bytes, purpose: str, salt: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=purpose.encode()).derive(
        material
    )
    return AESGCM(key)


class SecretBox:
    """Encrypts for one purpose under a key ring (or, given a plain string, the legacy
    single derived key)."""

    def __init__(self, ring: KeyRing | str, purpose: str) -> None:
        self._ring_keys: dict[str, AESGCM] = {}
        self._primary: str | None = None
        legacy = ring if isinstance(ring, str) else ring.legacy_secret
        self._legacy = _aead(legacy.encode(), purpose, b"nmrx-secret-box") if legacy else None
        if isinstance(ring, KeyRing):
            self._primary = ring.primary_id
            for key_id, material in ring.keys:
                self._ring_keys[key_id] = _aead(material, purpose, b"nmrx-key-ring")

    def encrypt(self, plaintext: bytes, *, associated: str) -> bytes:
        nonce = os.urandom(12)
        if self._primary is None:
            assert self._legacy is not None
            return VERSION + nonce + self._legacy.encrypt(nonce, plaintext, associated.encode())
        key_id = self._primary.encode()
        body = self._ring_keys[self._primary].encrypt(nonce, plaintext, associated.encode())
        return RING_VERSION + bytes([len(key_id)]) + key_id + nonce + body

    @staticmethod
    def key_id(blob: bytes) -> str | None:
        """The ring key a ciphertext was made with (None: a legacy ciphertext)."""
        if blob.startswith(RING_VERSION) and len(blob) > 3:
            return blob[3 : 3 + blob[2]].decode(errors="replace")
        return None

    def _open(self, blob: bytes) -> tuple[AESGCM, bytes, bytes]:
        if blob.startswith(RING_VERSION) and len(blob) > 3:
            key_id = self.key_id(blob)
            aead = self._ring_keys.get(key_id or "")
            if aead is None:
                raise DecryptionFailed(f"ciphertext made with key '{key_id}', not in the ring")
            rest = blob[3 + blob[2] :]
            return aead, rest[:12], rest[12:]
        if blob.startswith(VERSION):
            if self._legacy is None:
                raise DecryptionFailed("a legacy ciphertext, and no legacy secret to open it")
            return self._legacy, blob[2:14], blob[14:]
        raise DecryptionFailed("unknown ciphertext version")

    def decrypt(self, blob: bytes, *, associated: str) -> bytes:
        aead, nonce, body = self._open(blob)
        try:
            return aead.decrypt(nonce, body, associated.encode())
        except InvalidTag as exc:
            raise DecryptionFailed("ciphertext does not decrypt with this key and context") from exc

    def needs_rotation(self, blob: bytes) -> bool:
        """Whether a ciphertext was made with anything but the ring's first key."""
        return self._primary is not None and self.key_id(blob) != self._primary

    def rewrap(self, blob: bytes, *, associated: str) -> bytes | None:
        """The ciphertext re-encrypted under the ring's first key; None when it already is."""
        if not self.needs_rotation(blob):
            return None
        return self.encrypt(self.decrypt(blob, associated=associated), associated=associated)

    def encrypt_text(self, text: str, *, associated: str) -> str:
        return base64.b64encode(self.encrypt(text.encode(), associated=associated)).decode()

    def decrypt_text(self, token: str, *, associated: str) -> str:
        return self.decrypt(base64.b64decode(token), associated=associated).decode()

    def rewrap_text(self, token: str, *, associated: str) -> str | None:
        new = self.rewrap(base64.b64decode(token), associated=associated)
        return base64.b64encode(new).decode() if new is not None else None
