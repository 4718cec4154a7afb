import pytest

from nmrx.platform.crypto import DecryptionFailed, KeyRing, SecretBox, generate_key


def test_round_trip_and_ciphertext_hides_the_plaintext() -> None:
    box = SecretBox("k" * 40, "numerai-key")
    blob = box.encrypt_text("SECRET-VALUE", associated="user:1")
    assert "SECRET-VALUE" not in blob
    assert box.decrypt_text(blob, associated="user:1") == "SECRET-VALUE"


def test_a_ciphertext_moved_to_another_owner_does_not_decrypt() -> None:
    box = SecretBox("k" * 40, "numerai-key")
    blob = box.encrypt_text("s", associated="user:1")
    with pytest.raises(DecryptionFailed):
        box.decrypt_text(blob, associated="user:2")


def test_other_purpose_or_secret_cannot_decrypt() -> None:
    blob = SecretBox("k" * 40, "numerai-key").encrypt(b"s", associated="a")
    with pytest.raises(DecryptionFailed):
        SecretBox("k" * 40, "files").decrypt(blob, associated="a")
    with pytest.raises(DecryptionFailed):
        SecretBox("j" * 40, "numerai-key").decrypt(blob, associated="a")


def _ring(*ids: str, legacy: str | None = None) -> KeyRing:
    return KeyRing.parse(",".join(f"{i}:{KEYS[i]}" for i in ids), legacy_secret=legacy)


KEYS = {"old": generate_key(), "new": generate_key()}


def test_the_first_key_encrypts_every_key_decrypts_and_ciphertexts_name_their_key() -> None:
    old = SecretBox(_ring("old"), "files")
    blob = old.encrypt(b"s", associated="a")
    assert SecretBox.key_id(blob) == "old"
    both = SecretBox(_ring("new", "old"), "files")  # a new key added in front
    assert both.decrypt(blob, associated="a") == b"s"
    fresh = both.encrypt(b"t", associated="a")
    assert SecretBox.key_id(fresh) == "new"
    with pytest.raises(DecryptionFailed, match="not in the ring"):
        old.decrypt(fresh, associated="a")


def test_rewrap_moves_a_ciphertext_to_the_newest_key_and_legacy_ones_too() -> None:
    legacy_blob = SecretBox("L" * 20 + "egacy-secret-value!", "files").encrypt(b"x", associated="a")
    ring = SecretBox(_ring("new", "old", legacy="L" * 20 + "egacy-secret-value!"), "files")
    assert ring.decrypt(legacy_blob, associated="a") == b"x"  # made before the ring
    moved = ring.rewrap(legacy_blob, associated="a")
    assert moved is not None and SecretBox.key_id(moved) == "new"
    assert ring.rewrap(moved, associated="a") is None  # already under the newest key
    old_blob = SecretBox(_ring("old"), "files").encrypt(b"y", associated="a")
    moved = ring.rewrap(old_blob, associated="a")
    assert moved is not None
    assert SecretBox(_ring("new"), "files").decrypt(moved, associated="a") == b"y"


def test_a_ring_without_the_legacy_secret_refuses_legacy_ciphertexts() -> None:
    legacy_blob = SecretBox("k" * 40, "files").encrypt(b"x", associated="a")
    with pytest.raises(DecryptionFailed):
        SecretBox(_ring("new"), "files").decrypt(legacy_blob, associated="a")
