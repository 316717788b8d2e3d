"""The ``mkbroute`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.app import (
    HEARTBEAT_EVERY,
    App,
    StartupError,
    heartbeat_path,
    load,
    load_contacts,
    open_app,
    open_database,
)
from bot.clock import local, utcnow
from bot.content.bundle import Content
from bot.content.loader import content_warnings
from bot.content.models import LANGS
from bot.engine.types import MAX_INBOUND
from bot.handoff.access import access_for
from bot.knowledge.text import fill
from bot.logs import configure
from bot.privacy import erase_user, purge_now
from bot.settings import Settings
from bot.staff.chart import leads_per_week, stats_png
from bot.staff.export import export_leads
from bot.staff.leads import lead_detail, lead_lines
from bot.staff.outbox import outbox_lines, retry_outbox
from bot.staff.period import Period, PeriodError, parse_day
from bot.staff.stats import funnel, lead_times, render_funnel, unanswered_clusters
from bot.store import repo
from bot.store.db import (
    schema_revision,
    wipe_wal,
)
from bot.store.lock import AlreadyRunning, InstanceLock

__all__ = ["main"]


def _settings() -> Settings:
    # A .env file in the working folder (or MKBROUTE_ENV_FILE; empty: none) configures the
    # command like the environment does, so one file serves a server and docker compose.
    env_file = os.environ.get("MKBROUTE_ENV_FILE", ".env") or None
    try:
        return Settings(_env_file=env_file)
    except ValidationError as exc:
        lines = [
            f"  MKBROUTE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        ]
        raise SystemExit("Invalid setting(s):\n" + "\n".join(lines)) from None


def _secrets(settings: Settings) -> list[str]:
    """What the log redactor must never let through."""
    return [
        s.get_secret_value()
        for s in (
            settings.telegram_token,
            settings.webhook_secret,
            settings.smtp_password,
            settings.db_password,
            settings.dashboard_secret,
        )
        if s is not None
    ]


def _app(settings: Settings) -> contextlib.AbstractAsyncContextManager[App]:
    """The application for a one-off staff command: no background work."""
    return open_app(settings, content=load(settings), background=False)


@contextlib.contextmanager
def _single_instance(settings: Settings) -> Iterator[None]:
    """Two bots on one SQLite file (or polling one token) would fight: refuse the second."""
    if not settings.db_url.startswith("sqlite"):
        yield
        return
    path = Path(settings.db_url.split("///", 1)[1] + ".lock")
    try:
        with InstanceLock(path):
            yield
    except AlreadyRunning:
        raise SystemExit(
            f"Another mkbroute bot is already running on this database ({path.name}). "
            "Stop it first; with SQLite only one bot process may run."
        ) from None


def _stop_requested(signum: int, frame: object) -> None:
    raise SystemExit(0)


async def _chat(settings: Settings, jsonl: bool, user: str, lang: str | None) -> None:
    async with open_app(settings, own_bot=True) as app:
        if jsonl:
            from bot.adapters.console import run_jsonl

            await run_jsonl(app.conversation, sys.stdin, sys.stdout)
        else:
            from bot.adapters.console import run_interactive

            await run_interactive(app.conversation, user, lang)


async def _dispatch(settings: Settings) -> None:
    """``mkbroute dispatch``: only deliver the outbox, until SIGINT or SIGTERM."""
    content = load(settings)
    if not load_contacts(settings, content):
        raise SystemExit("mkbroute dispatch needs MKBROUTE_CONTACTS_FILE: nobody to deliver to.")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_app(settings, content=content, own_bot=True, background=False) as app:
        await app.background.dispatcher.run_forever(stop, settings.dispatch_interval)


async def _stats(settings: Settings, args: argparse.Namespace) -> int:
    """``mkbroute stats`` and ``mkbroute unanswered``."""
    period = _period(args)
    async with open_database(settings) as (_, sessionmaker), sessionmaker() as db:
        if args.command == "stats":
            steps = await funnel(db, period)
            print(render_funnel(steps))
            if args.png is not None:
                created = await lead_times(db, period)
                args.png.write_bytes(stats_png(steps, leads_per_week(created)))
                print(f"Chart written to {args.png}.")
            return 0
        clusters = await unanswered_clusters(db, period)
    if not clusters:
        print("No unanswered questions.")
    for cluster in clusters:
        print(f"{cluster.count:>4}x  {cluster.example}")
        for variant in cluster.variants:
            if variant != cluster.example:
                print(f"        ~ {variant}")
    return 0


def _date(text: str) -> dt.date:
    try:
        return parse_day(text, local(utcnow()).date())
    except PeriodError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _period(args: argparse.Namespace) -> Period:
    """--since and --until (both days included)."""
    if args.since and args.until and args.until < args.since:
        raise SystemExit("--until is before --since.")
    return Period(args.since, args.until)


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    """``mkbroute export``: the leads as a file staff can open safely; audited."""
    period = _period(args)
    async with _app(settings) as app:
        if sys.stderr.isatty():
            print("Exporting…", file=sys.stderr, flush=True)
        async with app.db() as db, db.begin():
            data, count = await export_leads(
                db,
                app.content,
                args.format,
                period=period,
                actor="staff",
                now=app.clock(),
                delimiter=args.delimiter,
            )
    try:
        args.out.write_bytes(data)
    except OSError as exc:
        print(f"Cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"Exported {count} lead(s) to {args.out}.")
    return 0


async def _leads(settings: Settings, args: argparse.Namespace) -> int:
    """``mkbroute leads`` / ``mkbroute lead REF``: what staff need to follow up."""
    async with _app(settings) as app, app.db() as db:
        if args.command == "leads":
            lines = await lead_lines(db, app.content, max(1, min(args.n, 1000)))
            print("\n".join(lines) if lines else "No leads yet.")
            return 0
        detail = await lead_detail(db, app.content, args.ref.strip())
    if detail is None:
        print(f"No lead {args.ref!r}.", file=sys.stderr)
        return 1
    print(detail)
    return 0


async def _db(settings: Settings, action: str) -> int:
    """``mkbroute db upgrade|current``; current exits 1 when the schema is behind (health)."""
    try:
        async with open_database(settings, upgrade=action == "upgrade") as (engine, _):
            current, head = await schema_revision(engine)
    except (OSError, SQLAlchemyError) as exc:
        print(f"Database not reachable ({type(exc).__name__}).", file=sys.stderr)
        return 1
    print(f"schema revision: {current or 'none'} (newest: {head})")
    return 0 if current == head else 1


async def _purge(settings: Settings) -> int:
    """``mkbroute purge``: idempotent; prints counts only."""
    async with open_database(settings) as (_, sessionmaker):
        purged = await purge_now(sessionmaker, settings, utcnow())
    print("Purged: " + ", ".join(f"{k} {v}" for k, v in sorted(purged.counts.items())))
    return 0


async def _outbox(settings: Settings, args: argparse.Namespace) -> int:
    """``mkbroute outbox list|retry [--dead] [REF]``."""
    ref = args.ref.strip() if args.ref else None
    async with open_database(settings) as (_, sessionmaker), sessionmaker() as db, db.begin():
        if args.action == "list":
            lines = await outbox_lines(db, args.dead, ref)
            print("\n".join(lines) if lines else "Nothing waiting in the outbox.")
            return 0
        count = await retry_outbox(db, utcnow(), args.dead, ref)
    print(f"{count} deliveries are due now; a running bot or `mkbroute dispatch` sends them.")
    return 0


async def _erase(settings: Settings, ref: str) -> int:
    """``mkbroute erase REF``: staff erase the person behind a lead (on their request)."""
    async with _app(settings) as app:
        async with app.db() as db, db.begin():
            lead = await repo.lead_by_ref(db, ref.strip())
            if lead is None or lead.user_key.startswith("erased:"):
                print(f"No lead {ref!r} with personal data found.", file=sys.stderr)
                return 1
            erased = await erase_user(db, app.content, lead.user_key, app.clock(), actor="staff")
        await wipe_wal(app.engine)
    shared = ", ".join(dict.fromkeys(erased.delivered_to)) or "nobody"
    maybe = ", ".join(dict.fromkeys(erased.maybe_to))
    in_flight = f"; it was being sent to {maybe} (it may have arrived)" if maybe else ""
    print(
        f"Erased {ref}: {sum(erased.counts.values())} rows; it had been sent to {shared}"
        f"{in_flight}; whoever had it will be told."
    )
    return 0


async def _dashboard(settings: Settings, args: argparse.Namespace) -> int:
    """``mkbroute dashboard``: serve it; ``mkbroute dashboard link ID``: a login link."""
    from bot.adapters.dashboard import new_login_link, serve

    if settings.dashboard_secret is None:
        raise SystemExit(
            "MKBROUTE_DASHBOARD_SECRET is not set: 32 or more random characters sign the "
            "dashboard's sessions (e.g. `openssl rand -hex 32`)."
        )
    # own_bot: status changes made in the dashboard show on the contacts' Telegram cards.
    async with open_app(settings, background=False, own_bot=args.action == "serve") as app:
        if args.action == "link":
            if args.telegram_id is None:
                raise SystemExit("mkbroute dashboard link: give the Telegram id, e.g. 123456789")
            if access_for(args.telegram_id, settings.admin_ids, app.contacts) is None:
                raise SystemExit(
                    f"{args.telegram_id} is neither in MKBROUTE_ADMIN_IDS nor a contact person "
                    "in the contacts file: the dashboard would show them nothing."
                )
            print(await new_login_link(app, args.telegram_id))
            print("Valid once, for 10 minutes.")
            return 0
        await serve(app)
    return 0


def _health(settings: Settings) -> int:
    """``mkbroute health``: the container healthcheck. A webhook bot answers its own /healthz;
    a polling bot touches a heartbeat file every 30 s while it can store messages."""
    if settings.webhook_url:
        url = f"http://127.0.0.1:{settings.webhook_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                print(f"healthy: {url} answered {answer.status}")
                return 0
        except urllib.error.HTTPError as exc:
            print(
                f"unhealthy: {url} answered {exc.code}: {exc.read(300).decode(errors='replace')}"
            )
        except OSError as exc:
            print(f"unhealthy: {url} not reachable ({type(exc).__name__})")
        return 1
    path = heartbeat_path(settings)
    try:
        beat = dt.datetime.fromisoformat(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        print(f"unhealthy: no heartbeat in {path} (is `mkbroute run` running?)")
        return 1
    age = (utcnow() - beat).total_seconds()
    if age > 3 * HEARTBEAT_EVERY:
        print(f"unhealthy: last heartbeat {age:.0f} s ago (database failing, or the bot hung)")
        return 1
    print(f"healthy: last heartbeat {age:.0f} s ago")
    return 0


_LABELS = {"ok": ("OK", ""), "warn": ("LET OP", "WARNING "), "error": ("FOUT", "ERROR ")}


def _doctor(settings: Settings) -> int:
    """``mkbroute doctor``: one line per check (Dutch / English); exit 1 on any error."""
    from bot.doctor import run_checks

    checks = asyncio.run(run_checks(settings))
    for check in checks:
        nl, en = _LABELS[check.status]
        print(f"{nl:<6} {check.name}: {check.nl} / {en}{check.en}")
        for detail in check.details:
            print(f"         {detail}")
    errors = sum(c.status == "error" for c in checks)
    warnings = sum(c.status == "warn" for c in checks)
    if not errors and not warnings:
        print("Alles in orde. / All good.")
    else:
        print(
            f"{errors} fout(en), {warnings} waarschuwing(en) / "
            f"{errors} error(s), {warnings} warning(s)"
        )
    return 1 if errors else 0


def _content_check(settings: Settings, folder: Path | None) -> int:
    from bot.engine.lint import long_replies

    content = load(settings, folder)
    warnings = content_warnings(content, dt.date.today()) + long_replies(content)
    for warning in warnings:
        print(f"warning: {warning}")
    print(
        f"Content OK: {len(content.flows)} flows, {len(content.knowledge)} knowledge entries "
        f"(version {content.version}), {len(warnings)} warning(s)."
    )
    return 0


def _ask_json(content: Content, question: str, lang: str) -> dict[str, Any]:
    found = content.index.lookup(question, lang)
    answer = found.ids[0] if found.status == "answer" else None
    # What the user sees in the first reply: the confident or the likely answer.
    shown = found.ids[0] if found.status in ("answer", "likely") else None
    # The knowledge buttons offered with it: a likely answer's others, "Bedoel je...?", or
    # the topics after "dat weet ik niet zeker".
    alternatives = found.ids[1:] if found.status in ("answer", "likely") else found.ids
    return {
        "q": question,
        "id": answer,
        "shown": shown,
        "score": round(found.score, 1),
        "alternatives": list(alternatives),
    }


def _ask_text(content: Content, question: str, lang: str) -> str:
    found = content.index.lookup(question, lang)
    m = content.messages
    if found.status in ("answer", "likely"):
        entry = content.knowledge[found.ids[0]]
        sources = "; ".join(dict.fromkeys(src.label for src in entry.sources))
        return (
            f"{entry.title.get(lang)}\n\n{entry.answer.get(lang)}\n\n"
            f"{fill(m.kb_source.get(lang), sources=sources)}"
        )
    if not found.ids:
        return m.kb_no_match.get(lang)
    # "Bedoel je...?", or the topics after "dat weet ik niet zeker".
    intro = m.kb_did_you_mean if found.status == "ambiguous" else m.kb_no_match_topics
    titles = [f"  - {content.knowledge[i].title.get(lang)} ({i})" for i in found.ids]
    return "\n".join([intro.get(lang), *titles])


def _ask_lines(content: Content, default_lang: str) -> None:
    """Answer {"q": ..., "lang": ...} lines from stdin with one JSON object per line."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict) or not isinstance(data.get("q"), str):
                raise ValueError("expected an object with a text field 'q'")
            lang = data.get("lang") or default_lang
            if lang not in LANGS:
                raise ValueError("'lang' must be nl or en")
            out = _ask_json(content, data["q"][:MAX_INBOUND], lang)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            out = {"error": str(exc)}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def _ask(settings: Settings, args: argparse.Namespace) -> int:
    content = load(settings)
    lang = args.lang or settings.default_language
    if args.jsonl:
        _ask_lines(content, lang)
        return 0
    if not args.question:
        raise SystemExit("mkbroute ask: give a question, or use --jsonl")
    question = " ".join(args.question)[:MAX_INBOUND]
    if args.json:
        print(json.dumps(_ask_json(content, question, lang), ensure_ascii=False))
    else:
        print(_ask_text(content, question, lang))
    return 0


