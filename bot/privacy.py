"""The user's rights from the chat: see everything stored (/mijngegevens) and erase it
(/verwijder); staff erasure by reference; the retention purge."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import shown
from bot.content.bundle import Content
from bot.engine.types import ConversationState, StateError
from bot.knowledge.text import fill
from bot.settings import Settings
from bot.store.models import (
    AuditRow,
    ConsentRow,
    EventRow,
    LeadHistoryRow,
    LeadNoteRow,
    LeadRow,
    LeadStatus,
    OutboxKind,
    OutboxRow,
    OutboxStatus,
    ProcessedInbound,
    SessionRow,
    UnansweredRow,
)

__all__ = ["Erased", "Purged", "erase_user", "my_data", "my_data_json", "purge", "purge_now"]


async def my_data(db: AsyncSession, content: Content, user_key: str, lang: str) -> str:
    """Everything stored about one user, as a message they can read."""
    m = content.messages
    lines = [m.mydata_header.get(lang)]
    row = await db.get(SessionRow, user_key)
    if row is not None:
        try:
            session = ConversationState.from_json(row.data)
        except StateError:
            session = None
        if session is not None:
            name = {"nl": "Nederlands", "en": "English"}.get(session.lang, session.lang)
            lines.append(f"• {m.mydata_language.get(lang)}: {name}")
            flow = content.flows.get(session.audience or "")
            if flow is not None and session.answers:
                answers = []
                for step in flow.steps:
                    choice = next(
                        (c for c in step.choices if c.id == session.answers.get(step.id)), None
                    )
                    if choice is not None:
                        answers.append(
                            f"{(step.label or step.ask).get(lang)}: {choice.label.get(lang)}"
                        )
                lines.append(f"• {m.mydata_answers.get(lang)}: " + "; ".join(answers))
            for key, value in session.contact.items():
                lines.append(f"• {key}: {value}")
    leads = (await db.scalars(select(LeadRow).where(LeadRow.user_key == user_key))).all()
    for lead in leads:
        pilot = content.pilots.get(lead.pilot or "")
        shared = pilot.name.get(lang) if pilot else "-"
        contact = ", ".join(
            v for v in (lead.name, lead.company, lead.email, lead.phone, lead.question) if v
        )
        lines.append(
            fill(
                m.mydata_lead.get(lang),
                lead_ref=lead.ref or "?",
                date=shown(lead.created_at, date_only=True),
                contact=contact,
                pilot=shared,
                status=getattr(m, f"status_{lead.status}", m.status_new).get(lang),
                at=shown(lead.consent_at),
                version=lead.consent_version,
            )
        )
    consents = await db.scalar(
        select(func.count()).select_from(ConsentRow).where(ConsentRow.user_key == user_key)
    )
    questions = await db.scalar(
        select(func.count()).select_from(UnansweredRow).where(UnansweredRow.user_key == user_key)
    )
    lines.append(fill(m.mydata_counts.get(lang), status=f"{consents or 0}/{questions or 0}"))
    if len(lines) == 2 and row is None:
        return m.mydata_nothing.get(lang)
    lines.append(m.mydata_footer.get(lang))
    return "\n".join(lines)


async def my_data_json(db: AsyncSession, user_key: str) -> str:
    """The same data as machine-readable JSON (the right to data portability)."""
    import json

    data: dict[str, object] = {"user": user_key}
    row = await db.get(SessionRow, user_key)
    if row is not None:
        try:
            session = ConversationState.from_json(row.data)
            data["conversation"] = {
                "language": session.lang,
                "audience": session.audience,
                "answers": session.answers,
                "contact": session.contact,
            }
        except StateError:
            data["conversation"] = None
    leads = (await db.scalars(select(LeadRow).where(LeadRow.user_key == user_key))).all()
    data["requests"] = [
        {
            "reference": lead.ref,
            "created": lead.created_at.isoformat(),
            "audience": lead.flow,
            "verdict": lead.verdict,
            "reasons": lead.reasons,
            "answers": lead.answers,
            "name": lead.name,
            "company": lead.company,
            "email": lead.email,
            "phone": lead.phone,
            "question": lead.question,
            "minor": lead.minor,
            "pilot": lead.pilot,
            "status": lead.status,
            "claimed_by": lead.claimed_by,
            "consent": {"at": lead.consent_at.isoformat(), "notice_version": lead.consent_version},
        }
        for lead in leads
    ]
    consents = (await db.scalars(select(ConsentRow).where(ConsentRow.user_key == user_key))).all()
    data["consents"] = [
        {"at": c.given_at.isoformat(), "notice_version": c.notice_version} for c in consents
    ]
    questions = (
        await db.scalars(select(UnansweredRow).where(UnansweredRow.user_key == user_key))
    ).all()
    data["unanswered_questions"] = [{"at": q.at.isoformat(), "text": q.text} for q in questions]
    return json.dumps(data, ensure_ascii=False, indent=2)


@dataclass
class Erased:
    """What an erasure did: counts for the audit, pilots that already had the lead."""

    counts: dict[str, int] = field(default_factory=dict)
    delivered_to: list[str] = field(default_factory=list)
    # Pilots whose delivery was in flight: the lead may or may not have arrived.
    maybe_to: list[str] = field(default_factory=list)


async def erase_user(
    db: AsyncSession, content: Content, user_key: str, now: dt.datetime, actor: str
) -> Erased:
    """Erase every trace of one user in the open transaction ``db``.

    A lead that already reached a pilot keeps a tombstone (reference and pilot, no personal
    data) so that the contacts who received it are told the person withdrew. A delivery in
    flight (``sending``: a slow mail server may hold it for its whole timeout) counts as
    possibly sent: it is left to finish, and the erased notice to that contact is due once its
    lease ends, so it arrives after the lead rather than before.
    """
    out = Erased()
    leads = (await db.scalars(select(LeadRow).where(LeadRow.user_key == user_key))).all()
    for lead in leads:
        reached = (
            await db.scalars(
                select(OutboxRow)
                .where(
                    OutboxRow.lead_id == lead.id,
                    OutboxRow.status.in_((OutboxStatus.SENT, OutboxStatus.SENDING)),
                )
                .order_by(OutboxRow.id)
            )
        ).all()
        await db.execute(
            delete(OutboxRow).where(
                OutboxRow.lead_id == lead.id, OutboxRow.status == OutboxStatus.PENDING
            )
        )
        if reached:
            pilot = content.pilots.get(lead.pilot or "")
            if pilot is not None:
                sure = any(
                    r.status == OutboxStatus.SENT and r.kind != OutboxKind.ERASED for r in reached
                )
                (out.delivered_to if sure else out.maybe_to).append(pilot.name.nl)
            seen: set[tuple[str, str]] = set()
            for row in reached:
                if (row.channel, row.target) in seen or row.kind == OutboxKind.ERASED:
                    continue
                seen.add((row.channel, row.target))
                notice = row.again(now, OutboxKind.ERASED)
                if row.status == OutboxStatus.SENDING and row.lease_until is not None:
                    notice.next_attempt_at = max(now, row.lease_until)
                db.add(notice)
            _tombstone(lead)
            # Staff notes may quote the person; the history names who followed them up.
            for kept in (LeadNoteRow, LeadHistoryRow):
                await db.execute(delete(kept).where(kept.lead_id == lead.id))
        else:
            for linked in (OutboxRow, LeadNoteRow, LeadHistoryRow):
                await db.execute(delete(linked).where(linked.lead_id == lead.id))
            await db.execute(delete(LeadRow).where(LeadRow.id == lead.id))
    out.counts["leads"] = len(leads)
    await db.flush()  # the tombstones no longer point at the consents deleted below
    for model in (ConsentRow, EventRow, UnansweredRow, SessionRow):
        result = await db.execute(delete(model).where(model.user_key == user_key))
        out.counts[model.__tablename__] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    detail = ", ".join(f"{k}={v}" for k, v in sorted(out.counts.items()))
    if actor == "user":
        # Anyone can erase (and start again) in a loop: one audit row per minute, counted.
        recent = (
            await db.scalars(
                select(AuditRow)
                .where(
                    AuditRow.action == "erase",
                    AuditRow.actor == "user",
                    AuditRow.at >= now - dt.timedelta(minutes=1),
                )
                .order_by(AuditRow.id.desc())
                .limit(1)
            )
        ).first()
        if recent is not None:
            head, _, more = recent.detail.partition(" (+")
            count = int(more.split(" ")[0]) + 1 if more[:1].isdigit() else 1
            recent.detail = f"{head[:170]} (+{count} more)"
            return out
    db.add(AuditRow(action="erase", actor=actor, detail=detail[:200], at=now))
    return out


def _tombstone(lead: LeadRow) -> None:
    lead.user_key = f"erased:{lead.id}"
    lead.name = lead.company = lead.email = lead.phone = lead.question = None
    lead.answers, lead.reasons, lead.routing = {}, [], []
    lead.consent_id = None  # the consent row itself is erased with the rest
    lead.status = LeadStatus.ERASED


@dataclass
class Purged:
    counts: dict[str, int] = field(default_factory=dict)


async def purge(
    db: AsyncSession,
    now: dt.datetime,
    *,
    sessions_days: int,
    leads_days: int,
    outbox_days: int,
    unanswered_days: int,
    audit_days: int = 730,
    inbound_window: dt.timedelta = dt.timedelta(days=7),
) -> Purged:
    """Delete what has passed its retention period; idempotent, counts only in the audit."""
    out = Purged()

    def before(days: int) -> dt.datetime:
        return now - dt.timedelta(days=days)

    # Unfinished conversations (and finished ones nobody came back to).
    result = await db.execute(
        delete(SessionRow).where(SessionRow.updated_at < before(sessions_days))
    )
    out.counts["sessions"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    # Delivered messages: the lead itself keeps the facts.
    result = await db.execute(
        delete(OutboxRow).where(
            OutboxRow.status.in_((OutboxStatus.SENT, OutboxStatus.DEAD)),
            OutboxRow.created_at < before(outbox_days),
        )
    )
    out.counts["outbox"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    old = (
        await db.scalars(
            select(LeadRow).where(
                func.coalesce(LeadRow.claimed_at, LeadRow.created_at) < before(leads_days)
            )
        )
    ).all()
    ids = [lead.id for lead in old]
    consents = [lead.consent_id for lead in old if lead.consent_id is not None]
    # Children before parents: deliveries, notes and history, then leads, then the consents
    # they point to.
    for linked in (OutboxRow, LeadNoteRow, LeadHistoryRow):
        await db.execute(delete(linked).where(linked.lead_id.in_(ids)))
    await db.execute(delete(LeadRow).where(LeadRow.id.in_(ids)))
    await db.execute(delete(ConsentRow).where(ConsentRow.id.in_(consents)))
    out.counts["leads"] = len(old)
    result = await db.execute(
        delete(UnansweredRow).where(UnansweredRow.at < before(unanswered_days))
    )
    out.counts["unanswered"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    # Statistics survive as aggregates: old events lose the link to a person.
    result = await db.execute(
        update(EventRow)
        .where(EventRow.at < before(sessions_days), EventRow.user_key != "")
        .values(user_key="")
    )
    out.counts["events_anonymised"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    # Consents of conversations that never became a lead (the register says 30 days).
    has_lead = select(LeadRow.id).where(LeadRow.consent_id == ConsentRow.id).exists()
    result = await db.execute(
        delete(ConsentRow).where(ConsentRow.given_at < before(sessions_days), ~has_lead)
    )
    out.counts["consents"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    result = await db.execute(
        delete(ProcessedInbound).where(ProcessedInbound.processed_at < now - inbound_window)
    )
    out.counts["inbound_ids"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    result = await db.execute(delete(AuditRow).where(AuditRow.at < before(audit_days)))
    out.counts["audit"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if any(out.counts.values()):
        detail = ", ".join(f"{k}={v}" for k, v in sorted(out.counts.items()))
        db.add(AuditRow(action="purge", actor="retention", detail=detail[:200], at=now))
    return out


async def purge_now(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, now: dt.datetime
) -> Purged:
    """One purge with the configured retention periods, in its own transaction."""
    async with sessionmaker() as db, db.begin():
        return await purge(
            db,
            now,
            sessions_days=settings.retention_sessions_days,
            leads_days=settings.retention_leads_days,
            outbox_days=settings.retention_outbox_days,
            unanswered_days=settings.retention_unanswered_days,
            audit_days=settings.retention_audit_days,
        )
