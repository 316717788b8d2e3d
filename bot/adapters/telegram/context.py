"""What every handler reaches through its context: ``context.app`` and the adapter's state.

A custom ``ContextTypes`` (as in python-telegram-bot's ``contexttypesbot`` example): the bot
data is a typed :class:`BotData` instead of a dict, and :class:`Context` exposes the running
:class:`~bot.app.App` that ``post_init`` opened.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, filters

from bot.adapters.telegram.flood import FloodGuard
from bot.adapters.telegram.sending import Sender
from bot.app import App

__all__ = ["CONTEXT_TYPES", "BotData", "Context", "TelegramApp", "lang_of"]


@dataclass
class BotData:
    """The adapter's state for one PTB application (built by PTB with no arguments)."""

    app: App | None = None  # opened in post_init, closed in post_shutdown
    stack: contextlib.AsyncExitStack | None = None
    sender: Sender = field(default_factory=Sender)
    flood: FloodGuard = field(default_factory=FloodGuard)
    # Update ids whose message could not be stored: the webhook answers 503 for them.
    unstored: set[int] = field(default_factory=set)
    group_noticed: dict[int, float] = field(default_factory=dict)
    # Contact persons' Telegram ids, for their limited staff commands; filled in post_init.
    contacts: filters.User = field(default_factory=lambda: filters.User(allow_empty=False))


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """PTB's callback context with the running application."""

    @property
    def app(self) -> App:
        app = self.bot_data.app
        if app is None:
            raise RuntimeError("the application opens in post_init, before any update")
        return app


CONTEXT_TYPES = ContextTypes(context=Context, bot_data=BotData)

TelegramApp = Application[ExtBot[None], Context, dict[Any, Any], dict[Any, Any], BotData, Any]


def lang_of(update: object, app: App) -> str:
    """The user's Telegram language when we speak it, else the deployment's default."""
    user = update.effective_user if isinstance(update, Update) else None
    code = ((user.language_code if user else None) or "").split("-", 1)[0]
    return code if code in ("nl", "en") else app.settings.default_language
