"""``mkbroute doctor``: checks of a deployment's set-up, each a small function returning a Check.

Nothing here changes anything: the database is opened read-only (a SQLite file that does not
exist yet is not created), no migration runs and Telegram is not contacted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic.script import ScriptDirectory
from sqlalchemy import URL, func, make_url, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.content.bundle import Content
from bot.content.loader import ContentError, content_warnings, load_content
from bot.handoff.contacts import ContactsError
from bot.handoff.outbox import SENDER_PREFIX
from bot.handoff.service import contacts_for
from bot.settings import Settings
from bot.store.db import alembic_config, schema_revision
from bot.store.models import LeadRow, LeadStatus, OutboxRow, OutboxStatus

__all__ = [
    "DB_TIMEOUT",
    "Check",
    "Status",
    "check_admins",
    "check_contacts",
    "check_content",
    "check_database",
    "check_outbox",
    "check_settings",
    "check_telegram",
    "check_webhook",
    "run_checks",
]

Status = Literal["ok", "warn", "error"]
DB_TIMEOUT = 5.0
# Telegram only delivers webhooks to these ports.
WEBHOOK_PORTS = (443, 80, 88, 8443)
UPGRADE = "`mkbroute db upgrade`"


@dataclass(frozen=True)
class Check:
    """The outcome of one check: a status and the same message in Dutch and English."""

    name: str
    status: Status
    nl: str
    en: str
    details: tuple[str, ...] = ()


_LOCAL = ("localhost", "127.0.0.1", "::1")


def _local(host: str | None) -> bool:
    return (host or "").lower() in _LOCAL or (host or "").startswith("127.")


def check_settings(settings: Settings) -> Check:
    """The settings parsed; name the database, and warn about secrets sent in plain text."""
    shown = make_url(settings.db_url).render_as_string(hide_password=True)
    details = (f"database: {shown}",)
    nl: list[str] = []
    en: list[str] = []
    if (
        settings.smtp_security == "none"
        and settings.smtp_password
        and not _local(settings.smtp_host)
    ):
        nl.append(
            f"SMTP zonder versleuteling naar {settings.smtp_host}, met wachtwoord: het "
            "wachtwoord en elke aanvraag gaan leesbaar over het netwerk (kies starttls of tls)"
        )
        en.append(
            f"SMTP without encryption to {settings.smtp_host}, with a password: the password "
            "and every lead cross the network readable (choose starttls or tls)"
        )
    api_host = urllib.parse.urlsplit(settings.telegram_api_url).hostname
    if settings.telegram_api_url.startswith("http://") and not _local(api_host):
        nl.append(
            f"de Bot API op {api_host} via http://: het bottoken gaat leesbaar over het netwerk"
        )
        en.append(f"the Bot API at {api_host} over http://: the bot token crosses the network")
    if nl:
        return Check("settings", "warn", "; ".join(nl), "; ".join(en), details)
    return Check("settings", "ok", "geldig", "valid", details)


def _sqlite_path(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser()


def _writable_folder(path: Path) -> bool:
    """Whether ``path``'s folder exists and is writable, or could be created."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def _read_only_engine(url: URL, path: Path | None, seconds: float) -> AsyncEngine:
    if path is not None:
        # mode=ro: never create the file, never change its journal mode.
        url = URL.create(
            url.drivername,
            database="file:" + urllib.parse.quote(str(path)),
            query={"mode": "ro", "uri": "true"},
        )
    return create_async_engine(url, poolclass=NullPool, connect_args={"timeout": seconds})


async def _probe(engine: AsyncEngine) -> tuple[str | None, str | None]:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return await schema_revision(engine)


