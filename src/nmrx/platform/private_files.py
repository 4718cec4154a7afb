"""What NMRX keeps on disk is readable by its own user only: folders 0700, files 0600.

The data directory holds the database, the queue, the encrypted predictions files and the
private temporary folder (``tmp/``), the only place a plaintext copy of a predictions file
is ever written (numerapi uploads from a path). Each process has its own folder in it
(``<pid>-<random>``); at start a process removes the folders of processes that are gone (a
crash's leftovers), and every file there is removed right after use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import time
from pathlib import Path

log = logging.getLogger("nmrx")
DIR_MODE = 0o700
FILE_MODE = 0o600
TEMP_FOLDER = "tmp"
STALE_SECONDS = 24 * 3600  # a folder this old goes even if its process id is in use again


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can open (created if missing)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        try:
            path.chmod(DIR_MODE)
        except PermissionError:  # another user's folder (a mounted volume): say so, go on
            log.warning("cannot make %s private (mode 0700): it belongs to another user", path)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner can read (created empty if missing, never truncated)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    path.chmod(FILE_MODE)
    return path


def write_private(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path``, mode 0600 from the first byte (replacing any old file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    path.chmod(FILE_MODE)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def private_temp(data_dir: Path) -> Path:
    """This process's own private temporary folder under ``data_dir/tmp``, after removing
    what processes that are gone left there."""
    root = private_dir(data_dir / TEMP_FOLDER)
    now = time.time()
    for entry in root.iterdir():
        pid_text = entry.name.split("-", 1)[0]
        stale = now - entry.lstat().st_mtime > STALE_SECONDS
        if pid_text.isdigit() and _alive(int(pid_text)) and not stale:
            continue  # another running process's (or ours)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    return private_dir(root / f"{os.getpid()}-{secrets.token_hex(4)}")
