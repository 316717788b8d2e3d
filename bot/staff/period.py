"""Periods as Dutch staff type them: "01-09-2026", "1-9-2026", "2026-09-01", "vandaag",
"gisteren", "deze week", "vorige maand", or two dates; English words too. Anything else is
refused with an example, never read as "everything"."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute

from bot.clock import local_day

__all__ = ["EXAMPLE", "Period", "PeriodError", "parse_day", "parse_period"]

EXAMPLE = "01-09-2026, 2026-09-01, vandaag, gisteren, deze week, vorige maand"


class PeriodError(ValueError):
    """A date or period that cannot be read; the message says what can (Dutch / English)."""


@dataclass(frozen=True, slots=True)
class Period:
    """From ``first`` up to and including ``last`` (local calendar days); None = open."""

    first: dt.date | None = None
    last: dt.date | None = None

    @property
    def since(self) -> dt.datetime | None:
        """The first moment inside the period, in UTC (as stored)."""
        return local_day(self.first) if self.first else None

    @property
    def until(self) -> dt.datetime | None:
        """The first moment after the period, in UTC."""
        return local_day(self.last + dt.timedelta(days=1)) if self.last else None

    def within(self, column: InstrumentedAttribute[dt.datetime]) -> list[ColumnElement[bool]]:
        """The conditions that keep ``column`` inside the period (none when open)."""
        conditions: list[ColumnElement[bool]] = []
        if self.since is not None:
            conditions.append(column >= self.since)
        if self.until is not None:
            conditions.append(column < self.until)
        return conditions

    def label(self) -> str:
        if self.first is None and self.last is None:
            return "alles"
        first = f"{self.first:%d-%m-%Y}" if self.first else "het begin"
        last = f"{self.last:%d-%m-%Y}" if self.last else "nu"
        return f"{first} t/m {last}"


_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DAYS = {"vandaag": 0, "today": 0, "gisteren": 1, "yesterday": 1}


def parse_day(text: str, today: dt.date) -> dt.date:
    """One calendar day: dd-mm-jjjj, d-m-jjjj, jjjj-mm-dd, "vandaag" or "gisteren"."""
    word = text.strip().casefold()
    if word in _DAYS:
        return today - dt.timedelta(days=_DAYS[word])
    found = _DMY.match(word) if word.isascii() else None
    parts = (found.group(3), found.group(2), found.group(1)) if found else None
    if parts is None and word.isascii() and (ymd := _YMD.match(word)):
        parts = (ymd.group(1), ymd.group(2), ymd.group(3))
    if parts is None:
        raise PeriodError(
            f"'{text[:30]}' is geen datum die ik ken. Voorbeelden: {EXAMPLE}. / "
            f"'{text[:30]}' is not a date I know, e.g. 01-09-2026 or 2026-09-01."
        )
    try:
        return dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        raise PeriodError(
            f"'{text[:30]}' bestaat niet als datum. / '{text[:30]}' is not a real date."
        ) from None


def _named(words: str, today: dt.date) -> Period | None:
    monday = today - dt.timedelta(days=today.weekday())
    first_of_month = today.replace(day=1)
    previous_month_end = first_of_month - dt.timedelta(days=1)
    named = {
        ("deze week", "this week"): Period(monday, today),
        ("vorige week", "last week"): Period(
            monday - dt.timedelta(days=7), monday - dt.timedelta(days=1)
        ),
        ("deze maand", "this month"): Period(first_of_month, today),
        ("vorige maand", "last month"): Period(
            previous_month_end.replace(day=1), previous_month_end
        ),
        ("dit jaar", "this year"): Period(today.replace(month=1, day=1), today),
    }
    for names, period in named.items():
        if words in names:
            return period
    if words in _DAYS:
        day = parse_day(words, today)
        return Period(day, day)
    return None


def parse_period(words: list[str], today: dt.date) -> Period:
    """Nothing: everything; a named period; one date: from that day on; two dates (optionally
    with "tot", "t/m", "until" or "-" between): from the first up to and including the second."""
    text = " ".join(w for w in words if w.strip()).casefold()
    if not text:
        return Period()
    named = _named(text, today)
    if named is not None:
        return named
    days = [w for w in re.split(r"\s+(?:tot|t/m|tm|until|to|-)\s+|\s+", text) if w]
    if len(days) > 2:
        raise PeriodError(
            f"Geef één periode, bijvoorbeeld: {EXAMPLE}, of twee datums. / "
            "Give one period, e.g. 'this week', or one or two dates."
        )
    first = parse_day(days[0], today)
    last = parse_day(days[1], today) if len(days) == 2 else None
    if last is not None and last < first:
        raise PeriodError(
            "De tweede datum ligt vóór de eerste. / The second date is before the first."
        )
    return Period(first, last)
