"""No test depends on the day it runs: no literal date within ten years of today in tests/."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.clock import moment, other_days

TESTS = Path(__file__).parent
# YYYY-MM-DD, YYYY/MM/DD, datetime(YYYY, M, D), date(YYYY, M, D)
LITERAL_DATE = re.compile(r"\b(\d{4})[-/](?:0[1-9]|1[0-2])[-/](?:[0-2]\d|3[01])\b|"
                          r"\bdate(?:time)?\((\d{4}),")
SKIPPED = ("openlineage-spec",)  # the vendored spec, not tests


def _near_dates(text: str, year: int) -> list[str]:
    return [match.group() for match in LITERAL_DATE.finditer(text)
            if abs(int(match.group(1) or match.group(2)) - year) <= 10]


def test_the_guard_finds_a_near_date():
    year = moment().year
    assert _near_dates(f'NOW = "{year + 1}-12-01"; x = datetime({year}, 1, 1)', year) == [
        f"{year + 1}-12-01", f"datetime({year},"]
    assert _near_dates('born = "1950-01-01"', year) == []


def test_no_literal_date_near_today_in_the_tests():
    year = moment().year
    found = {str(path.relative_to(TESTS)): dates
             for path in sorted(TESTS.rglob("*"))
             if path.is_file() and path.suffix in (".py", ".json", ".csv", ".yml", ".yaml", ".sql")
             and not any(part in SKIPPED for part in path.parts)
             and (dates := _near_dates(path.read_text(errors="replace"), year))}
    assert found == {}, ("derive these from tests/clock.py (Steward's clock) instead: "
                         f"{found}")


@pytest.mark.parametrize("days", [0, 90, 400, 1000, 1500])
def test_the_other_days_are_ahead_and_are_the_awkward_ones(days):
    today = moment(days)
    leap, year_end, later = other_days(today)
    assert today < leap and (leap.month, leap.day) == (2, 29)
    assert today < year_end and (year_end.month, year_end.day) == (12, 31)
    assert year_end - today < timedelta(days=366) and later.year - today.year == 6
