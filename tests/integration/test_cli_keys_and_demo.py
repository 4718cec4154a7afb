"""`nmrx demo` refuses hosts other machines can reach unless forced; `nmrx keys rotate`
re-encrypts what is stored under the ring's newest key; `nmrx keys generate` prints a key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nmrx.platform.bootstrap import bootstrap
from nmrx.platform.crypto import KeyRing, SecretBox, generate_key
from tests.conftest import make_settings

NMRX = [sys.executable, "-m", "nmrx.cli"]
SIGNING = "Vq3x9LmZ2pR7tY1wK8sD4fG6hJ0nB5cXa-_e"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMRX_")}
    return {**env, **extra}


def test_demo_refuses_a_non_loopback_host_without_allow_remote(tmp_path: Path) -> None:
    result = subprocess.run(
        [*NMRX, "demo", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "demo")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr
    assert not (tmp_path / "demo").exists(), "nothing started"


def test_keys_generate_prints_a_ring_entry() -> None:
    result = subprocess.run(
        [*NMRX, "keys", "generate", "k7"], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    ring = KeyRing.parse(result.stdout.strip())
    assert ring.primary_id == "k7"


def test_keys_rotate_re_encrypts_stored_files_under_the_newest_key(
    database_url: str, tmp_path: Path
) -> None:
    old, new = f"old:{generate_key()}", f"new:{generate_key()}"
    c = bootstrap(
        make_settings(database_url, tmp_path, demo=False, secret_key=SIGNING, encryption_keys=old)
    )
    key = c.files.put(b"predictions")
    c.close()
    path = tmp_path / "data" / "files" / key[:2] / key
    assert SecretBox.key_id(path.read_bytes()) == "old"
    result = subprocess.run(
        [*NMRX, "keys", "rotate"],
        env=_env(
            NMRX_DATABASE_URL=database_url,
            NMRX_DATA_DIR=str(tmp_path / "data"),
            NMRX_SECRET_KEY=SIGNING,
            NMRX_ENCRYPTION_KEYS=f"{new},{old}",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "1 file(s)" in result.stdout
    assert SecretBox.key_id(path.read_bytes()) == "new"
