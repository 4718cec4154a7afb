import pytest

from nmrx.wallet.money import (
    TICK,
    InvalidAmount,
    format_nmr,
    is_on_tick,
    parse_nmr,
    parse_units,
)


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("1", 100_000_000),
        ("12.5", 1_250_000_000),
        ("0.00000001", 1),
        (" 3.0001 ", 300_010_000),
        ("0", 0),
    ],
)
def test_decimal_text_parses_to_exact_units(text: str, units: int) -> None:
    assert parse_nmr(text) == units


@pytest.mark.parametrize("text", ["", "abc", "1e3", "NaN", "inf", "-1", "0.000000001", "1,5"])
def test_malformed_or_too_precise_amounts_are_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_nmr(text)


def test_floats_are_not_amounts() -> None:
    with pytest.raises(InvalidAmount):
        parse_nmr(1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        parse_units(1.5)


def test_units_accept_integers_and_digit_strings_only() -> None:
    assert parse_units(42) == 42
    assert parse_units("42") == 42
    for bad in (True, "4.2", -1, "-3", None):
        with pytest.raises(InvalidAmount):
            parse_units(bad)


def test_format_round_trips_through_parse() -> None:
    for units in (0, 1, 10_000, 100_000_000, 123_456_789_012):
        assert parse_nmr(format_nmr(units)) == units
    assert format_nmr(1_250_000_000) == "12.50"


def test_prices_must_sit_on_the_tick() -> None:
    assert is_on_tick(TICK) and is_on_tick(5 * TICK)
    assert not is_on_tick(TICK + 1)
    assert not is_on_tick(0)


@pytest.mark.parametrize(
    "text",
    ["0_5", "1_000", "1_000.5", "0.5_0", "١٢", "１２", "٣.٥", "²", "+1", ".5", "5.", "1.", " 1 2 "],
)
def test_only_ascii_digits_with_an_optional_point_are_amounts(text: str) -> None:
    # Python's Decimal and int accept "_" separators and any script's digits ("١٢" is 12)
    with pytest.raises(InvalidAmount, match="not a decimal NMR amount"):
        parse_nmr(text)


@pytest.mark.parametrize("text", ["1_000", "١٢", "²", "４２", "+42", " "])
def test_units_accept_ascii_digits_only(text: str) -> None:
    with pytest.raises(InvalidAmount, match="must be an integer"):
        parse_units(text)


def test_the_refusals_say_what_is_wrong() -> None:
    with pytest.raises(InvalidAmount, match="must not be negative"):
        parse_nmr("-1.5")
    with pytest.raises(InvalidAmount, match="more than 8 decimals"):
        parse_nmr("0.123456789")
