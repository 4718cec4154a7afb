"""The README's settings tables list every setting of platform/config.py, and say where the
OpenAPI document is."""

from __future__ import annotations

import re
from pathlib import Path

from nmrx.platform.config import Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def _documented() -> set[str]:
    """Variables named in the first column of the README's tables."""
    names: set[str] = set()
    for line in README.read_text().splitlines():
        if line.startswith("|"):
            first = line.split("|")[1]
            names |= set(re.findall(r"`(NMRX_[A-Z0-9_]+)`", first))
    return names


def test_every_setting_is_in_the_readme() -> None:
    settings = {f"NMRX_{name.upper()}" for name in Settings.model_fields}
    missing = sorted(settings - _documented())
    assert missing == [], f"README's settings tables omit {missing}"


def test_the_readme_names_no_setting_that_does_not_exist() -> None:
    settings = {f"NMRX_{name.upper()}" for name in Settings.model_fields}
    assert sorted(_documented() - settings) == []


def test_the_readme_says_where_the_openapi_document_is() -> None:
    text = README.read_text()
    assert "`/api/v1/openapi.json`" in text and "`/api/docs`" in text
