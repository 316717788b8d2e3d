"""``mkbroute webhook``: our own small HTTP server around PTB's ``Application.process_update``.

PTB's built-in webhook server answers Telegram before the update is handled (it only queues
it). Ours answers after the update was processed and its transaction committed, so an update
Telegram saw acknowledged is never lost, and several worker processes behind one endpoint can
share a PostgreSQL database: each keeps nothing that matters in memory. It also serves
``/healthz`` for the load balancer or container runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import logging
import re
import signal
import time
from http import HTTPStatus
from typing import Any

import tornado.httpserver
import tornado.iostream
import tornado.routing
import tornado.web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update

from bot.adapters.dashboard import make_web_app
from bot.adapters.telegram.context import BotData, TelegramApp
from bot.handoff.outbox import SENDER_PREFIX
from bot.runtime import WriteHealth
from bot.settings import Settings
from bot.store import repo

__all__ = ["health", "serve"]

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # Telegram's updates are a few kB; 1 MiB leaves room and stops abuse
# Telegram sends a whole request at once; a client that dawdles is not Telegram.
HEADER_TIMEOUT = 10.0  # also how long an idle keep-alive connection may stay open
BODY_TIMEOUT = 10.0
MAX_HEADER = 16 * 1024
# Telegram opens at most 100 connections (max_connections, default 40); beyond this cap new
# connections are closed at once, well before the process runs out of file descriptors.
MAX_CONNECTIONS = 256
HEALTH_TIMEOUT = 3.0
DRAIN_SECONDS = 8.0  # finish in-flight updates on SIGTERM, inside a 10 s stop budget


async def health(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: dt.datetime,
    writes: WriteHealth | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Is the database reachable and storing messages, and how far behind is the outbox?"""
    report: dict[str, Any] = {"process": "ok"}
    if writes is not None and writes.failures:
        # SELECT 1 works on a full disk or a database locked by another process: the last
        # messages could not be stored, so this worker is not healthy until one is.
        report["database"] = "not storing"
        report["write_error"] = writes.code or "unknown"
        report["write_failures"] = writes.failures
        return False, report
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT), sessionmaker() as db:
            count, oldest, blocked = await repo.outbox_backlog(db, SENDER_PREFIX)
    except Exception as exc:  # whatever broke, the answer is "not healthy", not a traceback
        log.warning("health check: database unreachable (%s)", type(exc).__name__)
        report["database"] = "unreachable"
        return False, report
    report["database"] = "ok"
    report["outbox_waiting"] = count
    # min() keeps the column's type, so ``oldest`` is an aware UTC time like every stored one.
    age = (now - oldest).total_seconds() if oldest is not None else 0
    report["outbox_oldest_seconds"] = max(0, int(age))
    # Deliveries held back by our own side (SMTP password, relay, configuration): the bot
    # still talks to users, so /healthz stays 200; /healthz/delivery is the one to alert on.
    report["outbox_blocked"] = blocked
    report["delivery"] = "failing" if blocked else "ok"
    return True, report


class _Shared:
    """What the request handlers need; one per server."""

    def __init__(self, app: TelegramApp, secret: str) -> None:
        self.app = app
        self.secret = secret.encode()
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.closing = False
        self.forbidden = _Burst("webhook requests without the right secret refused")

    def refused(self) -> None:
        self.forbidden.hit()

    @property
    def data(self) -> BotData:
        return self.app.bot_data


@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    """POST from Telegram: check the secret, process the update, then answer 200."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, shared: _Shared) -> None:
        self.shared = shared
        self.chunks: list[bytes] = []
        self.size = 0

    def prepare(self) -> None:
        # Checked on the headers, before a single body byte is read: a stranger's request
        # costs us nothing, and its body is never buffered.
        if self.request.headers.get("Content-Type", "").split(";")[0].strip() != (
            "application/json"
        ):
            self.shared.refused()
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN)
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, self.shared.secret):
            self.shared.refused()
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN)
        if self.shared.closing:
            # Telegram retries later, possibly at a sibling worker.
            raise tornado.web.HTTPError(HTTPStatus.SERVICE_UNAVAILABLE)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Refusals are counted (see :class:`_Burst`), not logged one by one; anything else
        is logged by type only (an update holds personal data)."""
        if isinstance(value, tornado.web.HTTPError):
            return
        log.error("webhook request failed (%s)", getattr(typ, "__name__", typ))

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_BODY:
            raise tornado.web.HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        self.chunks.append(chunk)

    async def post(self) -> None:
        try:
            data = json.loads(b"".join(self.chunks))
            update = Update.de_json(data, self.shared.app.bot)
        except Exception as exc:
            log.warning("webhook body rejected (%s)", type(exc).__name__)
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST) from None
        if update is None:
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST)
        self.shared.in_flight += 1
        self.shared.idle.clear()
        try:
            # The handlers reply after their commit; we answer Telegram after both.
            await self.shared.app.process_update(update)
        finally:
            self.shared.in_flight -= 1
            if self.shared.in_flight == 0:
                self.shared.idle.set()
        unstored = self.shared.data.unstored
        if update.update_id in unstored:
            unstored.discard(update.update_id)
            # "An update Telegram saw accepted is never lost": it was not stored, so say so.
            log.warning("update %s not stored; Telegram will send it again", update.update_id)
            raise tornado.web.HTTPError(HTTPStatus.SERVICE_UNAVAILABLE)
        log.debug("update %s processed", update.update_id, extra={"update_id": update.update_id})
        self.set_status(HTTPStatus.OK)
        self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"ok": False, "status": status_code})


