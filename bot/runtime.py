"""One message, end to end: load the session, run the engine, store everything, then reply.

Every adapter (terminal, JSON lines, Telegram) calls :meth:`Runtime.handle`. The replies are
returned only after the transaction committed, so an answer the bot acknowledged is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import add_working_days, local, shown, utcnow
from bot.content.bundle import Content
from bot.content.holder import ContentHolder, holder_of
from bot.engine import buttons as bid
from bot.engine.engine import handle as engine_handle
from bot.engine.types import (
    Button,
    ConversationState,
    CreateLead,
    Event,
    Inbound,
    RecordConsent,
    Reply,
    StateError,
    Turn,
    Unanswered,
)
from bot.handoff.contacts import Contact
from bot.handoff.outbox import deliveries
from bot.knowledge.text import fill
from bot.privacy import erase_user, my_data, my_data_json
from bot.store.db import wipe_wal
from bot.store.models import (
    ConsentRow,
    EventRow,
    LeadRow,
    LeadStatus,
    ProcessedInbound,
    SessionRow,
    UnansweredRow,
)

__all__ = [
    "INBOUND_WINDOW",
    "Result",
    "Runtime",
    "WriteHealth",
    "db_error_code",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Result:
    """What the adapter shows the user, and what happened (for logs, tests and JSON lines)."""

    replies: tuple[Reply, ...]
    events: tuple[dict[str, Any], ...] = ()
    duplicate: bool = False
    failed: bool = False


# What we promise when no contact person of the lead's route is configured: the programme
# team picks leads up by hand, so the promise is more careful than a contact's reminder term.
DEFAULT_FOLLOW_UP_DAYS = 5


@dataclass
class _Applied:
    events: list[dict[str, Any]] = field(default_factory=list)
    lead_ref: str | None = None
    lead_run: int | None = None
    follow_up: int = DEFAULT_FOLLOW_UP_DAYS


class _Duplicate(Exception):
    pass


class _Conflict(Exception):
    pass


ERASE_CONFIRM_MINUTES = 10  # how long "Ja, wis alles" stays valid
INBOUND_WINDOW = dt.timedelta(days=7)  # how long a handled update id is remembered


@dataclass
class WriteHealth:
    """Whether the last messages could be stored: ``SELECT 1`` succeeds on a full disk or a
    database another process holds locked, so /healthz asks this too."""

    failures: int = 0  # in a row
    code: str = ""
    since: dt.datetime | None = None

    def failed(self, code: str, now: dt.datetime) -> None:
        if not self.failures:
            self.since = now
        self.failures += 1
        self.code = code

    def ok(self) -> None:
        self.failures, self.code, self.since = 0, "", None


def db_error_code(exc: BaseException) -> str:
    """The driver's error code without its message: SQLite's name, PostgreSQL's SQLSTATE."""
    orig = getattr(exc, "orig", None) or exc
    for attr in ("sqlite_errorname", "sqlstate", "pgcode"):
        code = getattr(orig, attr, None)
        if isinstance(code, str) and code:
            return code
    return ""


