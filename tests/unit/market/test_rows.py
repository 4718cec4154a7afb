"""The market's row types are the rows of its tables: one field per column, nothing else."""

from __future__ import annotations

from dataclasses import fields

from nmrx.market.repo import FillRow, OrderRow
from nmrx.market.tables import Fill, MarketOrder


def test_an_order_row_has_exactly_the_columns_of_the_orders_table() -> None:
    assert [f.name for f in fields(OrderRow)] == [c.name for c in MarketOrder.__table__.columns]


def test_a_fill_row_has_exactly_the_columns_of_the_fills_table() -> None:
    assert [f.name for f in fields(FillRow)] == [c.name for c in Fill.__table__.columns]
