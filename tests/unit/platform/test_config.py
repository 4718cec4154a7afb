import pytest

from nmrx.platform.config import DEMO_SECRET_KEY, InsecureSettings, Settings


def test_default_secret_is_refused_outside_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NMRX_SECRET_KEY", raising=False)
    with pytest.raises(InsecureSettings, match="NMRX_SECRET_KEY"):
        Settings(demo=False, secret_key=DEMO_SECRET_KEY)


def test_short_secret_is_refused_outside_demo() -> None:
    with pytest.raises(InsecureSettings, match="at least 32"):
        Settings(demo=False, secret_key="short")


def test_demo_mode_accepts_the_demo_secret() -> None:
    assert Settings(demo=True).secret_key == DEMO_SECRET_KEY


def test_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path) -> None:
    s = Settings(demo=True, data_dir=tmp_path, database_url="")
    assert s.effective_database_url == f"sqlite:///{tmp_path.resolve()}/nmrx.sqlite3"
