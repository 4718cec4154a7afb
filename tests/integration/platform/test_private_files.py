"""What NMRX writes to disk is its own user's only (issue 14, finding 16): the data folder,
the SQLite database and its WAL, the queue, the stored files; a plaintext predictions file
exists only in the private temporary folder, only while numerapi reads it."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.platform.numerai import NumeraiKey
from nmrx.worker import Worker
from tests.conftest import make_settings

DEAD_PID = 4_194_305  # above Linux's largest pid_max: never a running process


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common default umask (022), under which files come out world-readable unless
    the code says otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_database_queue_and_stored_files_are_private(tmp_path: Path) -> None:
    c = bootstrap(make_settings("", tmp_path))  # SQLite in the data folder, as by default
    try:
        data = c.settings.data_dir
        with c.db.transaction() as session:  # a write: the WAL and its index exist now
            session.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
        db_file = data / "nmrx.sqlite3"
        wal, shm = Path(f"{db_file}-wal"), Path(f"{db_file}-shm")
        assert wal.exists() and shm.exists()
        key = c.files.put(b"id,prediction\nn1,0.5\n")
        stored = next(p for p in (data / "files").rglob(key))
        worker = Worker(c)
        worker.tick_now()  # enqueued: the queue's database is written
        queue = data / "queue.sqlite3"
        checks = {
            data: 0o700,
            data / "tmp": 0o700,
            data / "files": 0o700,
            stored.parent: 0o700,
            stored: 0o600,
            db_file: 0o600,
            wal: 0o600,
            shm: 0o600,
            queue: 0o600,
        }
        checks.update({p: 0o600 for p in data.glob("queue.sqlite3-*")})
        assert {str(p): oct(mode(p)) for p in checks} == {str(p): oct(m) for p, m in checks.items()}
    finally:
        c.close()


def test_an_existing_world_readable_data_folder_and_database_are_made_private(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    first = bootstrap(make_settings("", tmp_path))
    first.close()
    (data / "nmrx.sqlite3").chmod(0o644)
    data.chmod(0o755)
    again = bootstrap(make_settings("", tmp_path))
    again.close()
    assert (mode(data), mode(data / "nmrx.sqlite3")) == (0o700, 0o600)


def test_a_crashed_processs_plaintext_is_removed_at_start(tmp_path: Path) -> None:
    leftover = tmp_path / "data" / "tmp" / f"{DEAD_PID}-abcd" / "upload-x" / "preds.csv"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"id,prediction\nn1,0.5\n")
    stray = tmp_path / "data" / "tmp" / "preds.csv"
    stray.write_bytes(b"id,prediction\n")
    c = bootstrap(make_settings("", tmp_path))
    try:
        assert not leftover.exists() and not stray.exists()
        assert c.numerai.temp_dir is not None
        assert c.numerai.temp_dir.parent == tmp_path / "data" / "tmp"
        assert mode(c.numerai.temp_dir) == 0o700
    finally:
        c.close()


def test_a_file_for_numerapi_lives_privately_in_the_data_folder_only_while_it_is_read(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    class FakeNumerapi:
        def upload_predictions(self, *, file_path: str, model_id: str) -> str:
            path = Path(file_path)
            seen.update(
                path=path,
                content=path.read_bytes(),
                file_mode=mode(path),
                folder_modes={
                    mode(p) for p in path.parents if container.settings.data_dir in p.parents
                },
            )
            return "submission-1"

    monkeypatch.setattr(container.numerai, "client", lambda *a, **k: FakeNumerapi())
    content = b"id,prediction\nn1,0.5\n"
    for name in ("preds.csv", ".", ".."):
        got = container.numerai.upload(
            NumeraiKey("PUBLIC", "SECRET"),
            model_id="m",
            tournament="classic",
            content=content,
            filename=name,
        )
        assert got == "submission-1" and seen["content"] == content
        path: Path = seen["path"]
        assert (container.settings.data_dir / "tmp") in path.parents, path
        assert not str(path).startswith(tempfile.gettempdir() + "/nmrx-")
        assert seen["file_mode"] == 0o600 and seen["folder_modes"] == {0o700}
        assert path.name not in {"", ".", ".."} and not path.exists()
    leftovers = [p for p in (container.settings.data_dir / "tmp").rglob("*") if p.is_file()]
    assert leftovers == []


def test_a_sqlite_database_anywhere_is_created_private_and_memory_makes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nmrx.platform.db import make_engine

    monkeypatch.chdir(tmp_path)
    target = tmp_path / "elsewhere" / "nmrx.db"
    engine = make_engine(f"sqlite:///{target}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        assert mode(Path(f"{target}-wal")) == 0o600
    engine.dispose()
    assert (mode(target.parent), mode(target)) == (0o700, 0o600)
    for url in ("sqlite://", "sqlite:///:memory:"):
        memory = make_engine(url)
        memory.connect().close()
        memory.dispose()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere"]
