"""The `nmrx` command: serve, demo, db upgrade, ledger check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from nmrx.client.cli_commands import register as register_client_commands
from nmrx.platform.config import DEMO_SECRETS_FILE, InsecureSettings, Settings, is_loopback

app = typer.Typer(help="NMRX — the Numerai prediction exchange.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger maintenance.", no_args_is_help=True)
operator_app = typer.Typer(
    help="The operator role (the console at /operator).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(operator_app, name="operator")
app.add_typer(ledger_app, name="ledger")
keys_app = typer.Typer(help="Encryption keys (NMRX_ENCRYPTION_KEYS).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()
err = Console(stderr=True)
register_client_commands(app)  # login, markets, bid, ask, upload, download… (nmrx.client)


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except InsecureSettings as exc:
        err.print(f"[red]Refusing to start:[/red] {exc}")
        raise typer.Exit(2) from exc


def _serve(settings: Settings, host: str, port: int, demo_logins: list | None = None) -> None:
    import uvicorn

    from nmrx.app import create_app
    from nmrx.platform.bootstrap import bootstrap

    container = bootstrap(settings, queue=True)  # uploads wake the worker
    api = create_app(container)
    api.state.demo_logins = demo_logins or []
    uvicorn.run(api, host=host, port=port, log_level="info")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the marketplace (web pages and the JSON API) with the configured database."""
    _serve(_settings(), host, port)


@app.command()
def demo(
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: Path = Path("data/demo"),
    emulator_port: int = 0,
    emulator_seed: int = 42,
    history_rounds: int = typer.Option(32, help="rounds of score history per model"),
    allow_remote: bool = typer.Option(
        False, help="Listen on a non-loopback host anyway (the demo is not hardened)."
    ),
) -> None:
    """Start a fresh demo marketplace: new SQLite database, the bundled Numerai emulator,
    demo users with test NMR, verified models and seller collateral."""
    if not is_loopback(host):
        if not allow_remote:
            err.print(
                f"[red]Refusing to serve the demo on {host}:[/red] it has known passwords and "
                "a faucet; listen on 127.0.0.1, or pass --allow-remote if you really mean it."
            )
            raise typer.Exit(2)
        err.print(f"[yellow]Warning:[/yellow] the demo is reachable from other machines on {host}.")
    from nmrx.demo.market import seed
    from nmrx.demo.run import EmulatorProcess, Snapshot
    from nmrx.platform.bootstrap import bootstrap
    from nmrx.platform.emulator_admin import EmulatorAdmin
    from nmrx.platform.private_files import write_private

    snapshot = Snapshot.from_env()  # internal: the browser tests' prepared demo
    restoring = snapshot is not None and snapshot.ready
    if data_dir.exists():  # a fresh demo; its random secrets stay (reused on restart)
        for child in data_dir.iterdir():
            if restoring or child.name != DEMO_SECRETS_FILE:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    if snapshot is not None and restoring:  # the snapshot's data with the secrets it was made with
        shutil.rmtree(data_dir, ignore_errors=True)
        snapshot.restore(data_dir)
    emulator = EmulatorProcess(
        port=emulator_port,
        seed=emulator_seed,
        snapshots=snapshot is not None,
        restore=snapshot.emulator_file if snapshot is not None and restoring else None,
    )
    try:
        settings = _settings(
            demo=True,
            data_dir=data_dir,
            database_url="",
            base_url=f"http://{host}:{port}",
            numerai_api_url=emulator.url,
            clock="emulator",
        )
        container = bootstrap(settings)
        if snapshot is not None and restoring:
            console.print(f"Demo market restored from its prepared snapshot ({snapshot.path}).")
            logins = snapshot.logins()
        else:
            console.print("Seeding the demo market (sellers, models, ladders, a settled round)…")
            logins, history = seed(
                container,
                EmulatorAdmin(emulator.url, settings.emulator_admin_token),
                history_rounds=history_rounds,
            )
            if snapshot is not None:
                history.join()  # the snapshot keeps the whole score history
                snapshot.save(container, emulator, data_dir, logins)
                console.print(f"Prepared snapshot kept in {snapshot.path}.")
            else:
                console.print(
                    f"Score history ({history_rounds} rounds per model) is being generated in the background."
                )
        write_private(
            data_dir / "demo.json",
            json.dumps({"emulator_url": emulator.url, "url": f"http://{host}:{port}"}).encode(),
        )
        console.rule("[bold green]NMRX demo")
        console.print(f"Open [bold]http://{host}:{port}[/bold] — demo mode, test NMR only.")
        console.print(f"Numerai emulator: {emulator.url} (admin token emulator-admin)")
        for login in logins:
            console.print(
                f"  log in as [bold]{login.username}[/bold] / {login.password}  ({login.role})"
            )
        console.print("Register your own account too; the wallet page has a faucet.")
        from nmrx.worker import Worker

        # Consumes what the server's uploads enqueue; seeding (above) enqueued nothing.
        worker = Worker(container).consumer(workers=2, shutdown_timeout=5)
        worker.start()  # in this process: threads beside the server's, one SQLite writer
        try:
            _serve(settings, host, port, demo_logins=logins)
        finally:
            worker.stop(graceful=True)
    finally:
        emulator.stop()


