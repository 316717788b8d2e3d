"""Staff commands in Telegram: only for the configured user ids, only in a private chat.

Each command's handler carries the filter :func:`staff_only` (staff id, private chat, a new
message); a test checks every registered staff handler refuses everyone else. PTB then falls
through to the conversation, which answers an unknown command with the /help hint, and a
handler in a later group audits the attempt.
"""

from __future__ import annotations

import html
import io
import logging

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import Application, CommandHandler, filters

from bot.adapters.dashboard import new_login_link
from bot.adapters.telegram.context import Context
from bot.clock import local
from bot.content.commands import STAFF_COMMANDS, names_of
from bot.content.loader import ContentError
from bot.handoff.access import access_for
from bot.staff.chart import leads_per_week, stats_png
from bot.staff.export import export_leads
from bot.staff.leads import lead_detail, lead_lines
from bot.staff.period import Period, PeriodError, parse_period
from bot.staff.stats import funnel, lead_times, render_funnel, unanswered_clusters

__all__ = ["ADMIN_COMMANDS", "AUDIT_GROUP", "register", "staff_handlers", "staff_only"]

log = logging.getLogger(__name__)

AUDIT_GROUP = 1  # after the conversation (group 0) has answered a refused command
# What contact persons may use too, limited to their own pilot's leads.
CONTACT_COMMANDS = ("leads", "lead", "export", "dashboard")


def staff_only(users: filters.User) -> filters.BaseFilter:
    """One of ``users``, in a private chat, in a new message (not an edit)."""
    return users & filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


def register(
    application: Application,  # type: ignore[type-arg]
    admins: tuple[int, ...],
    contacts: filters.User,
) -> None:
    """Staff handlers first in group 0, so the conversation does not take them as unknown.

    ``contacts`` holds the contact persons' Telegram ids; it is filled when the App opens.
    """
    staff = staff_only(filters.User(user_id=admins, allow_empty=False))
    for name, callback in _COMMANDS.items():
        allowed = staff | staff_only(contacts) if name in CONTACT_COMMANDS else staff
        application.add_handler(CommandHandler(names_of(name), callback, filters=allowed))
        application.add_handler(
            CommandHandler(names_of(name), _denied, filters=~allowed), group=AUDIT_GROUP
        )


def pilots_of(update: Update, context: Context) -> frozenset[str] | None:
    """Whose leads this user may see: None for programme staff (everything), else the pilots
    they are a contact person of."""
    user = update.effective_user
    app = context.app
    access = access_for(user.id, app.settings.admin_ids, app.contacts) if user else None
    return access.pilots if access is not None else frozenset()


def staff_handlers(application: Application) -> list[CommandHandler]:  # type: ignore[type-arg]
    """Every registered handler that runs a staff command, for the guard test."""
    return [
        handler
        for group, handlers in application.handlers.items()
        if group != AUDIT_GROUP
        for handler in handlers
        if isinstance(handler, CommandHandler) and handler.commands & set(ADMIN_COMMANDS)
    ]


async def _denied(update: Update, context: Context) -> None:
    """Someone else typed a staff command: the conversation answered it; note the attempt."""
    message = update.effective_message
    name = (message.text or "").lstrip("/").split(maxsplit=1)[0] if message else ""
    command = name.split("@", 1)[0].casefold()
    await context.app.audit("admin_denied", "telegram", f"command={command[:20]}")


async def _say(update: Update, context: Context, text: str) -> None:
    chat = update.effective_chat
    if chat is not None:
        await context.bot_data.sender.say(context.bot, chat.id, text)


async def _period(update: Update, context: Context, words: list[str]) -> Period | None:
    """The period typed after the command; a wrong one is answered with an example."""
    try:
        return parse_period(words, local(context.app.clock()).date())
    except PeriodError as exc:
        await _say(update, context, str(exc))
        return None


async def cmd_leads(update: Update, context: Context) -> None:
    """/leads [n]: the latest leads, one line each."""
    args = context.args or []
    # isdecimal alone accepts "²" and "٣", which int() then refuses or reads differently.
    n = int(args[0]) if args and args[0].isascii() and args[0].isdecimal() else 10
    app = context.app
    async with app.db() as db:
        lines = await lead_lines(
            db, app.content, max(1, min(n, 100)), pilots=pilots_of(update, context)
        )
    await _say(update, context, "\n".join(lines) or "Nog geen aanvragen.")


