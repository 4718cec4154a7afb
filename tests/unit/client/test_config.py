"""The stored login: where it lives, who may read it, which server its token goes to."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from nmrx.client import config, predictions_csv


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv(config.ENV_URL, raising=False)
    monkeypatch.delenv(config.ENV_TOKEN, raising=False)
    return tmp_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_token_file_is_0600_in_a_0700_directory_whatever_the_umask(home: Path) -> None:
    old = os.umask(0)
    try:
        path = config.save(config.StoredLogin("http://x", "nmrx_secret", "alice", 3))
    finally:
        os.umask(old)
    assert path == home / ".config" / "nmrx" / "config.json"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert config.load() == config.StoredLogin("http://x", "nmrx_secret", "alice", 3)
    assert not config.loose_permissions()
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temp file left


def test_xdg_config_home_is_respected_and_a_loose_file_is_noticed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    path = config.save(config.StoredLogin("http://x", "t"))
    assert path == tmp_path / "xdg" / "nmrx" / "config.json"
    os.chmod(path, 0o644)
    assert config.loose_permissions()
    config.save(config.StoredLogin("http://x", "t2"))  # rewriting tightens it again
    assert mode(path) == 0o600 and config.load().token == "t2"  # type: ignore[union-attr]


def test_arguments_beat_the_environment_which_beats_the_stored_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert config.resolve(None, None) == (config.DEFAULT_URL, None)
    config.save(config.StoredLogin("http://stored:1/", "stored-token"))
    assert config.resolve(None, None) == ("http://stored:1", "stored-token")
    monkeypatch.setenv(config.ENV_TOKEN, "env-token")
    assert config.resolve(None, None) == ("http://stored:1", "env-token")
    assert config.resolve("http://arg", "arg-token") == ("http://arg", "arg-token")


def test_a_stored_token_is_never_sent_to_another_server(monkeypatch: pytest.MonkeyPatch) -> None:
    config.save(config.StoredLogin("http://stored:1", "stored-token"))
    assert config.resolve("http://elsewhere", None) == ("http://elsewhere", None)
    monkeypatch.setenv(config.ENV_URL, "http://also-elsewhere")
    assert config.resolve(None, None) == ("http://also-elsewhere", None)


def test_forget_removes_the_login() -> None:
    config.save(config.StoredLogin("http://x", "t"))
    assert config.forget() and config.load() is None and not config.forget()


def test_a_dataframe_is_written_like_numerapi_does_keeping_a_named_id_index() -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "prediction": [0.25, 0.75]})
    assert predictions_csv(frame) == frame.to_csv(index=False).encode()
    indexed = frame.set_index("id")
    assert predictions_csv(indexed) == predictions_csv(frame)
