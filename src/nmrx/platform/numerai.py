"""The Numerai gateway: every call to Numerai goes through the real ``numerapi`` client.

``numerapi`` posts to a module-level URL and swallows transport errors (it returns ``{}``
and the caller fails later with a ``KeyError``). The gateway therefore subclasses the
client and overrides only ``raw_query`` — the one method every operation funnels through —
to post to the configured URL (real Numerai or the bundled emulator) with a timeout and to
raise classified errors. Every other method (queries, upload flow, parsing) is numerapi's own.

Errors are classified as *auth* (the key is unknown or malformed), *permission* (the key
lacks a scope), *not found*, *invalid* (a request Numerai refuses) and *unavailable*
(network, timeout, 5xx, outage). Only *unavailable* is retried, with exponential backoff,
up to ``retries`` attempts in all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import numerapi
import requests

from nmrx.platform.filenames import safe_filename
from nmrx.platform.private_files import write_private

log = logging.getLogger("nmrx.numerai")
T = TypeVar("T")

TOURNAMENTS = {"classic": 8, "signals": 11}
TOURNAMENT_NAMES = {v: k for k, v in TOURNAMENTS.items()}


class NumeraiError(Exception):
    kind = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NumeraiAuthError(NumeraiError):
    kind = "auth"


class NumeraiPermissionError(NumeraiError):
    kind = "permission"


class NumeraiNotFound(NumeraiError):
    kind = "not_found"


class NumeraiInvalid(NumeraiError):
    kind = "invalid"


class NumeraiUnavailable(NumeraiError):
    kind = "unavailable"


_CLASSIFIERS: tuple[tuple[tuple[str, ...], type[NumeraiError]], ...] = (
    (("permission", "not authorized to", "forbidden", "scope"), NumeraiPermissionError),
    (
        (
            "api key",
            "api token",
            "authenticat",
            "not logged in",
            "login required",
            "invalid token",
            "unauthori",
        ),
        NumeraiAuthError,
    ),
    (("not found", "does not exist", "no such", "unknown model"), NumeraiNotFound),
    (("unavailable", "try again", "timeout", "maintenance"), NumeraiUnavailable),
)


def classify(message: str) -> NumeraiError:
    lowered = message.lower()
    for needles, error in _CLASSIFIERS:
        if any(n in lowered for n in needles):
            return error(message)
    return NumeraiInvalid(message)


@dataclass(frozen=True)
class NumeraiKey:
    """A Numerai API key. The secret never appears in ``repr`` or logs."""

    public_id: str
    secret: str = field(repr=False)


class _GatewayTransport:
    """Mixed into numerapi's clients: ``raw_query`` with our URL, timeout and errors."""

    api_url: str
    timeout: float
    # a (public id, secret) pair or None; Any because numerapi's Api infers it as never None
    token: Any

    def raw_query(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        authorization: bool = False,
        **_ignored: Any,
    ) -> dict[str, Any]:
        headers = {"Content-type": "application/json", "Accept": "application/json"}
        if authorization:
            if not self.token:
                raise NumeraiAuthError("a Numerai API key is required for this action")
            public_id, secret = self.token
            headers["Authorization"] = f"Token {public_id}${secret}"
        try:
            response = requests.post(
                self.api_url,
                json={"query": query, "variables": variables},
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise NumeraiUnavailable(f"Numerai is unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise NumeraiUnavailable(f"Numerai answered HTTP {response.status_code}")
        try:
            payload = response.json()
        except ValueError:
            raise NumeraiUnavailable(
                f"Numerai answered HTTP {response.status_code} without JSON"
            ) from None
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if errors:
            messages = [e.get("message", "") for e in errors if isinstance(e, dict)]
            raise classify("; ".join(m for m in messages if m) or "Numerai refused the request")
        if response.status_code == 401:
            raise NumeraiAuthError("Numerai refused the API key")
        if response.status_code == 403:
            raise NumeraiPermissionError("the API key lacks the permission for this action")
        if response.status_code >= 400:
            raise NumeraiInvalid(f"Numerai answered HTTP {response.status_code}")
        return payload


class ClassicClient(_GatewayTransport, numerapi.NumerAPI):
    pass


class SignalsClient(_GatewayTransport, numerapi.SignalsAPI):
    pass


def make_client(
    api_url: str, tournament: str, key: NumeraiKey | None, timeout: float
) -> ClassicClient | SignalsClient:
    cls = SignalsClient if tournament == "signals" else ClassicClient
    client = cls(public_id=None, secret_key=None, verbosity="WARNING", show_progress_bars=False)
    client.token = (key.public_id, key.secret) if key else None
    client.api_url = api_url
    client.timeout = timeout
    return client


@dataclass(frozen=True)
class RoundInfo:
    tournament: str
    number: int
    open_time: datetime
    close_time: datetime


@dataclass(frozen=True)
class ModelRef:
    id: str
    name: str
    tournament: str


@dataclass(frozen=True)
class AccountInfo:
    username: str
    models: list[ModelRef]
    scopes: list[str]


@dataclass(frozen=True)
class ModelProfile:
    id: str
    name: str
    tournament: str
    bio: str
    start_date: datetime | None
    nmr_staked: Decimal | None


class _GatewayCore:
    """Typed operations over numerapi with timeouts, classified errors and bounded retries."""

    def __init__(
        self,
        api_url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        temp_dir: Path | None = None,
    ) -> None:
        self.api_url = api_url
        self.temp_dir = temp_dir  # private (0700): where a file to upload briefly lives
        self.timeout = timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self._sleep = sleep

    def client(
        self, tournament: str = "classic", key: NumeraiKey | None = None
    ) -> ClassicClient | SignalsClient:
        if tournament not in TOURNAMENTS:
            raise NumeraiInvalid(f"unknown tournament {tournament!r}: classic or signals")
        return make_client(self.api_url, tournament, key, self.timeout)

    def call(self, operation: str, fn: Callable[[], T]) -> T:
        """Run ``fn``, retrying only *unavailable* failures, ``retries`` attempts in all."""
        delay = self.backoff
        for attempt in range(1, self.retries + 1):
            try:
                return fn()
            except NumeraiUnavailable as exc:
                if attempt == self.retries:
                    raise NumeraiUnavailable(
                        f"{exc.message} ({operation}; gave up after {attempt} attempts)"
                    ) from None
                log.warning(
                    "numerai %s unavailable (attempt %d/%d): %s",
                    operation,
                    attempt,
                    self.retries,
                    exc.message,
                )
                self._sleep(delay)
                delay *= 2
            except requests.RequestException as exc:  # numerapi's own PUT/GET of files
                if attempt == self.retries:
                    raise NumeraiUnavailable(
                        f"Numerai file transfer failed: {type(exc).__name__}"
                    ) from None
                self._sleep(delay)
                delay *= 2
            except (KeyError, TypeError) as exc:
                raise NumeraiInvalid(
                    f"unexpected answer from Numerai to {operation}: {exc!r}"
                ) from None
        raise AssertionError("unreachable")

    # --- operations -------------------------------------------------------------------

    def current_round(self, tournament: str = "classic") -> RoundInfo:
        query = """
            query($tournament: Int!) {
              rounds(tournament: $tournament, number: 0) { number openTime closeTime }
            }
        """

        def run() -> RoundInfo:
            data = self.client(tournament).raw_query(query, {"tournament": TOURNAMENTS[tournament]})
            rounds = data["data"]["rounds"]
            if not rounds:
                raise NumeraiNotFound(f"no open {tournament} round")
            r = rounds[0]
            return RoundInfo(
                tournament=tournament,
                number=int(r["number"]),
                open_time=datetime.fromisoformat(r["openTime"]),
                close_time=datetime.fromisoformat(r["closeTime"]),
            )

        return self.call("current_round", run)

    def account(self, key: NumeraiKey) -> AccountInfo:
        """The key's account: username, every model in both tournaments, the key's scopes."""

        def run() -> AccountInfo:
            query = """
                query { account { username
                                  models { id name tournament }
                                  apiTokens { name public_id scopes } } }
            """
            data = self.client("classic", key).raw_query(query, authorization=True)["data"][
                "account"
            ]
            scopes: list[str] = []
            for token in data.get("apiTokens") or []:
                if token.get("public_id") == key.public_id:
                    scopes = list(token.get("scopes") or [])
            models = [
                ModelRef(
                    id=m["id"],
                    name=m["name"],
                    tournament=TOURNAMENT_NAMES.get(int(m["tournament"]), str(m["tournament"])),
                )
                for m in data.get("models") or []
            ]
            return AccountInfo(username=data["username"], models=models, scopes=scopes)

        return self.call("account", run)

    def model_profile(self, name: str, tournament: str = "classic") -> ModelProfile:
        def run() -> ModelProfile:
            data = self.client(tournament).public_user_profile(name)
            if not data or not data.get("id"):
                raise NumeraiNotFound(f"no {tournament} model named {name!r} on Numerai")
            return ModelProfile(
                id=data["id"],
                name=data["username"],
                tournament=tournament,
                bio=data.get("bio") or "",
                start_date=data.get("startDate"),
                nmr_staked=data.get("nmrStaked"),
            )

        return self.call("model_profile", run)

    def set_bio(
        self, key: NumeraiKey, model_id: str, bio: str, tournament: str = "classic"
    ) -> bool:
        return self.call(
            "set_bio", lambda: bool(self.client(tournament, key).set_bio(model_id, bio))
        )


@dataclass(frozen=True)
class SubmissionInfo:
    id: str
    filename: str
    round_number: int | None
    selected: bool
    inserted_at: datetime | None


@dataclass(frozen=True)
class DailyScore:
    day: int
    date: datetime | None
    name: str
    value: float


@dataclass(frozen=True)
class RoundPerformance:
    round_number: int
    at_risk: Decimal | None
    submission_id: str | None
    resolved: bool
    scores: list[DailyScore]

    def first_score(self, name: str = "corr") -> DailyScore | None:
        days = sorted((s for s in self.scores if name in s.name.lower()), key=lambda s: s.day)
        return days[0] if days else None


LIVE_UNIVERSE_FILES = {"classic": "v5.0/live.parquet", "signals": "signals/v1.0/live.parquet"}


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class NumeraiGateway(_GatewayCore):
    """The gateway: accounts, profiles and rounds (above), submissions, scores and universes."""

    def upload(
        self, key: NumeraiKey, *, model_id: str, tournament: str, content: bytes, filename: str
    ) -> str:
        """Upload a predictions file to a model through numerapi's own upload flow; returns its
        id. numerapi is given the file itself, not a DataFrame: it would write a DataFrame out
        as CSV again (a parquet file too), and the slot must receive the seller's bytes. The
        plaintext copy lives, mode 0600, in the private temporary folder only while numerapi
        reads it."""
        import tempfile

        name = safe_filename(filename)

        def run() -> str:
            with tempfile.TemporaryDirectory(prefix="upload-", dir=self.temp_dir) as folder:
                path = Path(folder) / name
                write_private(path, content)
                client = self.client(tournament, key)
                return str(client.upload_predictions(file_path=str(path), model_id=model_id))

        return self.call("upload", run)

    def submissions(
        self, key: NumeraiKey, *, model_id: str, tournament: str = "classic"
    ) -> list[SubmissionInfo]:
        query = """
            query($modelId: String) {
              model(modelId: $modelId) {
                submissions { id filename selected insertedAt round { number } }
              }
            }
        """

        def run() -> list[SubmissionInfo]:
            data = self.client(tournament, key).raw_query(
                query, {"modelId": model_id}, authorization=True
            )
            model = data["data"]["model"]
            if model is None:
                raise NumeraiNotFound(f"no model {model_id} on Numerai")
            return [
                SubmissionInfo(
                    id=s["id"],
                    filename=s["filename"],
                    round_number=(s.get("round") or {}).get("number"),
                    selected=bool(s.get("selected")),
                    inserted_at=_dt(s.get("insertedAt")),
                )
                for s in model.get("submissions") or []
            ]

        return self.call("submissions", run)

    def selected_submission(
        self, key: NumeraiKey, *, model_id: str, round_number: int, tournament: str = "classic"
    ) -> SubmissionInfo | None:
        for s in self.submissions(key, model_id=model_id, tournament=tournament):
            if s.round_number == round_number and s.selected:
                return s
        return None

    def round_performances(
        self, model_id: str, tournament: str = "classic"
    ) -> list[RoundPerformance]:
        query = """
            query($modelId: String!, $tournament: Int) {
              v2RoundModelPerformances(modelId: $modelId, tournament: $tournament) {
                roundNumber roundResolved atRisk submissionId
                submissionScores { day date displayName value }
              }
            }
        """

        def run() -> list[RoundPerformance]:
            data = self.client(tournament).raw_query(
                query, {"modelId": model_id, "tournament": TOURNAMENTS[tournament]}
            )
            rows = data["data"]["v2RoundModelPerformances"] or []
            return [
                RoundPerformance(
                    round_number=int(r["roundNumber"]),
                    at_risk=Decimal(r["atRisk"]) if r.get("atRisk") is not None else None,
                    submission_id=r.get("submissionId"),
                    resolved=bool(r.get("roundResolved")),
                    scores=[
                        DailyScore(
                            int(s["day"]),
                            _dt(s.get("date")),
                            s.get("displayName") or "",
                            float(s["value"]),
                        )
                        for s in r.get("submissionScores") or []
                        if s.get("value") is not None
                    ],
                )
                for r in rows
            ]

        return self.call("round_performances", run)

    def live_universe(self, tournament: str, round_number: int) -> list[str]:
        """The ids (classic) or tickers (signals) a submission for the round must cover."""
        import io

        import pandas as pd

        query = """
            query($filename: String!, $round: Int, $tournament: Int) {
              dataset(filename: $filename, round: $round, tournament: $tournament)
            }
        """

        def run() -> list[str]:
            client = self.client(tournament)
            url = client.raw_query(
                query,
                {
                    "filename": LIVE_UNIVERSE_FILES[tournament],
                    "round": round_number,
                    "tournament": TOURNAMENTS[tournament],
                },
            )["data"]["dataset"]
            if not url:
                raise NumeraiNotFound(f"no live universe for {tournament} round {round_number}")
            response = requests.get(url, timeout=self.timeout)
            if response.status_code >= 500:
                raise NumeraiUnavailable(f"dataset download answered HTTP {response.status_code}")
            if response.status_code == 404:
                raise NumeraiNotFound(f"no live universe for {tournament} round {round_number}")
            response.raise_for_status()
            frame = pd.read_parquet(io.BytesIO(response.content))
            if tournament == "signals":
                column = "numerai_ticker" if "numerai_ticker" in frame.columns else frame.columns[0]
                return [str(t) for t in frame[column]]
            return [str(i) for i in frame.index]

        return self.call("live_universe", run)
