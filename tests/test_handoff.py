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
from bot.store.models import LeadRow, OutboxRow, OutboxStatus
from tests.conftest import avans_lead_lines, chat_jsonl, mkbroute
from tests.support.answers import AVANS
from tests.support.botapi import TOKEN, BotAPIState, Fault, OfflineRequest
from tests.support.mail import Mailbox


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
    # Five minutes between rounds: a relay that drops the first connection after its outage
    # (seen once on Python 3.13) is retried in 300 s, and that retry must still deliver.
    for _ in range(5):
        await world.dispatcher.run_once()
        world.clock.advance(300)
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
            r.status = OutboxStatus.SENDING
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


def test_working_days_skip_weekends_and_dutch_holidays() -> None:
    from bot.clock import add_working_days, working_days_between

    friday = dt.datetime(2026, 12, 4, 17, 0, tzinfo=dt.UTC)
    assert working_days_between(friday, friday + dt.timedelta(days=1)) == 0  # Saturday
    assert working_days_between(friday, friday + dt.timedelta(days=3)) == 1  # Monday
    assert working_days_between(friday, friday + dt.timedelta(days=7)) == 5
    # Christmas 2026: Friday 25 and Saturday 26 December; Thursday 24 -> Monday 28 is one day.
    christmas_eve = dt.datetime(2026, 12, 24, 15, 0, tzinfo=dt.UTC)
    assert working_days_between(christmas_eve, christmas_eve + dt.timedelta(days=4)) == 1
    # King's Day 2027 is Tuesday 27 April: three working days after Friday 23 April is Thursday.
    friday = dt.datetime(2027, 4, 23, 10, 0, tzinfo=dt.UTC)
    assert add_working_days(friday, 3) == dt.date(2027, 4, 29)
    # Counted on Dutch dates: 23:30 UTC on a Sunday is already Monday in Amsterdam.
    late_sunday = dt.datetime(2026, 12, 6, 23, 30, tzinfo=dt.UTC)
    assert add_working_days(late_sunday, 1) == dt.date(2026, 12, 8)


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
    assert len(lines) == 1 and ref in lines[0] and "bezorgd" in lines[0]
    assert "(1/2 bezorgd)" in lines[0]
    assert detail is not None and missing is None
    assert "Bakker Bouw B.V." in detail and "avans-bouwtalent" in detail
    assert "via email aan Contact Avans (avans-bouwtalent): mislukt" in detail
    assert (
        "550" in detail
        and "via telegram aan Contact Avans (avans-bouwtalent): verstuurd" in detail
    )
    # Times in Dutch local time with the zone, not UTC: the world's clock is 09:00 UTC in
    # November, 10:00 CET in the Netherlands.
    assert "van 30-11-2026 10:00 CET" in detail and "UTC" not in detail


async def test_t28_erasure_while_the_lead_is_being_sent(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """T28: the user erases everything while a slow mail server holds the lead's e-mail.

    The user is told the lead may have reached the pilot, the contact gets the lead and then
    the erased notice, and the dispatcher finishes without an error.
    """
    import asyncio

    ref = await make_lead(world)
    async with world.runtime.sessionmaker() as db, db.begin():  # a contact with e-mail only
        for row in (await db.scalars(select(OutboxRow))).all():
            if row.channel == "telegram":
                await db.delete(row)
    world.mailbox.hold()
    sending = asyncio.create_task(world.dispatcher.run_once(limit=1))
    assert await asyncio.to_thread(world.mailbox.arrived.wait, 10)
    key = "console:u1"
    ask = await world.runtime.handle(key, Inbound.from_text("/verwijder"))
    done = await world.runtime.handle(key, Inbound.button(ask.replies[0].buttons[0].id))
    text = done.replies[0].text
    assert "misschien" in text and "Avans" in text
    world.mailbox.release()
    await sending
    tomb = await lead(world, ref)
    assert tomb.status == "erased" and tomb.name is None and tomb.email is None
    world.clock.advance(121)  # the notice waits for the in-flight delivery's lease
    await world.dispatcher.run_once()
    subjects = [m["Subject"] for m in world.mailbox.messages]
    assert len(subjects) == 2 and all(ref in s for s in subjects)
    notice = world.mailbox.messages[1].get_body(("plain",))
    assert notice is not None and "verwijder" in notice.get_content().lower()
    assert "Anna Bakker" not in notice.get_content()
    assert [(r.kind, r.channel, r.status) for r in await rows(world)] == [
        ("lead", "email", "sent"),
        ("erased", "email", "sent"),
    ]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def _smtp_with_login(box: Mailbox, password: str) -> tuple[Any, int]:
    """A real SMTP server on 127.0.0.1 that offers AUTH and accepts only ``password``."""
    import socket

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == password.encode()
        return AuthResult(success=ok, handled=False)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=check,
        auth_require_tls=False,
        auth_required=False,  # offered, and the client logs in because it has a password
    )
    controller.start()
    return controller, port