@app.command()
def worker(workers: int = 2) -> None:
    """Run the background worker: deliveries, book opening and closing, webhooks, settlement."""
    from nmrx.platform.bootstrap import bootstrap

    container = bootstrap(_settings(), queue=True)
    assert container.worker is not None
    queue = "Redis" if container.settings.redis_url else "SQLite"
    console.print(f"NMRX worker: {workers} threads, {queue} queue, a tick every minute")
    container.worker.consumer(workers=workers).run()


@app.command()
def settle(loop: bool = False, interval: float = 1.0) -> None:
    """Run delivery and settlement passes now (once, or in a loop until interrupted)."""
    import time

    from nmrx.delivery import service as delivery
    from nmrx.platform.bootstrap import bootstrap
    from nmrx.settlement import service as settlement

    container = bootstrap(_settings())
    while True:
        delivery.run_once(container)
        reached = settlement.reconcile(container)
        console.print(f"settlement pass: {reached or 'nothing unsettled'}")
        if not loop:
            break
        time.sleep(interval)


@app.command("demo-clock")
def demo_clock(
    to: str = typer.Argument(..., help="next_open, next_close or days"),
    days: float = typer.Option(1.0, help="with `days`: how many"),
    data_dir: Path = Path("data/demo"),
) -> None:
    """Demo control: move the running demo's Numerai clock and run deliveries and settlement."""
    from nmrx.demo import control as clock
    from nmrx.platform.bootstrap import bootstrap
    from nmrx.platform.errors import ServiceError

    state_file = data_dir / "demo.json"
    if not state_file.exists():
        err.print(f"no running demo found ({state_file} is missing): start one with `nmrx demo`")
        raise typer.Exit(2)
    emulator_url = json.loads(state_file.read_text())["emulator_url"]
    settings = _settings(
        demo=True, data_dir=data_dir, numerai_api_url=emulator_url, clock="emulator"
    )
    try:
        report = clock.advance(bootstrap(settings), to=to, days=days)
    except ServiceError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None
    console.print(f"Numerai time {report.now} · round {report.round_number} {report.round_status}")
    for duty, result in report.duties.items():
        console.print(f"  {duty}: {result}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from nmrx.platform.bootstrap import bootstrap

    container = bootstrap(_settings())
    console.print(
        f"database at {container.settings.effective_database_url.split('@')[-1]} is up to date"
    )
    container.close()


@keys_app.command("generate")
def keys_generate(key_id: str = typer.Argument("k1", help="the new key's id")) -> None:
    """Print a new random key as `id:base64key`, to put first in NMRX_ENCRYPTION_KEYS."""
    from nmrx.platform.crypto import generate_key

    console.print(f"{key_id}:{generate_key()}", soft_wrap=True, highlight=False)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt stored Numerai secrets, webhook secrets and files under the ring's first
    key. Safe while serving: every process accepts every key of the ring meanwhile."""
    from nmrx.delivery import webhooks
    from nmrx.platform.bootstrap import bootstrap
    from nmrx.sellers import numerai_keys

    container = bootstrap(_settings())
    try:
        keys = numerai_keys.rotate_secrets(container)
        hooks = webhooks.rotate_secrets(container)
        files = container.files.rotate()
    finally:
        container.close()
    primary = container.settings.encryption_ring.primary_id
    console.print(
        f"re-encrypted under key '{primary}': {keys} Numerai key(s), {hooks} webhook "
        f"secret(s), {files} file(s)"
    )


@ledger_app.command("check")
def ledger_check() -> None:
    """Verify every ledger invariant; print each violation; exit 1 on any."""
    from nmrx.platform.bootstrap import bootstrap
    from nmrx.wallet import ledger

    container = bootstrap(_settings())
    violations = ledger.check(container.db)
    container.close()
    if violations:
        for v in violations:
            err.print(f"[red]✗[/red] {v}")
        err.print(f"{len(violations)} ledger invariant violation(s)")
        raise typer.Exit(1)
    console.print("[green]✓[/green] ledger is sound: every invariant holds")


def _set_operator(username: str, operator: bool) -> None:
    import getpass

    from nmrx.operator import service as operator_service
    from nmrx.platform.bootstrap import bootstrap
    from nmrx.platform.errors import ServiceError

    container = bootstrap(_settings())
    verb = "grant" if operator else "revoke"
    try:
        row = operator_service.set_role(
            container.db,
            username=username,
            operator=operator,
            by=f"nmrx operator {verb} (run as {getpass.getuser()})",
        )
    except ServiceError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    finally:
        container.close()
    console.print(
        f"{row.username} is {'now an operator' if row.is_operator else 'no longer an operator'}."
    )


@operator_app.command("grant")
def operator_grant(username: str) -> None:
    """Give USERNAME the operator role: the console at /operator (recorded in the audit trail)."""
    _set_operator(username, True)


@operator_app.command("revoke")
def operator_revoke(username: str) -> None:
    """Take the operator role from USERNAME (recorded in the audit trail)."""
    _set_operator(username, False)


def main() -> None:
    app(prog_name="nmrx")


if __name__ == "__main__":
    main()
