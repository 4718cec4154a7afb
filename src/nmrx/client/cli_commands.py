"""The ``nmrx`` commands for people and scripts, built on the SDK: log in, browse the
market, trade, upload, download. ``register(app)`` adds them to the ``nmrx`` Typer app
next to the operator's commands (serve, demo, worker, settle, db, ledger).

Every command exits 0 on success and otherwise prints the server's reason on stderr with
an exit code: 1 other, 2 usage, 3 authentication, 4 not found, 5 refused or forbidden,
6 server unreachable or failing, 7 a download that does not match its SHA-256.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable

import typer

from nmrx.client import config
from nmrx.client.cli_output import (
    JSON_HELP,
    as_json,
    client,
    emit_json,
    err,
    handled,
    nmr,
    out,
    table,
    when,
)
from nmrx.client.client import Client
from nmrx.client.errors import NmrxError

ACCOUNT = "Account"
MARKET = "Market data"


def login(
    url: str = typer.Option(
        None,
        "--url",
        help="The NMRX server (default: NMRX_API_URL, the stored login, or a local demo).",
    ),
    username: str = typer.Option(None, "--username", "-u", help="Your NMRX username."),
    password: str = typer.Option(
        None, "--password", envvar="NMRX_PASSWORD", help="Prompted for when not given."
    ),
    token: str = typer.Option(
        None, "--token", help="Store this existing API token instead of creating one."
    ),
    token_name: str = typer.Option(None, "--token-name", help="A name for the new token."),
    scopes: str = typer.Option("read,trade,upload", help="Scopes of the new token."),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Log in: exchange username and password for an API token, stored for you only (0600).

    The token and the server's URL go to $XDG_CONFIG_HOME/nmrx/config.json (default
    ~/.config/nmrx/config.json), a file only you can read, in a directory only you can open."""
    stored = config.load()
    base = (
        url or os.environ.get(config.ENV_URL) or (stored.api_url if stored else config.DEFAULT_URL)
    )
    api = Client(base, token or None)
    if token:
        who = api.me()
        token_id, name, secret = None, who.username, token
    else:
        username = username or typer.prompt("Username")
        password = password or typer.prompt("Password", hide_input=True)
        new = api.login(
            username,
            password,
            name=token_name or f"nmrx-cli on {socket.gethostname()}"[:100],
            scopes=[s.strip() for s in scopes.split(",") if s.strip()],
        )
        token_id, name, secret = new.id, username, new.token
    if stored and stored.token_id and stored.token != secret and stored.api_url == api.base_url:
        with contextlib.suppress(NmrxError):  # best effort: retire the token this replaces
            Client(api.base_url, stored.token, retries=0).revoke_token(stored.token_id)
    path = config.save(
        config.StoredLogin(api_url=api.base_url, token=secret, username=name, token_id=token_id)
    )
    if as_json_out:
        emit_json({"api_url": api.base_url, "username": name, "config": str(path)})
        return
    out().print(f"Logged in to {api.base_url} as [bold]{name}[/bold].")
    out().print(f"Token stored in {path} (mode 0600).")


def logout(
    keep_token: bool = typer.Option(False, help="Only forget it locally; do not revoke it."),
) -> None:
    """Forget the stored login (and revoke its token on the server)."""
    stored = config.load()
    if stored and stored.token_id and not keep_token:
        with contextlib.suppress(NmrxError):
            Client(stored.api_url, stored.token, retries=0).revoke_token(stored.token_id)
    if config.forget():
        out().print("Logged out.")
    else:
        err().print("Not logged in.")


token_app = typer.Typer(
    help="Your API tokens: create one per pipeline, revoke old ones.", no_args_is_help=True
)


