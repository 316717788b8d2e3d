"""The Telegram adapter: python-telegram-bot glue around the same App the terminal uses.

One module per concern: ``application`` (handlers and lifecycle), ``context`` (the custom
context: ``context.app``), ``guards`` (flood control before everything, groups),
``conversation`` (private messages and buttons), ``staff`` (staff commands), ``claims`` (lead
card buttons), ``sending`` (splitting, keyboards, pacing, retries) and ``webhook``.
"""

from bot.adapters.telegram.application import (
    ALLOWED_UPDATES,
    CONCURRENT_UPDATES,
    build_application,
    run_polling,
    run_webhook,
)
from bot.adapters.telegram.context import BotData, Context
from bot.adapters.telegram.flood import FloodGuard
from bot.adapters.telegram.sending import keyboard, split_text

__all__ = [
    "ALLOWED_UPDATES",
    "CONCURRENT_UPDATES",
    "BotData",
    "Context",
    "FloodGuard",
    "build_application",
    "keyboard",
    "run_polling",
    "run_webhook",
    "split_text",
]
