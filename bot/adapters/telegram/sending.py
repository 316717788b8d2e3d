"""Sending replies to Telegram: split long texts, lay out keyboards, pace bursts, retry.

A reply is sent only after the conversation committed it, so a transient failure is retried
rather than leaving the user without the next question.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import MessageLimit
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.engine.types import Reply

__all__ = ["Sender", "answer_quietly", "keyboard", "retire_keyboard", "split_text"]

log = logging.getLogger(__name__)

SHORT_LABEL = 18  # labels up to this length share a keyboard row
SEND_ATTEMPTS = 4
CHAT_BURST = 3  # messages to one chat before they are paced to one a second
MAX_RETRY_AFTER = 30.0


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Cut a long reply into messages under Telegram's limit, at paragraph or line breaks."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return [p for p in parts if p]


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """An inline keyboard: short labels two to a row, long ones on a row of their own."""
    if not reply.buttons:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    pending: list[InlineKeyboardButton] = []
    for b in reply.buttons:
        # Callback data is limited to 64 bytes; content ids are capped well below that.
        button = InlineKeyboardButton(
            b.label, callback_data=b.id.encode()[:64].decode("utf-8", "ignore")
        )
        if len(b.label) <= SHORT_LABEL:
            pending.append(button)
            if len(pending) == 2:
                rows.append(pending)
                pending = []
        else:
            if pending:
                rows.append(pending)
                pending = []
            rows.append([button])
    if pending:
        rows.append(pending)
    return InlineKeyboardMarkup(rows)


@dataclass
class Sender:
    """Sends replies in order, pacing bursts to one chat as Telegram asks."""

    burst: int = CHAT_BURST
    # When the last few messages went to each chat.
    _sent: dict[int, list[float]] = field(default_factory=dict)

    async def send(self, bot: Bot, chat_id: int, replies: Sequence[Reply]) -> None:
        """Send replies in order; the keyboard goes with the last part of a long reply."""
        sent = self._sent.setdefault(chat_id, [])
        burst = self.burst
        for reply in replies:
            parts = split_text(reply.text)
            for i, part in enumerate(parts):
                markup = keyboard(reply) if i == len(parts) - 1 else None
                if len(sent) >= burst:
                    # Telegram allows short bursts to one chat, then about one a second: a
                    # verdict with its benefits and a message to forward is paced, not refused.
                    wait = sent[-burst] + 1.0 - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                if not await _send_one(bot, chat_id, part, markup):
                    return
                sent.append(time.monotonic())
                del sent[:-burst]
            if reply.document is not None:
                name, body = reply.document
                try:
                    await bot.send_document(
                        chat_id, io.BytesIO(body.encode("utf-8")), filename=name
                    )
                except TelegramError as exc:
                    log.warning("document not sent (%s)", type(exc).__name__)
        if len(self._sent) > 10_000:
            # Forget chats that have been quiet for a while; only the last second matters.
            now = time.monotonic()
            for chat, times in list(self._sent.items()):
                if not times or now - times[-1] > 2.0:
                    del self._sent[chat]

    async def say(self, bot: Bot, chat_id: int, text: str) -> None:
        await self.send(bot, chat_id, [Reply(text)])


async def _send_one(
    bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None
) -> bool:
    for attempt in range(SEND_ATTEMPTS):
        try:
            await bot.send_message(chat_id, text, reply_markup=markup)
            return True
        except Forbidden:
            log.info("the user blocked the bot; reply dropped")
            return False
        except RetryAfter as exc:
            wait = exc.retry_after
            delay = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
            await asyncio.sleep(min(delay, MAX_RETRY_AFTER))
        except (TimedOut, NetworkError) as exc:
            if isinstance(exc, BadRequest):
                log.warning("reply refused by Telegram (%s)", type(exc).__name__)
                return False
            await asyncio.sleep(0.5 * 2**attempt)
    log.warning("reply not delivered after %d attempts", SEND_ATTEMPTS)
    return False


async def retire_keyboard(query: CallbackQuery, pressed: str) -> None:
    """Show what was chosen and remove the buttons, so they cannot be pressed twice."""
    message = query.message
    if not isinstance(message, Message) or not message.text:
        return
    markup = message.reply_markup
    label = next(
        (
            b.text
            for row in (markup.inline_keyboard if markup else ())
            for b in row
            if b.callback_data == pressed
        ),
        None,
    )
    text = f"{message.text}\n\n✔️ {label}" if label else message.text
    try:
        if len(text) <= MessageLimit.MAX_TEXT_LENGTH:
            await query.edit_message_text(text, reply_markup=None)
        else:
            await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:
        # Too old to edit, or already edited by an earlier press: nothing to retire.
        log.debug("keyboard not retired (%s)", type(exc).__name__)


async def answer_quietly(query: CallbackQuery) -> None:
    """Stop the spinner on the user's button; a failure there changes nothing for them."""
    try:
        await query.answer()
    except TelegramError as exc:
        log.info("answerCallbackQuery failed (%s)", type(exc).__name__)
