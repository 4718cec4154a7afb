"""The emulated Numerai: accounts, models, keys, submissions, stakes — and its clock.

All state is in memory behind one re-entrant lock; every public method is thread-safe.
Identifiers come from a random generator seeded with ``seed``, and round data from
``(seed, tournament, round)``, so one seed gives one world.
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import pandas as pd

from . import calendar, errors
from .clock import SimClock
from .errors import EmulatorError
from .faults import Faults
from .scoring import clean_predictions, read_predictions, score
from .state import SCOPES, Account, ApiKey, Model, PendingUpload, Submission
from .universe import CLASSIC, SIGNALS, TOURNAMENTS, RoundData, round_data

DEFAULT_ADMIN_TOKEN = "emulator-admin"
DEFAULT_BALANCE = Decimal("1000")
HISTORY_ROUNDS = 20
UPLOAD_SLOT_LIFETIME = timedelta(days=1)  # unused upload URLs are forgotten after
DEFAULT_ACCOUNTS: dict[str, list[tuple[str, int, str]]] = {
    "alice": [
        ("alice_m1", CLASSIC, "100"),
        ("alice_m2", CLASSIC, "0"),
        ("alice_sig", SIGNALS, "50"),
    ],
    "bob": [("bob_slot1", CLASSIC, "0"), ("bob_slot2", CLASSIC, "0"), ("bob_sig", SIGNALS, "0")],
    "carol": [("carol_m1", CLASSIC, "25")],
}
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def default_start(wall: datetime | None = None) -> datetime:
    """One minute after the open of the latest round opened by ``wall`` (default: now),
    so a fresh emulator always has a round open for submissions."""
    wall = wall or datetime.now(UTC)
    return calendar.round_times(calendar.latest_open_round(wall)).open + timedelta(minutes=1)


def parse_amount(value: object, *, allow_zero: bool = False) -> Decimal:
    try:
        amount = Decimal(str(value).replace(",", ""))
    except InvalidOperation as exc:
        raise EmulatorError(f"Invalid amount: {value!r}") from exc
    if not amount.is_finite() or amount < 0 or (amount == 0 and not allow_zero):
        raise EmulatorError(f"Invalid amount: {value!r}")
    return amount


class World:
    def __init__(
        self,
        seed: int = 0,
        *,
        start: datetime | None = None,
        frozen: bool = False,
        populate: bool = True,
    ) -> None:
        self.seed = int(seed)
        self.lock = threading.RLock()
        self.clock = SimClock(start or default_start(), frozen=frozen)
        self.faults = Faults(self.seed, self.clock.now)
        self.started_at = self.clock.now()
        self.genesis_round = max(1, calendar.latest_open_round(self.started_at) - HISTORY_ROUNDS)
        self._rand = random.Random(self.seed)
        self.accounts: dict[str, Account] = {}
        self.models: dict[str, Model] = {}
        self.keys: dict[str, ApiKey] = {}
        self.submissions: dict[str, Submission] = {}
        self.uploads: dict[str, PendingUpload] = {}
        self._by_model: dict[str, list[Submission]] = {}
        if populate:
            self._populate()

    # ----------------------------------------------------------------- ids & setup
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rand.getrandbits(128), version=4))

    def _chars(self, n: int) -> str:
        return "".join(self._rand.choice(_KEY_ALPHABET) for _ in range(n))

    def _populate(self) -> None:
        for i, (username, models) in enumerate(DEFAULT_ACCOUNTS.items()):
            self.create_account(username)
            self.create_api_key(username, name="default")
            for j, (name, tournament, stake) in enumerate(models):
                started = self.started_at - timedelta(days=60 + 10 * i + j)
                self.create_model(
                    username, name, tournament=tournament, stake=stake, start_date=started
                )

    # ----------------------------------------------------------------- time
    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, to: str | None = None, **duration: float) -> datetime:
        """``clock.advance``: ``to`` in next_open/next_close/next_score, then days=…"""
        return self.clock.advance(to, **duration)

    def advance_to_next_open(self) -> datetime:
        return self.clock.advance("next_open")

    def advance_to_next_close(self) -> datetime:
        return self.clock.advance("next_close")

    def advance_days(self, days: float) -> datetime:
        return self.clock.advance(days=days)

    def current_round(self) -> calendar.RoundTimes:
        """The latest round that has opened (it may have closed already)."""
        return calendar.round_times(calendar.latest_open_round(self.now()))

    def open_round(self) -> calendar.RoundTimes | None:
        number = calendar.open_round(self.now())
        return None if number is None else calendar.round_times(number)

    # ----------------------------------------------------------------- round data
    def round_data(self, tournament: int, number: int) -> RoundData:
        return round_data(self.seed, int(tournament), int(number))

    def targets(self, tournament: int, number: int) -> pd.Series:
        """The hidden targets of a round (for tests and demos)."""
        return self.round_data(tournament, number).targets.copy()

    def universe(self, tournament: int, number: int) -> list[str]:
        return self.round_data(tournament, number).ids.tolist()

    def example_predictions(self, tournament: int, number: int) -> pd.Series:
        return self.round_data(tournament, number).example.copy()

    # ----------------------------------------------------------------- admin
    def create_account(
        self, username: str, *, available_nmr: object = DEFAULT_BALANCE, email: str | None = None
    ) -> Account:
        with self.lock:
            if any(a.username == username for a in self.accounts.values()):
                raise EmulatorError(f"Account {username} already exists", 409)
            account = Account(
                id=self._uuid(),
                username=username,
                email=email or f"{username}@example.com",
                wallet_address="0x"
                + hashlib.sha256(f"{self.seed}:{username}".encode()).hexdigest()[:40],
                available_nmr=parse_amount(available_nmr, allow_zero=True),
                inserted_at=self.now() - timedelta(days=90),
            )
            self.accounts[account.id] = account
            return account

    def create_model(
        self,
        account: str,
        name: str,
        *,
        tournament: int = CLASSIC,
        stake: object = "0",
        bio: str | None = None,
        start_date: datetime | None = None,
    ) -> Model:
        with self.lock:
            owner = self.account(account)
            if int(tournament) not in TOURNAMENTS:
                raise EmulatorError(f"Unknown tournament {tournament}")
            if any(m.name == name and m.tournament == tournament for m in self.models.values()):
                raise EmulatorError(f"Model {name} already exists", 409)
            model = Model(
                id=self._uuid(),
                name=name,
                tournament=int(tournament),
                account_id=owner.id,
                start_date=start_date or self.now(),
                bio=bio,
            )
            model.record_stake(model.start_date, parse_amount(stake, allow_zero=True))
            self.models[model.id] = model
            owner.model_ids.append(model.id)
            self._by_model[model.id] = []
            return model

    def create_api_key(
        self, account: str, *, scopes: Iterable[str] = SCOPES, name: str = "key"
    ) -> ApiKey:
        scopes = frozenset(scopes)
        unknown = scopes - set(SCOPES)
        if unknown:
            raise EmulatorError(f"Unknown scopes {sorted(unknown)}; use {list(SCOPES)}")
        with self.lock:
            owner = self.account(account)
            key = ApiKey(self._chars(32), self._chars(64), owner.id, name, scopes)
            self.keys[key.public_id] = key
            owner.key_ids.append(key.public_id)
            return key

    def set_bio(self, model: str, bio: str | None) -> Model:
        with self.lock:
            target = self.model(model)
            target.bio = bio
            return target

    def set_stake(self, model: str, stake: object) -> Model:
        """Set a model's stake directly, from now on (no wallet movement)."""
        with self.lock:
            target = self.model(model)
            target.record_stake(self.now(), parse_amount(stake, allow_zero=True))
            return target

    def set_at_risk(self, model: str, round_number: int, at_risk: object) -> Model:
        """Override the stake at risk of a model for one round."""
        with self.lock:
            target = self.model(model)
            target.at_risk_overrides[int(round_number)] = parse_amount(at_risk, allow_zero=True)
            return target

    # ----------------------------------------------------------------- lookups
    def account(self, ref: str) -> Account:
        """An account by id or username."""
        with self.lock:
            if ref in self.accounts:
                return self.accounts[ref]
            for account in self.accounts.values():
                if account.username == ref:
                    return account
        raise EmulatorError(f"Account {ref} not found", 404)

    def model(self, ref: str, tournament: int | None = None) -> Model:
        """A model by id, or by name (within ``tournament`` if given)."""
        with self.lock:
            if ref in self.models:
                return self.models[ref]
            for model in self.models.values():
                if model.name == ref and tournament in (None, model.tournament):
                    return model
        raise EmulatorError(errors.MODEL_NOT_FOUND, 404)

    def key(self, account: str) -> ApiKey:
        """The first API key of an account."""
        with self.lock:
            owner = self.account(account)
            if not owner.key_ids:
                raise EmulatorError(f"Account {account} has no API key", 404)
            return self.keys[owner.key_ids[0]]

    def token(self, account: str) -> str:
        """``public$secret`` of the account's first key."""
        return self.key(account).token

    def submissions_of(self, model_id: str) -> list[Submission]:
        with self.lock:
            return list(self._by_model.get(model_id, []))

    def selected_by_round(self, model_id: str) -> dict[int, Submission]:
        """The selected submission (the last upload) of each round of a model."""
        with self.lock:
            return {s.round_number: s for s in self._by_model.get(model_id, [])}

    def selected_submission(self, model_id: str, round_number: int) -> Submission | None:
        return self.selected_by_round(model_id).get(int(round_number))

    def at_risk(self, model: Model, round_number: int) -> Decimal | None:
        """Stake at risk: the admin override, else the stake at the round's close
        (``None`` while the round is still open)."""
        with self.lock:
            if round_number in model.at_risk_overrides:
                return model.at_risk_overrides[round_number]
            close = calendar.round_times(round_number).close
            return model.stake_at(close) if self.now() >= close else None

    # ----------------------------------------------------------------- auth
    def authenticate(self, header: str | None) -> ApiKey | None:
        """Parse ``Authorization: Token public$secret``; ``None`` without a header."""
        if not header:
            return None
        scheme, _, credential = header.strip().partition(" ")
        public_id, sep, secret = credential.strip().partition("$")
        with self.lock:
            key = self.keys.get(public_id)
        if scheme.lower() != "token" or not sep or key is None or key.secret != secret:
            raise EmulatorError(errors.INVALID_KEY, 401)
        return key

    def owned_model(self, key: ApiKey, model_id: str | None, tournament: int | None) -> Model:
        with self.lock:
            if not model_id:
                mine = [
                    self.models[m]
                    for m in self.accounts[key.account_id].model_ids
                    if tournament in (None, self.models[m].tournament)
                ]
                if len(mine) != 1:
                    raise EmulatorError("modelId is required for accounts with several models")
                return mine[0]
            model = self.models.get(model_id)
            if model is None:
                raise EmulatorError(errors.MODEL_NOT_FOUND)
            if model.account_id != key.account_id:
                raise EmulatorError(errors.not_owner(model_id))
            if tournament is not None and model.tournament != tournament:
                raise EmulatorError(f"Model {model.name} is not in tournament {tournament}")
            return model

    # ----------------------------------------------------------------- submissions
    def upload_auth(
        self, key: ApiKey, filename: str, tournament: int | None, model_id: str | None
    ) -> PendingUpload:
        with self.lock:
            model = self.owned_model(key, model_id, tournament)
            stale = self.now() - UPLOAD_SLOT_LIFETIME
            for token in [t for t, s in self.uploads.items() if s.created_at < stale]:
                del self.uploads[token]
            slot = PendingUpload(
                token=uuid.uuid4().hex,
                account_id=key.account_id,
                model_id=model.id,
                tournament=model.tournament,
                filename=filename.rsplit("/", 1)[-1],
                created_at=self.now(),
            )
            self.uploads[slot.token] = slot
            return slot

    def receive_upload(self, token: str, content: bytes) -> bool:
        with self.lock:
            slot = self.uploads.get(token)
            if slot is None:
                return False
            slot.content = content
            return True

    def create_submission(
        self,
        key: ApiKey,
        filename: str,
        tournament: int | None,
        model_id: str | None,
        *,
        trigger_id: str | None = None,
        source: str | None = None,
    ) -> Submission:
        with self.lock:
            model = self.owned_model(key, model_id, tournament)
            now = self.now()
            number = calendar.open_round(now)
            if number is None:
                raise EmulatorError(errors.ROUND_NOT_OPEN)
            slots = [
                s
                for s in self.uploads.values()
                if s.model_id == model.id and s.filename == filename and s.content is not None
            ]
            if not slots:
                raise EmulatorError(
                    f"Upload not found for {filename}: PUT the file to the URL from the "
                    "upload auth query first"
                )
            slot = max(slots, key=lambda s: s.created_at)
        submission = self._record(
            model, number, filename, slot.content or b"", now, trigger_id=trigger_id, source=source
        )
        with self.lock:
            self.uploads.pop(slot.token, None)
        return submission

    def record_submission(
        self, model_ref: str, round_number: int, content: bytes, filename: str
    ) -> Submission:
        """Test and demo control: make ``content`` the model's selected submission for a
        round, even one already closed (which no upload can reach), scored like an upload.
        It stands for what the platform cannot cause itself, e.g. a slot whose selection
        changed after the close."""
        return self._record(self.model(model_ref), round_number, filename, content, self.now())

    def _record(
        self,
        model: Model,
        number: int,
        filename: str,
        content: bytes,
        now: datetime,
        *,
        trigger_id: str | None = None,
        source: str | None = None,
    ) -> Submission:
        data = self.round_data(model.tournament, number)
        scores = score(data, clean_predictions(data, read_predictions(content, filename)))
        with self.lock:
            submission = Submission(
                id=self._uuid(),
                model_id=model.id,
                tournament=model.tournament,
                round_number=number,
                filename=filename,
                inserted_at=now,
                content=content,
                sha256=hashlib.sha256(content).hexdigest(),
                scores=scores,
                trigger_id=trigger_id,
                source=source,
            )
            self.submissions[submission.id] = submission
            self._by_model[model.id].append(submission)
            return submission

    # ----------------------------------------------------------------- history
    def backfill(self, model_ref: str, rounds: int, *, skill: float = 0.05) -> int:
        """Give a model a score history: a selected submission in each of the last
        ``rounds`` closed rounds, made from the round's targets blended with noise
        (``skill`` sets how much signal), scored like any upload. For demos; the
        synthetic submissions have no downloadable file. Returns how many were made."""
        import numpy as np

        model = self.model(model_ref)
        latest = calendar.latest_open_round(self.now())
        closed = [
            n
            for n in range(latest - rounds - 1, latest + 1)
            if calendar.round_times(n).close <= self.now()
        ]
        made = 0
        for number in closed[-rounds:]:
            data = self.round_data(model.tournament, number)
            digest = hashlib.sha256(f"{self.seed}:{model.id}:{number}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
            target = data.targets.reindex(data.ids).fillna(0.5).to_numpy()
            blended = skill * (target - target.mean()) / (target.std() or 1) + rng.standard_normal(
                len(target)
            )
            ranks = blended.argsort().argsort()
            preds = pd.Series((ranks + 0.5) / len(ranks), index=data.ids, name="prediction")
            scores = score(data, preds.sort_index())
            rt = calendar.round_times(number)
            with self.lock:
                submission = Submission(
                    id=self._uuid(),
                    model_id=model.id,
                    tournament=model.tournament,
                    round_number=number,
                    filename=f"history_{number}.csv",
                    inserted_at=rt.open + timedelta(minutes=5),
                    content=b"",
                    sha256="",
                    scores=scores,
                    source="backfill",
                )
                self.submissions[submission.id] = submission
                self._by_model[model.id].append(submission)
                self._by_model[model.id].sort(key=lambda s: s.inserted_at)
            made += 1
        return made

    # ----------------------------------------------------------------- stakes
    def change_stake(
        self, key: ApiKey, model_id: str | None, value: object, kind: str, tournament: int | None
    ) -> dict:
        """Increase or decrease a stake; both take effect at once (a simplification)."""
        amount = parse_amount(value)
        if kind not in ("increase", "decrease"):
            raise EmulatorError(f"Invalid stake change type {kind!r}: use increase or decrease")
        with self.lock:
            model = self.owned_model(key, model_id, tournament)
            owner = self.accounts[model.account_id]
            now = self.now()
            current = model.stake_at(now)
            if kind == "increase":
                if amount > owner.available_nmr:
                    raise EmulatorError("Insufficient NMR balance for this stake increase")
                owner.available_nmr -= amount
                model.record_stake(now, current + amount)
            else:
                if amount > current:
                    raise EmulatorError("Cannot decrease the stake by more than the current stake")
                owner.available_nmr += amount
                model.record_stake(now, current - amount)
            owner.wallet_txns.append(
                {
                    "amount": amount,
                    "from": owner.wallet_address if kind == "increase" else "staking",
                    "to": "staking" if kind == "increase" else owner.wallet_address,
                    "status": "confirmed",
                    "time": now,
                    "tournament": model.tournament,
                    "txHash": "0x" + hashlib.sha256(f"{model.id}:{now}".encode()).hexdigest(),
                    "type": "stake" if kind == "increase" else "release",
                }
            )
            return {
                "id": self._uuid(),
                "dueDate": now if kind == "decrease" else None,
                "requestedAmount": amount,
                "status": "confirmed",
                "type": kind,
                "drain": False,
            }

    def release_stake(
        self, key: ApiKey, model_id: str | None, *, drain: bool, amount: object | None
    ) -> dict:
        with self.lock:
            model = self.owned_model(key, model_id, None)
            current = model.stake_at(self.now())
            value = current if drain else parse_amount(amount)
            if value == 0:
                raise EmulatorError("Nothing to release: the stake is zero")
            result = self.change_stake(key, model.id, value, "decrease", None)
            result["drain"] = bool(drain)
            return result
