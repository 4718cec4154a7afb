"""The admin HTTP API under ``/admin`` (JSON in, JSON out).

Every call needs the admin token: ``Authorization: Bearer <token>`` or
``X-Admin-Token: <token>``. Errors answer 4xx with ``{"error": message}``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import calendar
from .calendar import iso
from .errors import EmulatorError
from .state import Model, decimal_str
from .universe import TOURNAMENTS
from .world import World


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("times must carry a time zone")
    return moment


def model_info(world: World, model: Model) -> dict:
    return {
        "id": model.id,
        "name": model.name,
        "tournament": model.tournament,
        "account": world.accounts[model.account_id].username,
        "bio": model.bio,
        "stake": decimal_str(model.stake_at(world.now())),
        "at_risk_overrides": {str(k): decimal_str(v) for k, v in model.at_risk_overrides.items()},
        "submissions": [
            {"id": s.id, "round": s.round_number, "filename": s.filename, "sha256": s.sha256}
            for s in world.submissions_of(model.id)
        ],
    }


def clock_info(world: World) -> dict:
    now = world.now()
    current = world.current_round()
    return {
        "now": iso(now),
        "frozen": world.clock.frozen,
        "current_round": {
            "number": current.number,
            "open": iso(current.open),
            "close": iso(current.close),
            "status": current.status(now),
        },
        "next_open": iso(calendar.next_open_after(now).open),
        "next_close": iso(calendar.next_close_after(now).close),
    }


def snapshot(world: World) -> dict:
    """Everything an operator (or a demo script) needs: the clock, accounts, models,
    keys with their full tokens, and the faults."""
    with world.lock:
        accounts = [
            {
                "id": a.id,
                "username": a.username,
                "available_nmr": decimal_str(a.available_nmr),
                "models": [model_info(world, world.models[m]) for m in a.model_ids],
                "keys": [
                    {
                        "name": world.keys[k].name,
                        "public_id": k,
                        "token": world.keys[k].token,
                        "scopes": sorted(world.keys[k].scopes),
                    }
                    for k in a.key_ids
                ],
            }
            for a in world.accounts.values()
        ]
    return {
        "seed": world.seed,
        "clock": clock_info(world),
        "accounts": accounts,
        "faults": world.faults.to_dict(),
    }


def admin_routes(world: World, admin_token: str) -> list[Route]:
    def handler(fn: Callable[[dict, dict], dict]):
        async def endpoint(request: Request) -> Response:
            supplied = request.headers.get("x-admin-token") or ""
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                supplied = supplied or auth[7:].strip()
            if not hmac.compare_digest(supplied.encode(), admin_token.encode()):
                return JSONResponse({"error": "admin token required"}, status_code=401)
            try:
                raw = await request.body()
                body = (await request.json()) if raw.strip() else {}
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                result = await run_in_threadpool(fn, body, dict(request.path_params))
            except EmulatorError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status)
            except (ValueError, TypeError, KeyError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse(result)

        return endpoint

    def advance(body: dict, _p: dict) -> dict:
        durations = {
            k: float(body[k]) for k in ("days", "hours", "minutes", "seconds") if k in body
        }
        world.clock.advance(body.get("to"), **durations)
        return clock_info(world)

    def set_time(body: dict, _p: dict) -> dict:
        moment = _time(body["time"])
        if moment is None:
            raise ValueError("time is required")
        world.clock.set(moment)
        return clock_info(world)

    def freeze(body: dict, _p: dict) -> dict:
        world.clock.freeze(bool(body.get("frozen", True)))
        return clock_info(world)

    def create_account(body: dict, _p: dict) -> dict:
        kwargs = {k: body[k] for k in ("available_nmr", "email") if k in body}
        account = world.create_account(body["username"], **kwargs)
        return {"id": account.id, "username": account.username}

    def create_model(body: dict, _p: dict) -> dict:
        tournament = int(body.get("tournament", 8))
        if tournament not in TOURNAMENTS:
            raise ValueError(f"tournament must be one of {TOURNAMENTS}")
        model = world.create_model(
            body["account"],
            body["name"],
            tournament=tournament,
            stake=body.get("stake", "0"),
            bio=body.get("bio"),
        )
        return model_info(world, model)

    def create_key(body: dict, _p: dict) -> dict:
        kwargs = {k: body[k] for k in ("scopes", "name") if k in body}
        key = world.create_api_key(body["account"], **kwargs)
        return {
            "public_id": key.public_id,
            "secret": key.secret,
            "token": key.token,
            "name": key.name,
            "scopes": sorted(key.scopes),
        }

    def get_model(_b: dict, p: dict) -> dict:
        return model_info(world, world.model(p["model"]))

    def set_bio(body: dict, p: dict) -> dict:
        return model_info(world, world.set_bio(p["model"], body.get("bio")))

    def set_stake(body: dict, p: dict) -> dict:
        return model_info(world, world.set_stake(p["model"], body["stake"]))

    def set_at_risk(body: dict, p: dict) -> dict:
        return model_info(world, world.set_at_risk(p["model"], int(body["round"]), body["at_risk"]))

    def backfill(body: dict, p: dict) -> dict:
        made = world.backfill(
            p["model"], int(body.get("rounds", 30)), skill=float(body.get("skill", 0.05))
        )
        return {"model": p["model"], "submissions": made}

    def set_faults(body: dict, _p: dict) -> dict:
        keys = ("error_rate", "error_mode", "latency_ms", "fail_next", "fail_mode")
        return world.faults.configure(**{k: body[k] for k in keys if k in body})

    def add_outage(body: dict, _p: dict) -> dict:
        minutes = body.get("minutes")
        world.faults.outage(
            minutes=None if minutes is None else float(minutes),
            start=_time(body.get("start")),
            end=_time(body.get("end")),
            mode=body.get("mode", "503"),
        )
        return world.faults.to_dict()

    def clear_faults(_b: dict, _p: dict) -> dict:
        world.faults.clear()
        return world.faults.to_dict()

    return [
        Route("/state", handler(lambda b, p: snapshot(world)), methods=["GET"]),
        Route("/clock", handler(lambda b, p: clock_info(world)), methods=["GET"]),
        Route("/clock/advance", handler(advance), methods=["POST"]),
        Route("/clock/set", handler(set_time), methods=["POST"]),
        Route("/clock/freeze", handler(freeze), methods=["POST"]),
        Route("/accounts", handler(create_account), methods=["POST"]),
        Route("/models", handler(create_model), methods=["POST"]),
        Route("/keys", handler(create_key), methods=["POST"]),
        Route("/models/{model}", handler(get_model), methods=["GET"]),
        Route("/models/{model}/bio", handler(set_bio), methods=["POST"]),
        Route("/models/{model}/stake", handler(set_stake), methods=["POST"]),
        Route("/models/{model}/at-risk", handler(set_at_risk), methods=["POST"]),
        Route("/models/{model}/backfill", handler(backfill), methods=["POST"]),
        Route("/faults", handler(lambda b, p: world.faults.to_dict()), methods=["GET"]),
        Route("/faults", handler(set_faults), methods=["POST"]),
        Route("/faults", handler(clear_faults), methods=["DELETE"]),
        Route("/faults/outage", handler(add_outage), methods=["POST"]),
    ]
