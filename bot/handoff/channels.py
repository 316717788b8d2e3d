"""Delivery channels: e-mail over SMTP and Telegram messages to a contact's chat.

A channel either delivers, or raises :class:`Transient` (try again later), :class:`Permanent`
(this recipient will never work: dead-letter it and fall back) or :class:`SenderBroken` (our
side cannot send at all: credentials, relay, configuration; keep every row and alert).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Literal, Protocol

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.handoff.card import Card

log = logging.getLogger(__name__)

__all__ = [
    "Channel",
    "EmailChannel",
    "Permanent",
    "SenderBroken",
    "TelegramChannel",
    "Transient",
]


class Transient(Exception):
    """Try again later; ``retry_after`` seconds when the other side said so."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Permanent(Exception):
    """This target cannot be reached: blocked chat, unknown address, rejected message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SenderBroken(Exception):
    """Our side cannot send: wrong or rotated password, unreachable relay, a rejected sender,
    a channel that is not configured. Not the recipient's fault: never dead-letter for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Channel(Protocol):
    async def send(self, target: str, card: Card, message_id: str) -> str | None:
        """Deliver ``card`` to ``target`` (returning the message's id on the other side, if
        any) or raise Transient / Permanent."""
        ...


class EmailChannel:
    """SMTP with STARTTLS, implicit TLS, or none (only for a relay on the same machine)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        user: str | None = None,
        password: str | None = None,
        security: Literal["starttls", "tls", "none"] = "starttls",
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.security, self.timeout = user, password, security, timeout

    async def send(self, target: str, card: Card, message_id: str) -> str | None:
        await asyncio.to_thread(self._send, target, card, message_id)
        return None

    def message(self, target: str, card: Card, message_id: str) -> EmailMessage:
        msg = EmailMessage()
        # Headers hold only our own text, the reference and validated addresses: no user text.
        msg["Subject"] = card.subject
        msg["From"] = self.sender
        msg["To"] = target
        msg["Message-ID"] = message_id
        msg["Date"] = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        msg.set_content(card.text)
        msg.add_alternative(card.html, subtype="html")
        return msg

    def _send(self, target: str, card: Card, message_id: str) -> None:
        msg = self.message(target, card, message_id)
        try:
            if self.security == "tls":
                context = ssl.create_default_context()
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.user and self.password:
                    smtp.login(self.user, self.password)
                refused = smtp.send_message(msg)
                if refused:
                    code = next(iter(refused.values()))[0]
                    raise _classify(code, "recipient refused")
        except smtplib.SMTPRecipientsRefused as exc:
            # Only a refusal of the recipient says something about the recipient.
            code = next(iter(exc.recipients.values()))[0]
            raise _classify(code, "recipient refused") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise SenderBroken(f"SMTP login refused ({exc.smtp_code})") from None
        except smtplib.SMTPSenderRefused as exc:
            raise SenderBroken(f"SMTP sender address refused ({exc.smtp_code})") from None
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise SenderBroken(f"SMTP error ({exc.smtp_code})") from None
            raise Transient(f"SMTP error ({exc.smtp_code})") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SenderBroken(f"SMTP relay unreachable ({type(exc).__name__})") from None


def _classify(code: int, what: str) -> Transient | Permanent:
    if 500 <= code < 600:
        return Permanent(f"{what} ({code})")
    return Transient(f"{what} ({code})")


class TelegramChannel:
    """A plain-text card to the contact's chat (no parse mode: user text needs no escaping)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def retract(self, target: str, external_id: str, text: str) -> None:
        """Replace an earlier card (after an erasure): no name or number stays in the chat."""
        try:
            await self.bot.edit_message_text(
                text[:4096], chat_id=int(target), message_id=int(external_id), reply_markup=None
            )
        except (TelegramError, ValueError) as exc:
            # Too old to edit (48 h), deleted by the contact: the notice still tells them.
            log.info("card %s not retracted (%s)", external_id, type(exc).__name__)

    async def send(self, target: str, card: Card, message_id: str) -> str | None:
        markup = (
            InlineKeyboardMarkup(
                [[InlineKeyboardButton(label, callback_data=data) for data, label in card.actions]]
            )
            if card.actions
            else None
        )
        try:
            sent = await self.bot.send_message(int(target), card.text[:4096], reply_markup=markup)
            return str(sent.message_id)
        except InvalidToken:
            raise SenderBroken("Telegram refused the bot token") from None
        except Forbidden:
            raise Permanent("the contact blocked the bot or never started it") from None
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
            raise Transient("Telegram rate limit", retry_after=seconds) from None
        except BadRequest as exc:
            if "chat not found" in str(exc).lower():
                raise Permanent("chat not found") from None
            raise Permanent(f"rejected: {type(exc).__name__}") from None
        except (TimedOut, NetworkError) as exc:
            raise Transient(f"Telegram: {type(exc).__name__}") from None
