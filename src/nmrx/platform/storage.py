"""The content store for predictions files: encrypted at rest, addressed by an opaque key.

``ContentStore`` is the interface an object store (S3, GCS…) can implement; the default
is a local directory (folders 0700, files 0600). Every file is encrypted with AES-GCM (a key derived for "files")
and bound to its storage key, so a file copied under another key does not decrypt.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Protocol

from nmrx.platform.crypto import SecretBox
from nmrx.platform.private_files import private_dir, write_private


class ContentStore(Protocol):
    def put(self, content: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def rotate(self) -> int: ...


def fingerprint(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class LocalEncryptedStore:
    def __init__(self, root: Path, box: SecretBox) -> None:
        self.root = root
        self.box = box

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise KeyError(f"malformed storage key {key!r}")
        return self.root / key[:2] / key

    def put(self, content: bytes) -> str:
        key = secrets.token_hex(20)
        path = self._path(key)
        private_dir(self.root)
        private_dir(path.parent)
        tmp = path.with_suffix(".tmp")
        write_private(tmp, self.box.encrypt(content, associated=key))
        os.replace(tmp, path)
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.exists():
            raise KeyError(f"no stored file {key}")
        return self.box.decrypt(path.read_bytes(), associated=key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def rotate(self) -> int:
        """Re-encrypts every stored file not yet under the key ring's first key, each
        replaced atomically (a reader sees the old or the new file, both decrypt); returns
        how many moved."""
        moved = 0
        for path in sorted(self.root.glob("*/*")):
            key = path.name
            if not key.isalnum() or path != self._path(key):
                continue
            try:
                new = self.box.rewrap(path.read_bytes(), associated=key)
            except FileNotFoundError:
                continue  # deleted meanwhile
            if new is None:
                continue
            tmp = path.with_name(f"{key}.rotating")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(new)
            if not path.exists():  # deleted meanwhile: do not bring it back
                tmp.unlink(missing_ok=True)
                continue
            os.replace(tmp, path)
            moved += 1
        return moved
