"""Every date a test needs, relative to Steward's clock: `STEWARD_NOW` when set (CI moves it to
three more days, `make test-dates`), else now. Never a literal date: a suite that turns red on a
calendar day is a defect."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from orchestration.lib.settings import current_time


def moment(days: float = 0) -> datetime:
    """`days` from Steward's now (negative: ago)."""
    return current_time() + timedelta(days=days)


def stamp(days: float = 0) -> str:
    """`moment(days)` as the exports write timestamps: `YYYY-MM-DD HH:MM:SS`."""
    return f"{moment(days):%Y-%m-%d %H:%M:%S}"


def day(days: float = 0) -> str:
    """The date `days` from now, `YYYY-MM-DD`."""
    return f"{moment(days):%Y-%m-%d}"


def other_days(today: datetime) -> list[datetime]:
    """Three days after `today` that calendar arithmetic gets wrong: the next 29 February, the
    next 31 December (late, near the year's end) and a day six years on."""
    leap = next(year for year in range(today.year, today.year + 9)
                if calendar.isleap(year) and datetime(year, 2, 29, 12) > today)
    year_end = datetime(today.year, 12, 31, 22)
    return [datetime(leap, 2, 29, 12),
            year_end if year_end > today else year_end.replace(year=today.year + 1),
            (today + timedelta(days=6 * 365 + 1)).replace(hour=9, minute=30, second=0,
                                                          microsecond=0)]


if __name__ == "__main__":
    # For `make test-dates`: each day, and STEWARD_NOW's offset that moves a running clock there.
    now = moment()
    for other in other_days(now):
        print(f"{other:%Y-%m-%d} +{int((other - now).total_seconds())}s")
