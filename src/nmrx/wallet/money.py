"""Money: integers of 10⁻⁸ NMR ("units"). Never a float.

One NMR is ``UNITS_PER_NMR`` units. Prices move in ticks of 0.0001 NMR.
Text amounts (API, CLI) are parsed exactly with :class:`decimal.Decimal`
and refused when they carry more precision than a unit.
"""

from __future__ import annotations

import re
from decimal import Decimal

UNITS_PER_NMR = 100_000_000
TICK = 10_000  # 0.0001 NMR


class InvalidAmount(ValueError):
    """An amount that is not a whole, non-negative number of units."""


def nmr(value: int | str) -> int:
    """Units for a whole or decimal NMR amount given as int or text: ``nmr("1.5")``."""
    return parse_nmr(str(value))


# The only accepted spellings: ASCII digits, optionally a point and 1 to 8 ASCII digits.
# No sign, exponent, "_" separators (Python's int/Decimal accept "1_000") or other scripts'
# digits (they accept "١٢" as 12).
_DECIMAL_NMR = re.compile(r"[0-9]+(\.[0-9]{1,8})?")
_DECIMAL_ANY = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_UNITS = re.compile(r"[0-9]+")


def parse_nmr(text: str) -> int:
    """Parse a decimal NMR string ("12.5") into units, exactly.

    Accepts only ``^[0-9]+(\\.[0-9]{1,8})?$`` (surrounding spaces ignored): no exponents,
    NaN, infinities, signs, ``_`` separators, non-ASCII digits or more than 8 decimals.
    """
    if not isinstance(text, str):
        raise InvalidAmount('an NMR amount must be given as text, e.g. "12.5"')
    cleaned = text.strip()
    if not _DECIMAL_NMR.fullmatch(cleaned):
        if _DECIMAL_ANY.fullmatch(cleaned):
            if cleaned.startswith("-"):
                raise InvalidAmount(f"amount must not be negative: {text!r}")
            raise InvalidAmount(
                f"{text!r} has more than 8 decimals (the smallest unit is 0.00000001 NMR)"
            )
        raise InvalidAmount(
            f"not a decimal NMR amount: {text!r} (write digits 0-9 with an optional "
            'decimal point, e.g. "12.5")'
        )
    return int(Decimal(cleaned) * UNITS_PER_NMR)


def parse_units(value: object) -> int:
    """Accept an amount in units as an int or a string of ASCII digits; refuse everything else."""
    if isinstance(value, bool):
        raise InvalidAmount("an amount in units must be an integer, not a boolean")
    if isinstance(value, int):
        units = value
    elif isinstance(value, str) and _UNITS.fullmatch(value.strip()):
        units = int(value.strip())
    elif isinstance(value, str) and _UNITS.fullmatch(value.strip().removeprefix("-")):
        raise InvalidAmount("amount must not be negative")
    else:
        raise InvalidAmount(f"an amount in units (10⁻⁸ NMR) must be an integer, got {value!r}")
    if units < 0:
        raise InvalidAmount("amount must not be negative")
    return units


def format_nmr(units: int) -> str:
    """Render units as a decimal NMR string with trailing zeros trimmed (keeps 2 decimals min)."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNITS_PER_NMR)
    frac_text = f"{frac:08d}".rstrip("0")
    if len(frac_text) < 2:
        frac_text = frac_text.ljust(2, "0")
    return f"{sign}{whole:,}.{frac_text}".replace(",", "")


def is_on_tick(price_units: int) -> bool:
    return price_units > 0 and price_units % TICK == 0
