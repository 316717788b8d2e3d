"""The conversation in a private chat: every text, command and button becomes an ``Inbound``
for the conversation service; the replies are sent only after it committed."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.adapters.telegram.context import Context, lang_of
from bot.adapters.telegram.sending import answer_quietly, retire_keyboard
from bot.engine.types import Inbound
from bot.runtime import Result

__all__ = ["CHANNEL", "on_button", "on_error", "on_other", "on_text"]

log = logging.getLogger(__name__)

CHANNEL = "telegram"


async def on_text(update: Update, context: Context) -> None:
    """A private text message or /command: run it through the conversation."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or message.text is None:
        return
    await _handle(update, context, Inbound.from_text(message.text, user.language_code))


async def on_button(update: Update, context: Context) -> None:
    """A pressed inline button: run it, retire the old keyboard, stop the spinner."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    try:
        chat = query.message.chat if query.message else None
        if chat is None or chat.type != ChatType.PRIVATE or not query.data:
            return
        result = await _handle(update, context, Inbound.button(query.data, user.language_code))
        if result and not result.failed and query.message is not None:
            await retire_keyboard(query, query.data)
    finally:
        # Always stop the spinner on the user's button, whatever happened above.
        await answer_quietly(query)


async def on_other(update: Update, context: Context) -> None:
    """A photo, sticker, voice message, location, ... in a private chat."""
    chat = update.effective_chat
    if chat is not None:
        text = context.app.content.messages.non_text.get(lang_of(update, context.app))
        await context.bot_data.sender.say(context.bot, chat.id, text)


async def on_error(update: object, context: Context) -> None:
    """Log the exception type and update id only: an update holds personal data."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error(
        "error while handling update %s: %s",
        update_id,
        type(context.error).__name__,
        extra={"update_id": update_id, "event": "error"},
    )
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type != ChatType.PRIVATE or context.bot_data.app is None:
        return
    text = context.app.content.messages.error_generic.get(lang_of(update, context.app))
    with contextlib.suppress(TelegramError):
        await context.bot.send_message(update.effective_chat.id, text)


async def _handle(update: Update, context: Context, inbound: Inbound) -> Result | None:
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return None
    result = await context.app.conversation.handle(
        f"tg:{user.id}", inbound, channel=CHANNEL, inbound_id=str(update.update_id)
    )
    lead_ref = next((e["ref"] for e in result.events if e.get("type") == "lead"), None)
    outcome = "duplicate" if result.duplicate else "failed" if result.failed else "handled"
    if result.failed:
        # Not stored: the webhook answers 5xx so that Telegram delivers it again.
        context.bot_data.unstored.add(update.update_id)
    # Ids and outcomes only: the update itself holds names and numbers.
    log.info(
        "update %s %s",
        update.update_id,
        outcome,
        extra={"update_id": update.update_id, "event": outcome, "lead_ref": lead_ref},
    )
    await context.bot_data.sender.send(context.bot, chat.id, result.replies)
    return result
