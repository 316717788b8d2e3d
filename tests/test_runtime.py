"""One transaction per message against a real SQLite file: leads, consents, dedupe, failures."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
import time

import pytest
from sqlalchemy import func, select

from bot.content.bundle import Content
from bot.engine.types import Inbound
from bot.runtime import Result, Runtime
from bot.store.db import create_engine, make_sessionmaker, upgrade_schema
from bot.store.models import ConsentRow, EventRow, LeadRow, SessionRow, UnansweredRow
from tests.conftest import NOW
from tests.support.sqlite import sqlite_file

STUDENT = [
    ("button", "menu:student"),
    ("text", "19"),
    ("button", "c:diploma:mbo4"),
    ("text", "associate degree"),
    ("button", "c:richting:techniek"),
    ("button", "c:provincie:noord_brabant"),
    ("button", "c:werkplek:mkb"),
    ("button", "c:aanbod:ja"),
    ("button", "c:toestemming:ja"),
    ("text", "Sam Jansen"),
    ("button", "c:kanaal:telefoon"),
    ("text", "06 12345678"),
]


async def send(rt: Runtime, user: str, kind: str, value: str, **kw: str) -> Result:
    inbound = Inbound.button(value) if kind == "button" else Inbound.from_text(value)
    return await rt.handle(f"console:{user}", inbound, **kw)


async def to_summary(rt: Runtime, user: str) -> Result:
    result = await send(rt, user, "text", "/start")
    for kind, value in STUDENT:
        result = await send(rt, user, kind, value)
    assert "Kloppen deze gegevens" in result.replies[-1].text
    return result


async def count(rt: Runtime, model: type) -> int:
    async with rt.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_confirmed_lead_is_stored_with_its_consent(runtime: Runtime) -> None:
    await to_summary(runtime, "sam")
    result = await send(runtime, "sam", "button", "confirm")
    ref = next(e["ref"] for e in result.events if e["type"] == "lead")
    assert ref == "L-2026-000001"
    assert ref in result.replies[0].text and "{lead_ref}" not in result.replies[0].text
    async with runtime.sessionmaker() as db:
        lead = (await db.scalars(select(LeadRow))).one()
        consent = (await db.scalars(select(ConsentRow))).one()
    assert (lead.name, lead.phone, lead.email) == ("Sam Jansen", "+31612345678", None)
    assert (lead.flow, lead.verdict, lead.minor) == ("student", "geschikt", False)
    assert lead.answers["diploma"] == "mbo4" and "naam" not in lead.answers
    assert lead.reasons and lead.consent_id == consent.id
    assert (
        lead.consent_version == consent.notice_version == runtime.content.messages.privacy_version
    )


async def test_confirming_twice_creates_one_lead(runtime: Runtime) -> None:
    await to_summary(runtime, "sam")
    first = await send(runtime, "sam", "button", "confirm")
    second = await send(runtime, "sam", "button", "confirm")
    assert await count(runtime, LeadRow) == 1
    ref = first.events[-1]["ref"]
    assert ref in second.replies[0].text and "al opgeslagen" in second.replies[0].text


async def test_continuing_after_a_confirmed_lead_names_its_reference(runtime: Runtime) -> None:
    """A user whose confirmation reply was lost (a crash after the commit) comes back with
    "continue where I was": the bot says the request arrived, with its reference."""
    await to_summary(runtime, "sam")
    done = await send(runtime, "sam", "button", "confirm")
    ref = next(e["ref"] for e in done.events if e["type"] == "lead")
    result = await send(runtime, "sam", "button", "resume")
    assert ref in result.replies[0].text and "al opgeslagen" in result.replies[0].text
    assert await count(runtime, LeadRow) == 1


async def test_a_new_request_after_the_session_was_purged_is_a_new_lead(
    runtime: Runtime,
) -> None:
    """Sessions are purged after 30 days, leads kept for a year. A user who comes back after
    the purge starts counting questionnaires from 1 again; their new request must become a new
    lead, not be mistaken for the old one (found by reading the code during T14)."""
    clock = [NOW]
    rt = Runtime(runtime.content, runtime.sessionmaker, clock=lambda: clock[0])
    await to_summary(rt, "sam")
    first = await send(rt, "sam", "button", "confirm")
    old_ref = next(e["ref"] for e in first.events if e["type"] == "lead")
    async with rt.sessionmaker() as db, db.begin():
        await db.delete(await db.get(SessionRow, "console:sam"))  # what the purge does
    clock[0] = NOW + dt.timedelta(days=40)
    await to_summary(rt, "sam")
    second = await send(rt, "sam", "button", "confirm")
    new_ref = next(e["ref"] for e in second.events if e["type"] == "lead")
    assert new_ref != old_ref and new_ref in second.replies[0].text
    assert await count(rt, LeadRow) == 2
    # And the run after that is numbered on from the moved one.
    again = await send(rt, "sam", "button", "confirm")
    assert new_ref in again.replies[0].text and await count(rt, LeadRow) == 2
    await to_summary(rt, "sam")
    third = await send(rt, "sam", "button", "confirm")
    assert next(e["ref"] for e in third.events if e["type"] == "lead") not in (old_ref, new_ref)
    assert await count(rt, LeadRow) == 3


async def test_two_users_get_their_own_leads(runtime: Runtime) -> None:
    await to_summary(runtime, "a")
    await to_summary(runtime, "b")
    ra = await send(runtime, "a", "button", "confirm")
    rb = await send(runtime, "b", "button", "confirm")
    assert ra.events[-1]["ref"] != rb.events[-1]["ref"]
    assert await count(runtime, LeadRow) == 2


async def test_a_duplicate_inbound_id_is_processed_once(runtime: Runtime) -> None:
    await send(runtime, "d", "text", "/start", inbound_id="u1")
    first = await send(runtime, "d", "button", "menu:werkgever", inbound_id="u2")
    again = await send(runtime, "d", "button", "menu:werkgever", inbound_id="u2")
    assert first.replies and not again.replies and again.duplicate
    # The duplicate did not start a second run: the next answer goes to the first question.
    result = await send(runtime, "d", "text", "12", inbound_id="u3")
    assert "Wat wil je met de Mkb-route" in result.replies[0].text
    async with runtime.sessionmaker() as db:
        started = await db.scalar(
            select(func.count()).select_from(EventRow).where(EventRow.type == "flow_started")
        )
    assert started == 1


async def test_personal_data_is_not_stored_before_consent(runtime: Runtime) -> None:
    await send(runtime, "p", "text", "/start")
    for kind, value in STUDENT[:8]:
        await send(runtime, "p", kind, value)
    # At the consent question: a name typed now is not taken as a name.
    await send(runtime, "p", "text", "Sam Jansen")
    async with runtime.sessionmaker() as db:
        row = await db.get(SessionRow, "console:p")
    assert row is not None and "Sam Jansen" not in row.data


async def test_unanswered_questions_are_logged_for_editors(runtime: Runtime) -> None:
    await send(runtime, "q", "text", "/vraag hoe laat vertrekt de trein naar Zwolle")
    async with runtime.sessionmaker() as db:
        rows = (await db.scalars(select(UnansweredRow))).all()
    assert [r.text for r in rows] == ["hoe laat vertrekt de trein naar Zwolle"]


async def test_a_session_survives_a_new_runtime_on_the_same_file(
    runtime: Runtime, db_url: str
) -> None:
    from bot.store.db import create_engine, make_sessionmaker

    await send(runtime, "r", "text", "/start")
    await send(runtime, "r", "button", "menu:student")
    await send(runtime, "r", "text", "21")
    engine = create_engine(db_url)
    fresh = Runtime(runtime.content, make_sessionmaker(engine))
    result = await fresh.handle("console:r", Inbound.from_text("/start"))
    assert "Welkom terug" in result.replies[0].text
    result = await fresh.handle("console:r", Inbound.button("resume"))
    assert "hoogste diploma" in result.replies[0].text
    await engine.dispose()


async def test_a_corrupt_session_row_starts_afresh_instead_of_crashing(runtime: Runtime) -> None:
    async with runtime.sessionmaker() as db, db.begin():
        row = SessionRow(
            user_key="console:x",
            data="{not json",
            created_at=runtime.clock(),
            updated_at=runtime.clock(),
        )
        db.add(row)
    result = await send(runtime, "x", "text", "/start")
    assert "digitale assistent" in result.replies[0].text


class ExclusiveLock:
    """A second connection holding ``BEGIN EXCLUSIVE`` on the file, released by a timer (T6)."""

    def __init__(self, url: str, seconds: float) -> None:
        self.db = sqlite3.connect(url.split("///", 1)[1], timeout=0)
        self.db.execute("BEGIN EXCLUSIVE")
        self.released = asyncio.Event()
        self.timer = asyncio.get_running_loop().call_later(seconds, self.release)

    def release(self) -> None:
        self.timer.cancel()
        if not self.released.is_set():
            self.db.rollback()
            self.released.set()


async def test_a_short_lock_only_delays_the_answer(content: Content, sqlite_url: str) -> None:
    """T6a: a 2 s exclusive lock is waited out (busy timeout 5 s): no error, nothing lost."""
    engine = create_engine(sqlite_url)
    await upgrade_schema(engine)
    rt = Runtime(content, make_sessionmaker(engine), clock=lambda: NOW)
    await send(rt, "l", "text", "/start")
    await send(rt, "l", "button", "menu:student")
    lock = ExclusiveLock(sqlite_url, 2.0)
    result = await send(rt, "l", "button", "c:leeftijd:21_plus")
    # Answered only after the lock was released (waited out, not skipped), and not as a retry.
    assert lock.released.is_set()
    lock.db.close()
    assert not result.failed and "hoogste diploma" in result.replies[0].text
    async with rt.sessionmaker() as db:
        row = await db.get(SessionRow, "console:l")
    assert row is not None and '"leeftijd"' in row.data
    await engine.dispose()


async def test_a_long_lock_gives_one_friendly_retry_and_loses_nothing(
    content: Content, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """T6b: a 30 s lock outlasts the busy timeout: one friendly retry message, no partial lead,
    the error class in the log without personal data; afterwards the same user completes."""
    engine = create_engine(sqlite_url)
    await upgrade_schema(engine)
    rt = Runtime(content, make_sessionmaker(engine), clock=lambda: NOW)
    result = await send(rt, "l", "text", "/start")
    for kind, value in STUDENT[:-1]:
        result = await send(rt, "l", kind, value)
    lock = ExclusiveLock(sqlite_url, 30.0)
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        result = await send(rt, "l", "text", "06 12345678")
    assert time.monotonic() - started < 10
    assert result.failed and len(result.replies) == 1
    assert "probeer het" in result.replies[0].text
    assert "OperationalError" in caplog.text and "12345678" not in caplog.text
    # Nothing to wait for once the retry reply is seen: release the lock now, not after 30 s.
    lock.release()
    lock.db.close()
    assert await count(rt, LeadRow) == 0
    # The phone number was not acknowledged, so the bot still waits for it.
    result = await send(rt, "l", "text", "06 12345678")
    assert "Kloppen deze gegevens" in result.replies[-1].text
    await send(rt, "l", "button", "confirm")
    assert await count(rt, LeadRow) == 1
    await engine.dispose()
    with sqlite_file(sqlite_url.split("///", 1)[1]) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_the_privacy_notice_names_the_configured_organisation(
    runtime: Runtime,
) -> None:
    shown = await send(runtime, "o", "text", "/privacy")
    assert "het programma Mkb-route in het hbo" in shown.replies[0].text
    assert "{org" not in shown.replies[0].text
    runtime.org = ("Hogeschool Voorbeeld", "privacy@example.org")
    shown = await send(runtime, "o", "text", "/privacy")
    assert "Verantwoordelijk voor je gegevens: Hogeschool Voorbeeld" in shown.replies[0].text
    assert "privacy@example.org" in shown.replies[0].text


async def test_many_users_at_once_on_sqlite_never_see_a_retry(
    content: Content, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook server handles requests concurrently; SQLite has one writer. Sixty users
    answering at the same moment must all get their next question, not "probeer het zo",
    however short the busy timeout."""
    import bot.store.db as db_module

    monkeypatch.setattr(db_module, "SQLITE_BUSY_MS", 100)
    engine = create_engine(sqlite_url)
    await upgrade_schema(engine)
    rt = Runtime(content, make_sessionmaker(engine), clock=lambda: NOW)

    async def walk(user: str) -> list[bool]:
        failed = [(await send(rt, user, "text", "/start", inbound_id=f"{user}-0")).failed]
        for n, (kind, value) in enumerate(STUDENT[:6], 1):
            result = await send(rt, user, kind, value, inbound_id=f"{user}-{n}")
            failed.append(result.failed)
        return failed

    results = await asyncio.gather(*(walk(f"u{n}") for n in range(60)))
    assert not any(any(r) for r in results)
    assert await count(rt, SessionRow) == 60
    await engine.dispose()


