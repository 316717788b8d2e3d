"""Claims: the first contact to press "Ik pak dit op" owns the lead; "Niet voor ons" hands it
to the programme team.

:func:`press` decides everything about a press on a lead card; the Telegram adapter only sends
the replies and edits the cards it returns.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.constants import MessageLimit
from telegram.error import TelegramError

from bot.clock import shown
from bot.content.bundle import Content
from bot.engine import buttons as bid
from bot.engine.types import Button, Reply
from bot.handoff.card import render
from bot.handoff.contacts import Contact
from bot.handoff.dispatcher import facts
from bot.handoff.outbox import deliveries
from bot.knowledge.text import fill
from bot.store import repo
from bot.store.models import LeadRow, LeadStatus

__all__ = [
    "CardPress",
    "ClaimResult",
    "claim",
    "contact_chats",
    "decline",
    "press",
    "show_on_cards",
    "updated_cards",
]


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClaimResult:
    outcome: Literal["claimed", "already", "declined", "unknown"]
    by: str | None = None
    lead_id: int | None = None


async def claim(db: AsyncSession, lead: LeadRow, contact: str, now: dt.datetime) -> ClaimResult:
    """Claim atomically: of two contacts pressing at once, exactly one wins."""
    if not await repo.set_claimed(db, lead.id, contact, now):
        await db.refresh(lead)
        return ClaimResult("already", lead.claimed_by, lead.id)
    return ClaimResult("claimed", contact, lead.id)


async def decline(
    db: AsyncSession,
    content: Content,
    contacts: Mapping[str, Sequence[Contact]],
    lead: LeadRow,
    contact: str,
    now: dt.datetime,
    reason: str = "",
) -> ClaimResult:
    """Send the lead to the programme team, noting who declined it and why."""
    if lead.claimed_by is not None:
        return ClaimResult("already", lead.claimed_by, lead.id)
    if lead.status == LeadStatus.DECLINED:
        return ClaimResult("declined", contact, lead.id)
    fallback = content.fallback_pilot.id
    lead.status = LeadStatus.DECLINED
    why = f": {reason}" if reason else ""
    lead.routing = [*lead.routing, f"niet voor ons volgens {contact} ({lead.pilot}){why}"]
    lead.pilot = fallback
    db.add_all(deliveries(lead.id, fallback, contacts.get(fallback, ()), now))
    return ClaimResult("declined", contact, lead.id)


def contact_chats(contacts: Mapping[str, Sequence[Contact]]) -> dict[int, Contact]:
    """Contact persons by Telegram chat id: only they may press the buttons on lead cards."""
    return {
        person.telegram_chat_id: person
        for people in contacts.values()
        for person in people
        if person.telegram_chat_id is not None
    }


@dataclass(frozen=True, slots=True)
class CardPress:
    """What a press on a lead card leads to."""

    replies: tuple[Reply, ...] = ()  # to the contact person who pressed
    note: str | None = None  # the new last line of every copy of the card
    lead_id: int | None = None
    retire: bool = False  # remove the buttons of the card that was pressed
    # Why nothing happened: "stranger" (not a contact person: a forged button) or "not_sent"
    # (a contact person this lead was not sent to, or an erased lead).
    refused: Literal["", "stranger", "not_sent"] = ""


async def press(
    sessionmaker: async_sessionmaker[AsyncSession],
    content: Content,
    contacts: Mapping[str, Sequence[Contact]],
    chat_id: int,
    data: str,
    now: dt.datetime,
) -> CardPress:
    """A contact person pressed "Ik pak dit op", "Niet voor ons" or a reason on a card."""
    person = contact_chats(contacts).get(chat_id)
    if person is None:
        # Not a contact person (a forged button): nothing happens.
        return CardPress(refused="stranger")
    m = content.messages
    pressed = bid.parse(data)
    ref = pressed.arg[:40]
    reason = m.decline_reasons.get(pressed.arg2)
    async with sessionmaker() as db, db.begin():
        # References are sequential, so a contact of another pilot could otherwise forge a
        # button for any lead: only a chat that received the card may press it.
        lead = await repo.lead_by_ref(db, ref, for_update=True)
        if lead is None or not await repo.card_received(db, ref, chat_id):
            # Not sent to this contact (or erased): refuse, without saying whose it is.
            return CardPress((Reply(m.handoff_not_yours.get("nl")),), refused="not_sent")
        if pressed.kind == "decline" or (pressed.kind == "declinewhy" and reason is None):
            # First ask why: the programme team needs that to find a better match.
            buttons = tuple(
                Button(bid.decline_why(ref, key), text.get("nl"))
                for key, text in m.decline_reasons.items()
            )
            return CardPress((Reply(fill(m.decline_ask.get("nl"), lead_ref=ref), buttons),))
        if pressed.kind == "claim":
            result = await claim(db, lead, person.name, now)
        elif pressed.kind == "declinewhy" and reason is not None:
            result = await decline(db, content, contacts, lead, person.name, now, reason.get("nl"))
        else:
            return CardPress(refused="stranger")
    replies: tuple[Reply, ...] = ()
    if result.outcome == "already" and result.by != person.name:
        replies = (Reply(fill(m.handoff_already.get("nl"), contact=result.by or "?")),)
    if result.lead_id is None or result.outcome not in ("claimed", "declined"):
        return CardPress(replies)
    template = m.handoff_claimed if result.outcome == "claimed" else m.handoff_declined
    note = fill(
        template.get("nl"),
        contact=person.name,
        at=shown(now),
        choice=reason.get("nl") if reason and result.outcome == "declined" else "",
    )
    return CardPress(replies, note, result.lead_id, retire=result.outcome == "declined")


async def updated_cards(
    sessionmaker: async_sessionmaker[AsyncSession], content: Content, lead_id: int, note: str
) -> tuple[str, list[tuple[int, int]]]:
    """The card's new text (without buttons) and every (chat id, message id) that shows it."""
    async with sessionmaker() as db:
        lead = await db.get(LeadRow, lead_id)
        if lead is None:
            return "", []
        text = render(content, facts(lead), note=note, actions=False).text
        return text, await repo.sent_cards(db, lead_id)


async def show_on_cards(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    content: Content,
    lead_id: int,
    note: str,
) -> int:
    """Edit every Telegram card of the lead to show ``note`` and drop its buttons; how many
    were edited (a card too old to edit stays as it was)."""
    text, cards = await updated_cards(sessionmaker, content, lead_id, note)
    edited = 0
    for chat_id, message_id in cards:
        try:
            await bot.edit_message_text(
                text[: MessageLimit.MAX_TEXT_LENGTH],
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=None,
            )
            edited += 1
        except TelegramError as exc:
            log.info("card %s not updated (%s)", message_id, type(exc).__name__)
    return edited
