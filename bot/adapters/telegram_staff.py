"""Staff commands in Telegram: only for the configured user ids, only in a private chat.

Every handler here is wrapped by :func:`admin_only`; a test enumerates the registered handlers
and fails when one is not. Anyone else gets the ordinary conversation (which answers an unknown
command with the /help hint), and the attempt is audited.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.content.bundle import Content
from bot.content.holder import ContentHolder
from bot.content.loader import ContentError, load_content
from bot.engine.types import Reply
from bot.runtime import Runtime
from bot.settings import Settings
from bot.staff.chart import leads_per_week, stats_png
from bot.staff.export import export_leads
from bot.staff.leads import lead_detail, lead_lines
from bot.staff.stats import funnel, lead_times, render_funnel, unanswered_clusters
from bot.store.models import AuditRow


class StaffHost(Protocol):
    """What the staff commands use of the Telegram adapter (which imports this module)."""

    settings: Settings
    runtime: Runtime | None
    contents: ContentHolder

    @property
    def content(self) -> Content: ...

    async def send(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, replies: Sequence[Reply]
    ) -> None: ...

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None: ...


__all__ = ["ADMIN_COMMANDS", "StaffCommands", "admin_only"]

log = logging.getLogger(__name__)

Handler = Callable[["StaffCommands", Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]
ADMIN_COMMANDS = ("leads", "lead", "export", "stats", "onbeantwoord", "herlaad")


def admin_only(handler: Handler) -> Handler:
    """Let the call through for a configured staff id in a private chat; otherwise audit it and
    treat the message as any user's."""

    @functools.wraps(handler)
    async def guarded(
        self: StaffCommands, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        user, chat = update.effective_user, update.effective_chat
        allowed = (
            user is not None
            and chat is not None
            and chat.type == ChatType.PRIVATE
            and user.id in self.admins
            and update.message is not None  # not an edited message or a channel post
        )
        if allowed:
            await handler(self, update, context)
            return
        await self.audit("admin_denied", f"command={handler.__name__}")
        if chat is not None and chat.type == ChatType.PRIVATE and update.message is not None:
            await self.adapter.on_text(update, context)

    guarded.__admin_guard__ = True  # type: ignore[attr-defined]
    return guarded


class StaffCommands:
    """The staff commands, sharing the adapter's runtime and content."""

    def __init__(self, adapter: StaffHost, admins: tuple[int, ...]) -> None:
        self.adapter = adapter
        self.admins = frozenset(admins)

    def register(self, app: Application) -> None:  # type: ignore[type-arg]
        for name in ADMIN_COMMANDS:
            app.add_handler(CommandHandler(name, getattr(self, f"cmd_{name}")))

    async def audit(self, action: str, detail: str) -> None:
        runtime = self.adapter.runtime
        if runtime is None:
            return
        async with runtime.sessionmaker() as db, db.begin():
            db.add(
                AuditRow(action=action, actor="telegram", detail=detail[:200], at=runtime.clock())
            )

    async def _say(self, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
        chat = update.effective_chat
        if chat is not None:
            await self.adapter.send(context, chat.id, [Reply(text)])

    def _since(self, args: list[str]) -> dt.datetime | None:
        for arg in args:
            try:
                return dt.datetime.combine(dt.date.fromisoformat(arg), dt.time(), dt.UTC)
            except ValueError:
                continue
        return None

    # ----------------------------------------------------------------- commands

    @admin_only
    async def cmd_leads(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/leads [n]: the latest leads, one line each."""
        args = context.args or []
        # isdecimal alone accepts "²" and "٣", which int() then refuses or reads differently.
        n = int(args[0]) if args and args[0].isascii() and args[0].isdecimal() else 10
        runtime = self.adapter.runtime
        assert runtime is not None
        async with runtime.sessionmaker() as db:
            lines = await lead_lines(db, self.adapter.content, max(1, min(n, 100)))
        await self._say(update, context, "\n".join(lines) or "Nog geen aanvragen.")

    @admin_only
    async def cmd_lead(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/lead REF: one lead in full, with routing reasons and delivery history."""
        args = context.args or []
        if not args:
            await self._say(update, context, "Gebruik: /lead L-2026-000123")
            return
        runtime = self.adapter.runtime
        assert runtime is not None
        async with runtime.sessionmaker() as db:
            detail = await lead_detail(db, self.adapter.content, args[0].strip())
        await self._say(update, context, detail or f"Geen aanvraag {args[0][:20]}.")

    @admin_only
    async def cmd_export(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/export [csv|xlsx] [since]: the leads as a file, sent and not kept on disk."""
        args = [a.lower() for a in (context.args or [])]
        fmt = "csv" if "csv" in args else "xlsx"
        since = self._since(args)
        runtime = self.adapter.runtime
        chat = update.effective_chat
        assert runtime is not None and chat is not None
        async with runtime.sessionmaker() as db, db.begin():
            data, _ = await export_leads(
                db,
                self.adapter.content,
                "csv" if fmt == "csv" else "xlsx",
                since=since,
                actor="telegram",
                now=runtime.clock(),
            )
        name = f"aanvragen-{runtime.clock():%Y%m%d}.{fmt}"
        await context.bot.send_document(chat.id, io.BytesIO(data), filename=name)

    @admin_only
    async def cmd_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stats [since]: the funnel per audience."""
        runtime = self.adapter.runtime
        assert runtime is not None
        since = self._since(list(context.args or []))
        async with runtime.sessionmaker() as db:
            steps = await funnel(db, since)
            created = await lead_times(db, since)
        await self._say(update, context, render_funnel(steps))
        chat = update.effective_chat
        if chat is not None:
            png = stats_png(steps, leads_per_week(created))
            await context.bot.send_photo(chat.id, io.BytesIO(png))

    @admin_only
    async def cmd_onbeantwoord(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/onbeantwoord: the most frequent unanswered questions, grouped."""
        runtime = self.adapter.runtime
        assert runtime is not None
        async with runtime.sessionmaker() as db:
            clusters = await unanswered_clusters(db)
        lines = [f"{c.count}x {c.example}" for c in clusters[:20]]
        await self._say(update, context, "\n".join(lines) or "Geen onbeantwoorde vragen.")

    @admin_only
    async def cmd_herlaad(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/herlaad: load the content again; a broken file keeps the old content and says why."""
        adapter = self.adapter
        settings = adapter.settings
        try:
            # Parsing and indexing takes about half a second: off the event loop, so users
            # are answered meanwhile.
            content = await asyncio.to_thread(
                load_content, settings.content_dir, settings.thresholds
            )
        except ContentError as exc:
            errors = "\n".join(f"- {e}" for e in exc.errors[:15])
            await self._say(
                update, context, f"Niet herladen; de oude inhoud blijft actief:\n{errors}"
            )
            return
        adapter.contents.swap(content)  # the runtime and the dispatcher share this holder
        await self.audit("content_reload", f"version={content.version}")
        await self._say(
            update,
            context,
            f"Herladen: versie {content.version}, {len(content.knowledge)} kennisbankartikelen.",
        )


def guarded_handlers(app: Application) -> list[tuple[str, Any]]:  # type: ignore[type-arg]
    """(command, callback) of every registered admin command, for the introspection test."""
    found = []
    for handlers in app.handlers.values():
        for handler in handlers:
            if isinstance(handler, CommandHandler):
                for command in handler.commands:
                    if command in ADMIN_COMMANDS:
                        found.append((command, handler.callback))
    return found
