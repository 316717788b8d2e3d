"""Claims: the first contact to press "Ik pak dit op" owns the lead; "Niet voor ons" hands it
to the programme team."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.content.bundle import Content
from bot.handoff.contacts import Contact
from bot.handoff.outbox import deliveries
from bot.store.models import LeadRow, LeadStatus, OutboxKind, OutboxRow, OutboxStatus

__all__ = ["ClaimResult", "claim", "decline", "received", "sent_cards"]


@dataclass(frozen=True, slots=True)
class ClaimResult:
    outcome: Literal["claimed", "already", "declined", "unknown"]
    by: str | None = None
    lead_id: int | None = None


async def received(sessionmaker: async_sessionmaker[AsyncSession], ref: str, chat_id: int) -> bool:
    """Did this Telegram chat get the lead's card? Only then may it claim or decline the lead.

    References are sequential, so a contact of another pilot could otherwise forge a button
    for any lead. An erased lead cannot be claimed or declined by anyone.
    """
    async with sessionmaker() as db:
        found = await db.scalar(
            select(OutboxRow.id)
            .join(LeadRow, LeadRow.id == OutboxRow.lead_id)
            .where(
                LeadRow.ref == ref,
                LeadRow.status != LeadStatus.ERASED,
                OutboxRow.channel == "telegram",
                OutboxRow.target == str(chat_id),
                OutboxRow.kind.in_((OutboxKind.LEAD, OutboxKind.REMINDER)),
                OutboxRow.status == OutboxStatus.SENT,
            )
            .limit(1)
        )
    return found is not None


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession], ref: str, contact: str, now: dt.datetime
) -> ClaimResult:
    """Claim atomically: of two contacts pressing at once, exactly one wins."""
    async with sessionmaker() as db, db.begin():
        lead = (await db.scalars(select(LeadRow).where(LeadRow.ref == ref))).first()
        if lead is None:
            return ClaimResult("unknown")
        result = await db.execute(
            update(LeadRow)
            .where(LeadRow.id == lead.id, LeadRow.claimed_by.is_(None))
            .values(claimed_by=contact, claimed_at=now, status=LeadStatus.CLAIMED)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            await db.refresh(lead)
            return ClaimResult("already", lead.claimed_by, lead.id)
        return ClaimResult("claimed", contact, lead.id)


async def decline(
    sessionmaker: async_sessionmaker[AsyncSession],
    content: Content,
    contacts: Mapping[str, Sequence[Contact]],
    ref: str,
    contact: str,
    now: dt.datetime,
    reason: str = "",
) -> ClaimResult:
    """Send the lead to the programme team, noting who declined it and why."""
    fallback = content.fallback_pilot.id
    async with sessionmaker() as db, db.begin():
        lead = (await db.scalars(select(LeadRow).where(LeadRow.ref == ref))).first()
        if lead is None:
            return ClaimResult("unknown")
        if lead.claimed_by is not None:
            return ClaimResult("already", lead.claimed_by, lead.id)
        if lead.status == LeadStatus.DECLINED:
            return ClaimResult("declined", contact, lead.id)
        lead.status = LeadStatus.DECLINED
        why = f": {reason}" if reason else ""
        lead.routing = [*lead.routing, f"niet voor ons volgens {contact} ({lead.pilot}){why}"]
        lead.pilot = fallback
        db.add_all(deliveries(lead.id, fallback, contacts.get(fallback, ()), now))
        return ClaimResult("declined", contact, lead.id)


async def sent_cards(
    sessionmaker: async_sessionmaker[AsyncSession], lead_id: int
) -> list[tuple[int, int]]:
    """(chat id, message id) of every Telegram card sent about a lead, to update them all."""
    async with sessionmaker() as db:
        rows = (
            await db.scalars(
                select(OutboxRow).where(
                    OutboxRow.lead_id == lead_id,
                    OutboxRow.channel == "telegram",
                    OutboxRow.status == OutboxStatus.SENT,
                    OutboxRow.external_id.is_not(None),
                )
            )
        ).all()
    return [(int(r.target), int(r.external_id or 0)) for r in rows]