def _reason(exc: BaseException) -> str:
    """The driver's own words (first line), not SQLAlchemy's wrapper with its SQL and links."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0][:200]
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__


async def check_database(settings: Settings, seconds: float = DB_TIMEOUT) -> Check:
    """Reachable within ``seconds``, and the schema at the newest migration."""
    url = make_url(settings.db_url)
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        if not _writable_folder(path):
            return Check(
                "database",
                "error",
                f"{path} bestaat niet en kan niet worden aangemaakt (map niet schrijfbaar)",
                f"{path} does not exist and cannot be created (folder not writable)",
            )
        return Check(
            "database",
            "warn",
            f"{path} bestaat nog niet; wordt aangemaakt bij de eerste start (of nu met {UPGRADE})",
            f"{path} does not exist yet; will be created at first start (or now with {UPGRADE})",
        )
    if path is not None and not (os.access(path, os.R_OK | os.W_OK) and _writable_folder(path)):
        return Check(
            "database",
            "error",
            f"{path} of de map ervan is niet schrijfbaar voor deze gebruiker",
            f"{path} or its folder is not writable for this user",
        )
    engine = _read_only_engine(url, path, seconds)
    try:
        current, head = await asyncio.wait_for(_probe(engine), seconds)
    except TimeoutError:
        return Check(
            "database",
            "error",
            f"geen antwoord binnen {seconds:g} s",
            f"no answer within {seconds:g} s",
        )
    except (OSError, SQLAlchemyError) as exc:
        return Check(
            "database",
            "error",
            "niet bereikbaar",
            "not reachable",
            (_reason(exc),),
        )
    finally:
        await engine.dispose()
    return _schema(current, head)


async def check_outbox(settings: Settings, seconds: float = DB_TIMEOUT) -> Check:
    """Deliveries held back by our own side (SMTP login, relay, configuration), dead letters,
    and leads nobody could be reached for. Run after the database check passed."""
    url = make_url(settings.db_url)
    engine = _read_only_engine(url, _sqlite_path(url), seconds)
    try:
        async with asyncio.timeout(seconds), engine.connect() as conn:
            blocked = await conn.scalar(
                select(func.count(OutboxRow.id)).where(
                    OutboxRow.status == OutboxStatus.PENDING,
                    OutboxRow.last_error.startswith(SENDER_PREFIX),
                )
            )
            reason = await conn.scalar(
                select(OutboxRow.last_error)
                .where(
                    OutboxRow.status == OutboxStatus.PENDING,
                    OutboxRow.last_error.startswith(SENDER_PREFIX),
                )
                .order_by(OutboxRow.id.desc())
                .limit(1)
            )
            dead = await conn.scalar(
                select(func.count(OutboxRow.id)).where(OutboxRow.status == OutboxStatus.DEAD)
            )
            lost = await conn.scalar(
                select(func.count(LeadRow.id)).where(LeadRow.status == LeadStatus.UNDELIVERABLE)
            )
    finally:
        await engine.dispose()
    if blocked:
        return Check(
            "outbox",
            "error",
            f"{blocked} bezorging(en) wachten omdat versturen aan onze kant mislukt; herstel de "
            "instelling en voer `mkbroute outbox retry` uit",
            f"{blocked} deliveries wait because sending fails on our side; fix the setting and "
            "run `mkbroute outbox retry`",
            (str(reason)[len(SENDER_PREFIX) :],),
        )
    if dead or lost:
        return Check(
            "outbox",
            "warn",
            f"{dead} mislukte bezorging(en), {lost} aanvraag/aanvragen bij niemand aangekomen; "
            "zie `mkbroute outbox list --dead`",
            f"{dead} dead deliveries, {lost} leads that reached nobody; see "
            "`mkbroute outbox list --dead`",
        )
    return Check("outbox", "ok", "niets blijft hangen", "nothing is stuck")


def _schema(current: str | None, head: str | None) -> Check:
    if current == head:
        return Check(
            "database",
            "ok",
            f"bereikbaar, schema op revisie {head}",
            f"reachable, schema at revision {head}",
        )
    if current is None:
        return Check(
            "database",
            "warn",
            f"bereikbaar, maar nog zonder schema; voer {UPGRADE} uit (of start de bot)",
            f"reachable, but no schema yet; run {UPGRADE} (or start the bot)",
        )
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current not in known:
        return Check(
            "database",
            "error",
            f"schema op revisie {current}, die deze versie niet kent (van een nieuwere versie?)",
            f"schema at revision {current}, unknown to this version (from a newer version?)",
        )
    return Check(
        "database",
        "warn",
        f"bereikbaar, schema op revisie {current}, de nieuwste is {head}; voer {UPGRADE} uit",
        f"reachable, schema at revision {current}, the newest is {head}; run {UPGRADE}",
    )


def check_content(settings: Settings) -> tuple[Check, Content | None]:
    """The content loads; its warnings are counted, not failed."""
    try:
        content = load_content(settings.content_dir, settings.thresholds, settings.semantic)
    except ContentError as exc:
        n = len(exc.errors)
        return (
            Check(
                "content",
                "error",
                f"{n} fout(en) in flows/ of knowledge/",
                f"{n} error(s) in flows/ or knowledge/",
                tuple(exc.errors),
            ),
            None,
        )
    w = len(content_warnings(content, dt.date.today()))
    flows, entries = len(content.flows), len(content.knowledge)
    hint_nl = " (zie `mkbroute content check`)" if w else ""
    hint_en = " (see `mkbroute content check`)" if w else ""
    return (
        Check(
            "content",
            "ok",
            f"{flows} vragenlijsten, {entries} kennisitems, versie {content.version}, "
            f"{w} waarschuwing(en){hint_nl}",
            f"{flows} flows, {entries} knowledge entries, version {content.version}, "
            f"{w} warning(s){hint_en}",
        ),
        content,
    )


def check_contacts(settings: Settings, content: Content | None) -> Check:
    """The contacts file validates, and its people can be reached over a configured channel."""
    if settings.contacts_file is None:
        return Check(
            "contacts",
            "warn",
            "MKBROUTE_CONTACTS_FILE niet ingesteld: leads worden bewaard maar niet bezorgd",
            "MKBROUTE_CONTACTS_FILE not set: leads are stored but not delivered",
        )
    if content is None:
        return Check(
            "contacts",
            "warn",
            "niet gecontroleerd, want de content laadt niet",
            "not checked, because the content does not load",
        )
    try:
        contacts = contacts_for(settings, content)
    except ContactsError as exc:
        n = len(exc.errors)
        return Check(
            "contacts",
            "error",
            f"{n} fout(en) in {settings.contacts_file}",
            f"{n} error(s) in {settings.contacts_file}",
            tuple(exc.errors),
        )
    people = [c for group in contacts.values() for c in group]
    noun = "contactpersoon" if len(people) == 1 else "contactpersonen"
    summary_nl = f"{len(people)} {noun} voor {len(contacts)} pilot(s)"
    summary_en = f"{len(people)} contact(s) for {len(contacts)} pilot(s)"
    missing_nl, missing_en = [], []
    if any(c.email for c in people) and not (settings.smtp_host and settings.smtp_from):
        missing_nl.append("e-mail (MKBROUTE_SMTP_HOST en MKBROUTE_SMTP_FROM)")
        missing_en.append("e-mail (MKBROUTE_SMTP_HOST and MKBROUTE_SMTP_FROM)")
    if any(c.telegram_chat_id for c in people) and settings.telegram_token is None:
        missing_nl.append("Telegram (MKBROUTE_TELEGRAM_TOKEN)")
        missing_en.append("Telegram (MKBROUTE_TELEGRAM_TOKEN)")
    if missing_nl:
        return Check(
            "contacts",
            "warn",
            f"{summary_nl}, maar niet ingesteld: {', '.join(missing_nl)}; "
            "die berichten worden niet verstuurd",
            f"{summary_en}, but not set up: {', '.join(missing_en)}; those messages are not sent",
        )
    return Check("contacts", "ok", summary_nl, summary_en)


def check_telegram(settings: Settings) -> Check:
    """Only whether a token is set; its format was checked with the settings. Never shown."""
    if settings.telegram_token is None:
        return Check(
            "telegram",
            "warn",
            "geen MKBROUTE_TELEGRAM_TOKEN: `mkbroute run` en `webhook` starten niet, "
            "`mkbroute chat` werkt wel",
            "no MKBROUTE_TELEGRAM_TOKEN: `mkbroute run` and `webhook` will not start, "
            "`mkbroute chat` works",
        )
    return Check(
        "telegram",
        "ok",
        "token ingesteld, vorm klopt (niet online gecontroleerd)",
        "token set, format valid (not checked online)",
    )


def check_webhook(settings: Settings) -> Check:
    """URL and secret both set (and the URL one Telegram accepts), or both unset."""
    url, secret = settings.webhook_url, settings.webhook_secret
    if url is None and secret is None:
        return Check(
            "webhook",
            "ok",
            "niet ingesteld: gebruik `mkbroute run` (polling)",
            "not set: use `mkbroute run` (polling)",
        )
    if url is None:
        return Check(
            "webhook",
            "error",
            "MKBROUTE_WEBHOOK_SECRET is ingesteld, maar MKBROUTE_WEBHOOK_URL ontbreekt",
            "MKBROUTE_WEBHOOK_SECRET is set, but MKBROUTE_WEBHOOK_URL is missing",
        )
    if secret is None:
        return Check(
            "webhook",
            "error",
            "MKBROUTE_WEBHOOK_URL is ingesteld, maar MKBROUTE_WEBHOOK_SECRET ontbreekt",
            "MKBROUTE_WEBHOOK_URL is set, but MKBROUTE_WEBHOOK_SECRET is missing",
        )
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "https" or not parts.hostname:
        return Check(
            "webhook",
            "error",
            f"MKBROUTE_WEBHOOK_URL {url} moet een https-adres zijn (Telegram eist https)",
            f"MKBROUTE_WEBHOOK_URL {url} must be an https address (Telegram requires https)",
        )
    if port is not None and port not in WEBHOOK_PORTS:
        allowed = ", ".join(map(str, WEBHOOK_PORTS))
        return Check(
            "webhook",
            "error",
            f"MKBROUTE_WEBHOOK_URL {url}: Telegram gebruikt alleen poort {allowed}",
            f"MKBROUTE_WEBHOOK_URL {url}: Telegram only uses port {allowed}",
        )
    if settings.webhook_path.startswith("/healthz"):
        return Check(
            "webhook",
            "error",
            f"MKBROUTE_WEBHOOK_URL {url}: het pad /healthz is voor de gezondheidscheck",
            f"MKBROUTE_WEBHOOK_URL {url}: the path /healthz is taken by the health check",
        )
    if settings.dashboard_mount:
        if problem := settings.dashboard_mount_problem():
            return Check(
                "webhook",
                "error",
                f"MKBROUTE_DASHBOARD_MOUNT staat aan, maar (Engelse uitleg): {problem}",
                f"MKBROUTE_DASHBOARD_MOUNT is on, but {problem}",
            )
        return Check(
            "webhook",
            "ok",
            f"{url}, met geheim; updates op pad {settings.webhook_path}, het dashboard op "
            f"{settings.dashboard_path}",
            f"{url}, with a secret; updates at path {settings.webhook_path}, the dashboard "
            f"at {settings.dashboard_path}",
        )
    return Check(
        "webhook",
        "ok",
        f"{url}, met geheim; updates komen binnen op pad {settings.webhook_path}",
        f"{url}, with a secret; updates arrive at path {settings.webhook_path}",
    )


def check_admins(settings: Settings) -> Check:
    """Staff ids are counted, not shown."""
    n = len(settings.admin_ids)
    if not n:
        return Check(
            "admins",
            "warn",
            "geen MKBROUTE_ADMIN_IDS: de staff-commando's in Telegram zijn voor niemand",
            "no MKBROUTE_ADMIN_IDS: nobody can use the staff commands in Telegram",
            (
                "Stuur de bot in Telegram /id (of /mijnid): hij antwoordt met je nummer. Zet dat "
                "in MKBROUTE_ADMIN_IDS (meerdere met komma's); zie docs/handleiding.md.",
                "Send the bot /id (or /mijnid) in Telegram: it answers with your number. Put it "
                "in MKBROUTE_ADMIN_IDS (several separated by commas); see docs/handleiding.md.",
            ),
        )
    return Check("admins", "ok", f"{n} beheerder(s)", f"{n} admin(s)")


def _failed(name: str, exc: Exception) -> Check:
    return Check(
        name,
        "error",
        f"controle mislukt ({type(exc).__name__})",
        f"check failed ({type(exc).__name__})",
    )


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    # A doctor must report, not crash: an unforeseen failure becomes one more error line.
    try:
        return check()
    except Exception as exc:
        return _failed(name, exc)


async def run_checks(settings: Settings, seconds: float = DB_TIMEOUT) -> list[Check]:
    """Every check, in the order an operator would fix them."""
    try:
        database = await check_database(settings, seconds)
    except Exception as exc:  # see _guarded
        database = _failed("database", exc)
    outbox: list[Check] = []
    if database.status == "ok":
        try:
            outbox.append(await check_outbox(settings, seconds))
        except Exception as exc:  # see _guarded
            outbox.append(_failed("outbox", exc))
    content: Content | None = None
    try:
        loaded, content = check_content(settings)
    except Exception as exc:  # see _guarded
        loaded = _failed("content", exc)
    return [
        _guarded("settings", lambda: check_settings(settings)),
        database,
        *outbox,
        loaded,
        _guarded("contacts", lambda: check_contacts(settings, content)),
        _guarded("telegram", lambda: check_telegram(settings)),
        _guarded("webhook", lambda: check_webhook(settings)),
        _guarded("admins", lambda: check_admins(settings)),
    ]
