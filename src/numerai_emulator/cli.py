"""``numerai-emulator serve --host 127.0.0.1 --port 8765 --seed 1``

Prints the GraphQL URL, the admin token and every default account's models and API key,
then serves until interrupted.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import uvicorn

from .admin import snapshot
from .app import create_app
from .world import DEFAULT_ADMIN_TOKEN, World


def _start(value: str | None) -> datetime | None:
    if value in (None, "", "round"):
        return None  # one minute after the latest round's open
    if value == "now":
        return datetime.now(UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def describe(world: World, url: str, admin_token: str) -> str:
    state = snapshot(world)
    clock = state["clock"]
    lines = [
        f"Numerai emulator (seed {world.seed}) listening on {url}",
        f"  point numerapi at it: numerapi.base_api.API_TOURNAMENT_URL = {url!r}",
        f"  admin token: {admin_token}   (Authorization: Bearer <token>, under {url}/admin)",
        f"  simulated time: {clock['now']}  round {clock['current_round']['number']} "
        f"({clock['current_round']['status']}, closes {clock['current_round']['close']})",
        "",
        "Accounts (API key as public_id$secret):",
    ]
    for account in state["accounts"]:
        lines.append(f"  {account['username']}  ({account['available_nmr']} NMR available)")
        for key in account["keys"]:
            lines.append(f"    key {key['name']}: {key['token']}  scopes={','.join(key['scopes'])}")
        for model in account["models"]:
            kind = "classic" if model["tournament"] == 8 else "signals"
            lines.append(
                f"    model {model['name']:<10} {kind:<7} id={model['id']} stake={model['stake']}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="numerai-emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the emulated Numerai API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--admin-token", default=DEFAULT_ADMIN_TOKEN)
    serve.add_argument(
        "--start",
        default=None,
        help="simulated start time: 'round' (default: 1 min after the latest round "
        "opened), 'now' (wall clock), or an ISO 8601 time",
    )
    serve.add_argument("--frozen", action="store_true", help="the clock only moves when advanced")
    serve.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    world = World(args.seed, start=_start(args.start), frozen=args.frozen)
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    print(describe(world, f"http://{shown_host}:{args.port}", args.admin_token), flush=True)
    uvicorn.run(
        create_app(world, admin_token=args.admin_token),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        http="h11",
        lifespan="off",
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
