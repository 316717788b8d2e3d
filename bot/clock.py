"""Time, in one place: every stored time is an aware UTC datetime; every time shown to a person
is Dutch local time with its zone; working days skip weekends and Dutch public holidays."""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

__all__ = [
    "LOCAL",
    "add_working_days",
    "is_working_day",
    "local",
    "local_day",
    "shown",
    "utcnow",
    "working_days_between",
]

# The programme and its users are in the Netherlands; the tzdata package (a dependency)
# guarantees the zone database on machines without one.
LOCAL = ZoneInfo("Europe/Amsterdam")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def local(at: dt.datetime) -> dt.datetime:
    """A stored (UTC) time in Dutch local time."""
    return at.astimezone(LOCAL)


def local_day(day: dt.date) -> dt.datetime:
    """The start of a local calendar day, as the UTC time it is stored in."""
    return dt.datetime.combine(day, dt.time(), LOCAL).astimezone(dt.UTC)


def shown(at: dt.datetime | None, *, date_only: bool = False) -> str:
    """A time as staff and users read it: "01-12-2026 14:05 CET" (local, zone marked)."""
    if at is None:
        return "-"
    here = local(at)
    return f"{here:%d-%m-%Y}" if date_only else f"{here:%d-%m-%Y %H:%M %Z}"


@functools.cache
def _holidays(year: int) -> frozenset[dt.date]:
    import holidays  # imported when first needed: a few ms that most commands never pay

    return frozenset(holidays.country_holidays("NL", years=year))


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday, and not a Dutch public holiday (King's Day, Christmas, Easter...)."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def add_working_days(start: dt.datetime, days: int) -> dt.date:
    """The local date ``days`` working days after ``start``."""
    day = local(start).date()
    while days > 0:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            days -= 1
    return day


def working_days_between(start: dt.datetime, end: dt.datetime) -> int:
    """Working days from ``start`` to ``end``, counted on local dates."""
    days = 0
    day, last = local(start).date(), local(end).date()
    while day < last:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            days += 1
    return days
