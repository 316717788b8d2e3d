"""The user's rights from the chat, erasure leaving no trace, retention, clean logs
(T20, T26, T27)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

from sqlalchemy import inspect, select, text

from bot.content.bundle import Content
from bot.engine.types import Inbound
from bot.handoff.contacts import Contact
from bot.handoff.dispatcher import Dispatcher
from bot.logs import Redactor
from bot.privacy import purge
from bot.runtime import Runtime
from bot.store.db import create_engine, make_sessionmaker, upgrade_schema
from bot.store.models import AuditRow, EventRow, LeadRow, SessionRow, UnansweredRow
from tests.conftest import NOW, chat_jsonl, mkbroute

NAME, MAIL, PHONE = "Quirijn Zonderland", "quirijn.marker@example.org", "+31612349876"
FLOW = [
    "menu:student",
    "c:leeftijd:18_20",
    "c:diploma:vwo",
    "c:niveau:bachelor",
    "c:richting:bouw",
    "c:provincie:noord_brabant",
    "c:werkplek:mkb",
    "c:aanbod:ja",
    "c:toestemming:ja",
]


async def make_lead(rt: Runtime, user: str = "console:q") -> str:
    for b in FLOW:
        await rt.handle(user, Inbound.button(b))
    await rt.handle(user, Inbound.from_text(NAME))
    await rt.handle(user, Inbound.button("c:kanaal:telefoon"))
    await rt.handle(user, Inbound.from_text("06 1234 9876"))
    await rt.handle(user, Inbound.from_text(f"/vraag mijn mail is {MAIL}, wat weet je?"))
    await rt.handle(user, Inbound.from_text("/menu"))
    await rt.handle(user, Inbound.button("resume"))
    result = await rt.handle(user, Inbound.button("confirm"))
    return str(result.events[-1]["ref"])


async def scan(db_url: str, *needles: str) -> list[str]:
    """Every cell of every table (on SQLite or PostgreSQL) that contains one of ``needles``."""
    engine = create_engine(db_url)
    hits = []
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            for table in tables:
                for row in await conn.execute(text(f'SELECT * FROM "{table}"')):
                    for cell in row:
                        if any(n in str(cell) for n in needles):
                            hits.append(f"{table}: {str(cell)[:80]}")
    finally:
        await engine.dispose()
    return hits


async def test_my_data_shows_everything_stored(runtime: Runtime) -> None:
    empty = await runtime.handle("console:q", Inbound.from_text("/mijngegevens"))
    assert "Ik bewaar niets" in empty.replies[0].text
    ref = await make_lead(runtime)
    shown = (await runtime.handle("console:q", Inbound.from_text("/mijngegevens"))).replies[0].text
    for fact in (ref, NAME, PHONE, "Avans Hogeschool", "Toestemming gegeven op", "/verwijder"):
        assert fact in shown, fact
    # Consent given at 10:00 UTC on 29 November is 11:00 in the Netherlands, said with its zone.
    assert "29-11-2026 11:00 CET" in shown and "Taal: Nederlands" in shown


async def test_erasure_leaves_no_trace(runtime: Runtime, db_url: str) -> None:
    """T26: after /verwijder a scan of every table finds nothing about the user."""
    await make_lead(runtime)
    assert await scan(db_url, NAME, PHONE, "console:q")
    ask = await runtime.handle("console:q", Inbound.from_text("/verwijder"))
    yes, no = (b.id for b in ask.replies[0].buttons)
    assert yes.startswith("erase:yes:") and no == "erase:no"
    kept = await runtime.handle("console:q", Inbound.button("erase:no"))
    assert "Niets gewist" in kept.replies[0].text and await scan(db_url, NAME)
    done = await runtime.handle("console:q", Inbound.button(yes))
    assert "alles wat ik over je bewaarde is gewist" in done.replies[0].text
    assert await scan(db_url, NAME, PHONE, "console:q", "quirijn") == []
    async with runtime.sessionmaker() as db:
        audit = (await db.scalars(select(AuditRow))).all()
    assert [(a.action, a.actor) for a in audit] == [("erase", "user")]
    assert "leads=1" in audit[0].detail


async def test_erasure_after_delivery_tells_the_pilot(content: Content, db_url: str) -> None:
    engine = create_engine(db_url)
    await upgrade_schema(engine)
    sm = make_sessionmaker(engine)
    contacts = {
        "programmateam": (Contact(name="Team", telegram_chat_id=1),),
        "avans-bouwtalent": (Contact(name="Avans", telegram_chat_id=2),),
    }
    rt = Runtime(content, sm, clock=lambda: NOW, contacts=contacts)
    sent: list[tuple[str, str]] = []

    class Recorder:
        async def send(self, target: str, card: object, message_id: str) -> str | None:
            sent.append((target, card.text))  # type: ignore[attr-defined]
            return None

    dispatcher = Dispatcher(sm, content, {"telegram": Recorder()}, contacts, clock=lambda: NOW)
    ref = await make_lead(rt)
    await dispatcher.run_once()
    ask = await rt.handle("console:q", Inbound.from_text("/verwijder"))
    done = await rt.handle("console:q", Inbound.button(ask.replies[0].buttons[0].id))
    assert "Avans Hogeschool" in done.replies[0].text
    await dispatcher.run_once()
    notice = sent[-1][1]
    assert ref in notice and "verwijderen" in notice and NAME not in notice
    assert await scan(db_url, NAME, PHONE, "console:q") == []
    await engine.dispose()


async def test_retention_purge_is_idempotent_and_keeps_statistics(
    runtime: Runtime, db_url: str
) -> None:
    """T27: old data goes, recent data stays, a second run changes nothing."""
    await make_lead(runtime, "console:old")
    await runtime.handle("console:new", Inbound.button("menu:werkgever"))
    old = NOW - dt.timedelta(days=400)
    async with runtime.sessionmaker() as db, db.begin():
        for model in (SessionRow,):
            for row in (
                await db.scalars(select(model).where(model.user_key == "console:old"))
            ).all():
                row.updated_at = old
        for lead in (await db.scalars(select(LeadRow))).all():
            lead.created_at = old
        for q in (await db.scalars(select(UnansweredRow))).all():
            q.at = old
        for e in (
            await db.scalars(select(EventRow).where(EventRow.user_key == "console:old"))
        ).all():
            e.at = old

    async def run() -> dict[str, int]:
        async with runtime.sessionmaker() as db, db.begin():
            done = await purge(
                db, NOW, sessions_days=30, leads_days=365, outbox_days=30, unanswered_days=365
            )
        return done.counts

    first = await run()
    assert first["sessions"] == 1 and first["leads"] == 1 and first["unanswered"] == 1
    assert first["events_anonymised"] > 0
    assert all(v == 0 for v in (await run()).values())
    assert await scan(db_url, NAME, PHONE, "console:old") == []
    async with runtime.sessionmaker() as db:
        assert await db.get(SessionRow, "console:new") is not None
        events = (await db.scalars(select(EventRow).where(EventRow.type == "outcome"))).all()
    assert events, "statistics survive without the link to a person"


def test_logs_mask_contact_details_and_secrets(caplog: object) -> None:
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "user %s wrote %s from %s with token %s",
        (NAME, MAIL, PHONE, "123456:SECRET-abcdefghij"),
        None,
    )
    Redactor(["123456:SECRET-abcdefghij"]).filter(record)
    text = record.getMessage()
    assert MAIL not in text and PHONE not in text and "SECRET" not in text
    assert "[e-mail]" in text and "[telefoon]" in text


def test_staff_erase_and_purge_commands(tmp_path: Path) -> None:

    lines = [{"user": "q", "button": b} for b in FLOW]
    lines += [
        {"user": "q", "text": NAME},
        {"user": "q", "button": "c:kanaal:telefoon"},
        {"user": "q", "text": PHONE},
        {"user": "q", "button": "confirm"},
    ]
    ref = chat_jsonl(tmp_path, lines)[-1]["events"][-1]["ref"]
    erased = mkbroute(tmp_path, "erase", ref)
    assert erased.returncode == 0 and f"Erased {ref}" in erased.stdout
    url = f"sqlite+aiosqlite:///{tmp_path / 'mkbroute.db'}"
    assert asyncio.run(scan(url, NAME, PHONE)) == []
    again = mkbroute(tmp_path, "erase", ref)
    assert again.returncode == 1 and "No lead" in again.stderr
    purged = mkbroute(tmp_path, "purge")
    assert purged.returncode == 0 and purged.stdout.startswith("Purged:")


async def test_my_data_comes_with_a_portable_json_file(runtime: Runtime) -> None:
    import json

    ref = await make_lead(runtime)
    reply = (await runtime.handle("console:q", Inbound.from_text("/mijngegevens"))).replies[0]
    assert reply.document is not None and reply.document[0] == "mijngegevens.json"
    data = json.loads(reply.document[1])
    assert data["requests"][0]["reference"] == ref
    assert data["requests"][0]["name"] == NAME and data["requests"][0]["phone"] == PHONE
    assert data["consents"]
    (question,) = data["unanswered_questions"]
    assert "[e-mail]" in question["text"] and MAIL not in question["text"]


async def test_an_old_erase_button_asks_again(content: Content, db_url: str) -> None:
    """Issue 15: "Ja, wis alles" found by scrolling up days later (or a forged "erase:yes")
    erases nothing; it asks again with a fresh button, which works."""
    from bot.runtime import ERASE_CONFIRM_MINUTES

    engine = create_engine(db_url)
    await upgrade_schema(engine)
    clock = [NOW]
    rt = Runtime(content, make_sessionmaker(engine), clock=lambda: clock[0])
    await make_lead(rt)
    ask = await rt.handle("console:q", Inbound.from_text("/verwijder"))
    old = ask.replies[0].buttons[0].id
    clock[0] = NOW + dt.timedelta(minutes=ERASE_CONFIRM_MINUTES + 1)
    for stale in (old, "erase:yes", "erase:yes:abc", "erase:yes:²"):
        again = await rt.handle("console:q", Inbound.button(stale))
        assert "verlopen" in again.replies[0].text and await scan(db_url, NAME)
    fresh = again.replies[0].buttons[0].id
    done = await rt.handle("console:q", Inbound.button(fresh))
    assert "gewist" in done.replies[0].text and not await scan(db_url, NAME)
    await engine.dispose()


async def test_t35_no_erased_byte_survives_in_the_sqlite_files(
    content: Content, tmp_path: Path
) -> None:
    """T35: after /verwijder, neither the database file nor its write-ahead log holds the
    user's name, e-mail or phone number while the bot keeps running (secure_delete plus a
    WAL checkpoint), not just the tables."""
    db = tmp_path / "mkbroute.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    await upgrade_schema(engine)
    rt = Runtime(content, make_sessionmaker(engine), clock=lambda: NOW)
    await make_lead(rt)
    files = [db, db.with_name(db.name + "-wal")]

    def found() -> bool:
        return any(
            needle.encode() in f.read_bytes()
            for f in files
            if f.exists()
            for needle in (NAME, MAIL)
        )

    assert found()
    ask = await rt.handle("console:q", Inbound.from_text("/verwijder"))
    await rt.handle("console:q", Inbound.button(ask.replies[0].buttons[0].id))
    assert not found(), "erased personal data is still in the database or WAL file"
    await engine.dispose()


def test_t35_database_files_are_private(tmp_path: Path) -> None:
    """T35: the data folder is created 0700 and the database and its WAL 0600: other users
    on the machine cannot read leads."""
    db = tmp_path / "new" / "bot.db"
    chat_jsonl(
        tmp_path, [{"user": "u", "text": "/start"}], MKBROUTE_DATABASE_URL=f"sqlite:///{db}"
    )
    assert db.parent.stat().st_mode & 0o777 == 0o700
    for f in (db, db.with_name(db.name + "-wal")):
        if f.exists():
            assert f.stat().st_mode & 0o777 == 0o600, f


async def test_t36_purge_covers_abandoned_consents_update_ids_and_the_audit(
    runtime: Runtime, db_url: str
) -> None:
    """T36: a consent whose conversation never became a lead goes after 30 days, handled
    update ids after the 7-day window (and an old id is a new message, not a duplicate),
    audit rows after their retention; a user erasing in a loop adds one audit row a minute."""
    from bot.store.models import ConsentRow, ProcessedInbound

    user = "tg:1"
    for b in FLOW:
        await runtime.handle(user, Inbound.button(b), channel="telegram", inbound_id=f"u-{b}")
    old = NOW - dt.timedelta(days=31)
    async with runtime.sessionmaker() as db, db.begin():
        consents = (await db.scalars(select(ConsentRow))).all()
        assert consents, "the consent step stored a consent"
        for c in consents:
            c.given_at = old
        for p in (await db.scalars(select(ProcessedInbound))).all():
            p.processed_at = old
        db.add(
            AuditRow(action="erase", actor="staff", detail="x", at=NOW - dt.timedelta(days=800))
        )
    # A restarted update-id sequence reuses an old id: answered, not dropped as a duplicate.
    again = await runtime.handle(
        user, Inbound.from_text("/help"), channel="telegram", inbound_id=f"u-{FLOW[0]}"
    )
    assert not again.duplicate and again.replies
    async with runtime.sessionmaker() as db, db.begin():
        done = await purge(
            db, NOW, sessions_days=30, leads_days=365, outbox_days=30, unanswered_days=365
        )
    assert done.counts["consents"] == len(consents)
    assert done.counts["inbound_ids"] == len(FLOW) - 1 and done.counts["audit"] == 1
    async with runtime.sessionmaker() as db:
        left = (await db.scalars(select(ProcessedInbound))).all()
    assert [p.inbound_id for p in left] == [f"u-{FLOW[0]}"]
    for _ in range(5):
        ask = await runtime.handle("console:loop", Inbound.from_text("/verwijder"))
        await runtime.handle("console:loop", Inbound.button(ask.replies[0].buttons[0].id))
    async with runtime.sessionmaker() as db:
        audit = (await db.scalars(select(AuditRow).where(AuditRow.actor == "user"))).all()
    assert len(audit) == 1 and audit[0].detail.endswith("(+4 more)")
