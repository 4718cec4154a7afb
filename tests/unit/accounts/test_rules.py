import pytest

from nmrx.accounts.rules import (
    AccountError,
    Scope,
    check_password_strength,
    normalise_username,
    parse_scopes,
    username_key,
)


def test_usernames_are_normalised_to_lowercase() -> None:
    assert normalise_username("  Alice_1 ") == "alice_1"


def test_a_username_is_looked_up_by_the_same_key_it_is_stored_under() -> None:
    assert username_key(" Alice_1\n") == "alice_1" == normalise_username("Alice_1")
    assert username_key(None) == ""


@pytest.mark.parametrize("name", ["", "ab", "-alice", "alice smith", "a" * 31, "álice"])
def test_bad_usernames_are_refused(name: str) -> None:
    with pytest.raises(AccountError):
        normalise_username(name)


@pytest.mark.parametrize("password", ["short", "password123", "aaaaaaaaaaaa", "xx-alice-xx-9"])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(AccountError, match="too weak"):
        check_password_strength(password, username="alice")


def test_scopes_parse_from_text_or_list() -> None:
    assert parse_scopes("read, trade") == {Scope.READ, Scope.TRADE}
    assert parse_scopes(["upload"]) == {Scope.UPLOAD}
    with pytest.raises(AccountError):
        parse_scopes("admin")
    with pytest.raises(AccountError):
        parse_scopes([])
