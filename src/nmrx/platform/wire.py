"""Money on the wire: integers of units and exact decimal strings, never floats."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
    model_validator,
)

from nmrx.wallet.money import InvalidAmount, format_nmr, parse_nmr


def _no_float(value: object, info: ValidationInfo) -> object:
    """Refuse a JSON number with a fraction, in words that name the field it was sent in."""
    if not isinstance(value, float):
        return value
    field = info.field_name or "amount"
    if field in ("amount", "amount_units", "price", "price_units"):
        text = field.removesuffix("_units")
        raise ValueError(
            f'amounts are never floats: send "{text}" as a decimal string like "12.5" '
            f'or "{text}_units" as an integer of 10⁻⁸ NMR'
        )
    raise ValueError(f"must be a whole number, not {value!r}")


class AmountIn(BaseModel):
    """An amount given either as a decimal NMR string or as integer units (exactly one)."""

    amount: Annotated[StrictStr | None, BeforeValidator(_no_float)] = Field(
        None, description='decimal NMR as text, e.g. "12.5"', examples=["12.5"]
    )
    amount_units: Annotated[StrictInt | None, BeforeValidator(_no_float)] = Field(
        None, description="integer units of 10⁻⁸ NMR", examples=[1250000000]
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> AmountIn:
        if (self.amount is None) == (self.amount_units is None):
            raise ValueError('give exactly one of "amount" (decimal NMR text) or "amount_units"')
        return self

    def units(self) -> int:
        if self.amount_units is not None:
            if self.amount_units < 0:
                raise InvalidAmount("amount must not be negative")
            return self.amount_units
        return parse_nmr(self.amount or "")


class Money(BaseModel):
    units: int = Field(description="integer units of 10⁻⁸ NMR")
    nmr: str = Field(description="the same amount as exact decimal NMR text")

    @classmethod
    def of(cls, units: int) -> Money:
        return cls(units=units, nmr=format_nmr(units))
