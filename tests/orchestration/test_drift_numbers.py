"""Drift and review read a column as numbers however the driver hands it over."""

from decimal import Decimal

import numpy as np
import pandas as pd

from orchestration.lib.consumers import drift


def test_decimals_text_and_missing_values_read_as_floats():
    column = pd.Series([Decimal("12.50"), None, "3", Decimal("-0.25")], dtype=object)
    assert drift.as_numbers(column).tolist()[::2] == [12.5, 3.0]
    assert np.isnan(drift.as_numbers(column)[1])
    assert drift.as_numbers(column)[3] == -0.25


def test_a_value_that_is_no_number_reads_as_missing_and_the_rest_as_numbers():
    column = pd.Series([Decimal("1.5"), "not a number", 7], dtype=object)
    numbers = drift.as_numbers(column)
    assert numbers[0] == 1.5 and numbers[2] == 7.0
    assert np.isnan(numbers[1])


def test_a_decimal_column_falls_into_the_same_bins_as_its_floats():
    floats = pd.Series([0.5, 1.5, 2.5, 3.5, None, 9.0])
    decimals = pd.Series([None if pd.isna(v) else Decimal(str(v)) for v in floats],
                         dtype=object)
    bins = drift.reference({"amount": floats}, bins=3)["amount"]
    assert drift.indices({"amount": bins}, {"amount": decimals}) == {"amount": 0.0}
    moved = pd.Series([Decimal("9.0")] * 6, dtype=object)
    assert drift.indices({"amount": bins}, {"amount": moved})["amount"] > 0.25
