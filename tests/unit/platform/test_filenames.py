"""Safe base names and RFC 6266 Content-Disposition values."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from nmrx.platform.filenames import MAX_FILENAME, content_disposition, safe_filename


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        (".", "predictions.csv"),
        ("..", "predictions.csv"),
        ("...", "predictions.csv"),
        ("", "predictions.csv"),
        (None, "predictions.csv"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\preds.csv", "preds.csv"),
        (".bashrc", "bashrc"),
        ("my preds (v2).csv", "my_preds_v2_.csv"),
        ("préds².parquet", "preds2.parquet"),
        ("a\r\nb.csv", "a_b.csv"),
        ("模型.csv", "csv"),
    ],
)
def test_a_name_becomes_a_safe_base_name(raw: str | None, safe: str) -> None:
    assert safe_filename(raw) == safe


def test_a_long_name_keeps_its_extension() -> None:
    name = safe_filename("x" * 500 + ".parquet")
    assert len(name) == MAX_FILENAME and name.endswith(".parquet")
    assert len(safe_filename("y" * 500)) == MAX_FILENAME


def test_content_disposition_has_an_ascii_fallback_and_the_exact_name() -> None:
    value = content_disposition('modèle "x"\r\nSet-Cookie: a=1.csv')
    assert "\r" not in value and "\n" not in value and value.isascii()
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback == "modele_x_Set-Cookie_a_1.csv"
    exact = value.split("filename*=UTF-8''", 1)[1]
    assert unquote(exact) == 'modèle "x"Set-Cookie: a=1.csv'
    assert content_disposition("m_round3.csv") == (
        "attachment; filename=\"m_round3.csv\"; filename*=UTF-8''m_round3.csv"
    )
