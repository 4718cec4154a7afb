"""The NMRX Python SDK: one :class:`Client` over the JSON API (``/api/v1``).

::

    import nmrx.client

    nmrx_api = nmrx.client.Client()          # NMRX_API_URL / NMRX_API_TOKEN, or `nmrx login`
    nmrx_api.upload_predictions(df=predictions, model="my_model")

Amounts and prices are decimal NMR as text or :class:`~decimal.Decimal` (``"0.05"``), or
integer units of 10⁻⁸ NMR through the ``*_units`` arguments — never floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nmrx.client import models as m
from nmrx.client._base import NmrAmount, _money_in, new_key
from nmrx.client.errors import NotFound
from nmrx.client.files import FilesMixin


class Client(FilesMixin):
    """A client of one NMRX server, authenticated by a personal API token.

    ``base_url`` and ``token`` default to ``NMRX_API_URL`` / ``NMRX_API_TOKEN``, then to
    the login stored by ``nmrx login`` (see :mod:`nmrx.client.config`). Transient failures
    are retried ``retries`` times with exponential backoff starting at ``backoff`` seconds.
    """

    # ------------------------------------------------------------------ accounts

    def register(self, username: str, password: str) -> m.Me:
        return self._one(
            m.Me, "POST", "/api/v1/auth/register", auth=False,
            json={"username": username, "password": password},
        )  # fmt: skip

    def login(
        self,
        username: str,
        password: str,
        *,
        name: str = "nmrx-python",
        scopes: Sequence[str] = ("read", "trade", "upload"),
    ) -> m.NewToken:
        """Exchange a username and password for a new API token and use it from now on."""
        new = self._one(
            m.NewToken,
            "POST",
            "/api/v1/auth/tokens",
            auth=False,
            json={"username": username, "password": password, "name": name, "scopes": list(scopes)},
        )
        self.http.token = new.token
        return new

    def me(self) -> m.Me:
        return self._one(m.Me, "GET", "/api/v1/me")

    def tokens(self) -> list[m.Token]:
        return self._many(m.Token, "GET", "/api/v1/tokens")

    def create_token(self, name: str, scopes: Sequence[str] = ("read", "upload")) -> m.NewToken:
        """A new token with at most this token's scopes (e.g. an upload-only one for a
        pipeline); its secret is in ``.token`` and is shown only this once."""
        body = {"name": name, "scopes": list(scopes)}
        return self._one(m.NewToken, "POST", "/api/v1/tokens", json=body)

    def revoke_token(self, token_id: int) -> m.Token:
        return self._one(m.Token, "DELETE", f"/api/v1/tokens/{token_id}")

    # ------------------------------------------------------------------ wallet

    def wallet(self) -> m.Wallet:
        return self._one(m.Wallet, "GET", "/api/v1/wallet")

    def wallet_history(self, limit: int = 100) -> list[m.HistoryEntry]:
        return self._many(m.HistoryEntry, "GET", "/api/v1/wallet/history", params={"limit": limit})

    def faucet(
        self, amount: NmrAmount | None = None, *, amount_units: int | None = None
    ) -> m.Wallet:
        """Demo servers only: credit test NMR."""
        body = _money_in("amount", amount, amount_units)
        return self._keyed_post(m.Wallet, "/api/v1/wallet/faucet", body)

    def withdraw(
        self, amount: NmrAmount | None = None, *, amount_units: int | None = None
    ) -> m.Wallet:
        body = _money_in("amount", amount, amount_units)
        return self._keyed_post(m.Wallet, "/api/v1/wallet/withdrawals", body)

    def collateral(self) -> m.Collateral:
        return self._one(m.Collateral, "GET", "/api/v1/collateral")

    def lock_collateral(
        self, amount: NmrAmount | None = None, *, amount_units: int | None = None
    ) -> m.Collateral:
        body = _money_in("amount", amount, amount_units)
        return self._keyed_post(m.Collateral, "/api/v1/collateral/lock", body)

    def unlock_collateral(
        self, amount: NmrAmount | None = None, *, amount_units: int | None = None
    ) -> m.Collateral:
        body = _money_in("amount", amount, amount_units)
        return self._keyed_post(m.Collateral, "/api/v1/collateral/unlock", body)

    def add_numerai_key(self, public_id: str, secret: str) -> dict[str, Any]:
        """Add a Numerai API key; its account's models are verified as yours at once."""
        return self._call(
            "POST", "/api/v1/numerai-keys", json={"public_id": public_id, "secret": secret}
        )

    # ------------------------------------------------------------------ market data

    def instruments(
        self,
        *,
        model_id: int | None = None,
        mode: str | None = None,
        tournament: str | None = None,
        round_number: int | None = None,
        state: str = "open",
    ) -> list[m.Instrument]:
        params = self._params(
            model_id=model_id, mode=mode, tournament=tournament, round_number=round_number,
            state=state,
        )  # fmt: skip
        return self._many(m.Instrument, "GET", "/api/v1/instruments", params=params)

    def instrument(self, instrument_id: int) -> m.Instrument:
        return self._one(m.Instrument, "GET", f"/api/v1/instruments/{instrument_id}")

    def find_instrument(
        self, model: int | str, *, mode: str = "file", round_number: int | None = None
    ) -> m.Instrument:
        """The open book of a model and mode: for ``round_number``, else the nearest round."""
        found = self.instruments(
            model_id=self.model_id(model), mode=mode, round_number=round_number
        )
        if not found:
            raise NotFound(f"no open {mode} book for model {model!r}")
        return min(found, key=lambda i: i.round_number)

    def book(self, instrument_id: int, *, depth: int = 50) -> m.Book:
        return self._one(
            m.Book, "GET", f"/api/v1/instruments/{instrument_id}/book", params={"depth": depth}
        )

    def trades(self, instrument_id: int, *, limit: int = 100, after_id: int = 0) -> list[m.Trade]:
        params = {"limit": limit, "after_id": after_id}
        return self._many(
            m.Trade, "GET", f"/api/v1/instruments/{instrument_id}/trades", params=params
        )

    def history(self, model: int | str, *, mode: str = "file") -> list[m.RoundBar]:
        """Open/high/low/close and volume per round, oldest first."""
        path = f"/api/v1/models/{self.model_id(model)}/price-history"
        return self._many(m.RoundBar, "GET", path, params={"mode": mode})

    # ------------------------------------------------------------------ orders

    def place_order(
        self,
        instrument_id: int,
        side: str,
        quantity: int,
        price: NmrAmount | None = None,
        *,
        price_units: int | None = None,
        order_type: str = "limit",
        slot_model_id: int | None = None,
        client_order_id: str | None = None,
    ) -> m.Order:
        """Place a limit order. ``client_order_id`` is generated once when not given and sent
        again on every retry, so a lost response never creates a second order: the server
        answers with the original (``order.duplicate`` is then true)."""
        body: dict[str, object] = {
            "instrument_id": instrument_id,
            "side": side,
            "quantity": quantity,
            "order_type": order_type,
            "client_order_id": client_order_id or new_key(),
            **_money_in("price", price, price_units),
        }
        if slot_model_id is not None:
            body["slot_model_id"] = slot_model_id
        return self._one(m.Order, "POST", "/api/v1/orders", json=body, idempotent=True)

    def bid(
        self, instrument_id: int, quantity: int, price: NmrAmount | None = None, **kw: Any
    ) -> m.Order:
        return self.place_order(instrument_id, "bid", quantity, price, **kw)

    def ask(
        self, instrument_id: int, quantity: int, price: NmrAmount | None = None, **kw: Any
    ) -> m.Order:
        return self.place_order(instrument_id, "ask", quantity, price, **kw)

    def _at_best(self, path: str, instrument_id: int, quantity: int, **kw: Any) -> m.Order:
        body = {
            "instrument_id": instrument_id,
            "quantity": quantity,
            "client_order_id": kw.pop("client_order_id", None) or new_key(),
            **self._params(**kw),
        }
        return self._one(m.Order, "POST", path, json=body, idempotent=True)

    def buy_now(
        self,
        instrument_id: int,
        quantity: int = 1,
        *,
        slot_model_id: int | None = None,
        client_order_id: str | None = None,
    ) -> m.Order:
        """Buy Now: an IOC bid at the lowest ask."""
        return self._at_best(
            "/api/v1/orders/buy-now", instrument_id, quantity,
            slot_model_id=slot_model_id, client_order_id=client_order_id,
        )  # fmt: skip

    def sell_now(
        self, instrument_id: int, quantity: int = 1, *, client_order_id: str | None = None
    ) -> m.Order:
        """Sell Now: an IOC ask at the highest bid."""
        return self._at_best(
            "/api/v1/orders/sell-now", instrument_id, quantity, client_order_id=client_order_id
        )

    def orders(
        self, *, state: str | None = None, instrument_id: int | None = None, limit: int = 100
    ) -> list[m.Order]:
        params = self._params(state=state, instrument_id=instrument_id, limit=limit)
        return self._many(m.Order, "GET", "/api/v1/orders", params=params)

    def order(self, order_id: int) -> m.Order:
        return self._one(m.Order, "GET", f"/api/v1/orders/{order_id}")

    def order_by_client_id(self, client_order_id: str) -> m.Order:
        return self._one(m.Order, "GET", f"/api/v1/orders/by-client-id/{client_order_id}")

    def cancel(self, order_id: int) -> m.Order:
        """Cancel an open order (its hold is released); a closed order comes back unchanged."""
        return self._one(m.Order, "DELETE", f"/api/v1/orders/{order_id}")

    # ------------------------------------------------------------------ ladders, standing bids

    def ladders(self) -> list[m.Standing]:
        return self._many(m.Standing, "GET", "/api/v1/ladders")

    def set_ladder(
        self,
        model: int | str,
        levels: Sequence[tuple[int, NmrAmount]],
        *,
        mode: str = "file",
        apply_to_open: bool = False,
    ) -> m.Standing:
        """Create or replace your ask ladder: ``[(quantity, price), …]``, e.g.
        ``[(3, "0.5"), (5, "0.8")]`` sells 3 copies at 0.5 NMR, then 5 at 0.8."""
        body = {
            "model_id": self.model_id(model, mine=True),
            "mode": mode,
            "apply_to_open": apply_to_open,
            "levels": [{"quantity": q, **_money_in("price", p, None)} for q, p in levels],
        }
        return self._one(m.Standing, "PUT", "/api/v1/ladders", json=body)

    def _standing(self, kind: str, standing_id: int, action: str) -> m.Standing:
        if action == "cancel":
            return self._one(m.Standing, "DELETE", f"/api/v1/{kind}/{standing_id}")
        path = f"/api/v1/{kind}/{standing_id}/{action}"
        return self._one(m.Standing, "POST", path, idempotent=True)

    def pause_ladder(self, ladder_id: int) -> m.Standing:
        return self._standing("ladders", ladder_id, "pause")

    def resume_ladder(self, ladder_id: int) -> m.Standing:
        return self._standing("ladders", ladder_id, "resume")

    def cancel_ladder(self, ladder_id: int) -> m.Standing:
        return self._standing("ladders", ladder_id, "cancel")

    def standing_bids(self) -> list[m.Standing]:
        return self._many(m.Standing, "GET", "/api/v1/standing-bids")

    def standing_bid(
        self,
        model: int | str,
        quantity: int,
        price: NmrAmount | None = None,
        *,
        price_units: int | None = None,
        mode: str = "file",
        rounds: int | None = None,
        slot_model_id: int | None = None,
    ) -> m.Standing:
        """Bid in every new round's book (``rounds`` rounds, or until cancelled): a subscription."""
        body = {
            "model_id": self.model_id(model),
            "mode": mode,
            "quantity": quantity,
            **_money_in("price", price, price_units),
            **self._params(rounds=rounds, slot_model_id=slot_model_id),
        }
        return self._one(m.Standing, "POST", "/api/v1/standing-bids", json=body)

    def cancel_standing_bid(self, standing_id: int) -> m.Standing:
        return self._standing("standing-bids", standing_id, "cancel")

    # ------------------------------------------------------------------ notifications

    def notifications(self) -> list[m.Notification]:
        """What needs doing before which deadline (first), then what happened, newest first."""
        try:
            return self._many(m.Notification, "GET", "/api/v1/notifications")
        except NotFound as exc:
            if exc.message == "Not Found":  # the route itself is missing: an older server
                raise NotFound(
                    f"{self.base_url} has no notifications API (GET /api/v1/notifications)",
                    status=404,
                ) from None
            raise
