"""Dates and periods as Dutch staff type them (issue 17), table-driven."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.staff.period import Period, PeriodError, parse_day, parse_period

TODAY = dt.date(2026, 12, 2)  # a Wednesday

DAYS = [
    ("01-09-2026", dt.date(2026, 9, 1)),
    ("1-9-2026", dt.date(2026, 9, 1)),
    ("01/09/2026", dt.date(2026, 9, 1)),
    ("1.9.2026", dt.date(2026, 9, 1)),
    ("2026-09-01", dt.date(2026, 9, 1)),
    ("2026-9-1", dt.date(2026, 9, 1)),
    ("vandaag", TODAY),
    ("Vandaag", TODAY),
    ("today", TODAY),
    ("gisteren", dt.date(2026, 12, 1)),
    ("yesterday", dt.date(2026, 12, 1)),
    ("29-02-2028", dt.date(2028, 2, 29)),
]


@pytest.mark.parametrize(("text", "day"), DAYS)
def test_a_day_as_staff_type_it(text: str, day: dt.date) -> None:
    assert parse_day(text, TODAY) == day


@pytest.mark.parametrize(
    "text",
    ["morgen", "01-13-2026", "31-02-2026", "29-02-2027", "2026/09/01", "1-9-26", "", "٠١-٠٩-٢٠٢٦"],
)
def test_anything_else_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(PeriodError) as refused:
        parse_day(text, TODAY)
    assert "01-09-2026" in str(refused.value) or "bestaat niet" in str(refused.value)


PERIODS = [
    ([], Period()),
    (["vandaag"], Period(TODAY, TODAY)),
    (["gisteren"], Period(dt.date(2026, 12, 1), dt.date(2026, 12, 1))),
    (["deze", "week"], Period(dt.date(2026, 11, 30), TODAY)),
    (["this", "week"], Period(dt.date(2026, 11, 30), TODAY)),
    (["vorige", "week"], Period(dt.date(2026, 11, 23), dt.date(2026, 11, 29))),
    (["deze", "maand"], Period(dt.date(2026, 12, 1), TODAY)),
    (["vorige", "maand"], Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30))),
    (["last", "month"], Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30))),
    (["dit", "jaar"], Period(dt.date(2026, 1, 1), TODAY)),
    (["01-09-2026"], Period(dt.date(2026, 9, 1), None)),
    (["01-09-2026", "30-09-2026"], Period(dt.date(2026, 9, 1), dt.date(2026, 9, 30))),
    (["01-09-2026", "tot", "30-09-2026"], Period(dt.date(2026, 9, 1), dt.date(2026, 9, 30))),
    (["1-9-2026", "t/m", "gisteren"], Period(dt.date(2026, 9, 1), dt.date(2026, 12, 1))),
]


@pytest.mark.parametrize(("words", "period"), PERIODS)
def test_a_period_as_staff_type_it(words: list[str], period: Period) -> None:
    assert parse_period(words, TODAY) == period


@pytest.mark.parametrize(
    "words",
    [["volgend", "jaar"], ["30-09-2026", "01-09-2026"], ["1-1-2026", "2-1-2026", "3-1-2026"]],
)
def test_a_period_that_cannot_be_read_is_refused(words: list[str]) -> None:
    with pytest.raises(PeriodError):
        parse_period(words, TODAY)


def test_a_period_is_dutch_calendar_days_stored_as_utc() -> None:
    """Leads at 23:30 UTC on 30 November were made on 1 December in the Netherlands."""
    period = Period(dt.date(2026, 12, 1), dt.date(2026, 12, 1))
    assert period.since == dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC)
    assert period.until == dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC)
    summer = Period(dt.date(2026, 7, 1), None)
    assert summer.since == dt.datetime(2026, 6, 30, 22, 0, tzinfo=dt.UTC) and summer.until is None
    assert summer.label() == "01-07-2026 t/m nu"
