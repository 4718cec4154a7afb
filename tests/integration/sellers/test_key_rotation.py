"""Encryption keys rotate without downtime: stored Numerai secrets, webhook secrets and files
made under an old key (or before the key ring, under the signing secret) decrypt while the
ring holds both keys, and `nmrx keys rotate` re-encrypts all of them under the newest key, after
which the old key can leave the ring."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from nmrx.delivery import webhooks
from nmrx.delivery.tables import SellerWebhook
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.platform.crypto import SecretBox, generate_key
from nmrx.sellers import numerai_keys
from nmrx.sellers.tables import NumeraiApiKey
from numerai_emulator import EmulatorServer
from tests.conftest import make_settings
from tests.support.builders import make_user
from tests.support.emulator import numerai_player

OLD, NEW = f"old:{generate_key()}", f"new:{generate_key()}"
SIGNING = "Vq3x9LmZ2pR7tY1wK8sD4fG6hJ0nB5cXa-_e"


def _container(database_url: str, tmp_path: Path, emulator: EmulatorServer, ring: str) -> Container:
    return bootstrap(
        make_settings(
            database_url,
            tmp_path,
            numerai_api_url=emulator.url,
            secret_key=SIGNING,
            encryption_keys=ring,
        )
    )


def _key_ids(c: Container) -> set[str | None]:
    with c.db.transaction() as s:
        blobs = [*s.scalars(select(NumeraiApiKey.secret_ciphertext))]
        blobs += [*s.scalars(select(SellerWebhook.secret_ciphertext))]
    import base64

    return {SecretBox.key_id(base64.b64decode(b)) for b in blobs}


def test_rotation_moves_every_secret_and_file_to_the_newest_key(
    database_url: str, tmp_path: Path, emulator: EmulatorServer
) -> None:
    old = _container(database_url, tmp_path, emulator, OLD)
    user = make_user(old)
    player = numerai_player(emulator.world)
    numerai_keys.add_key(
        old, user_id=user.id, public_id=player.key.public_id, secret=player.key.secret
    )
    webhooks.set_webhook(old, user_id=user.id, url="https://1.1.1.1/nmrx")
    stored = old.files.put(b"id,prediction\n1,0.5\n")
    # A file from before the key ring: encrypted under the signing secret (legacy, no key id).
    legacy_box = SecretBox(SIGNING, "files")
    legacy_key = "ab" + "0" * 38
    (tmp_path / "data" / "files" / "ab").mkdir(parents=True, exist_ok=True)
    (tmp_path / "data" / "files" / "ab" / legacy_key).write_bytes(
        legacy_box.encrypt(b"legacy", associated=legacy_key)
    )
    assert _key_ids(old) == {"old"}
    old.close()

    both = _container(database_url, tmp_path, emulator, f"{NEW},{OLD}")
    try:  # while both keys are in the ring, everything reads, before and after rotating
        assert both.files.get(stored) == b"id,prediction\n1,0.5\n"
        assert numerai_keys.rotate_secrets(both) == 1
        assert webhooks.rotate_secrets(both) == 1
        assert both.files.rotate() == 2
        assert both.files.rotate() == 0 and numerai_keys.rotate_secrets(both) == 0
        assert _key_ids(both) == {"new"}
    finally:
        both.close()

    new = _container(database_url, tmp_path, emulator, NEW)  # the old key has left the ring
    try:
        assert new.files.get(stored) == b"id,prediction\n1,0.5\n"
        assert new.files.get(legacy_key) == b"legacy"
        with new.db.transaction() as s:
            row = s.scalars(select(NumeraiApiKey)).one()
            assert numerai_keys.decrypt_secret(new.key_box, row) == player.key.secret
        assert webhooks.get_webhook(new, user_id=user.id) is not None
    finally:
        new.close()
