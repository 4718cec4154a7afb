"""The gateway over the real numerapi client against the emulator on loopback."""

from __future__ import annotations

import pytest

from nmrx.platform.numerai import (
    NumeraiAuthError,
    NumeraiGateway,
    NumeraiKey,
    NumeraiNotFound,
    NumeraiPermissionError,
    NumeraiUnavailable,
)
from numerai_emulator import EmulatorServer
from tests.support.emulator import key_with_scopes, numerai_player


@pytest.fixture
def gateway(emulator: EmulatorServer) -> NumeraiGateway:
    sleeps: list[float] = []
    gw = NumeraiGateway(emulator.url, timeout=5, retries=3, backoff=0.01, sleep=sleeps.append)
    gw.sleeps = sleeps  # type: ignore[attr-defined]
    yield gw
    emulator.world.faults.clear()


def test_current_round_has_number_and_aware_times(
    gateway: NumeraiGateway, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    r = gateway.current_round("classic")
    assert r.number == emulator.world.current_round().number
    assert r.open_time.tzinfo is not None and r.close_time > r.open_time
    assert gateway.current_round("signals").number == r.number


def test_account_lists_models_of_both_tournaments_and_the_keys_scopes(
    gateway: NumeraiGateway, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    info = gateway.account(player.key)
    assert info.username == player.username
    assert {(m.name, m.tournament) for m in info.models} == {
        (player.classic[0], "classic"),
        (player.classic[1], "classic"),
        (player.signals, "signals"),
    }
    assert set(info.scopes) == {
        "upload_submission",
        "read_submission_info",
        "read_user_info",
        "stake",
    }


def test_model_profile_reads_the_public_bio(
    gateway: NumeraiGateway, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    assert gateway.set_bio(player.key, player.model_id(player.classic[0]), "hello from nmrx")
    profile = gateway.model_profile(player.classic[0])
    assert profile.bio == "hello from nmrx"
    assert profile.id == player.model_id(player.classic[0])
    signals = gateway.model_profile(player.signals, "signals")
    assert signals.id == player.model_id(player.signals)


def test_unknown_model_is_not_found(gateway: NumeraiGateway) -> None:
    with pytest.raises(NumeraiNotFound):
        gateway.model_profile("no_such_model_anywhere")


def test_a_key_lacking_a_scope_is_a_permission_error(
    gateway: NumeraiGateway, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    upload_only = key_with_scopes(emulator.world, player.username, ["upload_submission"])
    with pytest.raises(NumeraiPermissionError, match="read_user_info"):
        gateway.account(upload_only)
    assert gateway.sleeps == []  # not retried


def test_an_unknown_key_is_an_auth_error(gateway: NumeraiGateway) -> None:
    with pytest.raises(NumeraiAuthError):
        gateway.account(NumeraiKey("nope", "nope"))


def test_an_outage_surfaces_as_unavailable_after_the_retry_limit(
    gateway: NumeraiGateway, emulator: EmulatorServer
) -> None:
    emulator.world.faults.outage(minutes=30)
    with pytest.raises(NumeraiUnavailable, match="gave up after 3 attempts"):
        gateway.current_round()
    assert gateway.sleeps == [0.01, 0.02]


def test_transient_failures_are_retried_then_succeed(
    gateway: NumeraiGateway, emulator: EmulatorServer
) -> None:
    emulator.world.faults.configure(fail_next=2)
    assert gateway.current_round().number > 0
    assert len(gateway.sleeps) == 2


def test_an_unreachable_numerai_is_unavailable(gateway: NumeraiGateway) -> None:
    dead = NumeraiGateway(
        "http://127.0.0.1:9", timeout=1, retries=2, backoff=0, sleep=lambda s: None
    )
    with pytest.raises(NumeraiUnavailable, match="unreachable"):
        dead.current_round()


def test_the_secret_never_appears_in_a_keys_repr() -> None:
    assert "s3cr3t" not in repr(NumeraiKey("pub", "s3cr3t"))


def _predictions(emulator: EmulatorServer, round_number: int, seed: int) -> bytes:
    import numpy as np
    import pandas as pd

    ids = emulator.world.universe(8, round_number)
    rng = np.random.default_rng(seed)
    return (
        pd.DataFrame({"id": ids, "prediction": rng.random(len(ids))}).to_csv(index=False).encode()
    )


def test_upload_selects_the_file_and_identical_files_score_identically(
    gateway: NumeraiGateway, emulator: EmulatorServer
) -> None:
    world = emulator.world
    world.advance_to_next_open()
    round_number = gateway.current_round().number
    seller, buyer = numerai_player(world), numerai_player(world)
    file_a, file_b = (
        _predictions(emulator, round_number, 1),
        _predictions(emulator, round_number, 2),
    )
    seller_model, slot = seller.model_id(seller.classic[0]), buyer.model_id(buyer.classic[0])
    other = buyer.model_id(buyer.classic[1])

    gateway.upload(
        seller.key, model_id=seller_model, tournament="classic", content=file_a, filename="a.csv"
    )
    sub_id = gateway.upload(
        buyer.key, model_id=slot, tournament="classic", content=file_a, filename="nmrx-nonce123.csv"
    )
    gateway.upload(
        buyer.key, model_id=other, tournament="classic", content=file_b, filename="b.csv"
    )
    selected = gateway.selected_submission(buyer.key, model_id=slot, round_number=round_number)
    assert selected is not None and selected.id == sub_id and "nonce123" in selected.filename

    world.advance_to_next_close()
    world.advance_days(4)
    perf = {p.round_number: p for p in gateway.round_performances(seller_model)}[round_number]
    slot_perf = {p.round_number: p for p in gateway.round_performances(slot)}[round_number]
    other_perf = {p.round_number: p for p in gateway.round_performances(other)}[round_number]
    first, slot_first = perf.first_score("corr"), slot_perf.first_score("corr")
    assert first is not None and slot_first is not None
    assert abs(first.value - slot_first.value) < 1e-9
    assert abs(other_perf.first_score("corr").value - first.value) > 1e-6  # type: ignore[union-attr]


def test_live_universe_matches_the_round(gateway: NumeraiGateway, emulator: EmulatorServer) -> None:
    round_number = gateway.current_round().number
    assert gateway.live_universe("classic", round_number) == emulator.world.universe(
        8, round_number
    )
    assert gateway.live_universe("signals", round_number) == emulator.world.universe(
        11, round_number
    )


def test_uploading_with_a_key_lacking_upload_scope_is_a_permission_error(
    gateway: NumeraiGateway, emulator: EmulatorServer
) -> None:
    world = emulator.world
    world.advance_to_next_open()
    player = numerai_player(world)
    reader = key_with_scopes(world, player.username, ["read_user_info"])
    r = gateway.current_round().number
    with pytest.raises(NumeraiPermissionError):
        gateway.upload(
            reader,
            model_id=player.model_id(player.classic[0]),
            tournament="classic",
            content=_predictions(emulator, r, 3),
            filename="x.csv",
        )


def test_an_invalid_request_is_classified_invalid_and_not_retried(
    gateway: NumeraiGateway, emulator: EmulatorServer
) -> None:
    from nmrx.platform.numerai import NumeraiInvalid

    player = numerai_player(emulator.world)
    first = player.classic[0]
    emulator.world.set_bio(first, "untouched")
    # an empty model id is a malformed argument for an account with several models
    with pytest.raises(NumeraiInvalid, match="modelId is required") as caught:
        gateway.set_bio(player.key, "", "should not land anywhere")
    assert caught.value.kind == "invalid"
    assert not isinstance(caught.value, NumeraiUnavailable)
    assert gateway.sleeps == []  # not retried
    assert emulator.world.model(first).bio == "untouched"


def test_latency_beyond_the_timeout_is_unavailable_after_the_retries(
    emulator: EmulatorServer,
) -> None:
    sleeps: list[float] = []
    slow = NumeraiGateway(emulator.url, timeout=0.2, retries=3, backoff=0.01, sleep=sleeps.append)
    emulator.world.faults.configure(latency_ms=1000)
    try:
        with pytest.raises(NumeraiUnavailable, match="gave up after 3 attempts") as caught:
            slow.current_round()
        assert "Timeout" in caught.value.message
        assert caught.value.kind == "unavailable"
        assert sleeps == [0.01, 0.02]  # two backoffs between three attempts
    finally:
        emulator.world.faults.clear()
    assert emulator.world.faults.to_dict()["latency_ms"] == 0
    assert slow.current_round().number == emulator.world.current_round().number
