"""The `nmrx` client commands against a real server on loopback, as a user runs them (in this
process through typer's runner; tests/integration/test_cli.py runs the installed command)."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from nmrx.cli import app
from nmrx.client import AuthError, Client, predictions_csv
from nmrx.platform.bootstrap import Container
from numerai_emulator import EmulatorServer
from tests.integration.client.conftest import Party, party, predictions_frame
from tests.support.builders import PASSWORD
from tests.support.live_server import LiveServer
from tests.support.market import instrument


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def env_for(home: Path, url: str | None, token: str | None = None) -> dict[str, str | None]:
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "xdg"),
        "NMRX_API_URL": url,
        "NMRX_API_TOKEN": token,
        "NMRX_PASSWORD": None,
        "COLUMNS": "200",
    }


def nmrx(args: list[str], env: dict[str, str | None], input: str | None = None) -> Result:
    return CliRunner().invoke(app, args, env=env, input=input, catch_exceptions=False)


def as_party(server: LiveServer, home: Path, who: Party) -> dict[str, str | None]:
    return env_for(home, server.url, who.token)


def ok_json(result: Result) -> object:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_login_writes_the_token_0600_and_later_commands_use_it(
    server: LiveServer, buyer: Party, home: Path
) -> None:
    env = env_for(home, None)
    login = nmrx(
        ["login", "--url", server.url, "--username", buyer.trader.user.username],
        env,
        input=f"{PASSWORD}\n",
    )
    assert login.exit_code == 0, login.stderr
    path = home / "xdg" / "nmrx" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert stored["api_url"] == server.url and stored["token"].startswith("nmrx_")
    assert PASSWORD not in path.read_text()

    me = ok_json(nmrx(["whoami", "--json"], env))  # no NMRX_API_URL: the stored login
    assert me["username"] == buyer.trader.user.username and me["api_url"] == server.url  # type: ignore[index]

    assert nmrx(["logout"], env).exit_code == 0
    assert not path.exists()
    with pytest.raises(AuthError):
        Client(server.url, stored["token"]).me()  # revoked on the server
    after = nmrx(["whoami"], env_for(home, server.url))
    assert after.exit_code == 3 and "nmrx login" in after.stderr


def test_a_wrong_password_fails_with_the_servers_reason_and_stores_nothing(
    server: LiveServer, buyer: Party, home: Path
) -> None:
    result = nmrx(
        ["login", "--url", server.url, "-u", buyer.trader.user.username, "--password", "nope"],
        env_for(home, None),
    )
    assert result.exit_code == 3 and "error:" in result.stderr and "(HTTP 401)" in result.stderr
    assert not (home / "xdg" / "nmrx" / "config.json").exists()


def test_a_round_with_the_cli_ladder_buy_upload_download(
    server: LiveServer,
    seller: Party,
    buyer: Party,
    emulator: EmulatorServer,
    round_number: int,
    file_book: int,
    home: Path,
    tmp_path: Path,
) -> None:
    as_seller, as_buyer = as_party(server, home, seller), as_party(server, home, buyer)
    ladder = ok_json(
        nmrx(
            ["ladder", "set", seller.model_name, "2@0.5", "3@0.75", "--apply-to-open", "--json"],
            as_seller,
        )
    )
    assert [lv["quantity"] for lv in ladder["levels"]] == [2, 3]  # type: ignore[index]

    markets = ok_json(nmrx(["markets", "--mode", "file", "--json"], as_buyer))
    [book_id] = [
        i["id"]
        for m in markets  # type: ignore[union-attr]
        if m["model_name"] == seller.model_name
        for i in m["instruments"]
        if i["round_number"] == round_number
    ]
    assert book_id == file_book
    book = ok_json(nmrx(["book", str(book_id), "--json"], as_buyer))
    assert book["asks"][0]["price"]["units"] == 50_000_000  # type: ignore[index]

    bought = ok_json(nmrx(["buy", str(book_id), "1", "--json"], as_buyer))
    assert bought["filled"] == 1  # type: ignore[index]
    rest = ok_json(nmrx(["bid", str(book_id), "1", "0.1", "--json"], as_buyer))
    assert rest["state"] == "open" and rest["price"]["nmr"].startswith("0.1")  # type: ignore[index]
    listed = ok_json(nmrx(["orders", "--json"], as_buyer))
    assert {o["id"] for o in listed} == {bought["id"], rest["id"]}  # type: ignore[index, union-attr]
    cancelled = ok_json(nmrx(["cancel", str(rest["id"]), "--json"], as_buyer))  # type: ignore[index]
    assert cancelled["state"] == "cancelled"  # type: ignore[index]

    frame = predictions_frame(emulator, round_number, seed=3)
    path = tmp_path / "predictions.csv"
    path.write_bytes(predictions_csv(frame))
    uploaded = ok_json(
        nmrx(["upload", str(path), "--model", seller.model_name, "--json"], as_seller)
    )
    assert uploaded["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()  # type: ignore[index]

    deliveries = ok_json(nmrx(["deliveries", "--round", str(round_number), "--json"], as_buyer))
    assert [d["state"] for d in deliveries] == ["delivered"]  # type: ignore[union-attr, index]
    got = ok_json(
        nmrx(
            ["download", "--round", str(round_number), "--dest", str(tmp_path / "in"), "--json"],
            as_buyer,
        )
    )
    [file] = got  # type: ignore[misc]
    assert Path(file["path"]).read_bytes() == path.read_bytes()
    again = ok_json(nmrx(["download", "--dest", str(tmp_path / "in"), "--json"], as_buyer))
    assert [f["skipped"] for f in again] == [True]  # type: ignore[union-attr, index]

    wallet = ok_json(nmrx(["wallet", "--history", "5", "--json"], as_buyer))
    assert wallet["held"]["units"] == 0 and wallet["history"]  # type: ignore[index]
    fills = ok_json(nmrx(["fills", "--json"], as_buyer))
    assert len(fills) == 1  # type: ignore[arg-type]
    timeline = ok_json(nmrx(["timeline", str(fills[0]["id"]), "--json"], as_buyer))  # type: ignore[index]
    assert timeline["steps"]  # type: ignore[index]


def test_tables_for_people(
    server: LiveServer, seller: Party, buyer: Party, file_book: int, home: Path
) -> None:
    as_seller = as_party(server, home, seller)
    assert nmrx(["ask", str(file_book), "2", "0.5"], as_seller).exit_code == 0
    shown = nmrx(["markets"], as_party(server, home, buyer))
    assert shown.exit_code == 0 and seller.model_name in shown.stdout and "0.5" in shown.stdout
    book = nmrx(["book", str(file_book)], as_seller)
    assert book.exit_code == 0 and "0.5" in book.stdout
    orders = nmrx(["orders"], as_seller)
    assert orders.exit_code == 0 and "open" in orders.stdout


def test_failures_exit_non_zero_with_the_servers_reason_on_stderr(
    server: LiveServer,
    market: Container,
    emulator: EmulatorServer,
    buyer: Party,
    round_number: int,
    home: Path,
) -> None:
    broke = party(server, market, emulator)
    own = instrument(market, model_id=broke.trader.model(), round_number=round_number, mode="file")
    refused = nmrx(["ask", str(own), "1", "0.5", "--json"], as_party(server, home, broke))
    assert refused.exit_code == 5 and refused.stdout == ""
    assert "collateral" in refused.stderr

    missing = nmrx(["book", "999999"], as_party(server, home, buyer))
    assert missing.exit_code == 4 and "(HTTP 404)" in missing.stderr

    unknown = nmrx(["cancel", "424242", "--json"], as_party(server, home, buyer))
    assert unknown.exit_code == 4 and "424242" in unknown.stderr and unknown.stdout == ""

    bad_price = nmrx(["bid", str(own), "1", "0.123456789"], as_party(server, home, buyer))
    assert bad_price.exit_code == 5 and "8 decimals" in bad_price.stderr

    bad_token = nmrx(["wallet"], env_for(home, server.url, "nmrx_wrong"))
    assert bad_token.exit_code == 3 and "(HTTP 401)" in bad_token.stderr

    nobody = nmrx(["wallet"], env_for(home, "http://127.0.0.1:9", "t"))
    assert nobody.exit_code == 6 and "cannot reach" in nobody.stderr


def test_json_output_is_only_json_on_stdout_and_a_failure_only_a_reason_on_stderr(
    server: LiveServer, buyer: Party, home: Path
) -> None:
    ok = nmrx(["wallet", "--json"], as_party(server, home, buyer))
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["available"]["units"] > 0
    bad = nmrx(["wallet", "--json"], env_for(home, server.url, "nmrx_wrong"))
    assert bad.exit_code == 3 and bad.stdout == "" and "error:" in bad.stderr


def test_a_pipeline_token_has_only_the_scopes_asked_for(
    server: LiveServer, seller: Party, file_book: int, home: Path
) -> None:
    made = ok_json(
        nmrx(["token", "create", "round pipeline", "--json"], as_party(server, home, seller))
    )
    assert made["scopes"] == ["read", "upload"] and made["token"].startswith("nmrx_")  # type: ignore[index]
    pipeline = env_for(home, server.url, made["token"])  # type: ignore[index]
    assert ok_json(nmrx(["whoami", "--json"], pipeline))["username"] == seller.trader.user.username  # type: ignore[index]
    refused = nmrx(["ask", str(file_book), "1", "0.5"], pipeline)
    assert refused.exit_code == 5 and "trade" in refused.stderr
    listed = ok_json(nmrx(["token", "list", "--json"], as_party(server, home, seller)))
    assert "round pipeline" in [t["name"] for t in listed]  # type: ignore[union-attr, index]
    assert nmrx(["token", "revoke", str(made["id"])], as_party(server, home, seller)).exit_code == 0  # type: ignore[index]
    assert nmrx(["whoami"], pipeline).exit_code == 3
