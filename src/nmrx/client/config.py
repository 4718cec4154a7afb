"""Where the client finds its server and token, and the CLI's stored login.

Resolution, first match wins (like ``numerapi`` reading ``NUMERAI_PUBLIC_ID``):

1. the arguments given to :class:`~nmrx.client.Client` (``base_url``, ``token``);
2. the environment: ``NMRX_API_URL`` and ``NMRX_API_TOKEN``;
3. the file written by ``nmrx login``: ``$XDG_CONFIG_HOME/nmrx/config.json``
   (default ``~/.config/nmrx/config.json``), mode 0600 in a 0700 directory;
4. ``http://127.0.0.1:8000`` for the URL (a local ``nmrx demo``), no token.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
ENV_URL = "NMRX_API_URL"
ENV_TOKEN = "NMRX_API_TOKEN"


@dataclass(frozen=True)
class StoredLogin:
    api_url: str
    token: str
    username: str = ""
    token_id: int | None = None


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "nmrx"


def config_path() -> Path:
    return config_dir() / "config.json"


def load() -> StoredLogin | None:
    """The stored login, or None when there is none (or it is unreadable)."""
    path = config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StoredLogin(
            api_url=str(data["api_url"]),
            token=str(data["token"]),
            username=str(data.get("username", "")),
            token_id=data.get("token_id"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def loose_permissions(path: Path | None = None) -> bool:
    """True when the stored login is readable or writable by others than its owner."""
    target = path or config_path()
    try:
        return bool(target.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


def save(login: StoredLogin) -> Path:
    """Write the login atomically: directory 0700, file 0600 from its first byte."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / "config.json"
    tmp = directory / f".config.json.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(login), handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)  # whatever the umask
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


def forget() -> bool:
    """Delete the stored login; True when there was one."""
    try:
        config_path().unlink()
        return True
    except FileNotFoundError:
        return False


def resolve(base_url: str | None, token: str | None) -> tuple[str, str | None]:
    """The URL and token to use, by the order in the module docstring."""
    stored = None
    url = base_url or os.environ.get(ENV_URL)
    tok = token or os.environ.get(ENV_TOKEN)
    if not url or not tok:
        stored = load()
    if not url:
        url = stored.api_url if stored else DEFAULT_URL
    if not tok and stored and stored.api_url.rstrip("/") == url.rstrip("/"):
        tok = stored.token  # a stored token only goes to the server it came from
    return url.rstrip("/"), tok or None
