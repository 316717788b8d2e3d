"""The Telegram adapter: python-telegram-bot glue around the same Runtime the console uses.

Every private text message, command and button press becomes an :class:`Inbound` for
``Runtime.handle``; replies are sent only after the runtime committed. Everything else (groups,
photos, floods) is answered here without touching the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatType, MessageLimit
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.adapters.telegram_staff import StaffCommands
from bot.content.bundle import Content
from bot.content.holder import ContentHolder, holder_of
from bot.content.models import COMMANDS, ENGLISH_COMMANDS
from bot.engine import buttons as bid
from bot.engine.types import Button, Inbound, Reply
from bot.handoff.card import render
from bot.handoff.claims import claim, decline, received, sent_cards
from bot.handoff.contacts import Contact
from bot.handoff.dispatcher import facts
from bot.handoff.service import DispatchService, contacts_for
from bot.knowledge.text import fill
from bot.runtime import Result, Runtime
from bot.settings import Settings
from bot.store.db import create_engine, make_sessionmaker, upgrade_schema
from bot.store.lock import advisory_guard
from bot.store.models import LeadRow

__all__ = ["FloodGuard", "TelegramAdapter", "build_application", "keyboard", "split_text"]

log = logging.getLogger(__name__)

CHANNEL = "telegram"
GROUP_NOTICE_EVERY = 3600.0  # seconds between "write me privately" notices in one group
FLOOD_NOTICE_EVERY = 60.0
SHORT_LABEL = 18  # labels up to this length share a keyboard row
SEND_ATTEMPTS = 4
CHAT_BURST = 3  # messages to one chat before the adapter paces them to one a second
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
class _Bucket:
    tokens: float
    stamp: float
    noticed: float = float("-inf")


@dataclass
class FloodGuard:
    """Per-user token bucket: a burst, then a steady rate; one notice a minute when exceeded."""

    burst: int = 10
    per_minute: int = 30
    clock: Callable[[], float] = field(default=time.monotonic)
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def check(self, user_id: int) -> str:
        """'ok' to process, 'notice' to drop with the flood notice, 'drop' to drop silently."""
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
            if len(self._buckets) > 50_000:
                self._forget(now)
        bucket.tokens = min(
            float(self.burst), bucket.tokens + (now - bucket.stamp) * self.per_minute / 60.0
        )
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return "ok"
        if now - bucket.noticed >= FLOOD_NOTICE_EVERY:
            bucket.noticed = now
            return "notice"
        return "drop"

    def _forget(self, now: float) -> None:
        """Bound memory: forget users whose bucket has long been full again."""
        idle = 2 * 60.0 * self.burst / self.per_minute + FLOOD_NOTICE_EVERY
        for uid in [u for u, b in self._buckets.items() if now - b.stamp > idle]:
            del self._buckets[uid]


class TelegramAdapter:
    """Translates updates to Inbound values and renders Replies as Telegram messages."""

    def __init__(
        self,
        settings: Settings,
        content: Content | ContentHolder,
        contacts: Mapping[str, Sequence[Contact]] | None = None,
    ) -> None:
        self.settings = settings
        # Shared with the runtime and the dispatcher: /herlaad swaps it for all of them.
        self.contents = holder_of(content)
        self.contacts = dict(contacts or {})
        # Contact persons by Telegram chat id: only they may claim or decline a lead.
        self.contact_chats = {
            person.telegram_chat_id: person
            for people in self.contacts.values()
            for person in people
            if person.telegram_chat_id is not None
        }
        self.runtime: Runtime | None = None
        self.dispatch: DispatchService | None = None
        self.unstored: set[int] = set()  # update ids whose message could not be stored
        self.flood = FloodGuard(settings.flood_burst, settings.flood_per_minute)
        self._group_noticed: dict[int, float] = {}
        # When the last few messages went to each chat, to pace bursts (see send()).
        self.chat_burst = CHAT_BURST
        self._chat_sends: dict[int, list[float]] = {}

    # ----------------------------------------------------------------- wiring

    @property
    def content(self) -> Content:
        return self.contents.current

    def register(self, app: Application) -> None:  # type: ignore[type-arg]

        # Staff commands first: otherwise the conversation would take them as unknown commands.
        StaffCommands(self, self.settings.admin_ids).register(app)
        private = filters.ChatType.PRIVATE
        app.add_handler(
            MessageHandler(private & filters.UpdateType.MESSAGE & filters.TEXT, self.on_text)
        )
        app.add_handler(
            CallbackQueryHandler(self.on_claim, pattern=rf"^({'|'.join(bid.CARD_KINDS)}):")
        )
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(
            MessageHandler(private & filters.UpdateType.MESSAGE & ~filters.TEXT, self.on_other)
        )
        app.add_handler(MessageHandler(filters.ChatType.GROUPS, self.on_group))
        # Edited messages and channel posts are ignored on purpose: an edit does not change an
        # answer that was already acknowledged.
        app.add_error_handler(self.on_error)

    async def commands(self, app: Application) -> None:  # type: ignore[type-arg]
        """Register the command menu in Dutch (the default) and English."""
        cmds = self.content.messages.commands
        for lang in ("nl", "en"):
            names = {c: ENGLISH_COMMANDS.get(c, c) if lang == "en" else c for c in COMMANDS}
            menu = [BotCommand(names[c], cmds[c].get(lang)) for c in COMMANDS]
            await app.bot.set_my_commands(menu, language_code=None if lang == "nl" else lang)

    # ----------------------------------------------------------------- handlers

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A private text message or /command: run it through the conversation."""
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None or message.text is None:
            return
        if not await self._allowed(update, context):
            return
        inbound = Inbound.from_text(message.text, user.language_code)
        await self._handle(update, context, inbound)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A pressed inline button: answer the callback, run it, then retire the old keyboard."""
        query = update.callback_query
        user = update.effective_user
        if query is None or user is None:
            return
        try:
            chat = query.message.chat if query.message else None
            if chat is None or chat.type != ChatType.PRIVATE or not query.data:
                return
            if not await self._allowed(update, context):
                return
            result = await self._handle(
                update, context, Inbound.button(query.data, user.language_code)
            )
            if result and not result.failed and query.message is not None:
                await self._retire_keyboard(update, query.data)
        finally:
            # Always stop the spinner on the user's button, whatever happened above.
            try:
                await query.answer()
            except TelegramError as exc:
                log.info("answerCallbackQuery failed (%s)", type(exc).__name__)

    async def on_claim(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A contact person pressed "Ik pak dit op" or "Niet voor ons" on a lead card."""
        query = update.callback_query
        if query is None or not query.data:
            return
        try:
            chat = update.effective_chat
            person = self.contact_chats.get(chat.id) if chat is not None else None
            if person is None or self.runtime is None:
                # Not a contact person (a forged button): nothing happens, and it is logged.
                log.warning("claim button pressed outside a contact chat; ignored")
                return
            pressed = bid.parse(query.data)
            action, ref, why = pressed.kind, pressed.arg, pressed.arg2
            sm = self.runtime.sessionmaker
            if not await received(sm, ref[:40], chat.id):  # type: ignore[union-attr]
                # A contact, but not one this lead was sent to (or it was erased): refuse,
                # without saying whose lead it is or who has it.
                log.warning("claim button for a lead this contact did not receive; refused")
                await self.send(
                    context,
                    chat.id,  # type: ignore[union-attr]
                    [Reply(self.content.messages.handoff_not_yours.get("nl"))],
                )
                return
            now = self.runtime.clock()
            m = self.content.messages
            reason = m.decline_reasons.get(why)
            if action == "decline" or (action == "declinewhy" and reason is None):
                # First ask why: the programme team needs that to find a better match.
                buttons = tuple(
                    Button(bid.decline_why(ref, key), text.get("nl"))
                    for key, text in m.decline_reasons.items()
                )
                ask = Reply(fill(m.decline_ask.get("nl"), lead_ref=ref), buttons)
                await self.send(context, chat.id, [ask])  # type: ignore[union-attr]
                return
            if action == "claim":
                result = await claim(sm, ref, person.name, now)
            else:
                assert reason is not None
                result = await decline(
                    sm, self.content, self.contacts, ref, person.name, now, reason.get("nl")
                )
                if query.message is not None and result.outcome == "declined":
                    await self._retire_keyboard(update, query.data)
            when = now.strftime("%d-%m-%Y %H:%M")
            if result.outcome == "already" and result.by != person.name:
                await self.send(
                    context,
                    chat.id,  # type: ignore[union-attr]
                    [Reply(fill(m.handoff_already.get("nl"), contact=result.by or "?"))],
                )
            if result.lead_id is not None and result.outcome in ("claimed", "declined"):
                key = "handoff_claimed" if result.outcome == "claimed" else "handoff_declined"
                choice = reason.get("nl") if reason else ""
                note = fill(getattr(m, key).get("nl"), contact=person.name, at=when, choice=choice)
                await self._update_cards(context, result.lead_id, note)
        finally:
            try:
                await query.answer()
            except TelegramError as exc:
                log.info("answerCallbackQuery failed (%s)", type(exc).__name__)

    async def _update_cards(
        self, context: ContextTypes.DEFAULT_TYPE, lead_id: int, note: str
    ) -> None:
        """Show everyone who received the card what happened, and retire its buttons."""
        assert self.runtime is not None
        async with self.runtime.sessionmaker() as db:
            lead = await db.get(LeadRow, lead_id)
        if lead is None:
            return
        text = render(self.content, facts(lead), note=note, actions=False).text
        for chat_id, message_id in await sent_cards(self.runtime.sessionmaker, lead_id):
            try:
                await context.bot.edit_message_text(
                    text[: MessageLimit.MAX_TEXT_LENGTH],
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=None,
                )
            except TelegramError as exc:
                log.info("card %s not updated (%s)", message_id, type(exc).__name__)

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo, sticker, voice message, location, ... in a private chat."""
        if not await self._allowed(update, context):
            return
        await self._say(context, update, self.content.messages.non_text.get(self._lang(update)))

    async def on_group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """In a group: only say, now and then, that conversations happen in private."""
        chat = update.effective_chat
        message = update.effective_message
        if chat is None or message is None or not message.text:
            return
        addressed = message.text.startswith("/") or (
            context.bot.username and f"@{context.bot.username}" in message.text
        )
        now = time.monotonic()
        if not addressed or now - self._group_noticed.get(chat.id, -1e9) < GROUP_NOTICE_EVERY:
            return
        self._group_noticed[chat.id] = now
        await self._say(
            context, update, self.content.messages.group_private.get(self._lang(update))
        )

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the exception type and update id only: an update holds personal data."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error(
            "error while handling update %s: %s",
            update_id,
            type(context.error).__name__,
            extra={"update_id": update_id, "event": "error"},
        )
        if isinstance(update, Update) and update.effective_chat is not None:
            if update.effective_chat.type != ChatType.PRIVATE:
                return
            text = self.content.messages.error_generic.get(self._lang(update))
            with contextlib.suppress(TelegramError):
                await context.bot.send_message(update.effective_chat.id, text)

    # ----------------------------------------------------------------- helpers

    def _lang(self, update: Update) -> str:
        code = (update.effective_user.language_code if update.effective_user else None) or ""
        code = code.split("-", 1)[0]
        return code if code in ("nl", "en") else self.settings.default_language

    async def _allowed(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        user = update.effective_user
        if user is None:
            return False
        verdict = self.flood.check(user.id)
        if verdict == "notice":
            await self._say(
                context, update, self.content.messages.flood_notice.get(self._lang(update))
            )
        return verdict == "ok"

    async def _handle(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, inbound: Inbound
    ) -> Result | None:
        assert self.runtime is not None, "the runtime starts in post_init"
        user = update.effective_user
        chat = update.effective_chat
        if user is None or chat is None:
            return None
        result = await self.runtime.handle(
            f"tg:{user.id}", inbound, channel=CHANNEL, inbound_id=str(update.update_id)
        )
        lead_ref = next((e["ref"] for e in result.events if e.get("type") == "lead"), None)
        outcome = "duplicate" if result.duplicate else "failed" if result.failed else "handled"
        if result.failed:
            # Not stored: the webhook answers 5xx so that Telegram delivers it again.
            self.unstored.add(update.update_id)
        # Ids and outcomes only: the update itself holds names and numbers.
        log.info(
            "update %s %s",
            update.update_id,
            outcome,
            extra={"update_id": update.update_id, "event": outcome, "lead_ref": lead_ref},
        )
        await self.send(context, chat.id, result.replies)
        return result

    async def send(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, replies: Sequence[Reply]
    ) -> None:
        """Send replies in order; the keyboard goes with the last part of a long reply.

        The answer is already stored when this runs, so a transient failure is retried
        rather than leaving the user without the next question.
        """
        sent = self._chat_sends.setdefault(chat_id, [])
        burst = self.chat_burst
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
                if not await self._send_one(context, chat_id, part, markup):
                    return
                sent.append(time.monotonic())
                del sent[:-burst]
            if reply.document is not None:
                name, body = reply.document
                try:
                    await context.bot.send_document(
                        chat_id, io.BytesIO(body.encode("utf-8")), filename=name
                    )
                except TelegramError as exc:
                    log.warning("document not sent (%s)", type(exc).__name__)
        if len(self._chat_sends) > 10_000:
            # Forget chats that have been quiet for a while; only the last second matters.
            now = time.monotonic()
            for chat, times in list(self._chat_sends.items()):
                if not times or now - times[-1] > 2.0:
                    del self._chat_sends[chat]

    async def _send_one(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
    ) -> bool:
        for attempt in range(SEND_ATTEMPTS):
            try:
                await context.bot.send_message(chat_id, text, reply_markup=markup)
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

    async def _say(self, context: ContextTypes.DEFAULT_TYPE, update: Update, text: str) -> None:
        chat = update.effective_chat
        if chat is not None:
            await self.send(context, chat.id, [Reply(text)])

    async def _retire_keyboard(self, update: Update, pressed: str) -> None:
        """Show what was chosen and remove the buttons, so they cannot be pressed twice."""
        query = update.callback_query
        message = query.message if query else None
        if query is None or not isinstance(message, Message) or not message.text:
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


def build_application(
    settings: Settings,
    content: Content,
    request: BaseRequest | None = None,
    *,
    polling: bool = True,
) -> Application:  # type: ignore[type-arg]
    """The PTB application with our handlers; the database opens in its own event loop.

    ``request`` replaces PTB's HTTP layer (tests use an offline one). A polling bot on
    PostgreSQL takes an advisory lock: only one process may poll a token's updates.
    """
    if settings.telegram_token is None:
        raise SystemExit(
            "MKBROUTE_TELEGRAM_TOKEN is not set. Create a bot with @BotFather and set the token "
            "it gives you (see docs/deploy.md)."
        )
    contacts = contacts_for(settings, content)
    adapter = TelegramAdapter(settings, content, contacts)
    state: dict[str, object] = {}

    async def post_init(app: Application) -> None:  # type: ignore[type-arg]
        engine = create_engine(settings.db_url)
        state["engine"] = engine
        if polling and engine.dialect.name == "postgresql":
            state["guard"] = await advisory_guard(engine)
        await upgrade_schema(engine)
        sessionmaker = make_sessionmaker(engine)
        adapter.runtime = Runtime(
            adapter.contents,
            sessionmaker,
            default_lang=settings.default_language,
            contacts=contacts,
            org=(settings.org_name, settings.org_contact),
            retention=(settings.retention_sessions_days, settings.retention_leads_days),
        )
        await adapter.commands(app)
        service = DispatchService(settings, adapter.contents, sessionmaker, contacts, app.bot)
        service.start()
        state["dispatch"] = service
        adapter.dispatch = service

    async def post_shutdown(app: Application) -> None:  # type: ignore[type-arg]
        service = state.get("dispatch")
        if isinstance(service, DispatchService):
            await service.stop()
        guard = state.get("guard")
        if guard is not None:
            await guard.close()  # type: ignore[attr-defined]
        engine = state.get("engine")
        if engine is not None:
            await engine.dispose()  # type: ignore[attr-defined]

    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_file_url)
        # One message per 1/30 s instead of PTB's default bucket of 30 per second, which lets a
        # burst of 30 through on top of the steady rate (up to ~60 in one second under load).
        .rate_limiter(AIORateLimiter(overall_max_rate=1, overall_time_period=1 / 30))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        # Updates side by side: one user's slow reply (a 429 wait, a slow database) must not
        # hold up everyone else. The runtime's per-user lock keeps each user's order.
        .concurrent_updates(CONCURRENT_UPDATES)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    app = builder.build()
    adapter.register(app)
    app.bot_data["adapter"] = adapter
    return app


ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
CONCURRENT_UPDATES = 32


def run_polling(settings: Settings, content: Content) -> None:
    """``mkbroute run``: long polling until SIGINT or SIGTERM."""
    app = build_application(settings, content)
    # Never drop pending updates: they are messages users sent while the bot was down.
    app.run_polling(allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)


def run_webhook(settings: Settings, content: Content) -> None:
    """``mkbroute webhook``: our webhook server (see :mod:`bot.adapters.webhook`)."""
    if settings.webhook_secret is None or settings.webhook_url is None:
        raise SystemExit(
            "Webhook mode needs MKBROUTE_WEBHOOK_URL (the public https address) and "
            "MKBROUTE_WEBHOOK_SECRET (1-256 letters, digits, _ or -); refusing to start without."
        )
    from bot.adapters.webhook import serve

    app = build_application(settings, content, polling=False)
    asyncio.run(serve(app, settings, ALLOWED_UPDATES))