async def test_t29_a_wrong_smtp_password_holds_leads_and_raises_the_alarm(
    world: World, caplog: pytest.LogCaptureFixture, db_url: str, tmp_path: Any
) -> None:
    """T29: a rotated SMTP password (535) is our fault, not the contact's: the lead stays
    queued (no dead letter, no fallback to the programme team), one ERROR is logged however
    often it is retried, /healthz/delivery and `mkbroute doctor` turn red, and after the fix
    `retry_outbox` sends everything."""
    from bot.adapters.telegram.webhook import health
    from bot.staff.outbox import outbox_lines, retry_outbox

    box = Mailbox()
    controller, port = _smtp_with_login(box, "new-secret")
    try:
        wrong = EmailChannel(
            "127.0.0.1", port, "assistent@example.org", "bot", "old-secret", "none", 5
        )
        world.dispatcher.channels["email"] = wrong
        ref = await make_lead(world)
        for _ in range(3):
            await world.dispatcher.run_once()
            world.clock.advance(3600)
        email = [r for r in await rows(world) if r.channel == "email"]
        assert [(r.status, r.pilot) for r in email] == [("pending", "avans-bouwtalent")]
        assert (email[0].last_error or "").startswith("sender: SMTP login refused (535)")
        assert email[0].next_attempt_at <= world.clock.now + dt.timedelta(seconds=300)
        assert (await lead(world, ref)).status == "delivered"  # the Telegram card arrived
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and "SMTP login refused" in errors[0].getMessage()
        ok, report = await health(world.runtime.sessionmaker, world.clock.now)
        assert ok and report["delivery"] == "failing" and report["outbox_blocked"] == 1
        from bot.doctor import check_outbox
        from bot.settings import Settings

        settings = Settings(database_url=db_url, data_dir=tmp_path)
        doctor = await check_outbox(settings)
        assert doctor.status == "error" and "535" in doctor.details[0]
        assert "mkbroute outbox retry" in doctor.nl
        async with world.runtime.sessionmaker() as db:
            listed = await outbox_lines(db)
        assert len(listed) == 1 and ref in listed[0] and "535" in listed[0]
        assert box.messages == []

        world.dispatcher.channels["email"] = EmailChannel(
            "127.0.0.1", port, "assistent@example.org", "bot", "new-secret", "none", 5
        )
        async with world.runtime.sessionmaker() as db, db.begin():
            assert await retry_outbox(db, world.clock.now) == 1
        await world.dispatcher.run_once()
        assert [m["To"] for m in box.messages] == ["avans@example.org"]
        assert all(r.status == "sent" for r in await rows(world))
        ok, report = await health(world.runtime.sessionmaker, world.clock.now)
        assert report["delivery"] == "ok" and report["outbox_blocked"] == 0
        assert (await check_outbox(settings)).status == "ok"
        assert any("work again" in r.getMessage() for r in caplog.records)
    finally:
        controller.stop()


