"""Delivery rules: the upload deadline, what a fill gets, and how an automatic submission's
check or attempt is classified (delivered, retry, or failed — and whose fault)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nmrx.delivery.rules import (
    PLATFORM_ERROR,
    DeliveryKind,
    Fault,
    Outcome,
    Verdict,
    before_attempt,
    classify_attempt,
    kinds_for,
    next_attempt,
    retry_delay,
    submission_filename,
    upload_deadline,
)

CLOSE = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
BEFORE = CLOSE - timedelta(hours=1)


def test_uploads_close_the_margin_before_the_round_closes() -> None:
    assert upload_deadline(CLOSE, 10) == CLOSE - timedelta(minutes=10)
    assert upload_deadline(CLOSE, 0) == CLOSE


def test_file_mode_gets_a_download_and_a_submission_only_with_a_slot() -> None:
    assert kinds_for("file", has_slot=False) == [DeliveryKind.DOWNLOAD]
    assert kinds_for("file", has_slot=True) == [DeliveryKind.DOWNLOAD, DeliveryKind.SUBMISSION]
    assert kinds_for("stake", has_slot=True) == [DeliveryKind.SUBMISSION]


def test_retries_back_off_exponentially_up_to_five_minutes_and_stop_at_the_deadline() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 10)] == [10, 20, 40, 300]
    assert next_attempt(BEFORE, 1, CLOSE) == BEFORE + timedelta(seconds=10)
    assert next_attempt(CLOSE - timedelta(seconds=5), 1, CLOSE) is None


def test_the_submitted_file_name_carries_the_nonce() -> None:
    assert submission_filename("abc", "parquet") == "nmrx-abc.parquet"
    assert submission_filename("abc", "csv") == "nmrx-abc.csv"


def check(**changes: object) -> Verdict | None:
    facts: dict[str, object] = dict(
        now=BEFORE, round_close=CLOSE, slot_is_buyers=True, has_key=True, last_error=None
    )
    return before_attempt(**{**facts, **changes})  # type: ignore[arg-type]


def test_an_attempt_goes_ahead_before_the_close_with_the_buyers_slot_and_key() -> None:
    assert check() is None


def test_a_round_already_closed_is_nobodys_fault_and_keeps_the_last_error() -> None:
    verdict = check(now=CLOSE, last_error="unavailable: down", slot_is_buyers=False)
    assert verdict == Verdict(
        Outcome.FAILED, Fault.NOBODY, "not delivered before the round closed: unavailable: down"
    )
    assert check(now=CLOSE).reason.endswith("no attempt succeeded")  # type: ignore[union-attr]


def test_a_slot_no_longer_the_buyers_or_no_key_reaching_it_is_the_buyers_fault() -> None:
    slot = check(slot_is_buyers=False, has_key=False)
    assert (slot.outcome, slot.fault) == (Outcome.FAILED, Fault.BUYER)  # type: ignore[union-attr]
    assert "no longer one of the buyer's models" in slot.reason  # type: ignore[union-attr,operator]
    key = check(has_key=False)
    assert (key.outcome, key.fault) == (Outcome.FAILED, Fault.BUYER)  # type: ignore[union-attr]
    assert "no Numerai key" in key.reason  # type: ignore[union-attr,operator]


def classify(kind: str | None, *, now: datetime = BEFORE, attempts: int = 1) -> Verdict:
    return classify_attempt(kind, f"{kind}: boom", now=now, attempts=attempts, round_close=CLOSE)


def test_ours_selected_is_delivered() -> None:
    assert classify(None) == Verdict(Outcome.DELIVERED)


@pytest.mark.parametrize("kind", ["auth", "permission", "not_found"])
def test_the_buyers_key_or_slot_failing_is_final_and_the_buyers_fault(kind: str) -> None:
    assert classify(kind) == Verdict(Outcome.FAILED, Fault.BUYER, f"{kind}: boom")


@pytest.mark.parametrize("kind", ["unavailable", "invalid", PLATFORM_ERROR])
def test_other_failures_are_retried_with_backoff_through_nobodys_fault(kind: str) -> None:
    verdict = classify(kind, attempts=2)
    assert verdict == Verdict(Outcome.RETRY, None, f"{kind}: boom", BEFORE + timedelta(seconds=20))


def test_a_retry_that_would_come_after_the_close_fails_as_nobodys_fault() -> None:
    verdict = classify("unavailable", now=CLOSE - timedelta(seconds=5))
    assert verdict == Verdict(
        Outcome.FAILED,
        Fault.NOBODY,
        "not delivered before the round closed: unavailable: boom",
    )


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("::ffff:169.254.169.254", "metadata"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 around 169.254.169.254
    ],
)
def test_webhooks_refuse_non_public_addresses(address: str, kind: str) -> None:
    from nmrx.delivery.rules import webhook_address_refusal

    reason = webhook_address_refusal(address)
    assert reason is not None and kind in reason


def test_webhooks_may_reach_public_addresses_and_private_ones_only_when_allowed() -> None:
    from nmrx.delivery.rules import webhook_address_refusal

    for public in ("93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        assert webhook_address_refusal(public) is None
    for private in ("127.0.0.1", "10.0.0.1", "::1", "::ffff:192.168.0.1"):
        assert webhook_address_refusal(private, allow_private=True) is None
    for never in ("169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1"):
        assert webhook_address_refusal(never, allow_private=True) is not None
