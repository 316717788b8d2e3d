"""Message path benchmark: what one message costs, end to end, against PTB's own floor.

Run from the repository root:

    python -m benchmarks.message_path            # full run (a few minutes)
    python -m benchmarks.message_path --quick    # smaller batches (under a minute)
    python -m benchmarks.message_path --only per-message,startup

Parts (``--only`` picks some):

per-message   a Telegram update dict -> ``Update.de_json`` -> ``Application.process_update`` ->
              our handlers -> engine -> one committed transaction on a SQLite file -> the reply
              through a stubbed network (``CannedRequest``: canned Bot API answers, no sockets).
              The floor is PTB itself in the same process with the same stub: an Application
              with a no-op MessageHandler, and one whose handler only does
              ``update.message.reply_text("ok")``. Reported as µs/message (median of repeats,
              after a warm-up) and as ratios. If the 10x target is missed, a cProfile of the full
              path follows, grouped by where the time goes.
throughput    1,000 simulated employers complete the questionnaire concurrently through
              ``Runtime.handle`` on SQLite and on a throwaway PostgreSQL (tests/support/pg.py).
memory        RSS of a fresh process that drove 10,000 users one message each through the
              Telegram path (sessions in the DB; flood buckets and PTB's state in memory).
startup       process start to ``mkbroute chat --jsonl`` answering its first line, and
              import + content load on its own.
knowledge     matcher latency at 50/500/5,000 entries (benchmarks/knowledge.py's functions).

Only ratios measured in the same run mean anything; absolute numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from pydantic import SecretStr
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
)
from telegram.ext import MessageHandler as PTBMessageHandler
from telegram.ext import filters as ptb_filters
from telegram.request import RequestData

from bot.adapters.telegram import BotData, build_application
from bot.content.bundle import Content
from bot.content.loader import load_content
from bot.runtime import Runtime
from bot.settings import Settings
from tests.support.botapi import LocalRequest

ROOT = Path(__file__).resolve().parent.parent
BOT_ID = 777000222
TOKEN = f"{BOT_ID}:BENCH-TOKEN-abcdefghijklmnopqrstuvwxyz0123"
TARGET_RATIO = 10.0  # issue 9: the full path costs at most 10x PTB's no-op handler
TARGET_RSS_MIB = 128.0
TARGET_IMPORT_LOAD_S = 1.0

App: TypeAlias = "Application[Any, Any, Any, Any, Any, Any]"


# --------------------------------------------------------------------------- stubbed network

_ME = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Mkb-route",
    "username": "mkbroute_bench_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
_SENT = {
    "message_id": 1,
    "date": 1_700_000_000,
    "chat": {"id": 1, "type": "private", "first_name": "User"},
    "from": _ME,
    "text": "ok",
}


def _body(result: object) -> bytes:
    return json.dumps({"ok": True, "result": result}).encode()


_CANNED = {
    "getMe": _body(_ME),
    "sendMessage": _body(_SENT),
    "editMessageText": _body(_SENT),
    "sendDocument": _body(_SENT),
}
_TRUE = _body(True)


class CannedRequest(LocalRequest):
    """PTB's HTTP layer replaced by canned Bot API answers: no sockets, no emulator state.

    It still encodes the parameters the way a real request does (``json_parameters``), and PTB
    still parses every answer into its objects, so the stub costs what the JSON work of a real
    request costs, without the network. The last message sent to each chat is kept, so that a
    benchmark can press a button on it.
    """

    def __init__(self, *, keep_last: bool = True) -> None:
        self.calls: Counter[str] = Counter()
        self.last: dict[int, dict[str, Any]] = {}
        self.keep_last = keep_last  # off where memory is measured: it is the harness's memory

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        api = url.rpartition("/")[2]
        self.calls[api] += 1
        if request_data is not None:
            request_data.json_parameters  # noqa: B018 - the encoding a real request pays for
            if api == "sendMessage" and self.keep_last:
                params = request_data.parameters
                self.last[int(params["chat_id"])] = params  # type: ignore[arg-type]
        return 200, _CANNED.get(api, _TRUE)


# --------------------------------------------------------------------------- updates


class Updates:
    """Telegram update dicts as the Bot API delivers them (private chats only)."""

    def __init__(self) -> None:
        self._ids = iter(range(1, 1 << 62))
        self._callbacks = iter(range(1, 1 << 62))

    def next_id(self) -> int:
        return next(self._ids)

    @staticmethod
    def _user(uid: int) -> dict[str, Any]:
        return {"id": uid, "is_bot": False, "first_name": f"U{uid}", "language_code": "nl"}

    def text(self, uid: int, text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": 100 + uid % 1000,
            "date": 1_700_000_000,
            "chat": {"id": uid, "type": "private", "first_name": f"U{uid}"},
            "from": self._user(uid),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        return {"update_id": self.next_id(), "message": message}

    def press(self, uid: int, data: str, shown: dict[str, Any] | None) -> dict[str, Any]:
        """A press on ``data``; ``shown`` is the bot's last sendMessage to this chat."""
        message: dict[str, Any] = {
            "message_id": 2,
            "date": 1_700_000_000,
            "chat": {"id": uid, "type": "private", "first_name": f"U{uid}"},
            "from": _ME,
            "text": str(shown.get("text", "?")) if shown else "?",
        }
        if shown and shown.get("reply_markup"):
            message["reply_markup"] = shown["reply_markup"]
        return {
            "update_id": self.next_id(),
            "callback_query": {
                "id": str(next(self._callbacks)),
                "from": self._user(uid),
                "message": message,
                "chat_instance": f"ci{uid}",
                "data": data,
            },
        }


# --------------------------------------------------------------------------- applications