@pytest.mark.parametrize("broken", ["unreachable", "not configured"])
async def test_t29_an_unreachable_relay_or_missing_channel_never_dead_letters(
    world: World, broken: str
) -> None:
    """T29: a relay that does not answer, or contacts with e-mail while no SMTP is set up,
    keep the lead waiting for the sender to be fixed instead of killing every delivery."""
    import socket

    if broken == "unreachable":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = int(probe.getsockname()[1])  # nothing listens here once closed
        world.dispatcher.channels["email"] = EmailChannel(
            "127.0.0.1", closed, "assistent@example.org", security="none", timeout=2
        )
    else:
        del world.dispatcher.channels["email"]
    world.botapi.add_fault("sendMessage", Fault("forbidden"))  # Telegram: the contact's fault
    ref = await make_lead(world)
    await world.dispatcher.run_once()
    outbox = await rows(world)
    assert [(r.channel, r.status) for r in outbox] == [("email", "pending"), ("telegram", "dead")]
    assert (outbox[0].last_error or "").startswith("sender: ")
    assert (await lead(world, ref)).status == "queued"


def test_t29_mkbroute_outbox_lists_and_requeues_held_deliveries(tmp_path: Any) -> None:
    """T29: staff see why a lead waits (`mkbroute outbox list`) and put it back in the queue
    after fixing the relay (`mkbroute outbox retry`), on the real command line."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = int(probe.getsockname()[1])
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        "contacts:\n  programmateam:\n    - {name: Team, email: team@example.org}\n",
        encoding="utf-8",
    )
    env = dict(
        MKBROUTE_CONTACTS_FILE=str(contacts),
        MKBROUTE_SMTP_HOST="127.0.0.1",
        MKBROUTE_SMTP_PORT=str(closed),
        MKBROUTE_SMTP_SECURITY="none",
        MKBROUTE_SMTP_FROM="assistent@example.org",
        MKBROUTE_DISPATCH_INTERVAL="0.2",
    )
    lines = [*avans_lead_lines(), {"user": "z", "text": "/status"}]
    out = chat_jsonl(tmp_path, lines, **env)
    ref = out[-2]["events"][-1]["ref"]
    assert "niemand aangekomen" not in out[-1]["replies"][0]["text"]
    listed = mkbroute(tmp_path, "outbox", "list", **env)
    assert listed.returncode == 0 and ref in listed.stdout
    assert "sender: SMTP relay unreachable" in listed.stdout and "pending" in listed.stdout
    again = mkbroute(tmp_path, "outbox", "retry", ref, **env)
    assert again.returncode == 0 and again.stdout.startswith("1 deliveries are due now")
    nothing = mkbroute(tmp_path, "outbox", "list", "L-0000-000000", **env)
    assert "Nothing waiting" in nothing.stdout and "Traceback" not in nothing.stderr


async def test_t38_after_an_erasure_the_contacts_telegram_card_loses_the_name(
    world: World,
) -> None:
    """T38: the contact got the lead as a Telegram card. After the person erases everything,
    the withdrawal notice arrives and the card itself is edited: no name, e-mail or company
    stays visible in the contact's chat (an e-mail cannot be taken back; the notice asks)."""
    ref = await make_lead(world)
    await world.dispatcher.run_once()
    card = next(s for s in world.botapi.sent if s.chat_id == 9001)
    assert "Anna Bakker" in card.text
    ask = await world.runtime.handle("console:u1", Inbound.from_text("/verwijder"))
    await world.runtime.handle("console:u1", Inbound.button(ask.replies[0].buttons[0].id))
    await world.dispatcher.run_once()
    edits = [
        s
        for s in world.botapi.sent
        if s.method == "editMessageText" and s.chat_id == 9001 and s.message_id == card.message_id
    ]
    assert edits and ref in edits[-1].text and not edits[-1].buttons
    for secret in ("Anna Bakker", "anna@example.org", "Bakker Bouw"):
        assert secret not in edits[-1].text
