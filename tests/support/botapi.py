"""A Telegram Bot API emulator for the tests: the subset python-telegram-bot uses.

``BotAPIState`` holds the logic (users' updates, the bot's messages, switchable faults).
``FakeBotAPI`` serves it over real HTTP on 127.0.0.1 with real long polling, in a thread of its
own so that a bot in another process or event loop can talk to it. ``OfflineRequest`` plugs the
same state into PTB without any network, for ``Application.process_update`` unit tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

BOT_ID = 777000111
BOT_USERNAME = "mkbroute_test_bot"
TOKEN = f"{BOT_ID}:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz012345"
STRING_PARAMS = {"text", "callback_query_id", "url", "secret_token", "language_code", "caption"}


@dataclass
class Fault:
    """What the next call of a method gets instead of success."""

    kind: str  # "status" (HTTP error), "retry_after" (429), "forbidden" (403), "timeout"
    value: float = 0
    description: str = ""


@dataclass
class Sent:
    """A message the bot sent (or edited), as a user would see it."""

    chat_id: int
    message_id: int
    text: str
    buttons: list[tuple[str, str]]  # (label, callback data)
    method: str
    at: float = field(default_factory=time.monotonic)  # when it reached the emulator


@dataclass
class BotAPIState:
    """The emulator's memory. All methods are called with ``lock`` held by the caller."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    commands: dict[str | None, list[dict[str, str]]] = field(default_factory=dict)
    answered_callbacks: set[str] = field(default_factory=set)
    rate_limited: list[int] = field(default_factory=list)
    documents: list[tuple[str, bytes]] = field(default_factory=list)
    webhook: str | None = None
    # The longest the emulator's own event loop was held up (s): requests that reached the
    # socket meanwhile are read, and stamped, together when it resumes.
    worst_stall: float = 0.0
    on_update: Callable[[], None] = lambda: None
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: dict[int, itertools.count[int]] = field(default_factory=dict)
    _callback_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _arrived: float = 0.0  # when the call being handled reached the emulator
    _messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)

    # ----------------------------------------------------------------- users' side

    def _user(self, user_id: int, lang: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if lang:
            user["language_code"] = lang
        return user

    def _chat(self, chat_id: int, chat_type: str) -> dict[str, Any]:
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
        return {"id": chat_id, "type": chat_type, "title": "Een groep"}

    def next_update_id(self) -> int:
        with self.lock:
            return next(self._update_ids)

    def add_update(self, update: dict[str, Any]) -> int:
        with self.lock:
            update.setdefault("update_id", next(self._update_ids))
            self.updates.append(update)
        self.on_update()
        return int(update["update_id"])

    def message_update(
        self,
        user_id: int,
        text: str | None = None,
        *,
        lang: str | None = "nl",
        chat_id: int | None = None,
        chat_type: str = "private",
        extra: dict[str, Any] | None = None,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": int(time.time() * 1000) % 2_000_000_000,
            "date": int(time.time()),
            "chat": self._chat(chat_id or user_id, chat_type),
            "from": self._user(user_id, lang),
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                length = len(text.split()[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        message.update(extra or {})
        update: dict[str, Any] = {"message": message}
        if update_id is not None:
            update["update_id"] = update_id
        return update

    def callback_update(
        self,
        user_id: int,
        message_id: int,
        data: str,
        *,
        lang: str | None = "nl",
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            message = self._messages.get((chat_id or user_id, message_id))
            if message is None:
                message = {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": self._chat(chat_id or user_id, "private"),
                    "from": self.me(),
                    "text": "(oud bericht)",
                }
            cid = str(next(self._callback_ids))
        return {
            "callback_query": {
                "id": cid,
                "from": self._user(user_id, lang),
                "message": json.loads(json.dumps(message)),
                "chat_instance": f"ci{user_id}",
                "data": data,
            }
        }

    def forget(self, keep: Callable[[int], bool]) -> None:
        """Drop the call log, the documents and what was sent to chats ``keep`` rejects, so
        that a long fuzz run measures the bot's memory rather than the emulator's."""
        with self.lock:
            self.calls.clear()
            self.documents.clear()
            self.sent = [s for s in self.sent if keep(s.chat_id)]
            self._messages = {k: m for k, m in self._messages.items() if keep(k[0])}

    # ----------------------------------------------------------------- bot's side

    def me(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Mkb-route",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def take_fault(self, method: str) -> Fault | None:
        with self.lock:
            queue = self.faults.get(method)
            return queue.popleft() if queue else None

    def add_fault(self, method: str, *faults: Fault) -> None:
        with self.lock:
            self.faults.setdefault(method, deque()).extend(faults)

    def pending(self, offset: int | None, limit: int) -> list[dict[str, Any]]:
        """getUpdates: confirm everything below ``offset``, return what is left."""
        with self.lock:
            if offset is not None:
                if offset < 0:
                    self.updates = self.updates[offset:]
                else:
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
            return [json.loads(json.dumps(u)) for u in self.updates[:limit]]

    def _store(self, chat_id: int, text: str, markup: Any, method: str) -> dict[str, Any]:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        message: dict[str, Any] = {
            "message_id": next(counter),
            "date": int(time.time()),
            "chat": self._chat(chat_id, "private" if chat_id > 0 else "group"),
            "from": self.me(),
            "text": text,
        }
        if markup:
            message["reply_markup"] = markup
        self._messages[(chat_id, message["message_id"])] = message
        self.sent.append(
            Sent(chat_id, message["message_id"], text, _buttons(markup), method, self._arrived)
        )
        return message

    def call(
        self, method: str, params: dict[str, Any], arrived: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Run one Bot API method; return (HTTP status, JSON body)."""
        if arrived is None:
            arrived = time.monotonic()  # before any wait for the lock: what Telegram would count
        with self.lock:
            self._arrived = arrived
            self.calls.append((method, params))
            if method == "getMe":
                return _ok(self.me())
            if method in ("deleteWebhook", "close", "logOut"):
                self.webhook = None
                return _ok(True)
            if method == "setWebhook":
                self.webhook = str(params.get("url"))
                return _ok(True)
            if method == "getWebhookInfo":
                return _ok(
                    {
                        "url": self.webhook or "",
                        "has_custom_certificate": False,
                        "pending_update_count": len(self.updates),
                    }
                )
            if method == "setMyCommands":
                self.commands[params.get("language_code")] = list(params.get("commands", []))
                return _ok(True)
            if method == "answerCallbackQuery":
                self.answered_callbacks.add(str(params.get("callback_query_id")))
                return _ok(True)
            if method in ("sendMessage", "sendDocument", "sendPhoto"):
                chat_id = int(params["chat_id"])
                text = str(params.get("text") or params.get("caption") or "")
                if method == "sendMessage" and not 1 <= len(text) <= 4096:
                    return _error(400, "Bad Request: message text is empty or too long")
                markup = params.get("reply_markup")
                return _ok(self._store(chat_id, text, markup, method))
            if method in ("editMessageText", "editMessageReplyMarkup"):
                key = (int(params["chat_id"]), int(params["message_id"]))
                message = self._messages.get(key)
                if message is None:
                    return _error(400, "Bad Request: message to edit not found")
                if method == "editMessageText":
                    message["text"] = str(params["text"])
                markup = params.get("reply_markup")
                if markup:
                    message["reply_markup"] = markup
                else:
                    message.pop("reply_markup", None)
                self.sent.append(Sent(key[0], key[1], message["text"], _buttons(markup), method))
                return _ok(message)
            return _error(404, f"Not Found: method {method} is not emulated")


def _buttons(markup: Any) -> list[tuple[str, str]]:
    if not isinstance(markup, dict):
        return []
    return [
        (b["text"], b.get("callback_data", ""))
        for row in markup.get("inline_keyboard", [])
        for b in row
    ]


def _ok(result: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": result}


def _error(code: int, description: str, **parameters: Any) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return code, body


def decode_params(raw: dict[str, str]) -> dict[str, Any]:
    """PTB sends form fields whose non-string values are JSON encoded."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in STRING_PARAMS:
            out[key] = value
            continue
        try:
            out[key] = json.loads(value)
        except (ValueError, TypeError):
            out[key] = value
    return out


def apply_fault(
    fault: Fault, state: BotAPIState, params: dict[str, Any]
) -> tuple[int, dict[str, Any]] | None:
    """The response a fault produces (None for a timeout, which only delays)."""
    if fault.kind == "retry_after":
        chat = params.get("chat_id")
        if chat is not None:
            state.rate_limited.append(int(chat))
        return _error(
            429, f"Too Many Requests: retry after {int(fault.value)}", retry_after=int(fault.value)
        )
    if fault.kind == "forbidden":
        return _error(403, fault.description or "Forbidden: bot was blocked by the user")
    if fault.kind == "status":
        return _error(int(fault.value), fault.description or "Internal Server Error")
    return None


class FakeBotAPI:
    """The emulator on 127.0.0.1 over HTTP, running in a thread with its own event loop."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.state = BotAPIState()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._wake: asyncio.Event | None = None
        self._released = False  # see release_polls()
        self._beat: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def start(self) -> FakeBotAPI:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

        def wake() -> None:
            self._loop.call_soon_threadsafe(self._notify)

        self.state.on_update = wake
        return self

    def stop(self) -> None:
        self.release_polls()  # closing waits for open long polls: answer them now
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        asyncio.run_coroutine_threadsafe(self._stop_heartbeat(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._wake = asyncio.Event()
        if self._beat is None:
            self._beat = asyncio.create_task(self._heartbeat())
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("POST", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def pause(self) -> None:
        """Close the listening socket: the bot now gets 'connection refused'."""
        assert self._runner is not None
        # Closing waits for open long polls to return: answer them now, not at their timeout.
        self.release_polls()
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(40)
        self._runner = None
        self._released = False

    def resume(self) -> None:
        """Listen again on the same port."""
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def release_polls(self, release: bool = True) -> None:
        """While released, getUpdates answers at once instead of holding the long poll: a bot
        asked to stop then finishes its last poll now, not up to its poll timeout later."""
        self._released = release
        if release:
            self._loop.call_soon_threadsafe(self._notify)

    async def _heartbeat(self) -> None:
        """Record when this loop was held up (the test process is busy, the machine loaded)."""
        tick = 0.01
        while True:
            before = time.monotonic()
            await asyncio.sleep(tick)
            late = time.monotonic() - before - tick
            if late > self.state.worst_stall:
                with self.state.lock:
                    self.state.worst_stall = late

    async def _stop_heartbeat(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()  # the first moment this loop sees the request
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        form = await request.post()
        params = decode_params({k: v for k, v in form.items() if isinstance(v, str)})
        fault = self.state.take_fault(method)
        if fault is not None:
            if fault.kind == "timeout":
                await asyncio.sleep(fault.value)
            else:
                response = apply_fault(fault, self.state, params)
                assert response is not None
                return web.json_response(response[1], status=response[0])
        if method == "getUpdates":
            return web.json_response(await self._get_updates(params))
        status, body = self.state.call(method, params, arrived)
        return web.json_response(body, status=status)

    async def _get_updates(self, params: dict[str, Any]) -> dict[str, Any]:
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        while True:
            assert self._wake is not None
            self._wake.clear()
            found = self.state.pending(offset, limit)
            left = deadline - time.monotonic()
            if found or left <= 0 or self._released:
                return {"ok": True, "result": found}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=left)

    # ----------------------------------------------------------------- test helpers

    def user_says(self, user_id: int, text: str, **kw: Any) -> int:
        return self.state.add_update(self.state.message_update(user_id, text, **kw))

    def user_presses(self, user_id: int, message_id: int, data: str, **kw: Any) -> int:
        return self.state.add_update(self.state.callback_update(user_id, message_id, data, **kw))

    def wait_for(
        self, predicate: Callable[[list[Sent]], bool], timeout: float = 15.0
    ) -> list[Sent]:
        """Wait until the bot's messages satisfy ``predicate``; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.state.lock:
                sent = list(self.state.sent)
            if predicate(sent):
                return sent
            time.sleep(0.02)
        with self.state.lock:
            texts = [s.text[:80] for s in self.state.sent[-5:]]
        raise AssertionError(f"the bot did not answer as expected; last messages: {texts}")

    def message_counts(self) -> dict[int, int]:
        """Messages sent so far per chat, in one pass (a test polling many users holds the
        emulator's lock once per round, not once per user)."""
        counts: dict[int, int] = {}
        with self.state.lock:
            for s in self.state.sent:
                if s.method == "sendMessage":
                    counts[s.chat_id] = counts.get(s.chat_id, 0) + 1
        return counts

    def messages_to(self, chat_id: int) -> list[Sent]:
        with self.state.lock:
            return [
                s for s in self.state.sent if s.chat_id == chat_id and s.method == "sendMessage"
            ]


class LocalRequest(BaseRequest):
    """The parts of PTB's network layer a socketless stand-in has nothing to do for."""

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class OfflineRequest(LocalRequest):
    """PTB's network layer replaced by the emulator's state: no sockets at all."""

    def __init__(self, state: BotAPIState) -> None:
        self.state = state

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
        api_method = url.rsplit("/", 1)[-1]
        params = decode_params(request_data.json_parameters if request_data else {})
        if request_data is not None and request_data.contains_files:
            for part in request_data.multipart_data.values():
                name, payload = part[0], part[1]
                raw = payload if isinstance(payload, bytes) else payload.read()
                self.state.documents.append((str(name), raw))
        fault = self.state.take_fault(api_method)
        if fault is not None and fault.kind == "timeout":
            # The lost response: Telegram did the work, but the answer never arrived.
            self.state.call(api_method, params)
            raise TimedOut("emulated: response lost")
        if fault is not None:
            response = apply_fault(fault, self.state, params)
            assert response is not None
            return response[0], json.dumps(response[1]).encode()
        if api_method == "getUpdates":
            body = {"ok": True, "result": self.state.pending(params.get("offset"), 100)}
            return 200, json.dumps(body).encode()
        status, body = self.state.call(api_method, params)
        return status, json.dumps(body).encode()
