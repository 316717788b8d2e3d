"""Who may see which leads, and one-time login links for the staff dashboard.

Programme staff (``MKBROUTE_ADMIN_IDS``) see everything; a contact person (a Telegram id in the
contacts file) sees the leads of their own pilot(s); anyone else sees nothing. A login link is
valid once, for ten minutes, and only its SHA-256 hash is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handoff.contacts import Contact
from bot.store.models import DashboardLinkRow, LeadRow, LeadStatus

__all__ = ["LINK_MINUTES", "Access", "access_for", "new_link", "redeem"]

LINK_MINUTES = 10


@dataclass(frozen=True, slots=True)
class Access:
    """What one person may see: everything (``pilots`` None) or these pilots' leads."""

    telegram_id: int
    pilots: frozenset[str] | None
    name: str | None = None  # a contact person's name from the contacts file

    @property
    def staff(self) -> bool:
        return self.pilots is None

    def may_see(self, lead: LeadRow) -> bool:
        """The one rule for every page and action: not erased, and of this person's pilots."""
        return lead.status != LeadStatus.ERASED and (
            self.pilots is None or lead.pilot in self.pilots
        )


def access_for(
    telegram_id: int,
    admin_ids: Sequence[int],
    contacts: Mapping[str, Sequence[Contact]],
) -> Access | None:
    """Programme staff, a contact person of some pilots, or nobody (None)."""
    if telegram_id in admin_ids:
        return Access(telegram_id, None)
    mine = [
        (pilot, person.name)
        for pilot, people in contacts.items()
        for person in people
        if person.telegram_chat_id == telegram_id
    ]
    if not mine:
        return None
    return Access(telegram_id, frozenset(pilot for pilot, _ in mine), mine[0][1])


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


async def new_link(db: AsyncSession, telegram_id: int, now: dt.datetime) -> str:
    """A fresh login token for ``telegram_id`` (the caller puts it in a URL and commits)."""
    token = secrets.token_urlsafe(32)
    # Links nobody used are of no use to anyone once expired.
    await db.execute(delete(DashboardLinkRow).where(DashboardLinkRow.expires_at < now))
    db.add(
        DashboardLinkRow(
            token_hash=_hash(token),
            telegram_id=telegram_id,
            created_at=now,
            expires_at=now + dt.timedelta(minutes=LINK_MINUTES),
        )
    )
    return token


async def redeem(db: AsyncSession, token: str, now: dt.datetime) -> int | None:
    """The Telegram id a valid, unused, unexpired link was made for; the link is used up
    (atomically: of two requests with the same link, one wins). None otherwise."""
    if not token or len(token) > 200:
        return None
    digest = _hash(token)
    result = await db.execute(
        update(DashboardLinkRow)
        .where(
            DashboardLinkRow.token_hash == digest,
            DashboardLinkRow.used_at.is_(None),
            DashboardLinkRow.expires_at > now,
        )
        .values(used_at=now)
        .returning(DashboardLinkRow.telegram_id)
    )
    found = result.scalar_one_or_none()
    return int(found) if found is not None else None
