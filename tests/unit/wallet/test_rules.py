import pytest

from nmrx.wallet.rules import (
    AccountKind,
    AccountSnapshot,
    HoldRecord,
    HoldState,
    IllegalHoldTransition,
    InsufficientFunds,
    LedgerError,
    TransferRecord,
    TransferSpec,
    check_funds,
    find_violations,
    hold_transition,
    validate_transfer,
)

WORLD = AccountSnapshot("platform:world", AccountKind.WORLD, None, debits=100, credits=0)
AVAIL = AccountSnapshot("user:1:available", AccountKind.AVAILABLE, 1, debits=30, credits=100)
HELD = AccountSnapshot("user:1:held", AccountKind.HELD, 1, debits=0, credits=30)
SOUND_TRANSFERS = [
    TransferRecord("faucet", "platform:world", "user:1:available", 100),
    TransferRecord("h:place", "user:1:available", "user:1:held", 30),
]
PENDING = HoldRecord("h", 1, amount=30, remaining=30, state=HoldState.PENDING)


def test_a_sound_ledger_has_no_violations() -> None:
    assert find_violations([WORLD, AVAIL, HELD], SOUND_TRANSFERS, [PENDING]) == []


def test_account_totals_that_disagree_with_transfers_are_reported() -> None:
    drifted = AccountSnapshot("user:1:available", AccountKind.AVAILABLE, 1, debits=30, credits=101)
    problems = find_violations([WORLD, drifted, HELD], SOUND_TRANSFERS, [PENDING])
    assert any("differ from its transfers" in p for p in problems)
    assert any("sum over all accounts" in p for p in problems)


def test_a_negative_user_account_is_reported() -> None:
    negative = AccountSnapshot(
        "user:1:available", AccountKind.AVAILABLE, 1, debits=130, credits=100
    )
    transfers = [*SOUND_TRANSFERS, TransferRecord("x", "user:1:available", "platform:world", 100)]
    world = AccountSnapshot("platform:world", AccountKind.WORLD, None, debits=100, credits=100)
    problems = find_violations([world, negative, HELD], transfers, [PENDING])
    assert any("is negative" in p for p in problems)


def test_held_must_equal_remaining_pending_holds() -> None:
    voided = HoldRecord("h", 1, amount=30, remaining=0, state=HoldState.VOIDED)
    problems = find_violations([WORLD, AVAIL, HELD], SOUND_TRANSFERS, [voided])
    assert any("pending holds total 0" in p for p in problems)


def test_the_world_account_may_be_negative() -> None:
    assert WORLD.balance < 0
    assert not any(
        "world" in p for p in find_violations([WORLD, AVAIL, HELD], SOUND_TRANSFERS, [PENDING])
    )


@pytest.mark.parametrize(
    "spec",
    [
        TransferSpec("t", "a", "b", 0, "x"),
        TransferSpec("t", "a", "b", -5, "x"),
        TransferSpec("t", "a", "a", 5, "x"),
        TransferSpec("", "a", "b", 5, "x"),
    ],
)
def test_malformed_transfers_are_refused(spec: TransferSpec) -> None:
    with pytest.raises(LedgerError):
        validate_transfer(spec)


def test_overdraft_is_refused_with_the_amounts_in_nmr() -> None:
    with pytest.raises(InsufficientFunds, match="0.50 NMR there, 1.00 NMR needed"):
        check_funds(
            balance=50_000_000, amount=100_000_000, allowed_negative=False, what="available account"
        )
    check_funds(balance=0, amount=5, allowed_negative=True, what="world account")


def test_hold_state_machine_allows_only_pending_moves() -> None:
    assert hold_transition(HoldState.PENDING, HoldState.POSTED) is HoldState.POSTED
    assert hold_transition(HoldState.PENDING, HoldState.VOIDED) is HoldState.VOIDED
    for final in (HoldState.POSTED, HoldState.VOIDED):
        for target in HoldState:
            with pytest.raises(IllegalHoldTransition):
                hold_transition(final, target)
