"""Secrets at rest: AES-GCM with a key derived from the settings' secret key.

Each purpose (``"numerai-key"``, ``"files"``…) gets its own derived key (HKDF), and every
ciphertext binds an *associated data* string (e.g. the owning user id) so a ciphertext
copied to another row does not decrypt.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"v1"


class DecryptionFailed(Exception):
    """The ciphertext was tampered with, moved, or made with another key."""


class SecretBox:
    def __init__(self, secret_key: str, purpose: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"nmrx-secret-box", info=purpose.encode()
        ).derive(secret_key.encode())
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, *, associated: str) -> bytes:
        nonce = os.urandom(12)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, associated.encode())

    def decrypt(self, blob: bytes, *, associated: str) -> bytes:
        if not blob.startswith(VERSION):
            raise DecryptionFailed("unknown ciphertext version")
        nonce, body = blob[2:14], blob[14:]
        try:
            return self._aead.decrypt(nonce, body, associated.encode())
        except InvalidTag as exc:
            raise DecryptionFailed("ciphertext does not decrypt with this key and context") from exc

    def encrypt_text(self, text: str, *, associated: str) -> str:
        return base64.b64encode(self.encrypt(text.encode(), associated=associated)).decode()

    def decrypt_text(self, token: str, *, associated: str) -> str:
        return self.decrypt(base64.b64decode(token), associated=associated).decode()
