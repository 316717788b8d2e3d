"""The outbox for staff: what waits or died, and putting it back in the queue.

`mkbroute outbox list` shows deliveries that have not gone out; `mkbroute outbox retry` makes
them due now (after a fixed SMTP password, say), and with ``--dead`` revives dead letters too.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import shown
from bot.store.models import LeadRow, LeadStatus, OutboxKind, OutboxRow, OutboxStatus

__all__ = ["outbox_lines", "retry_outbox"]


def _which(dead: bool, ref: str | None) -> tuple[object, ...]:
    statuses: tuple[OutboxStatus, ...] = (OutboxStatus.PENDING, OutboxStatus.SENDING)
    if dead:
        statuses += (OutboxStatus.DEAD,)
    where: list[object] = [OutboxRow.status.in_(statuses)]
    if ref:
        where.append(LeadRow.ref == ref)
    return tuple(where)


async def _rows(db: AsyncSession, dead: bool, ref: str | None) -> list[tuple[OutboxRow, LeadRow]]:
    query = (
        select(OutboxRow, LeadRow)
        .join(LeadRow, LeadRow.id == OutboxRow.lead_id)
        .where(*_which(dead, ref))  # type: ignore[arg-type]
        .order_by(OutboxRow.id)
    )
    return [(row, lead) for row, lead in (await db.execute(query)).all()]


async def outbox_lines(db: AsyncSession, dead: bool = False, ref: str | None = None) -> list[str]:
    """One line per waiting (and with ``dead``, dead) delivery: who, how, why it waits."""
    lines = []
    for row, lead in await _rows(db, dead, ref):
        due = shown(row.next_attempt_at) if row.status == OutboxStatus.PENDING else "-"
        lines.append(
            f"#{row.id}  {lead.ref}  {row.kind}  {row.pilot}/{row.contact}  {row.channel}  "
            f"{row.status}  tries {row.attempts}  due {due}  {row.last_error or ''}".rstrip()
        )
    return lines


async def retry_outbox(
    db: AsyncSession, now: dt.datetime, dead: bool = False, ref: str | None = None
) -> int:
    """Make waiting deliveries due now (``dead``: revive dead letters too); returns how many.

    A row being sent right now is left alone. A lead that nobody could be reached for goes
    back to 'queued', so /status no longer says the programme team took it over.
    """
    count = 0
    for row, lead in await _rows(db, dead, ref):
        if row.status == OutboxStatus.SENDING or (
            lead.status == LeadStatus.ERASED and row.kind != OutboxKind.ERASED
        ):
            continue
        if row.status == OutboxStatus.DEAD:
            row.attempts = 0
        row.status, row.next_attempt_at, row.lease_until = OutboxStatus.PENDING, now, None
        if lead.status == LeadStatus.UNDELIVERABLE:
            lead.status = LeadStatus.QUEUED
        count += 1
    return count