def bench_settings(data_dir: Path, **kw: Any) -> Settings:
    return Settings(
        telegram_token=SecretStr(TOKEN),
        data_dir=data_dir,
        database_url=None,
        contacts_file=None,
        **kw,
    )


def pass_through_limiter(app: App) -> None:
    """Keep PTB's AIORateLimiter in the path, with its limits off.

    ``build_application`` installs an ``AIORateLimiter`` at one request per 1/28 s for the whole
    bot, which is Telegram's own limit. A benchmark sending replies back to back would only measure
    that limiter's sleep, so its limits are set to 0 ("no limit" in PTB): every request still
    goes through the limiter's code, none waits.
    """
    app.bot._rate_limiter = AIORateLimiter(overall_max_rate=0, group_max_rate=0)
    # The adapter's own per-chat pacing (Telegram allows short bursts to one chat, then about
    # one message a second) would likewise only measure its sleep when one benchmark chat gets
    # hundreds of replies in a row.
    if isinstance(app.bot_data, BotData):
        app.bot_data.sender.burst = 1_000_000


@contextlib.asynccontextmanager
async def full_app(
    settings: Settings, content: Content, *, keep_last: bool = True
) -> AsyncIterator[tuple[App, CannedRequest]]:
    """The assistant's real Application (build_application) on a CannedRequest."""
    request = CannedRequest(keep_last=keep_last)
    app = build_application(settings, content, request)
    pass_through_limiter(app)
    async with app:
        assert app.post_init is not None and app.post_shutdown is not None
        await app.post_init(app)
        try:
            yield app, request
        finally:
            await app.post_shutdown(app)


async def _noop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    return None


async def _bare_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    await update.message.reply_text("ok")


SHOWN = {  # a question with its keyboard, as the floor's button updates carry it
    "text": "Hoeveel medewerkers heeft je bedrijf?",
    "reply_markup": {
        "inline_keyboard": [
            [{"text": "1-9", "callback_data": "a"}, {"text": "10-49", "callback_data": "b"}],
            [{"text": "50-249", "callback_data": "c"}, {"text": "250+", "callback_data": "d"}],
        ]
    },
}


async def _bare_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """What the adapter does with a button press, minus the adapter and the runtime: answer
    the callback, retire the pressed keyboard, send the next question with its keyboard."""
    query = update.callback_query
    assert query is not None and isinstance(query.message, Message)
    await query.answer()
    await query.edit_message_text(f"{query.message.text}\n\n✔️ 10-49", reply_markup=None)
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Ja", callback_data="y"),
                InlineKeyboardButton("Nee", callback_data="n"),
            ],
            [InlineKeyboardButton("Weet ik nog niet", callback_data="w")],
        ]
    )
    await context.bot.send_message(query.message.chat.id, "Volgende vraag?", reply_markup=markup)


@contextlib.asynccontextmanager
async def floor_app(
    callback: Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]],
    *,
    limiter: bool = False,
) -> AsyncIterator[tuple[App, CannedRequest]]:
    """PTB's floor: one handler for every message (or button), the same stubbed network."""
    request = CannedRequest()
    app = ApplicationBuilder().token(TOKEN).request(request).get_updates_request(request).build()
    if limiter:  # the same limiter as the full path, with the same pass-through settings
        pass_through_limiter(app)
    if callback is _bare_button:
        app.add_handler(CallbackQueryHandler(callback))
    else:
        app.add_handler(PTBMessageHandler(ptb_filters.ALL, callback))
    async with app:
        yield app, request


def data_of(app: App) -> BotData:
    data = app.bot_data
    assert isinstance(data, BotData)
    return data


def conversation_of(app: App) -> Runtime:
    running = data_of(app).app
    assert running is not None, "post_init opens the App"
    return running.conversation


# --------------------------------------------------------------------------- per message


def avans() -> list[str]:
    """The employer questionnaire's buttons up to the consent (tests/conftest.py's AVANS).

    Imported late: tests/conftest.py pulls in pytest and the test servers, which the memory
    child must not carry.
    """
    from tests.support.answers import AVANS

    return list(AVANS)


async def process(app: App, raw: dict[str, Any]) -> float:
    """One update through PTB's parsing and dispatch; seconds."""
    start = time.perf_counter()
    await app.process_update(Update.de_json(raw, app.bot))
    return time.perf_counter() - start


