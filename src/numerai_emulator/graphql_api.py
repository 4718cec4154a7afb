"""Resolvers of the emulated GraphQL API, and the ``execute`` entry point.

Permissions (Numerai's API key scopes):

===========================================  ==========================================
operation                                    needs
===========================================  ==========================================
account                                      ``read_user_info``
submissions, model{submissions},             ``read_submission_info``
submissionDownloadAuth
submission_upload_auth,                      ``upload_submission``
submissionUploadSignalsAuth, create_submission,
createSignalsSubmission
v2ChangeStake, releaseStake                  ``stake``
model{name…}, setUserBio, setUserLink        any valid key of the model's account
rounds, listDatasets, dataset, v3UserProfile, no key
accountProfile, submissionScores,
v2RoundModelPerformances
===========================================  ==========================================
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from graphql import ExecutionResult, GraphQLError, GraphQLObjectType, execute, parse, validate

from . import calendar, errors, views
from .calendar import iso
from .errors import EmulatorError
from .schema import SCHEMA, canonicalise
from .state import ApiKey, Model, decimal_str
from .universe import CLASSIC, DATASETS, SIGNALS
from .world import World

log = logging.getLogger(__name__)
_UNSET = object()


@dataclass
class Context:
    world: World
    base_url: str
    auth_header: str | None
    _key: Any = field(default=_UNSET)

    def key(self, scope: str | None = None) -> ApiKey:
        if self._key is _UNSET:
            try:
                self._key = self.world.authenticate(self.auth_header)
            except EmulatorError as exc:
                self._key = exc
        if isinstance(self._key, EmulatorError):
            raise GraphQLError(self._key.message)
        if self._key is None:
            raise GraphQLError(errors.NOT_AUTHENTICATED)
        if scope is not None and scope not in self._key.scopes:
            raise GraphQLError(errors.missing_scope(scope))
        return self._key


def _ctx(info) -> Context:
    return info.context


def _guard(fn):
    """Turn EmulatorError/ValueError raised by the world into GraphQL errors."""

    def wrapper(_root, info, **kwargs):
        try:
            return fn(_ctx(info), **kwargs)
        except EmulatorError as exc:
            raise GraphQLError(exc.message) from exc

    return wrapper


def _stake_str(model: Model, world: World) -> str | None:
    stake = model.stake_at(world.now())
    return decimal_str(stake) if stake else None


def _model_view(ctx: Context, model: Model, *, guarded_submissions: bool) -> dict:
    world = ctx.world

    def submissions(*_args):
        if guarded_submissions:
            ctx.key("read_submission_info")
        return views.submission_views(world, world.submissions_of(model.id))

    stake = model.stake_at(world.now())
    return {
        "id": model.id,
        "name": model.name,
        "displayName": model.name,
        "username": model.name,
        "tournament": model.tournament,
        "bio": model.bio,
        "linkText": model.link_text,
        "linkUrl": model.link_url,
        "startDate": iso(model.start_date),
        "nmrStaked": _stake_str(model, world),
        "stakeValue": _stake_str(model, world),
        "submissions": submissions,
        "v2Stake": {"status": "confirmed", "txHash": None, "value": decimal_str(stake)},
    }


def _profile(ctx: Context, model_name: str | None, tournament: int) -> dict:
    if not model_name:
        raise EmulatorError(errors.MODEL_NOT_FOUND)
    model = ctx.world.model(model_name, tournament)
    if model.tournament != tournament:
        raise EmulatorError(errors.MODEL_NOT_FOUND)
    view = _model_view(ctx, model, guarded_submissions=True)
    return {k: view[k] for k in view if k not in ("submissions", "v2Stake", "name")} | {
        "dailyModelPerformances": []
    }


# ---------------------------------------------------------------------- queries
@_guard
def r_account(ctx: Context) -> dict:
    key = ctx.key("read_user_info")
    world = ctx.world
    with world.lock:
        account = world.accounts[key.account_id]
        models = [world.models[m] for m in account.model_ids]
        tokens = [world.keys[k] for k in account.key_ids]
        txns = list(account.wallet_txns)
    return {
        "id": account.id,
        "username": account.username,
        "email": account.email,
        "walletAddress": account.wallet_address,
        "availableNmr": decimal_str(account.available_nmr),
        "mfaEnabled": False,
        "status": "VERIFIED",
        "insertedAt": iso(account.inserted_at),
        "models": [_model_view(ctx, m, guarded_submissions=False) for m in models],
        "apiTokens": [
            {"name": t.name, "publicId": t.public_id, "scopes": sorted(t.scopes)} for t in tokens
        ],
        "walletTxns": [
            t | {"amount": decimal_str(t["amount"]), "time": iso(t["time"])} for t in txns
        ],
    }


@_guard
def r_account_profile(ctx: Context, username: str, tournament: int | None = None) -> dict:
    world = ctx.world
    account = world.account(username)
    with world.lock:
        models = [world.models[m] for m in account.model_ids]
    models = [m for m in models if tournament in (None, m.tournament)]
    return {
        "username": account.username,
        "models": [_model_view(ctx, m, guarded_submissions=True) for m in models],
    }


@_guard
def r_v3_user_profile(ctx: Context, modelName=None, tournament=None) -> dict:  # noqa: N803
    return _profile(ctx, modelName, CLASSIC if tournament is None else tournament)


@_guard
def r_signals_profile(ctx: Context, modelName=None, tournament=None) -> dict:  # noqa: N803
    return _profile(ctx, modelName, SIGNALS if tournament is None else tournament)


@_guard
def r_rounds(ctx: Context, tournament=None, number=None, target=None, status=None, limit=None):
    rounds = views.list_rounds(
        ctx.world, CLASSIC if tournament is None else tournament, number=number, status=status
    )
    rounds = [r for r in rounds if target in (None, r["target"])]
    return rounds if limit is None else rounds[: max(0, limit)]


def _dataset_round(ctx: Context, number: int | None, tournament: int | None) -> tuple[int, int]:
    tournament = CLASSIC if tournament is None else tournament
    if tournament not in DATASETS:
        raise EmulatorError(f"Unknown tournament {tournament}")
    current = calendar.latest_open_round(ctx.world.now())
    if number in (None, 0):
        return tournament, current
    if not ctx.world.genesis_round <= number <= current:
        raise EmulatorError(f"Round {number} not found")
    return tournament, number


@_guard
def r_list_datasets(ctx: Context, round=None, tournament=None) -> list[str]:  # noqa: A002
    tournament, _ = _dataset_round(ctx, round, tournament)
    return list(DATASETS[tournament])


@_guard
def r_dataset(ctx: Context, filename: str, round=None, tournament=None) -> str:  # noqa: A002
    tournament, number = _dataset_round(ctx, round, tournament)
    if filename not in DATASETS[tournament]:
        raise EmulatorError(f"Dataset {filename} not found")
    return f"{ctx.base_url}/datasets/{tournament}/{number}/{filename}"


def _upload_auth(ctx: Context, filename: str, tournament: int, model_id: str | None) -> dict:
    key = ctx.key("upload_submission")
    slot = ctx.world.upload_auth(key, filename, tournament, model_id)
    return {"filename": slot.filename, "url": f"{ctx.base_url}/uploads/{slot.token}"}


@_guard
def r_upload_auth(ctx: Context, filename: str, tournament=None, modelId=None) -> dict:  # noqa: N803
    return _upload_auth(ctx, filename, CLASSIC if tournament is None else tournament, modelId)


@_guard
def r_signals_upload_auth(ctx: Context, filename: str, tournament=None, modelId=None):  # noqa: N803
    return _upload_auth(ctx, filename, SIGNALS, modelId)


def download_token(world: World, submission_id: str) -> str:
    return hashlib.sha256(f"{world.seed}:download:{submission_id}".encode()).hexdigest()[:32]


@_guard
def r_download_auth(ctx: Context, id=None) -> dict:  # noqa: A002
    key = ctx.key("read_submission_info")
    sub = ctx.world.submissions.get(id or "")
    if sub is None:
        raise EmulatorError("Submission not found")
    ctx.world.owned_model(key, sub.model_id, None)
    token = download_token(ctx.world, sub.id)
    return {"filename": sub.filename, "url": f"{ctx.base_url}/submissions/{sub.id}/{token}"}


@_guard
def r_submissions(ctx: Context, modelId=None) -> list[dict]:  # noqa: N803
    key = ctx.key("read_submission_info")
    world = ctx.world
    if modelId:
        model_ids = [world.owned_model(key, modelId, None).id]
    else:
        model_ids = list(world.accounts[key.account_id].model_ids)
    subs = [s for m in model_ids for s in world.submissions_of(m)]
    return views.submission_views(world, subs)


@_guard
def r_model(ctx: Context, modelId=None) -> dict:  # noqa: N803
    key = ctx.key()
    model = ctx.world.owned_model(key, modelId, None)
    return _model_view(ctx, model, guarded_submissions=True)


def _public_model(ctx: Context, model_id: str) -> Model:
    model = ctx.world.models.get(model_id)
    if model is None:
        raise EmulatorError(errors.MODEL_NOT_FOUND)
    return model


@_guard
def r_submission_scores(ctx: Context, modelId: str, tournament=None, **filters):  # noqa: N803
    model = _public_model(ctx, modelId)
    if tournament is not None and tournament != model.tournament:
        return []
    return views.score_rows(
        ctx.world,
        model,
        display_name=filters.get("displayName"),
        version=filters.get("version"),
        day=filters.get("day"),
        resolved=filters.get("resolved"),
        last_n_rounds=filters.get("lastNRounds"),
        distinct_on_round=filters.get("distinctOnRound"),
    )


@_guard
def r_performances(ctx: Context, modelId: str, tournament=None) -> list[dict]:  # noqa: N803
    model = _public_model(ctx, modelId)
    if tournament is not None and tournament != model.tournament:
        return []
    return views.performances(ctx.world, model)


@_guard
def r_pending_payouts(ctx: Context, tournament=None) -> dict:
    key = ctx.key("read_user_info")
    world = ctx.world
    actual: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for model_id in list(world.accounts[key.account_id].model_ids):
        model = world.models[model_id]
        if tournament is not None and model.tournament != tournament:
            continue
        for perf in views.performances(world, model):
            scores = perf["submissionScores"]
            if not scores:
                continue
            last = scores[-1]
            amount = last["payoutSettled"] or last["payoutPending"]
            row = {
                "roundId": perf["roundId"],
                "roundNumber": perf["roundNumber"],
                "roundResolveTime": perf["roundResolveTime"],
                "modelId": model.id,
                "modelName": model.name,
                "modelDisplayName": model.name,
                "payoutNmr": amount,
                "payoutValue": amount,
                "currencySymbol": "NMR",
            }
            (actual if perf["roundResolved"] else pending).append(row)
    return {"actual": actual, "pending": pending}


# ---------------------------------------------------------------------- mutations
@_guard
def m_create_submission(ctx: Context, filename: str, tournament=None, modelId=None, **extra):  # noqa: N803
    key = ctx.key("upload_submission")
    tournament = CLASSIC if tournament is None else tournament
    return _created(ctx, key, filename, tournament, modelId, extra)


@_guard
def m_create_signals_submission(ctx: Context, filename: str, modelId=None, **extra):  # noqa: N803
    key = ctx.key("upload_submission")
    return _created(ctx, key, filename, SIGNALS, modelId, extra)


def _created(ctx, key, filename, tournament, model_id, extra) -> dict:
    sub = ctx.world.create_submission(
        key,
        filename,
        tournament,
        model_id,
        trigger_id=extra.get("triggerId"),
        source=extra.get("source"),
    )
    return views.submission_view(ctx.world, sub, True)


@_guard
def m_set_user_bio(ctx: Context, value: str, modelId=None) -> bool:  # noqa: N803
    model = ctx.world.owned_model(ctx.key(), modelId, None)
    ctx.world.set_bio(model.id, value)
    return True


@_guard
def m_set_user_link(ctx: Context, linkUrl: str, linkText=None, modelId=None) -> bool:  # noqa: N803
    model = ctx.world.owned_model(ctx.key(), modelId, None)
    with ctx.world.lock:
        model.link_url, model.link_text = linkUrl, linkText
    return True


def _stake_view(result: dict) -> dict:
    return result | {
        "dueDate": iso(result["dueDate"]),
        "requestedAmount": decimal_str(result["requestedAmount"]),
    }


@_guard
def m_change_stake(ctx: Context, value: str, type: str, modelId=None, tournamentNumber=None):  # noqa: A002,N803
    key = ctx.key("stake")
    result = ctx.world.change_stake(key, modelId, value, type, tournamentNumber)
    return _stake_view(result)


@_guard
def m_release_stake(ctx: Context, drain=None, modelId=None, amount=None):  # noqa: N803
    key = ctx.key("stake")
    result = ctx.world.release_stake(key, modelId, drain=bool(drain), amount=amount)
    return _stake_view(result)


RESOLVERS = {
    "Query": {
        "account": r_account,
        "accountProfile": r_account_profile,
        "v3UserProfile": r_v3_user_profile,
        "v2SignalsProfile": r_signals_profile,
        "rounds": r_rounds,
        "listDatasets": r_list_datasets,
        "dataset": r_dataset,
        "submissionUploadAuth": r_upload_auth,
        "submissionUploadSignalsAuth": r_signals_upload_auth,
        "submissionDownloadAuth": r_download_auth,
        "submissions": r_submissions,
        "model": r_model,
        "submissionScores": r_submission_scores,
        "v2RoundModelPerformances": r_performances,
        "pendingModelPayouts": r_pending_payouts,
    },
    "Mutation": {
        "createSubmission": m_create_submission,
        "createSignalsSubmission": m_create_signals_submission,
        "setUserBio": m_set_user_bio,
        "setUserLink": m_set_user_link,
        "v2ChangeStake": m_change_stake,
        "releaseStake": m_release_stake,
    },
}

for _type_name, _fields in RESOLVERS.items():
    _type = SCHEMA.get_type(_type_name)
    assert isinstance(_type, GraphQLObjectType), _type_name
    for _name, _fn in _fields.items():
        _type.fields[_name].resolve = _fn


def _error(message: str) -> dict:
    return {"data": None, "errors": [{"message": message}]}


def run(
    world: World,
    body: Any,
    *,
    base_url: str,
    auth_header: str | None,
) -> dict:
    """Execute one GraphQL request body; errors are reported in the result (HTTP 200)."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _error("Request body must be a JSON object with a 'query' string")
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return _error("'variables' must be a JSON object")
    try:
        document = canonicalise(parse(body["query"]))
    except GraphQLError as exc:
        return {"data": None, "errors": [exc.formatted]}
    problems = validate(SCHEMA, document)
    if problems:
        return {"data": None, "errors": [p.formatted for p in problems]}
    context = Context(world=world, base_url=base_url.rstrip("/"), auth_header=auth_header)
    result = execute(
        SCHEMA,
        document,
        context_value=context,
        variable_values=variables,
        operation_name=body.get("operationName"),
    )
    assert isinstance(result, ExecutionResult)  # every resolver is synchronous
    for err in result.errors or []:
        if err.original_error is not None and not isinstance(err.original_error, GraphQLError):
            log.error("resolver failed", exc_info=err.original_error)
    return dict(result.formatted)
