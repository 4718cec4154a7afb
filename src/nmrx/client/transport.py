"""HTTP for the client: authentication, error mapping, retries with backoff.

A request is retried when it failed transiently and retrying cannot do it twice:

* the connection could not be made (nothing reached the server): always;
* the response was lost (read error, timeout, dropped connection) or the server answered
  502/504: only for *idempotent* requests — GET/PUT/DELETE, and POSTs that carry their own
  idempotency (an order's ``client_order_id``, an ``Idempotency-Key`` header);
* 503 (the server says nothing was changed) and 429: always.

The caller builds its idempotency key once, before the first attempt, so every retry
carries the same key and the server returns the original result.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from nmrx import __version__
from nmrx.client.errors import AuthError, ConnectionFailed, NmrxError, for_status

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
LOST = (
    httpx.ReadError,
    httpx.ReadTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
)
RETRY_ALWAYS = frozenset({429, 503})
RETRY_IDEMPOTENT = frozenset({502, 504})
MAX_RETRY_AFTER = 30.0


def error_from(response: httpx.Response) -> NmrxError:
    """The exception for an error response, carrying the server's reason."""
    details: object = None
    message = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        details = body.get("details")
        raw = body.get("error", body.get("detail"))
        if isinstance(raw, str):
            message = raw
        elif raw is not None:
            message = str(raw)
    if not message:
        text = response.text.strip()[:200] if response.content else ""
        message = f"HTTP {response.status_code} {response.reason_phrase}" + (
            f": {text}" if text else ""
        )
    return for_status(response.status_code, message, details)


class Http:
    """One ``httpx.Client`` with the API token, the retry policy and the error mapping."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": f"nmrx-python/{__version__}", "Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def _headers(self, auth: bool, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if auth:
            if not self.token:
                raise AuthError(
                    "no API token: run `nmrx login`, set NMRX_API_TOKEN, or pass token= to Client"
                )
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        if response is not None and (after := response.headers.get("Retry-After")):
            try:
                return min(max(float(after), 0.0), MAX_RETRY_AFTER)
            except ValueError:
                pass
        base = min(self.backoff * (2**attempt), self.max_backoff)
        return base * (1 + random.random() * 0.25)  # a little jitter

    def _retryable(self, status: int, idempotent: bool) -> bool:
        return status in RETRY_ALWAYS or (idempotent and status in RETRY_IDEMPOTENT)

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        idempotent: bool | None = None,
        headers: dict[str, str] | None = None,
        body: Callable[[], dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries; return a 2xx response or raise the mapped :class:`NmrxError`.

        ``body`` builds fresh request content (``files``/``data``) for every attempt, for
        file uploads whose streams are consumed by a try."""
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        sent_headers = self._headers(auth, headers)
        attempt = 0
        while True:
            extra = body() if body is not None else {}
            response: httpx.Response | None = None
            try:
                response = self.client.request(
                    method, path, headers=sent_headers, **kwargs, **extra
                )
            except NOT_SENT as exc:
                failure: Exception = exc
            except LOST as exc:
                if not safe:
                    raise ConnectionFailed(
                        f"the response from {self.base_url} was lost ({type(exc).__name__}); "
                        "the request may or may not have been applied"
                    ) from exc
                failure = exc
            except httpx.HTTPError as exc:
                raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from exc
            else:
                if response.is_success:
                    return response
                if not self._retryable(response.status_code, safe):
                    raise error_from(response)
                failure = error_from(response)
            if attempt >= self.retries:
                if isinstance(failure, NmrxError):
                    raise failure
                raise ConnectionFailed(
                    f"cannot reach {self.base_url}: {type(failure).__name__}: {failure}"
                ) from failure
            self.sleep(self._delay(attempt, response))
            attempt += 1

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed 2xx response. Retries happen only until the headers arrive; a failure
        while the body is read propagates (the caller may start the download over)."""
        response = self._open(method, path, **kwargs)
        try:
            yield response
        finally:
            response.close()

    def _open(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = self._headers(True, kwargs.pop("headers", None))
        attempt = 0
        while True:
            response = None
            try:
                request = self.client.build_request(method, path, headers=headers, **kwargs)
                response = self.client.send(request, stream=True)
            except (*NOT_SENT, *LOST) as exc:
                if attempt >= self.retries:
                    raise ConnectionFailed(
                        f"cannot download from {self.base_url}: {type(exc).__name__}: {exc}"
                    ) from exc
            else:
                if response.is_success:
                    return response
                response.read()
                response.close()
                error = error_from(response)
                if not self._retryable(response.status_code, True) or attempt >= self.retries:
                    raise error
            self.sleep(self._delay(attempt, response))
            attempt += 1
