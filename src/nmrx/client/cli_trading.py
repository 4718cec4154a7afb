"""Trading commands: buy, sell, bid, ask, orders, cancel, and the seller's ask ladder."""

from __future__ import annotations

from collections.abc import Callable

import typer

from nmrx.client.cli_output import (
    JSON_HELP,
    as_json,
    client,
    emit_json,
    fail,
    handled,
    nmr,
    out,
    table,
    when,
)
from nmrx.client.errors import NmrxError
from nmrx.client.models import Order, Standing

TRADING = "Trading"
ladder_app = typer.Typer(
    help="Your ask ladders (standing listings), one per model and mode.", no_args_is_help=True
)

SLOT_HELP = "Your model (NMRX id) to receive the automatic submission (Stake Mode: required)."
CID_HELP = "Your id for the order; sending it again returns the original order. Default: a new one."


def _order_rows(orders: list[Order]) -> list[list[object]]:
    return [
        [
            o.id, o.instrument_id, o.side, o.order_type, nmr(o.price), o.quantity, o.filled,
            o.remaining, o.state, o.cancel_reason or "", when(o.created_at),
        ]
        for o in orders
    ]  # fmt: skip


ORDER_COLUMNS = [
    "id",
    "instrument",
    "side",
    "type",
    "price",
    "qty",
    "filled",
    "remaining",
    "state",
    "reason",
    "placed",
]


def _show_order(order: Order, as_json_out: bool) -> None:
    if as_json_out:
        emit_json(order.to_json())
        return
    console = out()
    console.print(table(None, ORDER_COLUMNS, _order_rows([order])))
    if order.duplicate:
        console.print(
            f"(client order id {order.client_order_id} was used before: this is the original order)"
        )
    for f in order.fills:
        console.print(f"  filled {f.quantity} at {nmr(f.price)} NMR (fill {f.id})")


