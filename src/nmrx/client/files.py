"""Uploads, deliveries, downloads and fills: the part of the client that moves files."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from nmrx.client import models as m
from nmrx.client._base import BaseClient
from nmrx.client.errors import ConnectionFailed, IntegrityError
from nmrx.client.transport import LOST

if TYPE_CHECKING:
    import pandas as pd

Progress = Callable[[int, int | None], None]  # (bytes done, bytes in total or None)
CHUNK = 64 * 1024


def predictions_csv(df: pd.DataFrame) -> bytes:
    """The CSV bytes uploaded for a DataFrame, as ``numerapi.upload_predictions(df=…)``
    writes them (``index=False``). An index named like an id column (``id``, ``ticker``…)
    that is not also a column is kept as the first column."""
    frame = df
    if frame.index.name and frame.index.name not in frame.columns:
        frame = frame.reset_index()
    return frame.to_csv(index=False).encode()


class _ProgressReader(io.BytesIO):
    """In-memory file content that reports how much httpx has read (for progress bars)."""

    def __init__(self, content: bytes, progress: Progress | None) -> None:
        super().__init__(content)
        self._total = len(content)
        self._progress = progress

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(CHUNK if size is None or size < 0 else min(size, CHUNK))
        if self._progress is not None:
            self._progress(self.tell(), self._total)
        return chunk


class FilesMixin(BaseClient):
    """Uploads, deliveries, downloads, fills."""

    # ------------------------------------------------------------------ uploads

    def upload_predictions(
        self,
        file_path: str | os.PathLike[str] | None = None,
        *,
        model: int | str,
        df: pd.DataFrame | None = None,
        submit_to_own_model: bool = False,
        filename: str | None = None,
        progress: Progress | None = None,
    ) -> m.Upload:
        """Upload this round's predictions for one of your models, from a file (CSV or
        parquet) or a DataFrame (written as CSV, like ``numerapi.upload_predictions(df=…)``).

        ``model`` is the model's Numerai name, Numerai id, or NMRX id. The server validates
        the file against the round's live universe; a refusal raises :class:`Refused` with
        the exact reason. Uploading again before the deadline replaces the file, so a retry
        after a lost response ends in the same state."""
        if df is not None:
            content, name = predictions_csv(df), filename or "predictions.csv"
        elif file_path is not None:
            path = Path(file_path)
            content, name = path.read_bytes(), filename or path.name
        else:
            raise TypeError("give a file_path or a DataFrame (df=…)")
        media = "application/octet-stream" if name.endswith(".parquet") else "text/csv"
        model_id = self.model_id(model, mine=True)

        def body() -> dict[str, Any]:
            reader = _ProgressReader(content, progress)
            return {
                "files": {"file": (name, reader, media)},
                "data": {"submit_to_own_model": "true" if submit_to_own_model else "false"},
            }

        return self._one(
            m.Upload, "POST", f"/api/v1/models/{model_id}/uploads",
            body=body, idempotent=True, timeout=300.0,
        )  # fmt: skip

    def uploads(self, model: int | str | None = None) -> list[m.Upload]:
        params = {} if model is None else {"model_id": self.model_id(model, mine=True)}
        return self._many(m.Upload, "GET", "/api/v1/uploads", params=params)

    # ------------------------------------------------------------------ deliveries, downloads

    def deliveries(self, round_number: int | None = None) -> list[m.Delivery]:
        params = self._params(round_number=round_number)
        return self._many(m.Delivery, "GET", "/api/v1/deliveries", params=params)

    def download_link(self, fill_id: int) -> m.DownloadLink:
        path = f"/api/v1/fills/{fill_id}/download-link"
        return self._one(m.DownloadLink, "POST", path, idempotent=True)

    def download(
        self,
        fill_id: int,
        dest: str | os.PathLike[str] = ".",
        *,
        progress: Progress | None = None,
    ) -> m.Downloaded:
        """Download a File Mode purchase to ``dest`` (a directory, or a file path). The bytes
        are hashed as they arrive and must match the server's ``X-Content-SHA256``;
        otherwise nothing is left on disk and :class:`IntegrityError` is raised."""
        link = self.download_link(fill_id)
        target = Path(dest)
        if target.is_dir() or str(dest).endswith(("/", os.sep)):
            target = target / link.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            # the API token only ever goes to our own server: the link's path on base_url
            path = httpx.URL(link.url).raw_path.decode()
            try:
                return self._download_to(fill_id, path, target, progress)
            except LOST as exc:  # the body was cut off: start over, with a fresh link
                if attempt >= self.http.retries:
                    raise ConnectionFailed(
                        f"the download of fill {fill_id} kept failing: {exc}"
                    ) from exc
                self.http.sleep(self.http._delay(attempt))
                attempt += 1
                link = self.download_link(fill_id)

    def _download_to(
        self, fill_id: int, path: str, target: Path, progress: Progress | None
    ) -> m.Downloaded:
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        digest, size = hashlib.sha256(), 0
        try:
            with self.http.stream("GET", path, timeout=300.0) as response:
                expected = (response.headers.get("X-Content-SHA256") or "").lower()
                total = int(response.headers.get("Content-Length") or 0) or None
                with tmp.open("wb") as out:
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        if progress is not None:
                            progress(size, total)
            actual = digest.hexdigest()
            if not expected:
                raise IntegrityError("the server sent no X-Content-SHA256; the file was discarded")
            if actual != expected:
                raise IntegrityError(
                    f"the download of fill {fill_id} is corrupt: SHA-256 {actual} but the server "
                    f"says {expected}; the file was discarded"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return m.Downloaded(fill_id=fill_id, path=target, sha256=actual, size=size)

    def download_delivered(
        self,
        dest: str | os.PathLike[str] = ".",
        *,
        round_number: int | None = None,
        progress: Callable[[m.Delivery], Progress | None] | None = None,
    ) -> list[m.Downloaded]:
        """Download every delivered File Mode purchase (of ``round_number``, else of every
        round) into the directory ``dest``. Files already there with the right SHA-256 are
        skipped, so running it again each round is cheap."""
        directory = Path(dest)
        directory.mkdir(parents=True, exist_ok=True)
        done: list[m.Downloaded] = []
        seen: set[tuple[str, int, str | None]] = set()
        for d in self.deliveries(round_number):
            if not d.downloadable or (d.model, d.round_number, d.sha256) in seen:
                continue
            seen.add((d.model, d.round_number, d.sha256))
            existing = [
                p for p in directory.glob(f"{d.model}_round{d.round_number}.*") if p.is_file()
            ]
            same = [p for p in existing if d.sha256 and _sha256(p) == d.sha256]
            if same:
                size = same[0].stat().st_size
                done.append(m.Downloaded(d.fill_id, same[0], d.sha256 or "", size, skipped=True))
                continue
            done.append(
                self.download(d.fill_id, directory, progress=progress(d) if progress else None)
            )
        return done

    def follow_deliveries(
        self,
        round_number: int | None = None,
        *,
        interval: float = 60.0,
        timeout: float | None = None,
    ) -> Iterator[m.Delivery]:
        """Yield each delivery once it is delivered (polling every ``interval`` seconds),
        until ``timeout`` seconds have passed (or forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        reported: set[tuple[int, str | None]] = set()
        while True:
            for d in self.deliveries(round_number):
                key = (d.id, d.sha256)
                if d.state == "delivered" and key not in reported:
                    reported.add(key)
                    yield d
            if deadline is not None and time.monotonic() >= deadline:
                return
            self.http.sleep(
                interval
                if deadline is None
                else max(0.0, min(interval, deadline - time.monotonic()))
            )

    # ------------------------------------------------------------------ fills

    def fills(self, role: str | None = None) -> list[m.Fill]:
        """Your purchases (``role="buyer"``), sales (``"seller"``) or both."""
        return self._many(m.Fill, "GET", "/api/v1/fills", params=self._params(role=role))

    def timeline(self, fill_id: int) -> m.Timeline:
        return self._one(m.Timeline, "GET", f"/api/v1/fills/{fill_id}/timeline")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