class HealthHandler(tornado.web.RequestHandler):
    """GET /healthz: 200 when the database answers, 503 otherwise; the outbox backlog always."""

    def initialize(self, shared: _Shared) -> None:
        self.shared = shared

    async def get(self) -> None:
        app = self.shared.data.app
        if app is None or self.shared.closing:
            self.set_status(HTTPStatus.SERVICE_UNAVAILABLE)
            self.finish({"process": "starting" if app is None else "stopping"})
            return
        ok, report = await health(app.db, app.clock(), app.conversation.writes)
        if self.request.path.endswith("/delivery"):
            ok = ok and report.get("delivery") == "ok"
        self.set_status(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE)
        self.finish(report)


class _Burst:
    """Count repeated events and log them once per burst (at most every 60 s), not each time:
    a flood of bad requests must not become a flood of log lines."""

    def __init__(self, what: str, every: float = 60.0) -> None:
        self.what, self.every = what, every
        self.count = 0
        self.logged_at = -every

    def hit(self) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.logged_at >= self.every:
            log.warning("%s: %d since the last report", self.what, self.count)
            self.count, self.logged_at = 0, now


class _CappedServer(tornado.httpserver.HTTPServer):
    """An HTTP server that closes new connections beyond :data:`MAX_CONNECTIONS` at once."""

    over_cap = _Burst("webhook connection cap reached; new connections closed")

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple[Any, ...]) -> None:
        if len(self._connections) >= MAX_CONNECTIONS:
            self.over_cap.hit()
            stream.close()
            return
        super().handle_stream(stream, address)


class _WebApp(tornado.web.Application):
    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        """Our own logging: tornado's access log would print the secret-bearing path."""


def _routes(shared: _Shared, route: str, settings: Settings) -> list[Any]:
    """Health, the webhook and, when mounted, the dashboard under its own path."""
    rules: list[Any] = [
        (r"/healthz", HealthHandler, {"shared": shared}),
        (r"/healthz/delivery", HealthHandler, {"shared": shared}),
        (route, UpdateHandler, {"shared": shared}),
    ]
    if settings.dashboard_mount and shared.data.app is not None:
        pattern = re.escape(settings.dashboard_path) + r"(/.*)?"
        rules.append(
            tornado.routing.Rule(
                tornado.routing.PathMatches(pattern), make_web_app(shared.data.app)
            )
        )
    return rules


async def serve(
    app: TelegramApp,
    settings: Settings,
    allowed_updates: list[str],
) -> None:
    """Start the application, register the webhook, serve until SIGINT/SIGTERM, then drain."""
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    # The URL's own path, escaped: "https://bot.example.org" posts to "/", and a path with
    # dots or several segments ("/bot/v1.telegram") must match exactly what Telegram calls.
    route = re.escape(settings.webhook_path.rstrip("/")) + "/?"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    shared = _Shared(app, secret)
    await app.initialize()
    try:
        if app.post_init is not None:
            await app.post_init(app)
        server = _CappedServer(
            _WebApp(_routes(shared, route, settings)),
            max_body_size=MAX_BODY,
            max_header_size=MAX_HEADER,
            idle_connection_timeout=HEADER_TIMEOUT,
            body_timeout=BODY_TIMEOUT,
            # Behind the proxy, the dashboard's login rate limit needs the client's address.
            xheaders=settings.dashboard_mount,
        )
        server.listen(settings.webhook_port, address=settings.webhook_listen)
        await app.bot.set_webhook(
            settings.webhook_url,
            secret_token=secret,
            allowed_updates=allowed_updates,
            drop_pending_updates=False,
        )
        log.info(
            "webhook server listening on %s:%s", settings.webhook_listen, settings.webhook_port
        )
        await stop.wait()
        log.info("stopping: finishing updates in progress")
        shared.closing = True
        server.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shared.idle.wait(), timeout=DRAIN_SECONDS)
        await server.close_all_connections()
    finally:
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
