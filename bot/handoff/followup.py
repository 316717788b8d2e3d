"""Follow-up after a lead reached its route: claim it, then in conversation, enrolled or
dropped out (with a reason), or "not for us" (back to the programme team, as on a card).

Every change is kept in the lead's history (who, when, from, to, why) and audited; notes are
the staff's own words about a lead, never shown to the user and erased with the lead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import shown
from bot.content.bundle import Content
from bot.handoff.claims import claim, decline
from bot.handoff.contacts import Contact
from bot.knowledge.text import clean_input, fill
from bot.store import repo
from bot.store.models import LeadHistoryRow, LeadNoteRow, LeadRow, LeadStatus

__all__ = [
    "FOLLOW_UP",
    "MAX_NOTE",
    "Change",
    "add_note",
    "card_note",
    "change_status",
    "history",
    "notes",
]

# What a signed-in person may set, in the order the dashboard offers them.
FOLLOW_UP: tuple[LeadStatus, ...] = (
    LeadStatus.CLAIMED,
    LeadStatus.IN_CONVERSATION,
    LeadStatus.ENROLLED,
    LeadStatus.DROPPED,
    LeadStatus.DECLINED,
)
_AFTER_CLAIM = {
    LeadStatus.CLAIMED,
    LeadStatus.IN_CONVERSATION,
    LeadStatus.ENROLLED,
    LeadStatus.DROPPED,
}
MAX_NOTE = 1000


@dataclass(frozen=True, slots=True)
class Change:
    """What a status change did: ``done``, or why not."""

    outcome: Literal["done", "same", "claimed_by_other", "claim_first", "reason_needed"]
    by: str | None = None  # who has the lead, when someone else does


async def change_status(
    db: AsyncSession,
    content: Content,
    contacts: Mapping[str, Sequence[Contact]],
    lead: LeadRow,
    to: LeadStatus,
    author: str,
    now: dt.datetime,
    reason: str = "",
) -> Change:
    """Move ``lead`` to ``to`` on behalf of ``author``; the caller owns the transaction."""
    reason = clean_input(reason).strip()[:200]
    before = lead.status
    if to == before:
        return Change("same")
    if lead.claimed_by is not None and lead.claimed_by != author and to in _AFTER_CLAIM:
        return Change("claimed_by_other", lead.claimed_by)
    if to == LeadStatus.DROPPED and not reason:
        return Change("reason_needed")
    if to == LeadStatus.CLAIMED:
        result = await claim(db, lead, author, now)
        if result.outcome == "already":
            return Change("claimed_by_other", result.by)
    elif to == LeadStatus.DECLINED:
        result = await decline(db, content, contacts, lead, author, now, reason)
        if result.outcome == "already":
            return Change("claimed_by_other", result.by)
    elif lead.claimed_by is None:
        return Change("claim_first")
    else:
        lead.status = to
    db.add(
        LeadHistoryRow(
            lead_id=lead.id,
            author=author[:100],
            from_status=str(before),
            to_status=str(to),
            reason=reason,
            at=now,
        )
    )
    repo.add_audit(db, "lead_status", "dashboard", f"ref={lead.ref}, {before}->{to}", now)
    return Change("done")


def card_note(
    content: Content, to: LeadStatus, author: str, now: dt.datetime, reason: str = ""
) -> str:
    """The line a lead card shows after a change: the same words as the card's own buttons
    for a claim or a hand-back, the status in words otherwise."""
    m = content.messages
    if to == LeadStatus.CLAIMED:
        return fill(m.handoff_claimed.get("nl"), contact=author, at=shown(now))
    if to == LeadStatus.DECLINED:
        return fill(m.handoff_declined.get("nl"), contact=author, at=shown(now), choice=reason)
    why = f" ({reason})" if reason else ""
    return f"{m.staff_lead_status[to].get('nl')}{why}: {author}, {shown(now)}"


async def add_note(
    db: AsyncSession, lead: LeadRow, author: str, text: str, now: dt.datetime
) -> bool:
    """Keep a note on the lead; False when there is nothing to keep."""
    text = clean_input(text).strip()[:MAX_NOTE]
    if not text:
        return False
    db.add(LeadNoteRow(lead_id=lead.id, author=author[:100], text=text, at=now))
    repo.add_audit(db, "lead_note", "dashboard", f"ref={lead.ref}", now)
    return True


async def notes(db: AsyncSession, lead_id: int) -> list[LeadNoteRow]:
    rows = await db.scalars(
        select(LeadNoteRow).where(LeadNoteRow.lead_id == lead_id).order_by(LeadNoteRow.id)
    )
    return list(rows)


async def history(db: AsyncSession, lead_id: int) -> list[LeadHistoryRow]:
    rows = await db.scalars(
        select(LeadHistoryRow).where(LeadHistoryRow.lead_id == lead_id).order_by(LeadHistoryRow.id)
    )
    return list(rows)