def buy(
    instrument_id: int = typer.Argument(..., help="Instrument id (see `nmrx markets`)."),
    quantity: int = typer.Argument(1, help="Copies (File Mode) or NMR of allowance (Stake Mode)."),
    slot: int = typer.Option(None, "--slot", help=SLOT_HELP),
    client_order_id: str = typer.Option(None, help=CID_HELP),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Buy Now: take the lowest asks (immediate-or-cancel)."""
    order = client().buy_now(
        instrument_id, quantity, slot_model_id=slot, client_order_id=client_order_id
    )
    _show_order(order, as_json_out)


def sell(
    instrument_id: int = typer.Argument(...),
    quantity: int = typer.Argument(1),
    client_order_id: str = typer.Option(None, help=CID_HELP),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Sell Now: hit the highest bids (immediate-or-cancel; sellers of the model only)."""
    order = client().sell_now(instrument_id, quantity, client_order_id=client_order_id)
    _show_order(order, as_json_out)


def _limit(
    side: str,
    instrument_id: int,
    quantity: int,
    price: str,
    order_type: str,
    slot: int | None,
    cid: str | None,
    as_json_out: bool,
) -> None:
    order = client().place_order(
        instrument_id,
        side,
        quantity,
        price,
        order_type=order_type,
        slot_model_id=slot,
        client_order_id=cid,
    )
    _show_order(order, as_json_out)


def bid(
    instrument_id: int = typer.Argument(...),
    quantity: int = typer.Argument(...),
    price: str = typer.Argument(..., help='NMR per unit, e.g. "0.05".'),
    order_type: str = typer.Option("limit", "--type", help="limit, ioc, fok or post_only."),
    slot: int = typer.Option(None, "--slot", help=SLOT_HELP),
    client_order_id: str = typer.Option(None, help=CID_HELP),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Place a bid (a limit buy order); quantity × price is held from your wallet."""
    _limit("bid", instrument_id, quantity, price, order_type, slot, client_order_id, as_json_out)


def ask(
    instrument_id: int = typer.Argument(...),
    quantity: int = typer.Argument(...),
    price: str = typer.Argument(..., help='NMR per unit, e.g. "0.5".'),
    order_type: str = typer.Option("limit", "--type", help="limit, ioc, fok or post_only."),
    client_order_id: str = typer.Option(None, help=CID_HELP),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Place an ask (a limit sell order) on a model you own."""
    _limit("ask", instrument_id, quantity, price, order_type, None, client_order_id, as_json_out)


def orders(
    state: str = typer.Option(None, help="open, filled, cancelled, expired…"),
    instrument: int = typer.Option(None, "--instrument", help="Only this instrument."),
    limit: int = typer.Option(100),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Your orders, newest first."""
    found = client().orders(state=state, instrument_id=instrument, limit=limit)
    if as_json_out:
        emit_json(as_json(found))
        return
    out().print(table("Orders", ORDER_COLUMNS, _order_rows(found)))


def cancel(
    order_ids: list[int] = typer.Argument(..., help="One or more order ids."),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Cancel open orders (their holds are released)."""
    api = client()
    done: list[Order] = []
    failed: list[tuple[int, NmrxError]] = []
    for order_id in order_ids:
        try:
            done.append(api.cancel(order_id))
        except NmrxError as exc:
            failed.append((order_id, exc))
    if as_json_out and (done or not failed):
        emit_json(as_json(done) if len(order_ids) > 1 else done[0].to_json())
    else:
        for o in done:
            out().print(
                f"order {o.id}: {o.state}" + (f" ({o.cancel_reason})" if o.cancel_reason else "")
            )
    for order_id, problem in failed:
        fail(f"order {order_id}: {problem}")
    if failed:
        raise typer.Exit(failed[-1][1].exit_code)


def _standing_rows(items: list[Standing]) -> list[list[object]]:
    return [
        [
            s.id, s.model_name, s.mode, s.side, s.state,
            ", ".join(f"{lv.quantity}@{nmr(lv.price)}" for lv in s.levels),
            s.rounds if s.rounds is not None else "until cancelled", s.rounds_placed, s.open_orders,
        ]
        for s in items
    ]  # fmt: skip


STANDING_COLUMNS = [
    "id",
    "model",
    "mode",
    "side",
    "state",
    "levels (qty@price)",
    "rounds",
    "placed",
    "open orders",
]


def _parse_level(text: str) -> tuple[int, str]:
    qty, sep, price = text.partition("@")
    if not sep or not qty.strip().isdigit() or not price.strip():
        raise typer.BadParameter(f"{text!r}: write levels as QTY@PRICE, e.g. 3@0.5")
    return int(qty), price.strip()


@ladder_app.command("show")
@handled
def ladder_show(as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Your ask ladders."""
    found = client().ladders()
    if as_json_out:
        emit_json(as_json(found))
        return
    out().print(table("Ask ladders", STANDING_COLUMNS, _standing_rows(found)))


@ladder_app.command("set")
@handled
def ladder_set(
    model: str = typer.Argument(..., help="Your model: Numerai name or NMRX id."),
    levels: list[str] = typer.Argument(
        ..., help="Levels as QTY@PRICE, cheapest first: 3@0.5 5@0.8"
    ),
    mode: str = typer.Option("file", help="file or stake."),
    apply_to_open: bool = typer.Option(False, help="Also replace your asks in the open books now."),
    as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create or replace your ask ladder for a model and mode (placed in every new round's book)."""
    parsed = [_parse_level(text) for text in levels]
    ref: int | str = int(model) if model.isdigit() else model
    s = client().set_ladder(ref, parsed, mode=mode, apply_to_open=apply_to_open)
    if as_json_out:
        emit_json(s.to_json())
        return
    out().print(table("Ask ladder", STANDING_COLUMNS, _standing_rows([s])))


def _ladder_action(action: str) -> Callable[..., None]:
    def command(
        ladder_id: int = typer.Argument(...),
        as_json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        api = client()
        s = {"pause": api.pause_ladder, "resume": api.resume_ladder, "cancel": api.cancel_ladder}[
            action
        ](ladder_id)
        if as_json_out:
            emit_json(s.to_json())
            return
        out().print(f"ladder {s.id}: {s.state}")

    command.__name__ = f"ladder_{action}"
    command.__doc__ = f"{action.capitalize()} one of your ask ladders."
    return command


for _action in ("pause", "resume", "cancel"):
    ladder_app.command(_action)(handled(_ladder_action(_action)))


def register(app: typer.Typer) -> None:
    for fn in (buy, sell, bid, ask, orders, cancel):
        app.command(rich_help_panel=TRADING)(handled(fn))
    app.add_typer(ladder_app, name="ladder", rich_help_panel=TRADING)
