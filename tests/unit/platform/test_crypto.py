import pytest

from nmrx.platform.crypto import DecryptionFailed, SecretBox


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