class Runtime:
    """Runs the pure engine inside one database transaction per inbound message."""

    def __init__(
        self,
        content: Content | ContentHolder,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        default_lang: str = "nl",
        clock: Callable[[], dt.datetime] = utcnow,
        contacts: Mapping[str, Sequence[Contact]] | None = None,
        org: tuple[str, str] = ("het programma Mkb-route in het hbo", "www.mkbrouteinhbo.nl"),
        retention: tuple[int, int] = (30, 365),
    ) -> None:
        self.contents = holder_of(content)
        self.org = org
        self.retention = retention  # (unfinished conversations, leads) in days
        self.contacts = dict(contacts or {})
        self.sessionmaker = sessionmaker
        self.default_lang = default_lang
        self.clock = clock
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        bind = sessionmaker.kw.get("bind")
        # SQLite has one writer at a time. Concurrent messages (the webhook server handles
        # requests side by side) queue here instead of in SQLite's busy timeout, where a long
        # enough queue turns into "probeer het zo nog eens" for whoever waited longest.
        sqlite = getattr(getattr(bind, "dialect", None), "name", "") == "sqlite"
        self._writer: asyncio.Lock | None = asyncio.Lock() if sqlite else None
        self.writes = WriteHealth()

    @property
    def content(self) -> Content:
        """The current content (the shared holder's: a reload reaches this too)."""
        return self.contents.current

    def _lock(self, user_key: str) -> asyncio.Lock:
        lock = self._locks.get(user_key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[user_key] = lock
        return lock

    async def handle(
        self,
        user_key: str,
        inbound: Inbound,
        *,
        channel: str = "console",
        inbound_id: str | None = None,
    ) -> Result:
        """Process one message; a database failure gives a friendly retry reply, not a crash."""
        lock = self._lock(user_key)  # a local reference keeps the weak entry alive
        async with lock, self._writer or contextlib.nullcontext():
            try:
                try:
                    result = await self._handle(user_key, inbound, channel, inbound_id)
                except _Conflict:
                    result = await self._handle(user_key, inbound, channel, inbound_id)
                self.writes.ok()
                if any(e.get("type") == "erased" for e in result.events):
                    await self._wipe_wal()
                return result
            except _Duplicate:
                return Result(replies=(), duplicate=True)
            except (SQLAlchemyError, OSError, _Conflict) as exc:
                # Only the type and the driver's error code (SQLITE_FULL, 53100): the message
                # text may quote parameters with personal data.
                code = db_error_code(exc)
                self.writes.failed(code, self.clock())
                log.error(
                    "message not processed (%s%s); user asked to retry",
                    type(exc).__name__,
                    f", {code}" if code else "",
                    extra={"event": "store_failed"},
                )
                lang = self._lang_hint(inbound)
                text = self.content.messages.error_retry.get(lang)
                return Result(replies=(Reply(text),), failed=True)

    async def _wipe_wal(self) -> None:
        bind = self.sessionmaker.kw.get("bind")
        if isinstance(bind, AsyncEngine):
            try:
                await wipe_wal(bind)
            except (SQLAlchemyError, OSError) as exc:
                # The erasure itself is committed; the log is truncated at the next checkpoint.
                log.warning("WAL not checkpointed after an erasure (%s)", type(exc).__name__)

    def _lang_hint(self, inbound: Inbound) -> str:
        hint = (inbound.lang or "").split("-", 1)[0]
        return hint if hint in ("nl", "en") else self.default_lang

    async def _handle(
        self, user_key: str, inbound: Inbound, channel: str, inbound_id: str | None
    ) -> Result:
        now = self.clock()
        async with self.sessionmaker() as db, db.begin():
            if inbound_id is not None:
                # Telegram may restart update ids at a random value after a quiet week: an id
                # seen longer ago than the window is a new message, never a duplicate.
                await db.execute(
                    delete(ProcessedInbound).where(
                        ProcessedInbound.channel == channel,
                        ProcessedInbound.inbound_id == inbound_id,
                        ProcessedInbound.processed_at < now - INBOUND_WINDOW,
                    )
                )
                db.add(ProcessedInbound(channel=channel, inbound_id=inbound_id, processed_at=now))
                try:
                    await db.flush()
                except IntegrityError:
                    raise _Duplicate from None
            row = await db.get(SessionRow, user_key, with_for_update=True)
            session = None
            if row is not None:
                try:
                    session = ConversationState.from_json(row.data)
                except StateError:
                    log.warning("unreadable session replaced by a new one")
            lang = session.lang if session else self._lang_hint(inbound)
            rights = await self._rights(db, user_key, inbound, lang, now)
            if rights is not None:
                if session is not None and inbound.value in ("status", "mijngegevens"):
                    # Asked halfway a questionnaire: show the open question again afterwards.
                    again = engine_handle(
                        self.content, session, Inbound("command", "herhaal"), now, lang
                    )
                    more = self._filled(again.replies, lang, channel, _Applied(), now)
                    rights = replace(rights, replies=rights.replies + more)
                return rights
            turn = engine_handle(self.content, session, inbound, now, self.default_lang)
            since = row.created_at if row is not None else now
            applied = await self._apply(db, user_key, turn, now, since)
            new_session = turn.session
            if applied.lead_ref:
                new_session = replace(new_session, lead_ref=applied.lead_ref)
            if applied.lead_run is not None:
                new_session = replace(new_session, run=applied.lead_run)
            data = new_session.to_json()
            if row is None:
                db.add(SessionRow(user_key=user_key, data=data, created_at=now, updated_at=now))
                try:
                    await db.flush()
                except IntegrityError:
                    # Another worker created this user's session meanwhile: start over, so this
                    # message is applied on top of that one instead of beside it.
                    raise _Conflict from None
            else:
                row.data = data
                row.updated_at = now
        replies = self._filled(turn.replies, new_session.lang, channel, applied, now)
        return Result(replies=replies, events=tuple(applied.events))

    def _filled(
        self,
        replies: tuple[Reply, ...],
        lang: str,
        channel: str,
        applied: _Applied,
        now: dt.datetime,
    ) -> tuple[Reply, ...]:
        """Fill in what the pure engine cannot know: the lead's reference and contact term, the
        deployment's organisation, retention periods and the channel for the notices."""
        m = self.content.messages
        values = {
            "org": self.org[0],
            "org_contact": self.org[1],
            "session_days": str(self.retention[0]),
            "lead_days": str(self.retention[1]),
            "channel": (m.channel_telegram if channel == "telegram" else m.channel_console).get(
                lang
            ),
        }
        if applied.lead_ref:
            values["lead_ref"] = applied.lead_ref
            values["follow_up"] = str(applied.follow_up)
            values["follow_up_date"] = _date(add_working_days(now, applied.follow_up), lang)
        return tuple(Reply(fill(r.text, **values), r.buttons, r.document) for r in replies)

    async def _rights(
        self, db: AsyncSession, user_key: str, inbound: Inbound, lang: str, now: dt.datetime
    ) -> Result | None:
        """/status, /mijngegevens and /verwijder: questions for the database, not the engine."""
        m = self.content.messages
        what = inbound.value if inbound.kind in ("command", "button") else ""
        if inbound.kind == "command" and what == "status":
            return Result(replies=(await self._status(db, user_key, lang),))
        if inbound.kind == "command" and what == "mijngegevens":
            text = await my_data(db, self.content, user_key, lang)
            document = ("mijngegevens.json", await my_data_json(db, user_key))
            return Result(replies=(Reply(text, (), document),))
        # The confirmation carries the minute it was asked: an old "Ja, wis alles" found by
        # scrolling up (or pressed by someone else on the phone days later) asks again.
        buttons = (
            Button(bid.erase_yes(int(now.timestamp()) // 60), m.btn_erase_yes.get(lang)),
            Button(bid.ERASE_NO, m.btn_erase_no.get(lang)),
        )
        if inbound.kind == "command" and what == "verwijder":
            return Result(replies=(Reply(m.erase_confirm.get(lang), buttons),))
        if inbound.kind == "button" and what == bid.ERASE_NO:
            return Result(replies=(Reply(m.erase_cancelled.get(lang)),))
        pressed = bid.parse(what)
        if inbound.kind == "button" and (pressed.kind, pressed.arg) == ("erase", "yes"):
            asked = pressed.arg2
            minutes = (
                int(now.timestamp()) // 60 - int(asked)
                if asked.isascii() and asked.isdecimal()
                else None
            )
            if minutes is None or not 0 <= minutes <= ERASE_CONFIRM_MINUTES:
                return Result(replies=(Reply(m.erase_expired.get(lang), buttons),))
            erased = await erase_user(db, self.content, user_key, now, actor="user")
            if erased.delivered_to:
                pilots = ", ".join(dict.fromkeys([*erased.delivered_to, *erased.maybe_to]))
                text = fill(m.erase_done_shared.get(lang), pilot=pilots)
            elif erased.maybe_to:
                pilots = ", ".join(dict.fromkeys(erased.maybe_to))
                text = fill(m.erase_done_maybe.get(lang), pilot=pilots)
            else:
                text = m.erase_done.get(lang)
            return Result(replies=(Reply(text),), events=({"type": "erased"},))
        return None

    def follow_up_days(self, pilot: str) -> int:
        """Working days within which the lead's contact persons promise to answer."""
        people = self.contacts.get(pilot) or self.contacts.get(self.content.fallback_pilot.id)
        return min((p.follow_up_days for p in people or ()), default=DEFAULT_FOLLOW_UP_DAYS)

    async def _status(self, db: AsyncSession, user_key: str, lang: str) -> Reply:
        """/status: what became of this user's requests (asked of the database, not the engine)."""
        m = self.content.messages
        leads = (
            await db.scalars(
                select(LeadRow).where(LeadRow.user_key == user_key).order_by(LeadRow.id)
            )
        ).all()
        if not leads:
            return Reply(m.status_none.get(lang))
        lines = []
        now = self.clock()
        for lead in leads:
            status = getattr(m, f"status_{lead.status}", m.status_new).get(lang)
            lines.append(
                fill(
                    m.status_line.get(lang),
                    lead_ref=lead.ref or "?",
                    date=shown(lead.created_at, date_only=True),
                    status=status,
                )
            )
            if lead.status in (
                LeadStatus.NEW,
                LeadStatus.QUEUED,
                LeadStatus.DELIVERED,
                LeadStatus.DECLINED,
                LeadStatus.UNDELIVERABLE,
            ):
                # The same promise as the confirmation gave; past it, a way to reach us.
                due = add_working_days(lead.created_at, self.follow_up_days(lead.pilot or ""))
                if local(now).date() > due:
                    lines.append(fill(m.status_overdue.get(lang), org_contact=self.org[1]))
                else:
                    lines.append(fill(m.status_expect.get(lang), follow_up_date=_date(due, lang)))
        return Reply("\n".join(lines))

    async def _apply(
        self, db: AsyncSession, user_key: str, turn: Turn, now: dt.datetime, since: dt.datetime
    ) -> _Applied:
        out = _Applied()
        for effect in turn.effects:
            if isinstance(effect, Event):
                db.add(EventRow(user_key=user_key, type=effect.type, data=effect.data, at=now))
                out.events.append({"type": effect.type, **effect.data})
            elif isinstance(effect, RecordConsent):
                db.add(
                    ConsentRow(
                        user_key=user_key,
                        notice_version=effect.notice_version,
                        given_at=dt.datetime.fromisoformat(effect.given_at),
                    )
                )
            elif isinstance(effect, Unanswered):
                db.add(
                    UnansweredRow(user_key=user_key, text=effect.text, lang=effect.lang, at=now)
                )
            elif isinstance(effect, CreateLead):
                out.lead_ref, out.lead_run = await self._create_lead(
                    db, user_key, effect, now, since
                )
                out.follow_up = self.follow_up_days(effect.pilot)
                event = {"type": "lead", "ref": out.lead_ref, "pilot": effect.pilot}
                db.add(
                    EventRow(
                        user_key=user_key,
                        type="lead_confirmed",
                        data={"ref": out.lead_ref, "flow": effect.flow},
                        at=now,
                    )
                )
                out.events.append(event)
        return out

    async def _create_lead(
        self,
        db: AsyncSession,
        user_key: str,
        lead: CreateLead,
        now: dt.datetime,
        since: dt.datetime,
    ) -> tuple[str, int | None]:
        """Store the lead (once per run) and its deliveries; returns the reference and, when the
        run number had to move on, the new one."""
        run, moved = lead.run, None
        existing = await db.scalar(
            select(LeadRow).where(LeadRow.user_key == user_key, LeadRow.run == run)
        )
        if existing is not None and existing.ref:
            if existing.created_at >= since:
                return existing.ref, None  # confirmed twice in this session: the same lead
            # The lead of an earlier session, since purged (sessions are kept shorter than
            # leads), holds this run number: this is a new request, numbered after it.
            last = await db.scalar(
                select(func.max(LeadRow.run)).where(LeadRow.user_key == user_key)
            )
            run = moved = int(last or 0) + 1
        consent_id = await db.scalar(
            select(ConsentRow.id)
            .where(
                ConsentRow.user_key == user_key, ConsentRow.notice_version == lead.consent_version
            )
            .order_by(ConsentRow.id.desc())
            .limit(1)
        )
        row = LeadRow(
            user_key=user_key,
            run=run,
            flow=lead.flow,
            verdict=lead.verdict,
            reasons=list(lead.reasons),
            answers=dict(lead.answers),
            name=lead.contact.get("naam"),
            company=lead.contact.get("bedrijf"),
            email=lead.contact.get("email"),
            phone=lead.contact.get("telefoon"),
            question=lead.contact.get("vraag"),
            minor=lead.minor,
            lang=lead.lang,
            pilot=lead.pilot,
            routing=list(lead.routing),
            status=LeadStatus.NEW,
            consent_id=consent_id,
            consent_version=lead.consent_version,
            consent_at=dt.datetime.fromisoformat(lead.consent_at),
            created_at=now,
        )
        db.add(row)
        await db.flush()
        row.ref = f"L-{now.year}-{row.id:06d}"
        # The deliveries are written in the same transaction as the lead: if the lead exists,
        # so does the duty to deliver it (transactional outbox).
        pilot = lead.pilot if self.contacts.get(lead.pilot) else self.content.fallback_pilot.id
        rows = deliveries(row.id, pilot, self.contacts.get(pilot, ()), now)
        db.add_all(rows)
        if rows:
            row.status = LeadStatus.QUEUED
        return row.ref, moved


_MONTHS = {
    "nl": "januari februari maart april mei juni juli augustus september oktober november "
    "december",
    "en": "January February March April May June July August September October November December",
}
_DAYS = {
    "nl": "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
}


def _date(day: dt.date, lang: str) -> str:
    """A date as people say it: "vrijdag 4 december" / "Friday 4 December"."""
    lang = "en" if lang == "en" else "nl"
    weekday = _DAYS[lang].split()[day.weekday()]
    return f"{weekday} {day.day} {_MONTHS[lang].split()[day.month - 1]}"
