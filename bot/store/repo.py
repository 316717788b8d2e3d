"""The queries the services share, in one place.

Every function takes the caller's ``AsyncSession`` and never commits: the caller owns the
transaction (``async with app.db() as db, db.begin(): ...``), so several of these calls are
one atomic step when the caller needs that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import AuditRow, LeadRow, LeadStatus, OutboxKind, OutboxRow, OutboxStatus

__all__ = [
    "LeadQuery",
    "add_audit",
    "card_received",
    "deliveries_of",
    "find_leads",
    "latest_leads",
    "lead_by_ref",
    "outbox_backlog",
    "sent_cards",
    "set_claimed",
    "status_counts",
]


def add_audit(db: AsyncSession, action: str, actor: str, detail: str, at: dt.datetime) -> None:
    """One audit line (ids and counts only, never personal data)."""
    db.add(AuditRow(action=action, actor=actor, detail=detail[:200], at=at))


async def lead_by_ref(db: AsyncSession, ref: str, *, for_update: bool = False) -> LeadRow | None:
    """The lead with this reference; ``for_update`` locks its row until the caller's commit
    (PostgreSQL; SQLite has one writer anyway), so a claim and a decline cannot cross."""
    query = select(LeadRow).where(LeadRow.ref == ref)
    if for_update:
        query = query.with_for_update()
    return (await db.scalars(query)).first()


async def latest_leads(
    db: AsyncSession, limit: int, pilots: frozenset[str] | None = None
) -> list[LeadRow]:
    """The newest leads first; only those of ``pilots`` when given."""
    query = select(LeadRow).order_by(LeadRow.id.desc()).limit(limit)
    if pilots is not None:
        query = query.where(LeadRow.pilot.in_(pilots))
    return list((await db.scalars(query)).all())


async def deliveries_of(db: AsyncSession, lead_ids: Sequence[int]) -> dict[int, list[OutboxRow]]:
    """Every outbox row of these leads, oldest first, in one query."""
    found: dict[int, list[OutboxRow]] = {lead_id: [] for lead_id in lead_ids}
    if not lead_ids:
        return found
    rows = await db.scalars(
        select(OutboxRow).where(OutboxRow.lead_id.in_(lead_ids)).order_by(OutboxRow.id)
    )
    for row in rows:
        found[row.lead_id].append(row)
    return found


async def set_claimed(db: AsyncSession, lead_id: int, contact: str, now: dt.datetime) -> bool:
    """Claim a lead nobody claimed yet; False when someone was first (atomic on both
    databases: the condition is part of the UPDATE)."""
    result = await db.execute(
        update(LeadRow)
        .where(LeadRow.id == lead_id, LeadRow.claimed_by.is_(None))
        .values(claimed_by=contact, claimed_at=now, status=LeadStatus.CLAIMED)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def card_received(db: AsyncSession, ref: str, chat_id: int) -> bool:
    """Did this Telegram chat get the (not erased) lead's card or reminder?"""
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


async def sent_cards(db: AsyncSession, lead_id: int) -> list[tuple[int, int]]:
    """(chat id, message id) of every Telegram card sent about a lead."""
    rows = await db.scalars(
        select(OutboxRow).where(
            OutboxRow.lead_id == lead_id,
            OutboxRow.channel == "telegram",
            OutboxRow.status == OutboxStatus.SENT,
            OutboxRow.external_id.is_not(None),
        )
    )
    return [(int(r.target), int(r.external_id or 0)) for r in rows]


async def outbox_backlog(
    db: AsyncSession, blocked_prefix: str
) -> tuple[int, dt.datetime | None, int]:
    """(deliveries waiting, the oldest one's creation time, those held back by our own side:
    pending with an error starting with ``blocked_prefix``)."""
    waiting = OutboxRow.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING))
    count, oldest = (
        await db.execute(
            select(func.count(OutboxRow.id), func.min(OutboxRow.created_at)).where(waiting)
        )
    ).one()
    blocked = await db.scalar(
        select(func.count(OutboxRow.id)).where(
            OutboxRow.status == OutboxStatus.PENDING,
            OutboxRow.last_error.startswith(blocked_prefix),
        )
    )
    return int(count or 0), oldest, int(blocked or 0)


@dataclass(frozen=True, slots=True)
class LeadQuery:
    """A filter over leads, as the dashboard offers it; empty fields do not filter."""

    pilots: frozenset[str] | None = None  # who is looking: None = everything
    status: str = ""
    pilot: str = ""
    flow: str = ""
    search: str = ""  # reference, name, e-mail, phone or company (case-insensitive part)

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [LeadRow.status != LeadStatus.ERASED]
        if self.pilots is not None:
            out.append(LeadRow.pilot.in_(self.pilots))
        if self.status:
            out.append(LeadRow.status == self.status)
        if self.pilot:
            out.append(LeadRow.pilot == self.pilot)
        if self.flow:
            out.append(LeadRow.flow == self.flow)
        if self.search:
            like = f"%{self.search.casefold()}%"
            columns = (LeadRow.ref, LeadRow.name, LeadRow.email, LeadRow.phone, LeadRow.company)
            out.append(or_(*(func.lower(c).like(like) for c in columns)))
        return out


async def find_leads(
    db: AsyncSession, query: LeadQuery, offset: int, limit: int
) -> tuple[list[LeadRow], int]:
    """One page of the matching leads, newest first, and how many match in all."""
    where = query.conditions()
    total = await db.scalar(select(func.count(LeadRow.id)).where(*where))
    rows = await db.scalars(
        select(LeadRow).where(*where).order_by(LeadRow.id.desc()).offset(offset).limit(limit)
    )
    return list(rows), int(total or 0)


async def status_counts(db: AsyncSession, pilots: frozenset[str] | None) -> dict[str, int]:
    """How many leads per status (erased tombstones left out)."""
    query = select(LeadRow.status, func.count(LeadRow.id)).where(
        LeadRow.status != LeadStatus.ERASED
    )
    if pilots is not None:
        query = query.where(LeadRow.pilot.in_(pilots))
    rows = await db.execute(query.group_by(LeadRow.status))
    return {str(status): int(n) for status, n in rows.all()}
