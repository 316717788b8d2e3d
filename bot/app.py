"""The running application's one owner: settings, database, content, contacts and services.

Every entry point (each ``mkbroute`` command, polling, the webhook server) opens the application
with ``async with open_app(settings) as app:`` and reads everything through that one ``App``:
the database and its sessionmaker, the single content holder that ``/herlaad`` swaps for every
reader, the contacts, the clock, the conversation service and the background work (dispatcher
and daily purge). Nothing else wires these parts together.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Bot

from bot.clock import utcnow
from bot.content.bundle import Content
from bot.content.holder import ContentHolder
from bot.content.loader import ContentError, load_content
from bot.handoff.contacts import Contact, ContactsError
from bot.handoff.service import BackgroundWork, contacts_for
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import repo
from bot.store.db import create_engine, make_sessionmaker, upgrade_schema
from bot.store.lock import advisory_guard

__all__ = [
    "HEARTBEAT_EVERY",
    "App",
    "StartupError",
    "heartbeat_path",
    "load",
    "load_contacts",
    "open_app",
    "open_database",
]

HEARTBEAT_EVERY = 30.0  # seconds between two heartbeats of a running bot


def heartbeat_path(settings: Settings) -> Path:
    """The file a running bot touches while it is healthy (``mkbroute health`` reads it)."""
    return settings.data_dir / "heartbeat"


log = logging.getLogger(__name__)


class StartupError(Exception):
    """Content, contacts or settings that cannot be used: a title and one line per problem."""

    def __init__(self, title: str, errors: Sequence[str] = ()) -> None:
        super().__init__(title)
        self.title = title
        self.errors = tuple(errors)

    def __str__(self) -> str:
        return "\n".join([self.title, *(f"  {e}" for e in self.errors)])


def load(settings: Settings, folder: Path | None = None) -> Content:
    """The content folder, validated; the contacts file is checked against it as well."""
    try:
        content = load_content(
            folder or settings.content_dir, settings.thresholds, settings.semantic
        )
    except ContentError as exc:
        raise StartupError("Content errors:", exc.errors) from None
    load_contacts(settings, content)
    return content


def load_contacts(settings: Settings, content: Content) -> dict[str, tuple[Contact, ...]]:
    """The contacts file's people by pilot id (none without a file)."""
    try:
        return contacts_for(settings, content)
    except ContactsError as exc:
        raise StartupError("Contacts file errors (MKBROUTE_CONTACTS_FILE):", exc.errors) from None


@dataclass(frozen=True, slots=True)
class App:
    """Everything a running process shares; built only by :func:`open_app`."""

    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    contents: ContentHolder
    contacts: Mapping[str, tuple[Contact, ...]]
    clock: Callable[[], dt.datetime]
    conversation: Runtime
    background: BackgroundWork
    bot: Bot | None  # sends and edits lead cards (when a token is configured)

    @property
    def content(self) -> Content:
        """The current content (after a reload: the new one, for every reader)."""
        return self.contents.current

    async def reload(self) -> Content:
        """Load the content folder again and swap it in; a broken folder raises ContentError
        and the old content stays active."""
        # Parsing and indexing takes about a second (training, or embedding for the semantic
        # stage, longer after an edit): off the event loop, so users are answered meanwhile.
        content = await asyncio.to_thread(
            load_content,
            self.settings.content_dir,
            self.settings.thresholds,
            self.settings.semantic,
        )
        self.contents.swap(content)
        return content

    async def audit(self, action: str, actor: str, detail: str) -> None:
        """One line in the audit log (ids and counts only, never personal data)."""
        async with self.db() as session, session.begin():
            repo.add_audit(session, action, actor, detail, self.clock())


@contextlib.asynccontextmanager
async def open_database(
    settings: Settings, *, upgrade: bool = True
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """The database engine and sessionmaker, migrated to the newest schema unless told not to;
    disposed on the way out."""
    engine = create_engine(settings.db_url)
    try:
        if upgrade:
            await upgrade_schema(engine)
        yield engine, make_sessionmaker(engine)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _token_bot(settings: Settings, wanted: bool) -> AsyncIterator[Bot | None]:
    """A Bot of our own for sending lead cards (no polling), when wanted and a token is set."""
    if not wanted or settings.telegram_token is None:
        yield None
        return
    bot = Bot(
        settings.telegram_token.get_secret_value(),
        base_url=settings.telegram_api_url,
        base_file_url=settings.telegram_file_url,
    )
    await bot.initialize()
    try:
        yield bot
    finally:
        await bot.shutdown()


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings,
    *,
    content: Content | None = None,
    bot: Bot | None = None,
    own_bot: bool = False,
    background: bool = True,
    poll_guard: bool = False,
    heartbeat: bool = False,
    clock: Callable[[], dt.datetime] = utcnow,
) -> AsyncIterator[App]:
    """Open the application; everything it started is stopped and closed on the way out.

    ``bot`` sends lead cards (the polling or webhook bot); ``own_bot`` makes one from the
    token when contacts need it (the terminal chat, ``mkbroute dispatch``). ``background``
    starts the dispatcher and the daily purge. ``poll_guard`` takes PostgreSQL's polling lock:
    only one process may poll a token's updates. ``heartbeat`` touches
    :func:`heartbeat_path` every 30 s while messages can be stored (the container
    healthcheck of a polling bot).
    """
    content = content if content is not None else load(settings)
    contacts = load_contacts(settings, content)
    contents = ContentHolder(content)
    async with contextlib.AsyncExitStack() as stack:
        engine, db = await stack.enter_async_context(open_database(settings))
        if poll_guard and engine.dialect.name == "postgresql":
            stack.push_async_callback((await advisory_guard(engine)).close)
        if bot is None:
            bot = await stack.enter_async_context(_token_bot(settings, own_bot and bool(contacts)))
        conversation = Runtime(
            contents,
            db,
            default_lang=settings.default_language,
            clock=clock,
            contacts=contacts,
            org=(settings.org_name, settings.org_contact),
            retention=(settings.retention_sessions_days, settings.retention_leads_days),
        )
        service = BackgroundWork(settings, contents, db, contacts, bot)
        app = App(settings, engine, db, contents, contacts, clock, conversation, service, bot)
        if background:
            service.start()
            stack.push_async_callback(service.stop)
        if heartbeat:
            stack.push_async_callback(_stopped, asyncio.create_task(_beat(app)))
        yield app


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _beat(app: App) -> None:
    """Touch the heartbeat file while the last messages could be stored; a failing database
    (or a hung event loop) lets it go stale, and the healthcheck says so."""
    path = heartbeat_path(app.settings)
    while True:
        if not app.conversation.writes.failures:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(app.clock().isoformat(), encoding="utf-8")
            except OSError as exc:
                log.warning("heartbeat not written (%s)", type(exc).__name__)
        await asyncio.sleep(HEARTBEAT_EVERY)
