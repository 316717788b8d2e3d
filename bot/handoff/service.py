"""Wiring the handoff together for a running process: contacts, channels, the dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from bot.content.bundle import Content
from bot.content.holder import ContentHolder
from bot.handoff.channels import Channel, EmailChannel, TelegramChannel
from bot.handoff.contacts import Contact, load_contacts
from bot.handoff.dispatcher import Dispatcher
from bot.privacy import purge_now
from bot.settings import Settings

__all__ = ["BackgroundWork", "channels_for", "contacts_for"]

log = logging.getLogger(__name__)

PURGE_EVERY = 24 * 3600.0
STOP_SECONDS = 6.0  # the dispatcher's part of a stop; the rest of 10 s is for the bot itself


def contacts_for(settings: Settings, content: Content) -> dict[str, tuple[Contact, ...]]:
    """The contacts file's people, or none (leads are then stored but not delivered)."""
    if settings.contacts_file is None:
        return {}
    return load_contacts(settings.contacts_file, content.pilots, content.fallback_pilot.id)


def channels_for(settings: Settings, bot: Bot | None) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if settings.smtp_host and settings.smtp_from:
        channels["email"] = EmailChannel(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            user=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            security=settings.smtp_security,
            timeout=settings.smtp_timeout,
        )
    if bot is not None:
        channels["telegram"] = TelegramChannel(bot)
    return channels


class BackgroundWork:
    """Background work of a running process: the dispatcher, and the daily retention purge."""

    def __init__(
        self,
        settings: Settings,
        content: Content | ContentHolder,
        sessionmaker: async_sessionmaker[AsyncSession],
        contacts: Mapping[str, Sequence[Contact]],
        bot: Bot | None,
    ) -> None:
        channels = channels_for(settings, bot)
        domain = (settings.smtp_from or "bot@mkbroute.invalid").rsplit("@", 1)[-1]
        self.dispatcher = Dispatcher(sessionmaker, content, channels, contacts, mail_domain=domain)
        self.interval = settings.dispatch_interval
        self.enabled = bool(contacts)
        self.settings = settings
        self.sessionmaker = sessionmaker
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._purge_task: asyncio.Task[None] | None = None
        if contacts and not channels:
            log.warning("contacts are configured but no channel (SMTP or Telegram) is")

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(
                self.dispatcher.run_forever(self._stop, self.interval)
            )
        if self._purge_task is None:
            self._purge_task = asyncio.create_task(self._purge_daily())

    async def _purge_daily(self) -> None:
        """Enforce the retention periods now and then every 24 hours (idempotent)."""
        while not self._stop.is_set():
            try:
                done = await purge_now(self.sessionmaker, self.settings, dt.datetime.now(dt.UTC))
                if any(done.counts.values()):
                    log.info("retention purge: %s", done.counts)
            except Exception as exc:
                log.error("retention purge failed (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=PURGE_EVERY)

    async def stop(self) -> None:
        """Stop the loop, then deliver once more what is due (a lead confirmed just now).

        All of it fits in STOP_SECONDS, inside the container's 10 s stop budget: a delivery
        cut short stays 'sending' and is sent again after its lease (at least once).
        """
        self._stop.set()
        share = STOP_SECONDS / 3
        if self._purge_task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._purge_task, timeout=share)
            self._purge_task = None
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=share)
            self._task = None
            try:
                await asyncio.wait_for(self.dispatcher.run_once(), timeout=share)
            except Exception as exc:
                log.warning("final delivery round cut short (%s)", type(exc).__name__)
