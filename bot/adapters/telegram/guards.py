"""Guards before the conversation: flood control for every private update, groups, and /id.

Flood control runs once, in handler group -1, before any other handler: an update over the
user's rate stops there (``ApplicationHandlerStop``), as python-telegram-bot's rules-bot does.
"""

from __future__ import annotations

import time

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.adapters.telegram.context import Context, lang_of
from bot.adapters.telegram.sending import answer_quietly
from bot.knowledge.text import fill

__all__ = ["GROUP_NOTICE_EVERY", "flood_gate", "on_group", "on_id"]

GROUP_NOTICE_EVERY = 3600.0  # seconds between "write me privately" notices in one group


async def flood_gate(update: Update, context: Context) -> None:
    """Let a private message or button press through unless its user floods the bot."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        return
    if update.message is None and update.callback_query is None:
        return  # an edited message changes nothing and costs nothing
    data = context.bot_data
    verdict = data.flood.check(user.id)
    if verdict == "ok":
        return
    if verdict == "notice":
        text = context.app.content.messages.flood_notice.get(lang_of(update, context.app))
        await data.sender.say(context.bot, chat.id, text)
    if update.callback_query is not None:
        await answer_quietly(update.callback_query)
    raise ApplicationHandlerStop


async def on_group(update: Update, context: Context) -> None:
    """In a group: only say, now and then, that conversations happen in private."""
    chat = update.effective_chat
    message = update.effective_message
    if chat is None or message is None or not message.text:
        return
    addressed = message.text.startswith("/") or (
        context.bot.username and f"@{context.bot.username}" in message.text
    )
    noticed = context.bot_data.group_noticed
    now = time.monotonic()
    if not addressed or now - noticed.get(chat.id, -1e9) < GROUP_NOTICE_EVERY:
        return
    noticed[chat.id] = now
    text = context.app.content.messages.group_private.get(lang_of(update, context.app))
    await context.bot_data.sender.say(context.bot, chat.id, text)


async def on_id(update: Update, context: Context) -> None:
    """/id, /mijnid: the user's and the chat's numeric ids, which the set-up needs (staff ids
    in MKBROUTE_ADMIN_IDS, contact persons' chat ids); answered in groups too."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    template = context.app.content.messages.your_id.get(lang_of(update, context.app))
    text = fill(template, user_id=str(user.id), chat_id=str(chat.id))
    await context.bot_data.sender.say(context.bot, chat.id, text)
