"""Buttons on lead cards ("Ik pak dit op", "Niet voor ons", a reason): what they do is decided
in :func:`bot.handoff.claims.press`; here they are only answered and the cards edited."""

from __future__ import annotations

import logging

from telegram import Update

from bot.adapters.telegram.context import Context
from bot.adapters.telegram.sending import answer_quietly, retire_keyboard
from bot.handoff.claims import press, show_on_cards

__all__ = ["on_card_button"]

log = logging.getLogger(__name__)


async def on_card_button(update: Update, context: Context) -> None:
    """A contact person pressed a button on a lead card."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or not query.data:
        return
    try:
        if chat is None:
            return
        app = context.app
        outcome = await press(app.db, app.content, app.contacts, chat.id, query.data, app.clock())
        if outcome.refused == "stranger":
            log.warning("claim button pressed outside a contact chat; ignored")
        elif outcome.refused:
            log.warning("claim button for a lead this contact did not receive; refused")
        await context.bot_data.sender.send(context.bot, chat.id, outcome.replies)
        if outcome.retire and query.message is not None:
            await retire_keyboard(query, query.data)
        if outcome.lead_id is not None and outcome.note is not None:
            await show_on_cards(context.bot, app.db, app.content, outcome.lead_id, outcome.note)
    finally:
        await answer_quietly(query)
