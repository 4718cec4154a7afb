"""The admin HTTP API, the CLI, and GraphQL name handling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from decimal import Decimal

import requests
from emu_helpers import classic_api, classic_predictions

from numerai_emulator import DEFAULT_ADMIN_TOKEN


def _admin(emu, method: str, path: str, **body):
    reply = requests.request(
        method,
        f"{emu.url}/admin{path}",
        json=body or None,
        headers={"Authorization": f"Bearer {emu.admin_token}"},
        timeout=5,
    )
    return reply


def test_admin_calls_need_the_admin_token(emu):
    assert requests.get(f"{emu.url}/admin/state", timeout=5).status_code == 401
    wrong = {"X-Admin-Token": "nope"}
    assert requests.get(f"{emu.url}/admin/state", headers=wrong, timeout=5).status_code == 401
    assert emu.admin_token == DEFAULT_ADMIN_TOKEN


def test_state_lists_accounts_models_and_keys(emu):
    state = _admin(emu, "GET", "/state").json()
    alice = next(a for a in state["accounts"] if a["username"] == "alice")
    assert alice["keys"][0]["token"] == emu.token("alice")
    assert {m["name"] for m in alice["models"]} == {"alice_m1", "alice_m2", "alice_sig"}
    assert state["clock"]["current_round"]["number"] == emu.world.current_round().number


def test_clock_advances_over_http(emu):
    opened = _admin(emu, "POST", "/clock/advance", to="next_open").json()
    assert opened["current_round"]["status"] == "OPEN"
    closed = _admin(emu, "POST", "/clock/advance", to="next_close").json()
    assert closed["current_round"]["status"] == "RESOLVING"
    later = _admin(emu, "POST", "/clock/advance", days=2).json()
    assert later["now"] > closed["now"]
    back = _admin(emu, "POST", "/clock/set", time="2020-01-01T00:00:00Z")
    assert back.status_code == 400


def test_accounts_models_and_scoped_keys_created_over_http_work_with_numerapi(emu):
    assert _admin(emu, "POST", "/accounts", username="dave", available_nmr="50").status_code == 200
    model = _admin(emu, "POST", "/models", account="dave", name="dave_m", stake="3").json()
    key = _admin(emu, "POST", "/keys", account="dave", scopes=["read_user_info"]).json()
    assert key["token"] == f"{key['public_id']}${key['secret']}"
    api = classic_api(key["token"])
    assert api.get_models() == {"dave_m": model["id"]}
    assert api.get_account()["availableNmr"] == Decimal("50")
    assert _admin(emu, "POST", "/accounts", username="dave").status_code == 409
    bad = _admin(emu, "POST", "/keys", account="dave", scopes=["root"])
    assert bad.status_code == 400


def test_bio_stake_and_at_risk_set_over_http(emu, player, fresh_round):
    model_id = player.classic[0]
    _admin(emu, "POST", f"/models/{model_id}/bio", bio="nmrx-code-42")
    _admin(emu, "POST", f"/models/{model_id}/stake", stake="77")
    api = player.napi
    profile = api.public_user_profile(f"{player.username}_a")
    assert profile["bio"] == "nmrx-code-42" and profile["nmrStaked"] == Decimal("77")
    api.upload_predictions(df=classic_predictions(emu.world, fresh_round, 1), model_id=model_id)
    _admin(emu, "POST", f"/models/{model_id}/at-risk", round=fresh_round, at_risk="12.5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert api.round_model_performances_v2(model_id)[0]["atRisk"] == Decimal("12.5")
    detail = _admin(emu, "GET", f"/models/{model_id}").json()
    assert detail["submissions"][0]["round"] == fresh_round


def test_faults_over_http(emu):
    configured = _admin(emu, "POST", "/faults", error_rate=0.25, latency_ms=10).json()
    assert configured["error_rate"] == 0.25
    outage = _admin(emu, "POST", "/faults/outage", minutes=10, mode="drop").json()
    assert outage["outages"][0]["mode"] == "drop"
    assert _admin(emu, "POST", "/faults", error_mode="boom").status_code == 400
    cleared = _admin(emu, "DELETE", "/faults").json()
    assert cleared["outages"] == [] and cleared["error_rate"] == 0


def test_snake_and_camel_case_names_are_both_accepted_and_echoed(emu):
    api = classic_api(emu.token("alice"))
    query = """query($name: String!) {
        camel: v3UserProfile(modelName: $name) { startDate }
        v3_user_profile(model_name: $name) { start_date nmr_staked }
        account { api_tokens { public_id } apiTokens { publicId } }
    }"""
    data = api.raw_query(query, {"name": "alice_m1"}, authorization=True)["data"]
    assert data["camel"]["startDate"] == data["v3_user_profile"]["start_date"]
    assert data["v3_user_profile"]["nmr_staked"] == "100"
    assert (
        data["account"]["api_tokens"][0]["public_id"] == data["account"]["apiTokens"][0]["publicId"]
    )


def test_graphql_syntax_errors_come_back_as_http_200_errors(emu):
    reply = requests.post(emu.url, json={"query": "{ rounds( }"}, timeout=5)
    assert reply.status_code == 200 and reply.json()["errors"][0]["message"]
    reply = requests.post(emu.url, json={"query": "{ noSuchField }"}, timeout=5)
    assert "noSuchField" in reply.json()["errors"][0]["message"]


def test_cli_serve_prints_keys_and_answers(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "numerai_emulator.cli",
        "serve",
        "--port",
        str(port),
        "--seed",
        "3",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=os.environ.copy()
    )
    try:
        header = [proc.stdout.readline() for _ in range(3)]
        assert f"http://127.0.0.1:{port}" in header[0]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                reply = requests.post(
                    f"http://127.0.0.1:{port}",
                    json={"query": "{ rounds(number: 0) { number } }"},
                    timeout=2,
                )
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert reply.json()["data"]["rounds"][0]["number"] > 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
