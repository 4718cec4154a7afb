import base64
import stat
from pathlib import Path

import pytest

from nmrx.platform.config import DEMO_SECRET_KEY, InsecureSettings, Settings


def test_default_secret_is_refused_outside_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NMRX_SECRET_KEY", raising=False)
    with pytest.raises(InsecureSettings, match="NMRX_SECRET_KEY"):
        Settings(demo=False, secret_key=DEMO_SECRET_KEY)


def test_short_secret_is_refused_outside_demo() -> None:
    with pytest.raises(InsecureSettings, match="at least 32"):
        Settings(demo=False, secret_key="short")


STRONG = "Vq3x9LmZ2pR7tY1wK8sD4fG6hJ0nB5cXa-_e"
RING = "k1:" + base64.b64encode(bytes(range(7, 39))).decode()


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (" " * 40, "whitespace"),
        ("x" * 40, "repetitive"),
        ("ab" * 30, "repetitive"),
        ("short", "at least 32"),
        (DEMO_SECRET_KEY, "public demo secret"),
    ],
)
def test_low_entropy_signing_secrets_are_refused(secret: str, message: str) -> None:
    with pytest.raises(InsecureSettings, match=message):
        Settings(demo=False, secret_key=secret, encryption_keys=RING)


@pytest.mark.parametrize(
    "ring",
    [
        "k1:" + base64.b64encode(b"\x00" * 32).decode(),  # not random
        "k1:" + base64.b64encode(b"too short").decode(),
        "k1:not base64!!",
        "no-id-here",
        f"{RING},{RING}",  # the same id twice
        "bad id:" + RING.split(":")[1],
    ],
)
def test_weak_or_malformed_encryption_keys_are_refused(ring: str) -> None:
    with pytest.raises(InsecureSettings, match="NMRX_ENCRYPTION_KEYS"):
        Settings(demo=False, secret_key=STRONG, encryption_keys=ring)


def test_both_secrets_are_required_outside_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NMRX_SECRET_KEY", raising=False)
    monkeypatch.delenv("NMRX_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(InsecureSettings, match="NMRX_ENCRYPTION_KEYS is not set"):
        Settings(demo=False, secret_key=STRONG)
    with pytest.raises(InsecureSettings, match="NMRX_SECRET_KEY is not set"):
        Settings(demo=False, encryption_keys=RING)
    s = Settings(demo=False, secret_key=STRONG, encryption_keys=RING)
    assert s.signing_key == STRONG and s.encryption_ring.primary_id == "k1"
    assert s.cookie_secure, "cookies are Secure by default outside demo mode"


def test_demo_mode_makes_its_own_random_secrets_per_data_directory(tmp_path: Path) -> None:
    first = Settings(demo=True, data_dir=tmp_path / "a")
    assert first.signing_key != DEMO_SECRET_KEY and len(first.signing_key) >= 32
    stored = tmp_path / "a" / "demo-secrets.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    again = Settings(demo=True, data_dir=tmp_path / "a")  # a restart reuses them
    assert again.signing_key == first.signing_key
    assert again.encryption_ring == first.encryption_ring
    other = Settings(demo=True, data_dir=tmp_path / "b")
    assert other.signing_key != first.signing_key
    assert other.encryption_ring.keys != first.encryption_ring.keys
    assert not first.cookie_secure  # the demo is served over plain http on loopback


def test_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path) -> None:
    s = Settings(demo=True, data_dir=tmp_path, database_url="")
    assert s.effective_database_url == f"sqlite:///{tmp_path.resolve()}/nmrx.sqlite3"
