"""The plumbing every part of :class:`~nmrx.client.Client` shares: configuration, typed
requests, money arguments, idempotency keys, and finding a model by name."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Self, TypeVar

import httpx

from nmrx.client import config
from nmrx.client import models as m
from nmrx.client.errors import NotFound
from nmrx.client.transport import Http

R = TypeVar("R", bound=m.Result)
NmrAmount = str | Decimal | int


def _decimal_text(value: NmrAmount, what: str) -> str:
    if isinstance(value, bool | float):
        raise TypeError(
            f"{what} is never a float: give decimal NMR as text or Decimal (e.g. '0.05'), "
            f"or integer units with {what}_units="
        )
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise TypeError(f"{what} must be text, Decimal or int, not {type(value).__name__}")


def _money_in(name: str, value: NmrAmount | None, units: int | None) -> dict[str, object]:
    if (value is None) == (units is None):
        raise TypeError(f"give exactly one of {name}= or {name}_units=")
    if units is not None:
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError(f"{name}_units must be an int of 10⁻⁸ NMR")
        return {f"{name}_units": units}
    assert value is not None  # exactly one of the two was given
    return {name: _decimal_text(value, name)}


def new_key() -> str:
    """A fresh idempotency key / client order id (letters and digits, 32 characters)."""
    return uuid.uuid4().hex


class BaseClient:
    """Configuration, typed requests and model lookup, shared by every part of the client."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        url, tok = config.resolve(base_url, token)
        self.http = Http(
            url,
            tok,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            transport=transport,
            sleep=sleep,
        )

    @property
    def base_url(self) -> str:
        return self.http.base_url

    @property
    def token(self) -> str | None:
        return self.http.token

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r}, token={'set' if self.token else 'none'})"

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        return None if response.status_code == 204 or not response.content else response.json()

    def _one(self, kind: type[R], method: str, path: str, **kwargs: Any) -> R:
        return kind.model_validate(self._call(method, path, **kwargs))

    def _many(self, kind: type[R], method: str, path: str, **kwargs: Any) -> list[R]:
        return [kind.model_validate(row) for row in self._call(method, path, **kwargs)]

    @staticmethod
    def _params(**values: object) -> dict[str, object]:
        return {k: v for k, v in values.items() if v is not None}

    def _keyed_post(self, kind: type[R], path: str, payload: dict[str, object]) -> R:
        """A money-moving POST: one Idempotency-Key for the call, reused by every retry."""
        headers = {"Idempotency-Key": new_key()}
        return self._one(kind, "POST", path, json=payload, headers=headers, idempotent=True)

    # ------------------------------------------------------------------ models (sellers)

    def my_models(self) -> list[m.Model]:
        return self._many(m.Model, "GET", "/api/v1/models/mine")

    def model_id(self, model: int | str, *, mine: bool = False) -> int:
        """Our id of a model given by id, Numerai name or Numerai model id (UUID)."""
        if isinstance(model, int) and not isinstance(model, bool):
            return model
        wanted = str(model).strip()
        if mine:
            candidates = [(x.id, x.name, x.numerai_id) for x in self.my_models()]
        else:
            candidates = [(x.model_id, x.model_name, "") for x in self.markets()]
        for our_id, name, numerai_id in candidates:
            if wanted in (name, numerai_id):
                return our_id
        where = "among your verified models" if mine else "among the listed markets"
        raise NotFound(f"no model {wanted!r} {where}")

    def markets(self, *, tournament: str | None = None, mode: str | None = None) -> list[m.Market]:
        params = self._params(tournament=tournament, mode=mode)
        return self._many(m.Market, "GET", "/api/v1/markets", params=params)
