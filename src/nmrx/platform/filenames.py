"""File names that are safe to store, to hand to numerapi and to send in a download.

``safe_filename`` turns whatever a client sent (a path, ``..``, control characters, any
script) into a plain base name of ``[A-Za-z0-9._-]``, never ``.``, ``..``, hidden or empty.
``content_disposition`` is the one way a download names its file (RFC 6266): an ASCII
``filename="…"`` fallback and the exact name as ``filename*=UTF-8''…``.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_FILENAME = 100
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_filename(name: str | None, *, default: str = "predictions.csv") -> str:
    """A base name of letters, digits, ``.``, ``_`` and ``-``, at most ``MAX_FILENAME`` long
    (the extension kept), never starting with a dot; ``default`` when nothing usable is left."""
    decomposed = unicodedata.normalize("NFKD", name or "")  # "é" → "e" + an accent, "²" → "2"
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    text = re.split(r"[/\\]", text)[-1]  # a base name, whichever separator the client used
    text = _NOT_ALLOWED.sub("_", text).strip("._-")
    if len(text) > MAX_FILENAME:
        stem, dot, ext = text.rpartition(".")
        if dot and stem and len(ext) <= 10:
            text = stem[: MAX_FILENAME - len(ext) - 1] + "." + ext
        else:
            text = text[:MAX_FILENAME]
        text = text.strip("._-")
    if not text:
        return default
    return text


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """The ``Content-Disposition`` value for ``filename`` (RFC 6266 / RFC 5987): no CR, LF
    or quote can escape the header, and a non-ASCII name survives in ``filename*``."""
    exact = _CONTROL.sub("", unicodedata.normalize("NFC", filename)).strip() or "download"
    fallback = safe_filename(exact, default="download")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(exact, safe='')}"
