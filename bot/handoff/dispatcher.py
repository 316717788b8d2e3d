"""The outbox dispatcher: claims due deliveries, sends them, retries, dead-letters, falls back.

Delivery is at least once: a crash between sending and marking a row sent means it is sent
again after its lease runs out. Every message carries the lead reference (and e-mails a stable
Message-ID) so a duplicate is recognisable.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from html import escape

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import shown, utcnow, working_days_between
from bot.content.bundle import Content
from bot.content.holder import ContentHolder, holder_of
from bot.handoff.card import Card, LeadFacts, render
from bot.handoff.channels import Channel, Permanent, SenderBroken, Transient
from bot.handoff.contacts import Contact
from bot.handoff.outbox import SENDER_PREFIX, deliveries
from bot.knowledge.text import fill
from bot.store.models import LeadRow, LeadStatus, OutboxKind, OutboxRow, OutboxStatus

__all__ = ["Dispatcher", "facts"]

log = logging.getLogger(__name__)

SENDER_MAX_DELAY = 300.0  # back-off cap while our own side cannot send


class Dispatcher:
    """Delivers outbox rows; one instance or several (claims are atomic per row)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        content: Content | ContentHolder,
        channels: Mapping[str, Channel],
        contacts: Mapping[str, Sequence[Contact]],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        jitter: Callable[[], float] = random.random,
        lease: float = 120.0,
        base_delay: float = 30.0,
        max_delay: float = 3600.0,
        mail_domain: str = "mkbroute.invalid",
    ) -> None:
        self.sessionmaker = sessionmaker
        self.contents = holder_of(content)
        self.channels = dict(channels)
        self.contacts = dict(contacts)
        self.clock, self.jitter = clock, jitter
        self.lease, self.base_delay, self.max_delay = lease, base_delay, max_delay
        self.mail_domain = mail_domain
        self.broken: dict[str, str] = {}  # channel -> why our side cannot send over it

    @property
    def content(self) -> Content:
        """The current content (the shared holder's: a reload reaches this too)."""
        return self.contents.current

    async def run_once(self, limit: int = 20) -> int:
        """Deliver what is due now; return how many deliveries were attempted.

        Each channel has its own lane: a mail server that hangs for its whole timeout does not
        hold up the Telegram cards (or the other way round).
        """
        now = self.clock()
        lanes = sorted({"email", "telegram", *self.channels})
        total = 0
        while total < limit:
            done = sum(await asyncio.gather(*(self._lane(ch, now, limit) for ch in lanes)))
            total += done
            if not done:
                break  # else a dead letter in one lane may have queued a fallback in another
        return total + await self.remind(now)

    async def _lane(self, channel: str, now: dt.datetime, limit: int) -> int:
        done = 0
        # One row at a time, claimed just before it is sent: its lease starts when the work does.
        while done < limit and (row_id := await self._claim(now, channel)) is not None:
            await self._deliver(row_id)
            done += 1
        return done

    async def _claim(self, now: dt.datetime, channel: str | None = None) -> int | None:
        """Take the next due row for this dispatcher, in one short transaction.

        On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several dispatchers claim side by side
        without waiting for or taking each other's rows; SQLite has one writer at a time anyway.
        The update repeats the condition, so a row taken in between is never claimed twice.
        """
        due = or_(
            (OutboxRow.status == OutboxStatus.PENDING) & (OutboxRow.next_attempt_at <= now),
            # A dispatcher died mid-delivery: its lease ran out.
            (OutboxRow.status == OutboxStatus.SENDING) & (OutboxRow.lease_until < now),
        )
        if channel is not None:
            due = due & (OutboxRow.channel == channel)
        async with self.sessionmaker() as db, db.begin():
            row_id = await db.scalar(
                select(OutboxRow.id)
                .where(due)
                .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if row_id is None:
                return None
            return await db.scalar(
                update(OutboxRow)
                .where(OutboxRow.id == row_id, due)
                .values(
                    status=OutboxStatus.SENDING, lease_until=now + dt.timedelta(seconds=self.lease)
                )
                .returning(OutboxRow.id)
            )

    async def remind(self, now: dt.datetime) -> int:
        """Bring an unclaimed lead up again, once, after the contact's follow-up working days."""
        async with self.sessionmaker() as db, db.begin():
            waiting = (
                await db.scalars(
                    select(LeadRow)
                    .where(
                        LeadRow.status == LeadStatus.DELIVERED,
                        LeadRow.claimed_by.is_(None),
                        LeadRow.reminded_at.is_(None),
                    )
                    # Another dispatcher bringing the same lead up skips it: one reminder.
                    .with_for_update(skip_locked=True)
                )
            ).all()
            added = 0
            for lead in waiting:
                sent = (
                    await db.scalars(
                        select(OutboxRow).where(
                            OutboxRow.lead_id == lead.id,
                            OutboxRow.status == OutboxStatus.SENT,
                            OutboxRow.kind == OutboxKind.LEAD,
                        )
                    )
                ).all()
                due = [
                    r
                    for r in sent
                    if r.sent_at is not None
                    and working_days_between(r.sent_at, now) >= self._follow_up(r)
                ]
                if not due:
                    continue
                lead.reminded_at = now
                for r in due:
                    db.add(r.again(now, OutboxKind.REMINDER))
                    added += 1
        return added

    def _follow_up(self, row: OutboxRow) -> int:
        for person in self.contacts.get(row.pilot, ()):
            if person.name == row.contact:
                return person.follow_up_days
        return 2

    async def run_forever(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Poll the outbox until ``stop`` is set; a failing round is logged, never fatal."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception as exc:
                log.error("dispatch round failed (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _deliver(self, row_id: int) -> None:
        async with self.sessionmaker() as db:
            row = await db.get(OutboxRow, row_id)
            lead = await db.get(LeadRow, row.lead_id) if row else None
        if row is None or lead is None or lead.ref is None:
            return
        if lead.status == LeadStatus.ERASED and row.kind != OutboxKind.ERASED:
            # The person withdrew before this delivery started: never send it now.
            await self._drop(row_id, "the person erased their data")
            return
        note = (
            self.content.messages.handoff_reminder.get("nl")
            if row.kind == OutboxKind.REMINDER
            else ""
        )
        if row.kind == OutboxKind.ERASED:
            # The person withdrew: say so, and nothing else (the lead is only a tombstone now).
            text = fill(self.content.messages.handoff_erased.get("nl"), lead_ref=lead.ref)
            card = Card(subject=text.split(".")[0][:120], text=text, html=f"<p>{escape(text)}</p>")
        else:
            card = render(self.content, facts(lead), note=note, actions=lead.claimed_by is None)
        message_id = f"<{lead.ref}.{row.id}@{self.mail_domain}>"
        channel = self.channels.get(row.channel)
        try:
            if channel is None:
                raise SenderBroken(f"channel {row.channel} is not configured")
            external = await channel.send(row.target, card, message_id)
        except Transient as exc:
            await self._retry(row_id, exc)
        except SenderBroken as exc:
            # Our fault, not the recipient's: keep the row (and the lead) and raise the alarm.
            self._broken(row.channel, exc.reason)
            await self._retry(row_id, Transient(f"{SENDER_PREFIX}{exc.reason}"))
        except Permanent as exc:
            await self._dead(row_id, exc)
        else:
            self._broken(row.channel, None)
            await self._sent(row_id, external)
            if row.kind == OutboxKind.ERASED:
                await self._retract(row, card.text)

    async def _retract(self, notice: OutboxRow, text: str) -> None:
        """After the withdrawal notice: edit the cards that person got, where a channel can."""
        retract = getattr(self.channels.get(notice.channel), "retract", None)
        if retract is None:
            return  # an e-mail cannot be taken back; the notice asks to delete it
        async with self.sessionmaker() as db:
            cards = (
                await db.scalars(
                    select(OutboxRow).where(
                        OutboxRow.lead_id == notice.lead_id,
                        OutboxRow.channel == notice.channel,
                        OutboxRow.target == notice.target,
                        OutboxRow.kind.in_((OutboxKind.LEAD, OutboxKind.REMINDER)),
                        OutboxRow.external_id.is_not(None),
                    )
                )
            ).all()
        for card in cards:
            await retract(card.target, card.external_id, text)

    def _broken(self, channel: str, reason: str | None) -> None:
        """Log at ERROR when a channel breaks or its reason changes, once; and when it heals."""
        before = self.broken.get(channel)
        if reason == before:
            return
        if reason is None:
            del self.broken[channel]
            log.warning("deliveries over %s work again", channel, extra={"event": "sender_ok"})
        else:
            self.broken[channel] = reason
            log.error(
                "deliveries over %s are failing on our side: %s; rows stay queued until it is "
                "fixed (mkbroute outbox list)",
                channel,
                reason,
                extra={"event": "sender_broken"},
            )

    async def _drop(self, row_id: int, why: str) -> None:
        async with self.sessionmaker() as db, db.begin():
            await db.execute(delete(OutboxRow).where(OutboxRow.id == row_id))
        log.info("outbox row %d dropped: %s", row_id, why, extra={"outbox_id": row_id})

    async def _sent(self, row_id: int, external: str | None) -> None:
        now = self.clock()
        async with self.sessionmaker() as db, db.begin():
            row = await db.get(OutboxRow, row_id)
            if row is None:
                # Purged or erased while it was being sent: nothing left to record.
                log.info("outbox row %d was sent but is gone", row_id)
                return
            row.status, row.sent_at, row.lease_until = OutboxStatus.SENT, now, None
            row.external_id = external
            row.attempts += 1
            lead = await db.get(LeadRow, row.lead_id)
            if lead is not None and lead.status in (
                LeadStatus.NEW,
                LeadStatus.QUEUED,
                LeadStatus.UNDELIVERABLE,
            ):
                lead.status = LeadStatus.DELIVERED
        log.info(
            "delivered outbox row %d over %s",
            row_id,
            row.channel,
            extra={"event": "delivered", "outbox_id": row_id, "lead_ref": lead and lead.ref},
        )

    async def _retry(self, row_id: int, exc: Transient) -> None:
        now = self.clock()
        async with self.sessionmaker() as db, db.begin():
            row = await db.get(OutboxRow, row_id)
            lead = await db.get(LeadRow, row.lead_id) if row is not None else None
            if row is None or (
                lead is not None
                and lead.status == LeadStatus.ERASED
                and row.kind != OutboxKind.ERASED
            ):
                # Gone, or erased meanwhile: a retry would send a lead the person withdrew.
                if row is not None:
                    await db.delete(row)
                return
            row.attempts += 1
            # Once our own side is fixed, held rows should go out within minutes, not hours.
            cap = SENDER_MAX_DELAY if exc.reason.startswith(SENDER_PREFIX) else self.max_delay
            if exc.retry_after is not None:
                delay = exc.retry_after
            else:
                backoff = min(cap, self.base_delay * 2 ** (row.attempts - 1))
                delay = backoff * (0.5 + self.jitter())  # jitter spreads retries out
            row.status, row.lease_until = OutboxStatus.PENDING, None
            row.next_attempt_at = now + dt.timedelta(seconds=delay)
            row.last_error = exc.reason[:300]
        log.warning(
            "outbox row %d: transient failure (%s), retry in %.0f s",
            row_id,
            exc.reason,
            delay,
            extra={"event": "delivery_retry", "outbox_id": row_id},
        )

    async def _dead(self, row_id: int, exc: Permanent) -> None:
        now = self.clock()
        async with self.sessionmaker() as db, db.begin():
            row = await db.get(OutboxRow, row_id)
            if row is None:
                return
            # Two lanes can dead-letter the same lead's rows at once: the lead's lock makes the
            # second wait and then see the first as dead, so one of them falls back.
            lead = await db.get(LeadRow, row.lead_id, with_for_update=True)
            row.status, row.lease_until, row.last_error = OutboxStatus.DEAD, None, exc.reason[:300]
            row.attempts += 1
            others = (
                await db.scalars(
                    select(OutboxRow).where(
                        OutboxRow.lead_id == row.lead_id,
                        OutboxRow.id != row.id,
                        OutboxRow.status.in_(
                            (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.SENT)
                        ),
                    )
                )
            ).all()
            fallback = self.content.fallback_pilot.id
            if not others and lead is not None and lead.status != LeadStatus.ERASED:
                # Nothing else will reach anyone: hand the lead to the programme team.
                added = False
                if row.pilot != fallback:
                    rows = deliveries(row.lead_id, fallback, self.contacts.get(fallback, ()), now)
                    db.add_all(rows)
                    added = bool(rows)
                if not added and lead.status != LeadStatus.DELIVERED:
                    lead.status = LeadStatus.UNDELIVERABLE
        log.warning(
            "outbox row %d: permanent failure (%s)",
            row_id,
            exc.reason,
            extra={"event": "delivery_dead", "outbox_id": row_id, "lead_ref": lead and lead.ref},
        )


def facts(lead: LeadRow) -> LeadFacts:
    return LeadFacts(
        ref=lead.ref or "",
        flow=lead.flow,
        verdict=lead.verdict,
        reasons=tuple(lead.reasons or ()),
        routing=tuple(lead.routing or ()),
        answers=dict(lead.answers or {}),
        name=lead.name,
        company=lead.company,
        email=lead.email,
        phone=lead.phone,
        question=lead.question,
        minor=lead.minor,
        consent_version=lead.consent_version,
        consent_at=shown(lead.consent_at),
    )
