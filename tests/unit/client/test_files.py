"""Downloads are checked against their SHA-256 and started over when cut off; uploads
report their progress and are rebuilt for every retry."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from nmrx.client import Client, IntegrityError, predictions_csv

CONTENT = b"id,prediction\n" + b"".join(f"id{i},0.{i % 10}\n".encode() for i in range(20_000))
SHA = hashlib.sha256(CONTENT).hexdigest()
LINK = {
    "url": "http://elsewhere.example/api/v1/downloads/tok123",
    "expires_in": 60,
    "filename": "m_round5.csv",
}
UPLOAD = {
    "id": 1, "model": "m", "tournament": "classic", "round_number": 5, "sha256": "x",
    "filename": "predictions.csv", "format": "csv", "rows": 2, "size_bytes": 10,
    "created_at": "2026-01-01T00:00:00Z", "replaced": False,
}  # fmt: skip


class CutOff(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield CONTENT[:1000]
        raise httpx.ReadError("connection reset mid-body")


class Server:
    def __init__(self, *, sha: str = SHA, cut_first: bool = False) -> None:
        self.sha, self.cut = sha, cut_first
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.url.path.endswith("/download-link"):
            return httpx.Response(200, json=LINK)
        if request.url.path.startswith("/api/v1/downloads/"):
            headers = {"X-Content-SHA256": self.sha}
            if self.cut:
                self.cut = False
                return httpx.Response(200, headers=headers, stream=CutOff())
            return httpx.Response(200, headers=headers, content=CONTENT)
        if request.url.path == "/api/v1/models/3/uploads":
            return httpx.Response(201, json=UPLOAD)
        return httpx.Response(404, json={"error": "no"})


def api(server: Server) -> Client:
    return Client(
        "http://nmrx.test", "tok", transport=httpx.MockTransport(server), sleep=lambda s: None
    )


def test_a_download_goes_to_our_server_only_and_lands_whole(tmp_path: Path) -> None:
    server = Server()
    progress: list[tuple[int, int | None]] = []
    got = api(server).download(
        9, tmp_path, progress=lambda done, total: progress.append((done, total))
    )
    assert got.path == tmp_path / "m_round5.csv" and got.path.read_bytes() == CONTENT
    fetch = server.seen[-1]
    assert fetch.url.host == "nmrx.test" and fetch.headers["Authorization"] == "Bearer tok"
    assert progress[-1] == (len(CONTENT), len(CONTENT))


def test_a_corrupt_download_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="corrupt"):
        api(Server(sha="0" * 64)).download(9, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_download_cut_off_mid_body_starts_over(tmp_path: Path) -> None:
    server = Server(cut_first=True)
    got = api(server).download(9, tmp_path / "out.csv")
    assert got.path.read_bytes() == CONTENT and got.sha256 == SHA
    assert sum(r.url.path.startswith("/api/v1/downloads/") for r in server.seen) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_an_upload_sends_the_dataframe_as_numerapi_would_and_reports_progress() -> None:
    server = Server()
    frame = pd.DataFrame({"id": ["a", "b"], "prediction": [0.1, 0.9]})
    seen: list[tuple[int, int | None]] = []
    api(server).upload_predictions(
        df=frame, model=3, submit_to_own_model=True, progress=lambda d, t: seen.append((d, t))
    )
    body = server.seen[-1].read()
    assert predictions_csv(frame) in body and b'name="submit_to_own_model"' in body
    assert seen[-1] == (len(predictions_csv(frame)),) * 2


def test_an_upload_retried_after_a_503_sends_the_whole_file_again(tmp_path: Path) -> None:
    path = tmp_path / "predictions.csv"
    path.write_bytes(CONTENT)
    server = Server()
    answers = iter([httpx.Response(503, json={"error": "Numerai is unavailable"})])

    def flaky(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or server(request)

    sent: list[bytes] = []
    client = Client(
        "http://nmrx.test",
        "tok",
        transport=httpx.MockTransport(lambda r: (sent.append(r.read()), flaky(r))[1]),
        sleep=lambda s: None,
    )
    assert client.upload_predictions(path, model=3).round_number == 5
    assert len(sent) == 2 and all(CONTENT in body for body in sent)
