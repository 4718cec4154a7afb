"""Operator rules: a decision needs a reason, audit filters, the reserves' arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nmrx.operator.rules import OperatorError, audit_filter, check_reason, reserves
from nmrx.wallet.rules import AccountKind


def test_a_decision_needs_a_reason_of_five_to_five_hundred_characters() -> None:
    assert check_reason("  wash   trading\n reported ") == "wash trading reported"
    for bad in (None, "", "   ", "abcd"):
        with pytest.raises(OperatorError, match="at least 5 characters"):
            check_reason(bad)
    with pytest.raises(OperatorError, match="under 500"):
        check_reason("x" * 501)


def test_the_audit_filter_takes_whole_utc_days_both_included() -> None:
    f = audit_filter(
        actor=" Operator ", subject="BOB", action="", since="2026-12-01", until="2026-12-02"
    )
    assert f.actor == "operator" and f.subject == "bob" and f.action is None
    assert f.since == datetime(2026, 12, 1, tzinfo=UTC)
    assert f.until == datetime(2026, 12, 3, tzinfo=UTC)
    assert audit_filter() == audit_filter(actor="", subject="", since="", until="")
    with pytest.raises(OperatorError, match="YYYY-MM-DD"):
        audit_filter(since="1/12/2026")
    with pytest.raises(OperatorError, match="before"):
        audit_filter(since="2026-12-02", until="2026-12-01")


def test_reserves_sum_what_is_owed_and_balance_against_the_world() -> None:
    r = reserves(
        {
            AccountKind.AVAILABLE: 700,
            AccountKind.HELD: 100,
            AccountKind.COLLATERAL: 150,
            AccountKind.ESCROW: 40,
            AccountKind.FEES: 10,
            AccountKind.WORLD: -1000,
        }
    )
    assert r.owed_to_users == 950
    assert r.in_custody == 1000
    assert r.balanced
    assert not reserves({AccountKind.AVAILABLE: 5}).balanced