def questions(n: int) -> list[str]:
    """Free-text questions users ask: ``n`` in-scope questions spread over a validation set of
    the knowledge benchmark (questions the matcher never learned from)."""
    from benchmarks.knowledge import load_items

    pool = [item.q for item in load_items("knowledge_dev7.yaml") if item.id]
    return pool[:: max(1, len(pool) // n)][:n]


@dataclass
class Scenario:
    """µs per message of each repeat, and the Bot API calls per message."""

    samples: list[float] = field(default_factory=list)  # mean µs/message of each repeat
    p50s: list[float] = field(default_factory=list)  # median µs/message of each repeat
    calls: float = 0.0

    def add(self, seconds: Sequence[float], calls: int) -> None:
        self.samples.append(1e6 * sum(seconds) / len(seconds))
        self.p50s.append(1e6 * statistics.median(seconds))
        self.calls = calls / len(seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


class FullPath:
    """Drives the assistant's Application: new users, their buttons and questions."""

    def __init__(self, app: App, request: CannedRequest, updates: Updates) -> None:
        self.app = app
        self.request = request
        self.updates = updates
        self.runtime: Runtime | None = conversation_of(app)
        self.next_user = 10_000

    def new_users(self, n: int) -> list[int]:
        users = list(range(self.next_user, self.next_user + n))
        self.next_user += n
        return users

    def api_calls(self) -> int:
        return sum(self.request.calls.values())

    async def say(self, uid: int, text: str) -> float:
        return await process(self.app, self.updates.text(uid, text))

    async def press(self, uid: int, data: str) -> float:
        return await process(self.app, self.updates.press(uid, data, self.request.last.get(uid)))

    async def buttons(self, users: Sequence[int], steps: Sequence[str]) -> tuple[list[float], int]:
        """Users at the start of the employer questionnaire answer it, taking turns."""
        for uid in users:
            await self.say(uid, "/start")
            await self.press(uid, "menu:werkgever")
        before = self.api_calls()
        out = [await self.press(uid, step) for step in steps for uid in users]
        return out, self.api_calls() - before

    async def questions(
        self, users: Sequence[int], asked: Sequence[str], per_user: int
    ) -> tuple[list[float], int, list[dict[str, Any]]]:
        """Users in the menu type questions; also returns the updates, for the duplicates."""
        for uid in users:
            await self.say(uid, "/start")
        before = self.api_calls()
        out, sent = [], []
        for i in range(per_user):
            for n, uid in enumerate(users):
                raw = self.updates.text(uid, asked[(i * len(users) + n) % len(asked)])
                sent.append(json.loads(json.dumps(raw)))
                out.append(await process(self.app, raw))
        return out, self.api_calls() - before, sent

    async def duplicates(self, sent: Sequence[dict[str, Any]]) -> list[float]:
        """The same updates again (a redelivery): each is dropped, nothing is sent."""
        before = self.api_calls()
        out = [await process(self.app, json.loads(json.dumps(raw))) for raw in sent]
        assert self.api_calls() == before, "a duplicate update was answered"
        return out

    async def adapter_only(
        self, users: Sequence[int], steps: Sequence[str]
    ) -> tuple[list[float], int]:
        """The same button presses through PTB and the adapter, with Runtime.handle answered
        from memory (one real button step's result): PTB plus the adapter, no database."""
        assert self.runtime is not None
        await self.say(users[0], "/start")
        await self.press(users[0], "menu:werkgever")
        await self.press(users[0], steps[0])
        shown = self.request.last[users[0]]
        from bot.engine.types import Inbound

        result = await self.runtime.handle(
            f"tg:{users[0]}", Inbound.button(steps[1], "nl"), channel="telegram"
        )

        async def from_memory(*_args: Any, **_kw: Any) -> Any:
            return result

        setattr(self.runtime, "handle", from_memory)  # noqa: B010 - an instance override
        before = self.api_calls()
        try:
            out = [
                await process(self.app, self.updates.press(uid, steps[1], shown))
                for _ in steps
                for uid in users
            ]
            return out, self.api_calls() - before
        finally:
            del self.runtime.handle  # the class's method again

    async def runtime_only(self, users: Sequence[int], steps: Sequence[str]) -> list[float]:
        """The same button steps straight into Runtime.handle: the database transaction and
        the engine, without PTB, the adapter or the replies."""
        from bot.engine.types import Inbound

        assert self.runtime is not None
        rt = self.runtime

        async def handle(uid: int, data: str) -> float:
            inbound = Inbound.button(data, "nl")
            start = time.perf_counter()
            result = await rt.handle(
                f"tg:{uid}", inbound, channel="telegram", inbound_id=f"rt{self.updates.next_id()}"
            )
            assert not result.failed
            return time.perf_counter() - start

        for uid in users:
            await handle(uid, "/start")
            await handle(uid, "menu:werkgever")
        return [await handle(uid, step) for step in steps for uid in users]


def engine_only(
    content: Content, steps: Sequence[str], users: int, asked: Sequence[str] = ()
) -> list[float]:
    """The pure engine on the same messages, with the session's JSON round trip the runtime
    does: the questionnaire's button steps, or (``asked``) questions typed in the menu."""
    from bot.clock import utcnow
    from bot.engine.engine import handle
    from bot.engine.types import ConversationState, Inbound

    now = utcnow()
    start = handle(content, None, Inbound.from_text("/start"), now, "nl").session
    menu = handle(content, start, Inbound.button("menu:werkgever"), now, "nl").session
    out = []
    for n in range(users):
        data = (start if asked else menu).to_json()
        inbounds = (
            [Inbound.from_text(asked[(n + i) % len(asked)], "nl") for i in range(len(steps))]
            if asked
            else [Inbound.button(step, "nl") for step in steps]
        )
        for inbound in inbounds:
            begin = time.perf_counter()
            turn = handle(content, ConversationState.from_json(data), inbound, now, "nl")
            data = turn.session.to_json()
            out.append(time.perf_counter() - begin)
    return out


STATEMENTS = (  # what the runtime sends for a button step (see the SQL echo), as plain SQL
    "INSERT INTO processed_inbound (channel, inbound_id, processed_at) VALUES (?, ?, ?)",
    "SELECT user_key, data, created_at, updated_at FROM sessions WHERE user_key = ?",
    "UPDATE sessions SET data = ?, updated_at = ? WHERE user_key = ?",
)
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON")


async def storage_floor(folder: Path, users: int, steps: int) -> tuple[list[float], list[float]]:
    """The button step's statements and commit without the ORM, on a database of their own
    with the same schema and pragmas: sqlite3 in the loop's thread, and aiosqlite.

    These are not alternatives on offer; they show what SQLite itself costs, and what each
    layer on top adds.
    """
    import sqlite3

    import aiosqlite

    from bot.store.db import create_engine, upgrade_schema

    path = folder / f"floor-{time.monotonic_ns()}.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade_schema(engine)
    await engine.dispose()
    stamp = "2026-11-29 10:00:00.000000"
    data = json.dumps({"lang": "nl", "mode": "flow", "answers": {"a": "b"}, "pad": "x" * 400})
    keys = [f"floor:{n}" for n in range(users)]
    ids = iter(range(1 << 62))
    sync = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        sync.execute(pragma)
    sync.executemany(
        "INSERT INTO sessions VALUES (?, ?, ?, ?)", [(k, data, stamp, stamp) for k in keys]
    )
    plain = []
    for _ in range(steps):
        for key in keys:
            begin = time.perf_counter()
            sync.execute("BEGIN")
            sync.execute(STATEMENTS[0], ("telegram", str(next(ids)), stamp))
            row = sync.execute(STATEMENTS[1], (key,)).fetchone()
            sync.execute(STATEMENTS[2], (row[1], stamp, key))
            sync.execute("COMMIT")
            plain.append(time.perf_counter() - begin)
    sync.close()
    hopped = []
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        for _ in range(steps):
            for key in keys:
                begin = time.perf_counter()
                await conn.execute("BEGIN")
                await conn.execute(STATEMENTS[0], ("telegram", str(next(ids)), stamp))
                async with conn.execute(STATEMENTS[1], (key,)) as cursor:
                    found = await cursor.fetchone()
                assert found is not None
                await conn.execute(STATEMENTS[2], (found[1], stamp, key))
                await conn.execute("COMMIT")
                hopped.append(time.perf_counter() - begin)
    return plain, hopped


async def floor(
    app: App, request: CannedRequest, updates: Updates, uids: Iterator[int], n: int
) -> tuple[list[float], int]:
    before = sum(request.calls.values())
    out = [await process(app, updates.text(next(uids), "hallo")) for _ in range(n)]
    return out, sum(request.calls.values()) - before


async def floor_buttons(
    app: App, request: CannedRequest, updates: Updates, uids: Iterator[int], n: int
) -> tuple[list[float], int]:
    before = sum(request.calls.values())
    out = [await process(app, updates.press(next(uids), "b", SHOWN)) for _ in range(n)]
    return out, sum(request.calls.values()) - before


NOOP = "PTB no-op handler"
BARE = "PTB bare reply_text"
BARE_LIMITER = "PTB bare reply_text, pass-through limiter"
BARE_BUTTON = "PTB bare button: answer + edit + reply"
BUTTON = "full: questionnaire button"
QUESTION = "full: knowledge question"
DUPLICATE = "full: duplicate update"
ADAPTER = "  PTB + adapter, no database (button)"
RUNTIME = "  Runtime.handle only (button)"
ENGINE = "  engine + session JSON only (button)"
ENGINE_Q = "  engine + session JSON only (question)"
SQLITE = "  same SQL, sqlite3 in the loop thread"
AIOSQLITE = "  same SQL, aiosqlite without SQLAlchemy"


async def per_message(
    content: Content, quick: bool, profile_to: Path | None
) -> dict[str, Scenario]:
    repeats = 3 if quick else 11
    users = 30 if quick else 100  # new users per repeat and scenario
    per_user = 3 if quick else 6  # questions each user asks
    steps = avans()[1:7]  # the six questionnaire questions (number of staff ... province)
    asked = questions(60)
    updates = Updates()
    result: dict[str, Scenario] = {}

    def add(name: str, seconds: Sequence[float], calls: int, repeat: int) -> None:
        if repeat:  # the first round is the warm-up
            result.setdefault(name, Scenario()).add(seconds, calls)

    with tempfile.TemporaryDirectory(prefix="mkbroute-bench-") as tmp:
        # Many users, few messages each: the flood guard must not cut the benchmark short, but
        # it still runs for every update (burst and rate at their maximum allowed values).
        config = bench_settings(Path(tmp), flood_burst=1000, flood_per_minute=6000)
        async with (
            full_app(config, content) as (app, request),
            floor_app(_noop) as (noop, noop_req),
            floor_app(_bare_reply) as (bare, bare_req),
            floor_app(_bare_reply, limiter=True) as (bare_lim, bare_lim_req),
            floor_app(_bare_button, limiter=True) as (bare_btn, bare_btn_req),
        ):
            full = FullPath(app, request, updates)
            uids = iter(range(1_000_000, 1 << 40))
            n = users * len(steps)
            for repeat in range(repeats + 1):
                # Interleaved, so that a slow moment of the machine hits every scenario alike.
                for name, fapp, freq in (
                    (NOOP, noop, noop_req),
                    (BARE, bare, bare_req),
                    (BARE_LIMITER, bare_lim, bare_lim_req),
                ):
                    gc.collect()
                    add(name, *await floor(fapp, freq, updates, uids, n), repeat)
                gc.collect()
                add(
                    BARE_BUTTON,
                    *await floor_buttons(bare_btn, bare_btn_req, updates, uids, n),
                    repeat,
                )
                gc.collect()
                add(BUTTON, *await full.buttons(full.new_users(users), steps), repeat)
                gc.collect()
                seconds, calls, sent = await full.questions(full.new_users(users), asked, per_user)
                add(QUESTION, seconds, calls, repeat)
                gc.collect()
                add(DUPLICATE, await full.duplicates(sent), 0, repeat)
                gc.collect()
                add(ADAPTER, *await full.adapter_only(full.new_users(users), steps), repeat)
                gc.collect()
                add(RUNTIME, await full.runtime_only(full.new_users(users), steps), 0, repeat)
                add(ENGINE, engine_only(content, steps, users), 0, repeat)
                add(ENGINE_Q, engine_only(content, steps, users, asked), 0, repeat)
                plain, hopped = await storage_floor(Path(tmp), users, len(steps))
                add(SQLITE, plain, 0, repeat)
                add(AIOSQLITE, hopped, 0, repeat)
            if profile_to is not None:
                await profile(full, steps, asked, profile_to, 30 if quick else 100)
    return result


# --------------------------------------------------------------------------- profile

AREAS = [  # (substring of the profiled file or function, area), first match wins
    ("select.epoll", "idle: waiting on the aiosqlite worker thread (epoll)"),
    ("/aiosqlite/", "aiosqlite, main-thread side (futures, queue)"),
    ("/sqlalchemy/", "SQLAlchemy (ORM unit of work, Core, pool)"),
    ("/telegram/", "python-telegram-bot (parsing, dispatch, Bot API calls)"),
    ("/asyncio/", "asyncio event loop"),
    ("/bot/engine/", "our engine (pure)"),
    ("/bot/", "our runtime and adapter"),
    ("/benchmarks/", "benchmark harness (update dicts, stub)"),
    ("/json/", "json"),
    ("/logging/", "logging"),
    ("/pydantic", "pydantic"),
    ("/rapidfuzz/", "rapidfuzz"),
]


def area(key: tuple[str, int, str]) -> str:
    filename, _, name = key
    where = filename if filename != "~" else name
    for needle, label in AREAS:
        if needle in where:
            return label
    if filename == "~":
        return "other C builtins"
    return "other Python (" + Path(filename).name + ")"


def by_area(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time (tottime) summed per area, largest first, as fractions of the total."""
    table: dict[str, float] = {}
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    for key, (_, _, tottime, _, _) in raw.items():
        table[area(key)] = table.get(area(key), 0.0) + tottime
    total = sum(table.values()) or 1.0
    return sorted(((name, t / total) for name, t in table.items()), key=lambda x: -x[1])


async def profile(
    full: FullPath, steps: Sequence[str], asked: Sequence[str], out: Path, users_n: int
) -> None:
    """cProfile of the full path over a fresh batch: button steps, then questions."""
    users = full.new_users(users_n)
    for uid in users:  # the set-up messages are not profiled
        await full.say(uid, "/start")
        await full.press(uid, "menu:werkgever")
    profiler = cProfile.Profile()
    profiler.enable()
    for step in steps:
        for uid in users:
            await full.press(uid, step)
    for q in asked[:3]:
        for uid in users:
            await full.say(uid, q)
    profiler.disable()
    profiler.dump_stats(out)


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    short = filename.split("site-packages/")[-1].split("/lib/python3")[-1]
    short = short.replace(str(ROOT) + "/", "")
    return f"{short}:{line}({name})"


def profile_report(path: Path, top: int) -> list[str]:
    """Where the time goes: own time per area, then the top functions by own and total time.

    The profile sees the event loop's thread only: time the aiosqlite worker thread spends in
    SQLite shows up as the loop waiting in ``epoll``.
    """
    stats = pstats.Stats(str(path))
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0
    lines = ["own time per area (cProfile, event-loop thread):"]
    lines += [f"  {share:6.1%}  {name}" for name, share in by_area(stats) if share >= 0.005]
    lines.append(f"top {top} functions by own time (share of the profiled time, own / total):")
    for key, v in sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]:
        lines.append(f"  {v[2] / total:6.1%} / {v[3] / total:6.1%}  {_where(key)}")
    lines.append(f"top {top} functions by total time (including callees):")
    for key, v in sorted(raw.items(), key=lambda kv: kv[1][3], reverse=True)[:top]:
        lines.append(f"  {v[2] / total:6.1%} / {v[3] / total:6.1%}  {_where(key)}")
    return lines


# --------------------------------------------------------------------------- throughput

NAMES = ["Anna", "Bram", "Cor", "Daan", "Eva", "Fleur", "Gijs", "Hanna", "Ilse", "Joost"]


def employer_script(n: int) -> list[tuple[str, str]]:
    """One employer from /start to a confirmed lead (tests/test_postgres.py's employer_script)."""
    return [
        ("text", "/start"),
        *(("button", b) for b in avans()),
        ("text", f"{NAMES[n % len(NAMES)]} Jansen"),
        ("text", f"Bedrijf {n} B.V."),
        ("button", "c:kanaal:telefoon"),
        ("text", f"06 1234 {5000 + n % 1000:04d}"),
        ("button", "confirm"),
    ]


@dataclass
class Throughput:
    backend: str
    users: int
    concurrency: int
    messages: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    retried: int  # messages that got the friendly "try again" and were sent again
    leads: int
    complete: int  # sessions that ended with a lead reference
    outbox: int

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def lost(self) -> int:
        return self.users - min(self.leads, self.complete)


async def throughput(
    content: Content, backend: str, url: str, users: int, concurrency: int
) -> Throughput:
    """``users`` employers complete the questionnaire, ``concurrency`` of them at a time."""
    from sqlalchemy import func, select

    from bot.engine.types import ConversationState, Inbound
    from bot.handoff.contacts import Contact
    from bot.store.db import create_engine, make_sessionmaker, upgrade_schema
    from bot.store.models import LeadRow, OutboxRow, SessionRow

    engine = create_engine(url)
    await upgrade_schema(engine)
    # A contact for the fallback pilot: every lead also writes its outbox row, as in production.
    team = (Contact(name="Programmateam", email="team@example.org"),)
    runtime = Runtime(
        content, make_sessionmaker(engine), contacts={content.fallback_pilot.id: team}
    )
    latencies: list[float] = []
    retried = 0
    gate = asyncio.Semaphore(concurrency)

    async def employer(n: int) -> None:
        nonlocal retried
        async with gate:
            for i, (kind, value) in enumerate(employer_script(n)):
                inbound = Inbound.button(value) if kind == "button" else Inbound.from_text(value)
                for _ in range(5):  # a real user, told to try again, tries again
                    start = time.perf_counter()
                    result = await runtime.handle(
                        f"tg:{n}", inbound, channel="telegram", inbound_id=f"{n}:{i}"
                    )
                    latencies.append(time.perf_counter() - start)
                    if not result.failed:
                        break
                    retried += 1

    begin = time.perf_counter()
    await asyncio.gather(*(employer(n) for n in range(users)))
    seconds = time.perf_counter() - begin
    async with runtime.sessionmaker() as db:
        leads = int(await db.scalar(select(func.count()).select_from(LeadRow)) or 0)
        outbox = int(await db.scalar(select(func.count()).select_from(OutboxRow)) or 0)
        rows = (await db.scalars(select(SessionRow))).all()
    complete = sum(1 for row in rows if ConversationState.from_json(row.data).lead_ref)
    await engine.dispose()
    latencies.sort()
    return Throughput(
        backend,
        users,
        concurrency,
        len(latencies),
        seconds,
        1000 * latencies[len(latencies) // 2],
        1000 * latencies[int(0.99 * (len(latencies) - 1))],
        1000 * latencies[-1],
        retried,
        leads,
        complete,
        outbox,
    )


def run_throughput(content: Content, users: int, levels: Sequence[int]) -> list[Throughput | str]:
    out: list[Throughput | str] = []
    with tempfile.TemporaryDirectory(prefix="mkbroute-bench-") as tmp:
        for c in levels:
            url = f"sqlite+aiosqlite:///{Path(tmp) / f'throughput-{c}.db'}"
            out.append(asyncio.run(throughput(content, "SQLite", url, users, c)))
    from tests.support.pg import PgCluster, find_bindir, new_pg_database

    bindir = find_bindir()
    if bindir is None:
        out.append("PostgreSQL skipped: no initdb/pg_ctl found (apt-get install postgresql)")
        return out
    cluster = PgCluster(bindir)
    try:
        cluster.start()
        for c in levels:
            url = new_pg_database(cluster)
            out.append(asyncio.run(throughput(content, "PostgreSQL", url, users, c)))
    finally:
        cluster.destroy()
    return out


# --------------------------------------------------------------------------- memory


def rss_mib() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MiB: now, and the peak so far."""
    fields: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


async def memory_child(users: int) -> dict[str, Any]:
    """In a fresh process: ``users`` new users, one /start each, through the Telegram path."""
    from sqlalchemy import func, select

    from bot.store.models import SessionRow

    out: dict[str, Any] = {"users": users, "rss_imported": rss_mib()[0]}
    content = load_content(ROOT)
    out["rss_content"] = rss_mib()[0]
    with tempfile.TemporaryDirectory(prefix="mkbroute-bench-") as tmp:
        # Production flood settings: one message per user never reaches them.
        async with full_app(bench_settings(Path(tmp)), content, keep_last=False) as (app, _):
            updates = Updates()
            for uid in range(1, 101):  # warm-up: pool connections, caches, compiled statements
                await process(app, updates.text(uid, "/start"))
            gc.collect()
            out["rss_ready"] = rss_mib()[0]
            begin = time.perf_counter()
            for uid in range(1_000, 1_000 + users):
                await process(app, updates.text(uid, "/start"))
            out["seconds"] = time.perf_counter() - begin
            gc.collect()
            out["rss_after"], out["rss_peak"] = rss_mib()
            conversation = conversation_of(app)
            async with conversation.sessionmaker() as db:
                out["sessions_in_db"] = await db.scalar(
                    select(func.count()).select_from(SessionRow)
                )
            out["flood_buckets"] = len(data_of(app).flood._buckets)
            out["user_locks"] = len(conversation._locks)
            out["ptb_user_data"] = len(app.user_data)
            out["ptb_chat_data"] = len(app.chat_data)
    return out


def run_memory(users: int) -> dict[str, Any]:
    """The memory scenario in a process of its own, so nothing of the other parts is counted."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.message_path", "--memory-child", str(users)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- start-up

IMPORT_AND_LOAD = """
import json, sys, time
from pathlib import Path
start = time.perf_counter()
import bot.cli
imported = time.perf_counter()
from bot.content.loader import load_content
load_content(Path(sys.argv[1]))
loaded = time.perf_counter()
heavy = [m for m in ("PIL", "openpyxl", "rank_bm25", "sklearn") if m in sys.modules]
print(json.dumps({"import": imported - start, "load": loaded - imported, "heavy": heavy}),
      flush=True)
"""


def clean_env(pycache: Path | None, **extra: str) -> dict[str, str]:
    """No MKBROUTE_ settings of the developer's; with ``pycache``, a bytecode cache of its own
    (as an installed package has: pip compiles it), else no bytecode cache written at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MKBROUTE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env.update(extra)
    return env


def first_answer(env: dict[str, str]) -> float:
    """Seconds from starting ``mkbroute chat --jsonl`` to its answer to one line."""
    mkbroute = Path(sys.executable).with_name("mkbroute")
    command = [str(mkbroute)] if mkbroute.exists() else [sys.executable, "-m", "bot.cli"]
    begin = time.perf_counter()
    with subprocess.Popen(
        [*command, "chat", "--jsonl"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"user": "bench", "text": "wat is de mkb route"}) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - begin
        proc.stdin.close()
        proc.wait(timeout=30)
    assert json.loads(line).get("replies"), line
    return elapsed


def until_output(args: Sequence[str], env: dict[str, str]) -> tuple[float, str]:
    """Seconds from starting a process to its first line of output (its exit not counted)."""
    begin = time.perf_counter()
    with subprocess.Popen(
        list(args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT
    ) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - begin
        proc.wait(timeout=60)
    return elapsed, line


def run_startup(repeats: int, uncached: bool) -> dict[str, Any]:
    """Start-up, with a bytecode cache (an installed package has one: pip compiles it) and,
    optionally, without (this checkout runs with PYTHONDONTWRITEBYTECODE=1)."""
    out: dict[str, Any] = {}
    modes: list[tuple[str, Path | None]] = [("cached", None)]
    with tempfile.TemporaryDirectory(prefix="mkbroute-bench-") as tmp:
        modes = [("cached", Path(tmp) / "pycache"), *([("uncached", None)] if uncached else [])]
        for label, cache in modes:
            env = clean_env(cache, MKBROUTE_DATA_DIR=str(Path(tmp) / "data-warm"))
            probe = [sys.executable, "-c", IMPORT_AND_LOAD, str(ROOT)]
            until_output(probe, env)  # fills the bytecode cache
            bare = [
                until_output([sys.executable, "-c", "print()"], env)[0] for _ in range(repeats)
            ]
            runs = [until_output(probe, env) for _ in range(repeats)]
            parts = [json.loads(line) for _, line in runs]
            first_answer(env)  # creates data-warm's database
            cold = []
            for i in range(repeats):
                fresh = clean_env(cache, MKBROUTE_DATA_DIR=str(Path(tmp) / f"data-{label}-{i}"))
                cold.append(first_answer(fresh))
            warm = [first_answer(env) for _ in range(repeats)]
            out[label] = {
                "python": statistics.median(bare),
                "process": statistics.median(t for t, _ in runs),
                "import": statistics.median(p["import"] for p in parts),
                "load": statistics.median(p["load"] for p in parts),
                "heavy": parts[0]["heavy"],
                "chat_new_db": statistics.median(cold),
                "chat_existing_db": statistics.median(warm),
            }
    return out


# --------------------------------------------------------------------------- knowledge


def run_knowledge(sizes: Sequence[int]) -> list[tuple[int, float, float, float]]:
    """(entries, build seconds, p50 ms, p99 ms) of the matcher, via benchmarks/knowledge.py."""
    from benchmarks import knowledge as kb

    data = kb.real_data()
    asked = [item.q for item in kb.load_items("knowledge_dev7.yaml")]
    out = []
    for size in sizes:
        begin = time.perf_counter()
        index = kb.ours(data, kb.padded(data.examples, size))
        build = time.perf_counter() - begin
        lookup = kb.timed_lookup(index)
        lookup(asked[0])  # warm up
        p50, p99, _ = kb.latency(lookup, asked, repeat=3)
        out.append((size, build, p50, p99))
    return out


# --------------------------------------------------------------------------- report


def machine() -> str:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        model = next(
            (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?"
        )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average at start {load}"
    )


def report_per_message(result: dict[str, Scenario], profile_to: Path | None, top: int) -> bool:
    """Print the table; True when the 10x target is met by every full-path scenario."""
    noop, bare = result[NOOP].median, result[BARE].median
    print("\n## Per message (SQLite file, stubbed network)\n")
    print("µs/msg: mean per message within a repeat, median over the repeats (ratios: x no-op,")
    print("x bare); p50: median single message within a repeat, median over the repeats (ratio:")
    print("x no-op p50, the steadier one on a busy machine).\n")
    noop_p50 = statistics.median(result[NOOP].p50s)
    print(
        f"| {'scenario':42} | {'µs/msg':>7} | {'repeats':>11} | {'p50':>6} | {'API calls':>9} "
        f"| {'x no-op':>7} | {'x bare':>6} | {'x no-op p50':>11} |"
    )
    print(f"|{'-' * 44}|{'-' * 9}|{'-' * 13}|{'-' * 8}|{'-' * 11}|{'-' * 9}|{'-' * 8}|{'-' * 13}|")
    for name, s in result.items():
        spread = f"{min(s.samples):.0f}-{max(s.samples):.0f}"
        p50 = statistics.median(s.p50s)
        print(
            f"| {name:42} | {s.median:7.0f} | {spread:>11} | {p50:6.0f} "
            f"| {s.calls:9.1f} | {s.median / noop:7.1f} | {s.median / bare:6.1f} "
            f"| {p50 / noop_p50:11.1f} |"
        )
    full = [BUTTON, QUESTION, DUPLICATE]
    met = all(result[name].median <= TARGET_RATIO * noop for name in full)
    verdicts = ", ".join(
        f"{name.split(': ')[1]} {result[name].median / noop:.1f}x "
        f"(p50 {statistics.median(result[name].p50s) / noop_p50:.1f}x)"
        for name in full
    )
    print(
        f"\ntarget: full path <= {TARGET_RATIO:.0f}x the no-op handler -> {verdicts}: "
        f"{'MET' if met else 'MISSED'}"
    )
    button, runtime, engine = result[BUTTON].median, result[RUNTIME].median, result[ENGINE].median
    adapter, ptb = result[ADAPTER].median, result[BARE_BUTTON].median
    plain, hopped = result[SQLITE].median, result[AIOSQLITE].median
    print(
        f"\nthe button step in layers (µs/msg, total {button:.0f}):\n"
        f"  PTB alone: parse the press, answer + edit + reply   {ptb:6.0f}\n"
        f"  our adapter on top of that                         {adapter - ptb:6.0f}\n"
        f"  engine + session JSON                              {engine:6.0f}\n"
        f"  SQLite itself (3 statements + commit)              {plain:6.0f}\n"
        f"  aiosqlite's thread hand-offs                       {hopped - plain:6.0f}\n"
        f"  SQLAlchemy async ORM + runtime code                {runtime - engine - hopped:6.0f}\n"
        f"  not attributed (measured apart vs together)        {button - adapter - runtime:6.0f}"
    )
    if not met and profile_to is not None:
        print()
        print("\n".join(profile_report(profile_to, top)))
    return met


def report_throughput(results: Sequence[Throughput | str]) -> None:
    print("\n## Throughput: employers completing the questionnaire through Runtime.handle\n")
    print(
        "| backend | users | concurrency | messages | msg/s | p50 ms | p99 ms | max ms "
        "| retried | leads | complete | outbox | lost |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if isinstance(r, str):
            print(f"\n{r}")
            continue
        print(
            f"| {r.backend} | {r.users} | {r.concurrency} | {r.messages} | {r.per_second:.0f} "
            f"| {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.1f} | {r.retried} | {r.leads} "
            f"| {r.complete} | {r.outbox} | {r.lost} |"
        )


def report_memory(m: dict[str, Any]) -> None:
    print(f"\n## Memory: {m['users']:,} users, one /start each, through the Telegram path\n")
    per_user = 1024 * (m["rss_after"] - m["rss_ready"]) / m["users"]
    print(
        f"RSS after imports {m['rss_imported']:.1f} MiB, content loaded "
        f"{m['rss_content']:.1f} MiB, app ready {m['rss_ready']:.1f} MiB, after the users "
        f"{m['rss_after']:.1f} MiB (peak {m['rss_peak']:.1f} MiB); "
        f"{per_user:.2f} KiB per user"
    )
    verdict = "MET" if m["rss_peak"] <= TARGET_RSS_MIB else "MISSED"
    print(f"target: <= {TARGET_RSS_MIB:.0f} MiB -> {verdict}")
    print(
        f"kept: {m['sessions_in_db']} sessions in the DB; in memory {m['flood_buckets']} flood "
        f"buckets, {m['user_locks']} user locks, PTB user_data {m['ptb_user_data']}, "
        f"chat_data {m['ptb_chat_data']}; {1e6 * m['seconds'] / m['users']:.0f} µs/message"
    )


def report_startup(s: dict[str, Any]) -> None:
    print("\n## Start-up (seconds, median; wall time of a new process)\n")
    print(
        "| bytecode cache | python -c pass | import bot.cli | load content | whole process "
        "| chat --jsonl first answer, new DB | existing DB | heavy modules imported |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, r in s.items():
        print(
            f"| {label} | {r['python']:.2f} | {r['import']:.2f} | {r['load']:.2f} "
            f"| {r['process']:.2f} | {r['chat_new_db']:.2f} | {r['chat_existing_db']:.2f} "
            f"| {', '.join(r['heavy']) or '-'} |"
        )
    cached = s["cached"]
    verdict = "MET" if cached["process"] <= TARGET_IMPORT_LOAD_S else "MISSED"
    print(
        f"\ntarget: import + load content <= {TARGET_IMPORT_LOAD_S:.0f} s (whole process, "
        f"bytecode cached) -> {cached['process']:.2f} s: {verdict}"
    )


def report_knowledge(rows: Sequence[tuple[int, float, float, float]]) -> None:
    print("\n## Knowledge matcher (benchmarks/knowledge.py, held-out questions)\n")
    print("| entries | index build s | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for size, build, p50, p99 in rows:
        print(f"| {size:,} | {build:.2f} | {p50:.3f} | {p99:.3f} |")


PARTS = ("per-message", "throughput", "memory", "startup", "knowledge")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches, under a minute")
    parser.add_argument("--only", default=",".join(PARTS), help=f"some of {','.join(PARTS)}")
    parser.add_argument("--users", type=int, help="throughput: employers (1000; quick 100)")
    parser.add_argument(
        "--concurrency", help="throughput: employers at once, comma-separated (1,50; quick 50)"
    )
    parser.add_argument("--sessions", type=int, help="memory: users (10000; quick 1000)")
    parser.add_argument("--profile", type=Path, help="keep the cProfile output here")
    parser.add_argument("--top", type=int, default=15, help="profile entries to print")
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(asyncio.run(memory_child(args.memory_child))))
        return
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    quick = args.quick
    print(f"# mkbroute message path benchmark{' (--quick)' if quick else ''}\n\n{machine()}")
    began = time.perf_counter()
    content = load_content(ROOT)
    numbers: dict[str, Any] = {"machine": machine(), "quick": quick}
    if "per-message" in parts:
        with tempfile.TemporaryDirectory(prefix="mkbroute-bench-") as tmp:
            prof = args.profile or Path(tmp) / "message_path.prof"
            result = asyncio.run(per_message(content, quick, prof))
            numbers["per_message"] = {k: v.samples for k, v in result.items()}
            numbers["target_met"] = report_per_message(result, prof, args.top)
    if "throughput" in parts:
        users = args.users or (100 if quick else 1000)
        levels = [int(c) for c in (args.concurrency or ("50" if quick else "1,50")).split(",")]
        done = run_throughput(content, users, levels)
        numbers["throughput"] = [r if isinstance(r, str) else vars(r) for r in done]
        report_throughput(done)
    if "memory" in parts:
        memory = run_memory(args.sessions or (1000 if quick else 10_000))
        numbers["memory"] = memory
        report_memory(memory)
    if "startup" in parts:
        startup = run_startup(2 if quick else 5, uncached=not quick)
        numbers["startup"] = startup
        report_startup(startup)
    if "knowledge" in parts:
        rows = run_knowledge([50, 500] if quick else [50, 500, 5000])
        numbers["knowledge"] = rows
        report_knowledge(rows)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n(took {time.perf_counter() - began:.0f} s; load average at the end {load})")
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
