"""Lead handoff: outbox rows written with the lead, delivered by real SMTP on 127.0.0.1 and the
Bot API emulator, with retries, dead letters and fallback (T9, T11, T12, T13)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from telegram import Bot

from bot.content.bundle import Content
from bot.engine.types import Inbound
from bot.handoff.channels import Channel, EmailChannel, TelegramChannel
from bot.handoff.contacts import Contact
from bot.handoff.dispatcher import Dispatcher
from bot.runtime import Runtime
from bot.store.db import create_engine, make_sessionmaker, upgrade_schema
from bot.store.models import LeadRow, OutboxRow
from tests.botapi import TOKEN, BotAPIState, Fault, OfflineRequest
from tests.conftest import AVANS, chat_jsonl, mkbroute
from tests.mail import Mailbox


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


CONTACTS = {
    "avans-bouwtalent": (
        Contact(name="Contact Avans", email="avans@example.org", telegram_chat_id=9001),
    ),
    "programmateam": (Contact(name="Programmateam", email="team@example.org"),),
}


@dataclass
class World:
    runtime: Runtime
    dispatcher: Dispatcher
    clock: Clock
    mailbox: Mailbox
    botapi: BotAPIState


@pytest.fixture
async def world(
    content: Content, db_url: str, mailbox: tuple[Mailbox, int]
) -> AsyncIterator[World]:
    box, port = mailbox
    clock = Clock()
    engine = create_engine(db_url)
    await upgrade_schema(engine)
    sm = make_sessionmaker(engine)
    state = BotAPIState()
    bot = Bot(TOKEN, request=OfflineRequest(state))
    channels: dict[str, Channel] = {
        "email": EmailChannel(
            "127.0.0.1", port, "assistent@example.org", security="none", timeout=5
        ),
        "telegram": TelegramChannel(bot),
    }
    runtime = Runtime(content, sm, clock=clock, contacts=CONTACTS)
    dispatcher = Dispatcher(sm, content, channels, CONTACTS, clock=clock, jitter=lambda: 0.5)
    async with bot:
        yield World(runtime, dispatcher, clock, box, state)
    await engine.dispose()


async def make_lead(
    w: World, user: str = "u1", name: str = "Anna Bakker", company: str = "Bakker Bouw B.V."
) -> str:
    key = f"console:{user}"
    for button in AVANS:
        await w.runtime.handle(key, Inbound.button(button))
    for text in (name, company):
        await w.runtime.handle(key, Inbound.from_text(text))
    await w.runtime.handle(key, Inbound.button("c:kanaal:email"))
    await w.runtime.handle(key, Inbound.from_text("anna@example.org"))
    result = await w.runtime.handle(key, Inbound.button("confirm"))
    return str(result.events[-1]["ref"])


async def rows(w: World) -> list[OutboxRow]:
    async with w.runtime.sessionmaker() as db:
        return list((await db.scalars(select(OutboxRow).order_by(OutboxRow.id))).all())


async def lead(w: World, ref: str) -> LeadRow:
    async with w.runtime.sessionmaker() as db:
        return (await db.scalars(select(LeadRow).where(LeadRow.ref == ref))).one()


async def test_the_lead_and_its_deliveries_are_written_together(world: World) -> None:
    ref = await make_lead(world)
    outbox = await rows(world)
    assert [(r.channel, r.target, r.status) for r in outbox] == [
        ("email", "avans@example.org", "pending"),
        ("telegram", "9001", "pending"),
    ]
    assert (await lead(world, ref)).status == "queued"


async def test_delivery_by_email_and_telegram(world: World) -> None:
    ref = await make_lead(world)
    assert await world.dispatcher.run_once() == 2
    assert [r.status for r in await rows(world)] == ["sent", "sent"]
    assert (await lead(world, ref)).status == "delivered"
    mail = world.mailbox.messages[0]
    assert ref in mail["Subject"] and mail["To"] == "avans@example.org"
    assert mail["Message-ID"].startswith(f"<{ref}.")
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Anna Bakker" in text and "Bakker Bouw B.V." in text and "anna@example.org" in text
    assert "Avans" in text and "geschikt" in text.lower()
    card = next(s for s in world.botapi.sent if s.chat_id == 9001)
    assert ref in card.text and "Anna Bakker" in card.text
    assert await world.dispatcher.run_once() == 0  # nothing is sent twice


async def test_an_hour_long_outage_loses_nothing_and_does_not_spin(world: World) -> None:
    """T9: both channels down; the user still got a reference; all delivered afterwards."""
    world.mailbox.mode = "421"
    world.botapi.add_fault("sendMessage", *[Fault("status", 502)] * 50)
    refs = [await make_lead(world, user=f"u{i}") for i in range(3)]
    attempts = 0
    for _ in range(60):  # an hour in one-minute steps
        attempts += await world.dispatcher.run_once()
        world.clock.advance(60)
    assert all(r.status == "pending" for r in await rows(world))
    assert attempts <= 6 * 8, "no hot loop: backoff keeps attempts per row low"
    world.mailbox.mode = "accept"
    world.botapi.faults.clear()
    world.clock.advance(3600)
    for _ in range(5):
        await world.dispatcher.run_once()
    assert all(r.status == "sent" for r in await rows(world))
    assert {m["Subject"].split()[2] for m in world.mailbox.messages} == set(refs)


async def test_retry_after_is_honoured(world: World) -> None:
    world.botapi.add_fault("sendMessage", Fault("retry_after", 120))
    await make_lead(world)
    await world.dispatcher.run_once()
    telegram = next(r for r in await rows(world) if r.channel == "telegram")
    assert telegram.status == "pending"
    assert telegram.next_attempt_at == world.clock.now + dt.timedelta(seconds=120)
    world.clock.advance(119)
    assert await world.dispatcher.run_once() == 0
    world.clock.advance(2)
    assert await world.dispatcher.run_once() == 1


async def test_permanent_failures_fall_back_to_the_programme_team(world: World) -> None:
    """T12: the address bounces (550) and the contact blocked the bot (403)."""
    world.mailbox.bouncing.add("avans@example.org")
    world.botapi.add_fault("sendMessage", Fault("forbidden"))
    ref = await make_lead(world)
    await world.dispatcher.run_once()
    outbox = await rows(world)
    assert [r.status for r in outbox[:2]] == ["dead", "dead"]
    assert "550" in (outbox[0].last_error or "") and outbox[1].last_error
    fallback = outbox[2:]
    assert [(r.pilot, r.target) for r in fallback] == [("programmateam", "team@example.org")]
    # The programme team gets it in the same round, not a polling interval later.
    assert fallback[0].status == "sent"
    assert [m["To"] for m in world.mailbox.messages] == ["team@example.org"]
    assert (await lead(world, ref)).status == "delivered"


async def test_a_crashed_dispatcher_is_taken_over_after_its_lease(world: World) -> None:
    """T11: a row left 'sending' by a dead process is delivered once its lease runs out."""
    await make_lead(world)
    async with world.runtime.sessionmaker() as db, db.begin():
        for r in (await db.scalars(select(OutboxRow))).all():
            r.status = "sending"
            r.lease_until = world.clock.now + dt.timedelta(seconds=120)
    assert await world.dispatcher.run_once() == 0
    world.clock.advance(121)
    assert await world.dispatcher.run_once() == 2
    assert all(r.status == "sent" for r in await rows(world))


async def test_hostile_text_stays_text(world: World) -> None:
    """T13: markup and header tricks in user input never become headers or markup."""
    evil = "<script>alert(1)</script> Jan"
    ref = await make_lead(world, name="Jan de Vries", company=evil)
    await world.dispatcher.run_once()
    mail = world.mailbox.messages[0]
    html = mail.get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content() and "&lt;script&gt;" in html.get_content()
    assert all("script" not in str(v) for _, v in mail.items())
    assert ref in mail["Subject"]


def test_email_headers_never_hold_user_text() -> None:
    from bot.handoff.card import Card

    channel = EmailChannel("127.0.0.1", 25, "assistent@example.org", security="none")
    msg = channel.message(
        "team@example.org",
        Card("Nieuwe aanvraag L-1", "x\nBcc: a@b.c", "<p>x</p>"),
        "<L-1.1@example.org>",
    )
    assert msg["Bcc"] is None and msg["Subject"] == "Nieuwe aanvraag L-1"


async def test_no_contacts_means_no_outbox(content: Content, db_url: str) -> None:
    engine = create_engine(db_url)
    await upgrade_schema(engine)
    runtime = Runtime(content, make_sessionmaker(engine))
    w: Any = World(runtime, None, Clock(), Mailbox(), BotAPIState())  # type: ignore[arg-type]
    ref = await make_lead(w)
    assert await rows(w) == []
    assert (await lead(w, ref)).status == "new"
    await engine.dispose()


def test_mkbroute_chat_delivers_leads_by_email(
    mailbox: tuple[Mailbox, int], tmp_path: Any
) -> None:
    """The real process: a lead made in the terminal reaches the contact's mailbox."""

    box, port = mailbox
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        "contacts:\n  programmateam:\n    - {name: Team, email: team@example.org}\n",
        encoding="utf-8",
    )
    env = dict(
        MKBROUTE_CONTACTS_FILE=str(contacts),
        MKBROUTE_SMTP_HOST="127.0.0.1",
        MKBROUTE_SMTP_PORT=str(port),
        MKBROUTE_SMTP_SECURITY="none",
        MKBROUTE_SMTP_FROM="assistent@example.org",
        MKBROUTE_DISPATCH_INTERVAL="0.2",
    )
    presses = [
        "menu:student",
        "c:leeftijd:21_plus",
        "c:diploma:havo",
        "c:niveau:ad",
        "c:richting:zorg",
        "c:provincie:utrecht",
        "c:werkplek:mkb",
        "c:aanbod:ja",
        "c:toestemming:ja",
    ]
    lines = [{"user": "z", "button": b} for b in presses]
    lines += [
        {"user": "z", "text": "Zoë Jansen"},
        {"user": "z", "button": "c:kanaal:email"},
        {"user": "z", "text": "zoe@example.org"},
        {"user": "z", "button": "confirm"},
    ]
    ref = chat_jsonl(tmp_path, lines, **env)[-1]["events"][-1]["ref"]
    assert [m["To"] for m in box.messages] == ["team@example.org"]
    assert ref in box.messages[0]["Subject"]


