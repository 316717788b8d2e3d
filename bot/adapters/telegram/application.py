"""The PTB application: handlers in order, the custom context, and the App's lifecycle."""

from __future__ import annotations

import asyncio
import contextlib

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.adapters.telegram import staff
from bot.adapters.telegram.claims import on_card_button
from bot.adapters.telegram.context import CONTEXT_TYPES, BotData, TelegramApp
from bot.adapters.telegram.conversation import on_button, on_error, on_other, on_text
from bot.adapters.telegram.flood import FloodGuard
from bot.adapters.telegram.guards import flood_gate, on_group, on_id
from bot.app import open_app
from bot.content.bundle import Content
from bot.content.commands import COMMANDS, ENGLISH_COMMANDS, names_of
from bot.engine import buttons as bid
from bot.settings import Settings

__all__ = [
    "ALLOWED_UPDATES",
    "CONCURRENT_UPDATES",
    "build_application",
    "run_polling",
    "run_webhook",
]

ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
CONCURRENT_UPDATES = 32
LIMIT_PER_SECOND = 28  # all chats together; Telegram allows about 30
FLOOD_GROUP = -1  # before every other handler


def register(application: TelegramApp, admins: tuple[int, ...], contacts: filters.User) -> None:
    """Every handler, in the order PTB tries them."""
    application.add_handler(TypeHandler(Update, flood_gate), group=FLOOD_GROUP)
    # Staff commands and /id first: otherwise the conversation would take them as unknown.
    staff.register(application, admins, contacts)
    application.add_handler(
        CommandHandler(names_of("id"), on_id, filters=filters.UpdateType.MESSAGE)
    )
    private = filters.ChatType.PRIVATE
    message = filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(private & message & filters.TEXT, on_text))
    application.add_handler(
        CallbackQueryHandler(on_card_button, pattern=rf"^({'|'.join(bid.CARD_KINDS)}):")
    )
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(private & message & ~filters.TEXT, on_other))
    application.add_handler(MessageHandler(filters.ChatType.GROUPS, on_group))
    # Edited messages and channel posts are ignored on purpose: an edit does not change an
    # answer that was already acknowledged.
    application.add_error_handler(on_error)


async def set_commands(application: TelegramApp, content: Content) -> None:
    """Register the command menu in Dutch (the default) and English."""
    cmds = content.messages.commands
    for lang in ("nl", "en"):
        names = {c: ENGLISH_COMMANDS.get(c, c) if lang == "en" else c for c in COMMANDS}
        menu = [BotCommand(names[c], cmds[c].get(lang)) for c in COMMANDS]
        await application.bot.set_my_commands(menu, language_code=None if lang == "nl" else lang)


def build_application(
    settings: Settings,
    content: Content,
    request: BaseRequest | None = None,
    *,
    polling: bool = True,
) -> TelegramApp:
    """The PTB application with our handlers; the App opens in PTB's own event loop.

    ``request`` replaces PTB's HTTP layer (tests use an offline one). A polling bot on
    PostgreSQL takes an advisory lock: only one process may poll a token's updates.
    """
    if settings.telegram_token is None:
        raise SystemExit(
            "MKBROUTE_TELEGRAM_TOKEN is not set. Create a bot with @BotFather and set the token "
            "it gives you (see docs/deploy.md)."
        )

    async def post_init(application: TelegramApp) -> None:
        data = application.bot_data
        async with contextlib.AsyncExitStack() as stack:
            data.app = await stack.enter_async_context(
                open_app(
                    settings,
                    content=content,
                    bot=application.bot,
                    poll_guard=polling,
                    heartbeat=True,
                )
            )
            data.contacts.add_user_ids(
                {
                    person.telegram_chat_id
                    for people in data.app.contacts.values()
                    for person in people
                    # A private chat's id is the person's user id; a group's is negative.
                    if person.telegram_chat_id is not None and person.telegram_chat_id > 0
                }
            )
            await set_commands(application, content)
            data.stack = stack.pop_all()  # closed in post_shutdown

    async def post_shutdown(application: TelegramApp) -> None:
        data = application.bot_data
        if data.stack is not None:
            await data.stack.aclose()
        data.stack = None
        data.app = None

    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_file_url)
        .context_types(CONTEXT_TYPES)
        # One message per 1/28 s instead of PTB's default bucket of 30 per second, which lets a
        # burst of 30 through on top of the steady rate (up to ~60 in one second under load).
        # 28, not 30: what Telegram counts is when requests arrive, and network jitter can
        # squeeze 30 evenly sent messages into less than a second (seen in a loaded test run).
        .rate_limiter(AIORateLimiter(overall_max_rate=1, overall_time_period=1 / LIMIT_PER_SECOND))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        # Updates side by side: one user's slow reply (a 429 wait, a slow database) must not
        # hold up everyone else. The conversation's per-user lock keeps each user's order.
        .concurrent_updates(CONCURRENT_UPDATES)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application: TelegramApp = builder.build()  # type: ignore[assignment]
    data: BotData = application.bot_data
    data.flood = FloodGuard(settings.flood_burst, settings.flood_per_minute)
    register(application, settings.admin_ids, data.contacts)
    return application


def run_polling(settings: Settings, content: Content) -> None:
    """``mkbroute run``: long polling until SIGINT or SIGTERM."""
    application = build_application(settings, content)
    # Never drop pending updates: they are messages users sent while the bot was down.
    application.run_polling(allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)


def run_webhook(settings: Settings, content: Content) -> None:
    """``mkbroute webhook``: our webhook server (see :mod:`bot.adapters.telegram.webhook`)."""
    if settings.webhook_secret is None or settings.webhook_url is None:
        raise SystemExit(
            "Webhook mode needs MKBROUTE_WEBHOOK_URL (the public https address) and "
            "MKBROUTE_WEBHOOK_SECRET (1-256 letters, digits, _ or -); refusing to start without."
        )
    if settings.dashboard_mount and (problem := settings.dashboard_mount_problem()):
        raise SystemExit(f"MKBROUTE_DASHBOARD_MOUNT is on, but {problem}.")
    from bot.adapters.telegram.webhook import serve

    application = build_application(settings, content, polling=False)
    asyncio.run(serve(application, settings, ALLOWED_UPDATES))