def _period_arguments(parser: argparse.ArgumentParser) -> None:
    when = "a date as 31-01-2026, 2026-01-31, vandaag or gisteren (Dutch local time)"
    parser.add_argument("--since", type=_date, default=None, help=f"from this day on: {when}")
    parser.add_argument("--until", type=_date, default=None, help="up to and including this day")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mkbroute", description="Mkb-route assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="chat in the terminal (no token, no server)")
    chat.add_argument("--jsonl", action="store_true", help="JSON lines on stdin/stdout")
    chat.add_argument("--user", default="terminal", help="user id for the interactive chat")
    chat.add_argument("--lang", choices=["nl", "en"], default=None, help="language of a new chat")
    sub.add_parser("run", help="run the Telegram bot with long polling")
    sub.add_parser("dispatch", help="only deliver pending leads to contacts")
    sub.add_parser("purge", help="delete what has passed its retention period")
    db = sub.add_parser("db", help="database schema (Alembic migrations)")
    db.add_argument(
        "action",
        choices=["upgrade", "current"],
        help="upgrade to the newest schema, or show the current revision",
    )
    leads = sub.add_parser("leads", help="the latest leads, one line each")
    leads.add_argument("-n", type=int, default=20, help="how many (default 20)")
    stats = sub.add_parser("stats", help="the funnel from first message to claimed lead")
    _period_arguments(stats)
    stats.add_argument("--png", type=Path, default=None, help="also write a chart to this file")
    unanswered = sub.add_parser("unanswered", help="questions the knowledge base could not answer")
    _period_arguments(unanswered)
    export = sub.add_parser("export", help="export the leads as CSV or XLSX (safe for Excel)")
    export.add_argument("--format", choices=["csv", "xlsx"], default="xlsx")
    _period_arguments(export)
    export.add_argument("--out", type=Path, required=True, help="the file to write")
    export.add_argument(
        "--delimiter", choices=[";", ","], default=";", help="CSV separator (';' for Dutch Excel)"
    )
    lead = sub.add_parser("lead", help="one lead in full, with its delivery history")
    lead.add_argument("ref", help="the lead reference, e.g. L-2026-000123")
    erase = sub.add_parser("erase", help="erase everything about the person behind a lead")
    erase.add_argument("ref", help="the lead reference, e.g. L-2026-000123")
    outbox = sub.add_parser("outbox", help="deliveries that wait or died; put them back")
    outbox.add_argument("action", choices=["list", "retry"], help="show them, or make them due")
    outbox.add_argument("ref", nargs="?", default=None, help="only this lead reference")
    outbox.add_argument("--dead", action="store_true", help="include dead letters")
    sub.add_parser("webhook", help="run the Telegram bot behind a webhook")
    sub.add_parser(
        "doctor", help="check settings, database, content and contacts (changes nothing)"
    )
    dashboard = sub.add_parser(
        "dashboard", help="serve the staff dashboard, or print a one-time login link"
    )
    dashboard.add_argument("action", nargs="?", choices=["serve", "link"], default="serve")
    dashboard.add_argument(
        "telegram_id", nargs="?", type=int, default=None, help="for `link`: whose link"
    )
    sub.add_parser(
        "health",
        help="is the running bot healthy? (webhook: its /healthz; polling: its heartbeat)",
    )
    ask = sub.add_parser("ask", help="ask the knowledge base a question")
    ask.add_argument("question", nargs="*", help="the question")
    ask.add_argument("--lang", choices=["nl", "en"], default=None)
    ask.add_argument("--json", action="store_true", help='print {"q", "id", "score", ...}')
    ask.add_argument("--jsonl", action="store_true", help='read {"q", "lang"} lines from stdin')
    content = sub.add_parser("content", help="content tools")
    content_sub = content.add_subparsers(dest="content_command", required=True)
    check = content_sub.add_parser("check", help="validate flows/ and knowledge/")
    check.add_argument("--dir", type=Path, default=None, help="content folder to check")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mkbroute`` console script."""
    args = _parser().parse_args(argv)
    # Everything this process creates (the database, its -wal and -shm files, exports) is for
    # its own user only; set once here rather than as a side effect of opening a database.
    os.umask(os.umask(0o077) | 0o077)
    configure("WARNING")
    settings = _settings()
    # Warnings of the other commands (a failed delivery in chat) follow the chosen format too.
    configure("WARNING", _secrets(settings), settings.log_format)
    try:
        return _run(args, settings)
    except StartupError as exc:
        raise SystemExit(str(exc)) from None
    except BrokenPipeError:
        # The reader went away (`mkbroute ask ... | head`): nothing is wrong with the
        # database. Point stdout at /dev/null so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (OSError, SQLAlchemyError) as exc:
        # A data folder that is a file, read-only or on a full disk; a database that cannot
        # be opened: say where and why, never a traceback (and never the driver's SQL).
        where = make_url(settings.db_url).render_as_string(hide_password=True)
        filename = getattr(exc, "filename", None)
        if isinstance(exc, OSError) and filename and str(filename) not in where:
            raise SystemExit(f"Cannot use {filename}: {exc.strerror or exc}.") from None
        orig = getattr(exc, "orig", None) or exc
        reason = getattr(orig, "strerror", None) or str(orig).splitlines()[0][:200]
        raise SystemExit(
            f"Cannot open or write the database ({where}): {reason}. Check MKBROUTE_DATA_DIR "
            "or MKBROUTE_DATABASE_URL: the folder must exist (or be creatable) and be writable "
            "for this user, with free disk space; `mkbroute doctor` checks it."
        ) from None


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "chat":
        try:
            asyncio.run(_chat(settings, args.jsonl, args.user, args.lang))
        except KeyboardInterrupt:
            return 130
        return 0
    if args.command in ("run", "webhook"):
        from bot.adapters import telegram

        configure(settings.log_level, _secrets(settings), settings.log_format)
        # A stop request during start-up (before PTB or our server take over the signal) is a
        # clean exit too, not death by signal.
        signal.signal(signal.SIGTERM, _stop_requested)
        content = load(settings)
        try:
            with _single_instance(settings):
                if args.command == "run":
                    telegram.run_polling(settings, content)
                else:
                    telegram.run_webhook(settings, content)
        except AlreadyRunning:
            raise SystemExit(
                "Another mkbroute bot is already polling with this database. Stop it first, "
                "or run several workers with `mkbroute webhook` (PostgreSQL only)."
            ) from None
        return 0
    if args.command == "ask":
        return _ask(settings, args)
    if args.command in ("stats", "unanswered"):
        return asyncio.run(_stats(settings, args))
    if args.command == "export":
        return asyncio.run(_export(settings, args))
    if args.command in ("leads", "lead"):
        return asyncio.run(_leads(settings, args))
    if args.command == "db":
        return asyncio.run(_db(settings, args.action))
    if args.command == "purge":
        return asyncio.run(_purge(settings))
    if args.command == "erase":
        return asyncio.run(_erase(settings, args.ref))
    if args.command == "outbox":
        return asyncio.run(_outbox(settings, args))
    if args.command == "dispatch":
        configure(settings.log_level, _secrets(settings), settings.log_format)
        asyncio.run(_dispatch(settings))
        return 0
    if args.command == "content":
        return _content_check(settings, args.dir)
    if args.command == "doctor":
        return _doctor(settings)
    if args.command == "health":
        return _health(settings)
    if args.command == "dashboard":
        configure(settings.log_level, _secrets(settings), settings.log_format)
        return asyncio.run(_dashboard(settings, args))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
