"""File commands: upload predictions, list deliveries, download purchases, follow fills."""

from __future__ import annotations

from pathlib import Path

import typer

from nmrx.client.cli_output import (
    JSON_HELP,
    as_json,
    client,
    emit_json,
    handled,
    nmr,
    out,
    table,
    transfer_progress,
    when,
)
from nmrx.client.models import Delivery

FILES = "Uploads and deliveries"


def upload(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV or parquet predictions."
    ),
    model: str = typer.Option(..., "--model", "-m", help="Your model: Numerai name or NMRX id."),
    submit_to_own_model: bool = typer.Option(
        False, help="Also let NMRX submit the file to your own model on Numerai."
    ),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Upload this round's predictions for one of your models; every buyer gets them."""
    api = client()
    ref: int | str = int(model) if model.isdigit() else model
    with transfer_progress() as bar:
        info = api.upload_predictions(
            path,
            model=ref,
            submit_to_own_model=submit_to_own_model,
            progress=bar(f"upload {path.name}"),
        )
    if as_json_out:
        emit_json(info.to_json())
        return
    verb = "replaced" if info.replaced else "accepted"
    out().print(
        f"{info.filename}: {verb} for {info.model}, round {info.round_number} "
        f"({info.rows} rows, sha256 {info.sha256[:16]}…)"
    )
    if info.own_submission_error:
        out().print(f"[yellow]own submission failed:[/yellow] {info.own_submission_error}")
    elif info.own_submission_id:
        out().print(f"submitted to your own model: {info.own_submission_id}")


def _delivery_rows(items: list[Delivery]) -> list[list[object]]:
    return [
        [
            d.fill_id, d.model, d.round_number, d.mode, d.kind, d.state, d.quantity,
            nmr(d.price), (d.sha256 or "")[:12], d.fault or d.last_error or "", when(d.delivered_at),
        ]
        for d in items
    ]  # fmt: skip


def deliveries(
    round_number: int = typer.Option(None, "--round", help="Only this round."),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Your purchases' deliveries: downloads and automatic submissions."""
    found = client().deliveries(round_number)
    if as_json_out:
        emit_json(as_json(found))
        return
    cols = [
        "fill",
        "model",
        "round",
        "mode",
        "kind",
        "state",
        "qty",
        "price",
        "sha256",
        "problem",
        "delivered",
    ]
    out().print(table("Deliveries", cols, _delivery_rows(found)))


def download(
    fill_ids: list[int] = typer.Argument(
        None, help="Fills to download; none: every delivered file."
    ),
    round_number: int = typer.Option(None, "--round", help="With no fill ids: only this round."),
    dest: Path = typer.Option(Path("."), "--dest", "-d", help="Directory to write into."),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Download purchased files (File Mode); each is checked against the server's SHA-256."""
    api = client()
    dest.mkdir(parents=True, exist_ok=True)
    with transfer_progress() as bar:
        if fill_ids:
            got = [api.download(f, dest, progress=bar(f"fill {f}")) for f in fill_ids]
        else:
            got = api.download_delivered(
                dest,
                round_number=round_number,
                progress=lambda d: bar(f"{d.model} round {d.round_number}"),
            )
    if as_json_out:
        emit_json(as_json(got))
        return
    for g in got:
        note = " (already there)" if g.skipped else ""
        out().print(f"fill {g.fill_id}: {g.path} ({g.size} bytes, sha256 {g.sha256[:16]}…){note}")
    if not got:
        out().print("nothing delivered to download yet")


def fills(
    role: str = typer.Option(None, help="buyer or seller."),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Your purchases and sales, with where each stands in settlement."""
    found = client().fills(role)
    if as_json_out:
        emit_json(as_json(found))
        return
    rows = [
        [
            f.id,
            f.role,
            f.model,
            f.round_number,
            f.mode,
            f.quantity,
            nmr(f.price),
            f.state,
            f.explanation,
        ]
        for f in found
    ]
    cols = ["fill", "role", "model", "round", "mode", "qty", "price", "state", "explanation"]
    out().print(table("Fills", cols, rows))


def timeline(
    fill_id: int = typer.Argument(...),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """How a fill settled (or where it stands), step by step."""
    t = client().timeline(fill_id)
    if as_json_out:
        emit_json(t.to_json())
        return
    rows = [[when(s.at), s.state, s.reason, s.detail] for s in t.steps]
    out().print(table(f"Fill {t.fill_id}: {t.state}", ["at", "state", "reason", "detail"], rows))


def register(app: typer.Typer) -> None:
    for fn in (upload, deliveries, download, fills, timeline):
        app.command(rich_help_panel=FILES)(handled(fn))