@token_app.command("create")
@handled
def token_create(
    name: str = typer.Argument(..., help='What the token is for, e.g. "round pipeline".'),
    scopes: str = typer.Option("read,upload", help="Comma-separated: read, trade, upload."),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create a token (for NMRX_API_TOKEN in a pipeline); its secret is shown only once."""
    new = client().create_token(name, [s.strip() for s in scopes.split(",") if s.strip()])
    if as_json_out:
        emit_json(new.to_json())
        return
    out().print(f"token {new.id} ({new.name}, scopes {', '.join(new.scopes)}) — shown once:")
    out().print(new.token, markup=False)


@token_app.command("list")
@handled
def token_list(as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Your tokens (never their secrets)."""
    found = client().tokens()
    if as_json_out:
        emit_json(as_json(found))
        return
    rows = [
        [t.id, t.name, t.prefix, ",".join(t.scopes), when(t.created_at), when(t.last_used_at),
         when(t.revoked_at)]
        for t in found
    ]  # fmt: skip
    cols = ["id", "name", "prefix", "scopes", "created", "last used", "revoked"]
    out().print(table("API tokens", cols, rows))


@token_app.command("revoke")
@handled
def token_revoke(token_id: int = typer.Argument(...)) -> None:
    """Revoke a token: it stops working at once."""
    t = client().revoke_token(token_id)
    out().print(f"token {t.id} ({t.name}) revoked")


def whoami(as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Who the stored or configured token belongs to."""
    api = client()
    me = api.me()
    if as_json_out:
        emit_json({**me.to_json(), "api_url": api.base_url})
        return
    out().print(f"{me.username} on {api.base_url} (scopes: {', '.join(me.scopes)})")


def wallet(
    history: int = typer.Option(0, "--history", help="Also show the last N ledger entries."),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Your balances: available, held by open bids, collateral."""
    api = client()
    w = api.wallet()
    entries = api.wallet_history(limit=history) if history else []
    if as_json_out:
        data = w.to_json()
        if history:
            data["history"] = as_json(entries)
        emit_json(data)
        return
    console = out()
    console.print(
        table(
            "Wallet (NMR)",
            ["available", "held", "collateral", "total"],
            [[nmr(w.available), nmr(w.held), nmr(w.collateral), nmr(w.total)]],
        )
    )
    if entries:
        rows = [[when(e.created_at), e.code, nmr(e.amount), e.memo] for e in entries]
        console.print(table("History", ["at", "code", "amount", "memo"], rows))


def faucet(
    amount: str = typer.Argument(..., help='Decimal NMR, e.g. "100".'),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Demo servers only: credit test NMR to your wallet."""
    w = client().faucet(amount)
    if as_json_out:
        emit_json(w.to_json())
        return
    out().print(f"available: {nmr(w.available)} NMR")


def notifications(
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """What needs doing before which deadline, then what happened (sales, deliveries…)."""
    found = client().notifications()
    if as_json_out:
        emit_json(as_json(found))
        return
    rows = [
        [n.kind, when(n.deadline) if n.deadline else "", n.title, n.body, when(n.at)] for n in found
    ]
    out().print(table("Notifications", ["kind", "deadline", "what", "detail", "at"], rows))
    if not rows:
        err().print("nothing new")


def markets(
    tournament: str = typer.Option(None, help="classic or signals."),
    mode: str = typer.Option(None, help="file or stake."),
    all_rounds: bool = typer.Option(
        False, "--all-rounds", help="Every open round, not just the nearest (JSON always has all)."
    ),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Every listed model and mode: best bid, lowest ask and last sale of its open books."""
    found = client().markets(tournament=tournament, mode=mode)
    if as_json_out:
        emit_json(as_json(found))
        return
    rows = [
        [
            i.id, i.model_name, i.tournament, i.mode, i.round_number, i.state,
            nmr(i.best_bid), nmr(i.best_ask), nmr(i.last_price), when(i.trading_closes_at),
        ]
        for mkt in found
        for i in sorted(mkt.instruments, key=lambda i: i.round_number)[: None if all_rounds else 1]
    ]  # fmt: skip
    cols = ["instrument", "model", "tournament", "mode", "round", "state", "bid", "ask", "last"]
    out().print(table("Markets", [*cols, "trading closes (UTC)"], rows))
    if not rows:
        err().print("no open markets")


def book(
    instrument_id: int = typer.Argument(..., help="Instrument id (see `nmrx markets`)."),
    depth: int = typer.Option(10, help="Price levels per side."),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The order book of an instrument: bids and asks by price level."""
    b = client().book(instrument_id, depth=depth)
    if as_json_out:
        emit_json(b.to_json())
        return
    rows = []
    for n in range(max(len(b.bids), len(b.asks))):
        bid = b.bids[n] if n < len(b.bids) else None
        ask = b.asks[n] if n < len(b.asks) else None
        rows.append(
            [
                bid.quantity if bid else "", nmr(bid.price) if bid else "",
                nmr(ask.price) if ask else "", ask.quantity if ask else "",
            ]
        )  # fmt: skip
    cols = ["bid qty", "bid", "ask", "ask qty"]
    out().print(table(f"Book {instrument_id} (seq {b.seq})", cols, rows))


def trades(
    instrument_id: int = typer.Argument(...),
    limit: int = typer.Option(20),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The trade tape of an instrument, newest first."""
    found = client().trades(instrument_id, limit=limit)
    if as_json_out:
        emit_json(as_json(found))
        return
    rows = [[t.id, when(t.created_at), nmr(t.price), t.quantity, t.taker_side] for t in found]
    out().print(table(f"Trades {instrument_id}", ["id", "at", "price", "qty", "taker"], rows))


def history(
    model: str = typer.Argument(..., help="Model name or id."),
    mode: str = typer.Option("file", help="file or stake."),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Price history of a model: open/high/low/close and volume per round."""
    api = client()
    bars = api.history(int(model) if model.isdigit() else model, mode=mode)
    if as_json_out:
        emit_json(as_json(bars))
        return
    rows = [
        [b.round_number, nmr(b.open), nmr(b.high), nmr(b.low), nmr(b.close), b.volume, b.trades]
        for b in bars
    ]
    cols = ["round", "open", "high", "low", "close", "volume", "trades"]
    out().print(table(f"{model} ({mode})", cols, rows))


def register(app: typer.Typer) -> None:
    """Add the client commands to the ``nmrx`` app."""
    from nmrx.client import cli_files, cli_trading

    account: list[Callable[..., None]] = [login, logout, whoami, wallet, faucet, notifications]
    for fn in account:
        app.command(rich_help_panel=ACCOUNT)(handled(fn))
    app.add_typer(token_app, name="token", rich_help_panel=ACCOUNT)
    market: list[Callable[..., None]] = [markets, book, trades, history]
    for fn in market:
        app.command(rich_help_panel=MARKET)(handled(fn))
    cli_trading.register(app)
    cli_files.register(app)