async def cmd_lead(update: Update, context: Context) -> None:
    """/lead REF: one lead in full, with routing reasons and delivery history."""
    args = context.args or []
    if not args:
        await _say(update, context, "Gebruik: /lead L-2026-000123")
        return
    app = context.app
    async with app.db() as db:
        detail = await lead_detail(
            db, app.content, args[0].strip(), pilots=pilots_of(update, context)
        )
    await _say(update, context, detail or f"Geen aanvraag {args[0][:20]}.")


async def cmd_export(update: Update, context: Context) -> None:
    """/export [csv|xlsx] [periode]: the leads as a file, sent and not kept on disk."""
    args = [a.lower() for a in (context.args or [])]
    fmt = "csv" if "csv" in args else "xlsx"
    app = context.app
    chat = update.effective_chat
    period = await _period(update, context, [a for a in args if a not in ("csv", "xlsx")])
    if chat is None or period is None:
        return
    async with app.db() as db, db.begin():
        data, _ = await export_leads(
            db,
            app.content,
            "csv" if fmt == "csv" else "xlsx",
            period=period,
            pilots=pilots_of(update, context),
            actor="telegram",
            now=app.clock(),
        )
    name = f"aanvragen-{local(app.clock()):%Y%m%d}.{fmt}"
    await context.bot.send_document(chat.id, io.BytesIO(data), filename=name)


async def cmd_stats(update: Update, context: Context) -> None:
    """/stats [periode]: the funnel per audience, as a table that lines up, and a chart."""
    period = await _period(update, context, list(context.args or []))
    chat = update.effective_chat
    if period is None or chat is None:
        return
    async with context.app.db() as db:
        steps = await funnel(db, period)
        created = await lead_times(db, period)
    # Monospace, so the columns line up on a phone; the table holds only our own words and
    # numbers, escaped all the same.
    table = html.escape(render_funnel(steps))
    await context.bot.send_message(
        chat.id,
        f"Periode: {html.escape(period.label())}\n<pre>{table}</pre>",
        parse_mode=ParseMode.HTML,
    )
    png = stats_png(steps, leads_per_week(created))
    await context.bot.send_photo(chat.id, io.BytesIO(png))


async def cmd_onbeantwoord(update: Update, context: Context) -> None:
    """/onbeantwoord: the most frequent unanswered questions, grouped."""
    async with context.app.db() as db:
        clusters = await unanswered_clusters(db)
    lines = [f"{c.count}x {c.example}" for c in clusters[:20]]
    await _say(update, context, "\n".join(lines) or "Geen onbeantwoorde vragen.")


async def cmd_herlaad(update: Update, context: Context) -> None:
    """/herlaad: load the content again; a broken file keeps the old content and says why."""
    app = context.app
    try:
        content = await app.reload()  # every reader shares the one holder
    except ContentError as exc:
        errors = "\n".join(f"- {e}" for e in exc.errors[:15])
        await _say(update, context, f"Niet herladen; de oude inhoud blijft actief:\n{errors}")
        return
    await app.audit("content_reload", "telegram", f"version={content.version}")
    await _say(
        update,
        context,
        f"Herladen: versie {content.version}, {len(content.knowledge)} kennisbankartikelen.",
    )


async def cmd_dashboard(update: Update, context: Context) -> None:
    """/dashboard: a one-time login link for the staff dashboard (no link preview: a preview
    fetch must not reach the link, and the link page asks for a click anyway)."""
    app = context.app
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    if not app.settings.dashboard_url:
        await _say(
            update,
            context,
            "Het dashboard is nog niet ingesteld (MKBROUTE_DASHBOARD_URL). / "
            "The dashboard is not set up yet.",
        )
        return
    link = await new_login_link(app, user.id)
    await context.bot.send_message(
        chat.id,
        f"Je inloglink voor het dashboard, één keer geldig, 10 minuten:\n{link}\n\n"
        "Your login link for the dashboard, valid once, for 10 minutes.",
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


_COMMANDS = {
    "leads": cmd_leads,
    "lead": cmd_lead,
    "export": cmd_export,
    "stats": cmd_stats,
    "onbeantwoord": cmd_onbeantwoord,
    "herlaad": cmd_herlaad,
    "dashboard": cmd_dashboard,
}
ADMIN_COMMANDS = STAFF_COMMANDS
assert set(_COMMANDS) == set(STAFF_COMMANDS), "every staff command in the table has a handler"