async def test_a_person_on_request_stores_the_question_and_keeps_the_promised_date(
    runtime: Runtime,
) -> None:
    """Issue 13 §2: 'met een mens praten' from the menu ends in a lead with the user's question,
    the confirmation names a date, and /status repeats that same date."""
    await send(runtime, "ruud", "text", "/start")
    steps = [
        ("text", "kan ik iemand spreken"),
        ("text", "45"),
        ("button", "c:toestemming:ja"),
        ("text", "Ruud de Wit"),
        ("button", "c:kanaal:email"),
        ("text", "ruud@example.org"),
        ("text", "Kan ik met 45 nog een Ad doen?"),
    ]
    for kind, value in steps:
        result = await send(runtime, "ruud", kind, value)
        if value == "45":
            # The consent says honestly who receives the data, for how long, and the channel.
            consent = result.replies[-1].text
            for fact in ("programmateam", "365 dagen", "deze computer", "/verwijder"):
                assert fact in consent, fact
    assert "Kan ik met 45 nog een Ad doen?" in result.replies[-1].text
    done = await send(runtime, "ruud", "button", "confirm")
    text = done.replies[0].text
    # NOW is Sunday 29 November 2026: five working days later is Friday 4 December.
    assert "vrijdag 4 december" in text and "{" not in text
    async with runtime.sessionmaker() as db:
        lead = (await db.scalars(select(LeadRow))).one()
    assert (lead.flow, lead.verdict) == ("contact", "vraag")
    assert lead.question == "Kan ik met 45 nog een Ad doen?"
    status = await send(runtime, "ruud", "text", "/status")
    assert "vrijdag 4 december" in status.replies[0].text


async def test_status_and_my_data_halfway_show_the_open_question_again(runtime: Runtime) -> None:
    await send(runtime, "mia", "text", "/start")
    await send(runtime, "mia", "button", "menu:werkende")
    await send(runtime, "mia", "text", "30")
    for command in ("/status", "/mijngegevens", "/mydata"):
        result = await send(runtime, "mia", "text", command)
        texts = [r.text for r in result.replies]
        assert texts[-1] == "Waar werk je nu?", (command, texts)
        assert any(b.id == "c:werkgever:mkb" for b in result.replies[-1].buttons)
    # The answer still counts: the questionnaire goes on from there.
    result = await send(runtime, "mia", "button", "c:werkgever:mkb")
    assert "Steunt je werkgever" in result.replies[-1].text