async def test_an_unclaimed_lead_is_brought_up_once_after_working_days(world: World) -> None:
    await make_lead(world)
    await world.dispatcher.run_once()
    world.clock.now = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC) + dt.timedelta(days=1)
    assert await world.dispatcher.run_once() == 0  # one working day: not yet
    world.clock.advance(2 * 86400)  # Thursday: three working days after Monday
    await world.dispatcher.run_once()
    await world.dispatcher.run_once()
    reminders = [r for r in await rows(world) if r.kind == "reminder"]
    assert {r.channel for r in reminders} == {"email", "telegram"}
    assert all(r.status == "sent" for r in reminders)
    assert "Herinnering" in world.mailbox.messages[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    world.clock.advance(7 * 86400)
    await world.dispatcher.run_once()
    assert len([r for r in await rows(world) if r.kind == "reminder"]) == 2  # only once


def test_working_days_skip_weekends() -> None:
    from bot.handoff.dispatcher import working_days_between

    friday = dt.datetime(2026, 12, 4, 17, 0, tzinfo=dt.UTC)
    assert working_days_between(friday, friday + dt.timedelta(days=1)) == 0  # Saturday
    assert working_days_between(friday, friday + dt.timedelta(days=3)) == 1  # Monday
    assert working_days_between(friday, friday + dt.timedelta(days=7)) == 5


async def test_status_tells_the_user_what_became_of_the_request(world: World) -> None:
    before = await world.runtime.handle("console:s1", Inbound.from_text("/status"))
    assert "geen aanvraag" in before.replies[0].text
    ref = await make_lead(world, user="s1")
    queued = await world.runtime.handle("console:s1", Inbound.from_text("/status"))
    assert ref in queued.replies[0].text and "onderweg" in queued.replies[0].text
    await world.dispatcher.run_once()
    done = await world.runtime.handle("console:s1", Inbound.from_text("/status"))
    assert "aangekomen" in done.replies[0].text


async def test_a_lost_response_gives_at_most_one_duplicate(world: World) -> None:
    """T10: Telegram delivered the card but the answer was lost; the retry sends it again,
    once, and both carry the reference so the contact recognises the duplicate."""
    world.botapi.add_fault("sendMessage", Fault("timeout"))
    ref = await make_lead(world)
    await world.dispatcher.run_once()
    world.clock.advance(3600)
    for _ in range(3):
        await world.dispatcher.run_once()
        world.clock.advance(3600)
    cards = [s for s in world.botapi.sent if s.chat_id == 9001]
    assert len(cards) == 2 and all(ref in c.text for c in cards)
    telegram = next(r for r in await rows(world) if r.channel == "telegram")
    assert telegram.status == "sent" and telegram.attempts == 2


def test_mkbroute_dispatch_needs_contacts(tmp_path: Any) -> None:

    proc = mkbroute(tmp_path, "dispatch")
    assert proc.returncode != 0 and "MKBROUTE_CONTACTS_FILE" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_staff_see_each_leads_delivery_status(world: World, content: Content) -> None:
    from bot.staff.leads import lead_detail, lead_lines

    world.mailbox.mode = "550"
    ref = await make_lead(world)
    await world.dispatcher.run_once()
    world.mailbox.mode = "accept"
    await world.dispatcher.run_once()
    async with world.runtime.sessionmaker() as db:
        lines = await lead_lines(db, content)
        detail = await lead_detail(db, content, ref)
        missing = await lead_detail(db, content, "L-1999-000001")
    assert len(lines) == 1 and ref in lines[0] and "delivered" in lines[0]
    assert "(1/2 bezorgd)" in lines[0]
    assert detail is not None and missing is None
    assert "Bakker Bouw B.V." in detail and "avans-bouwtalent" in detail
    assert "via email aan Contact Avans (avans-bouwtalent): dead" in detail
    assert "550" in detail and "via telegram aan Contact Avans (avans-bouwtalent): sent" in detail
