"""docs/automation.md stays true: its scripts compile and call only what the SDK and the
CLI really have."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from nmrx.cli import app
from nmrx.client import Client

DOC = Path(__file__).resolve().parents[3] / "docs" / "automation.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_scripts_compile() -> None:
    scripts = blocks("python")
    assert len(scripts) >= 2
    for n, code in enumerate(scripts):
        compile(code, f"automation.md block {n}", "exec")


def test_every_sdk_method_the_doc_names_exists() -> None:
    text = DOC.read_text()
    named = set(re.findall(r"(?:nmrx_api|Client)\.(\w+)", text))
    listed = text.split("SDK (`nmrx.client.Client`):")[1].split("Results are typed")[0]
    named |= set(re.findall(r"`(\w+)`", listed))
    assert {"upload_predictions", "download_delivered", "follow_deliveries"} <= named
    assert sorted(n for n in named if not hasattr(Client, n)) == []


def test_every_cli_command_the_doc_runs_exists() -> None:
    root = typer.main.get_command(app)
    commands = set(root.commands)  # type: ignore[attr-defined]
    used = {
        line.split()[2]
        for b in blocks("console")
        for line in b.splitlines()
        if line.startswith("$ nmrx ")
    }
    assert {"login", "upload", "download", "ladder", "token"} <= used
    assert used <= commands
