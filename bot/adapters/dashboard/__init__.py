"""The staff dashboard: programme staff and contact persons review leads in a web page.

A small tornado application on the same App as the bot: the same database, repository queries
and content. Login is a one-time link from Telegram's /dashboard (or `mkbroute dashboard link
ID`); the session is a signed, HttpOnly cookie for 8 hours; every form POST carries an XSRF
token; the Content-Security-Policy allows only the dashboard's own stylesheet (no scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import tornado.httpserver
import tornado.web
import yaml

from bot.app import App
from bot.clock import local, shown
from bot.content.models import LEAD_STATUSES
from bot.handoff import followup
from bot.handoff.access import Access, access_for, new_link, redeem
from bot.handoff.claims import show_on_cards
from bot.knowledge.text import clean_input, fill
from bot.privacy import erase_user
from bot.staff.chart import leads_per_week, stats_png
from bot.staff.export import export_csv, export_xlsx, table
from bot.staff.period import Period, PeriodError, parse_period
from bot.staff.stats import AUDIENCES, funnel, lead_times, unanswered_clusters
from bot.store import repo
from bot.store.db import wipe_wal
from bot.store.models import LeadStatus

__all__ = ["COOKIE", "SESSION_HOURS", "link_for", "make_web_app", "new_login_link", "serve"]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "mkbroute_session"
SESSION_HOURS = 8
PAGE = 50
MAX_EXPORT = 100_000
LOGIN_FAILURES = 10  # per address per minute, then 429


def _texts() -> dict[str, dict[str, str]]:
    """texts.yaml, checked: every key a word, every text in Dutch and English."""
    raw = yaml.safe_load((HERE / "texts.yaml").read_text("utf-8"))
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, dict) or set(value) != {"nl", "en"}:
            raise RuntimeError(f"dashboard texts.yaml: {key!r} needs exactly nl and en")
    return raw  # type: ignore[no-any-return]


TEXTS = _texts()


@dataclass
class _Shared:
    app: App
    base: str = ""  # the path prefix: "" at the root, "/dashboard" when mounted there
    failures: dict[str, deque[float]] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    def refused_recently(self, address: str) -> bool:
        now = self.clock()
        times = self.failures.setdefault(address, deque())
        while times and now - times[0] > 60:
            times.popleft()
        if len(self.failures) > 10_000:  # bound memory under a spray of addresses
            for key in [k for k, v in self.failures.items() if not v]:
                del self.failures[key]
        return len(times) >= LOGIN_FAILURES

    def failed(self, address: str) -> None:
        self.failures.setdefault(address, deque()).append(self.clock())


class _Page(tornado.web.RequestHandler):
    """What every page shares: security headers, the signed-in person, the language."""

    shared: _Shared

    def initialize(self, shared: _Shared) -> None:
        self.shared = shared

    @property
    def app(self) -> App:
        return self.shared.app

    def set_default_headers(self) -> None:
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'",
        )
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")

    def get_current_user(self) -> Access | None:
        raw = self.get_signed_cookie(COOKIE, max_age_days=SESSION_HOURS / 24)
        if raw is None or not raw.isdigit():
            return None
        # Asked again on every request: a person removed from the settings or the contacts
        # file loses access at once, whatever their cookie says.
        return access_for(int(raw), self.app.settings.admin_ids, self.app.contacts)

    @property
    def base(self) -> str:
        return self.shared.base

    @property
    def cookie_path(self) -> str:
        return self.base or "/"

    @property
    def lang(self) -> str:
        asked = self.get_query_argument("lang", "")
        if asked in ("nl", "en"):
            self.set_cookie(
                "lang",
                asked,
                path=self.cookie_path,
                httponly=True,
                samesite="Lax",
                secure=self.https,
            )
            return asked
        saved = self.get_cookie("lang", "")
        return saved if saved in ("nl", "en") else self.app.settings.default_language

    @property
    def https(self) -> bool:
        return self.app.settings.dashboard_https

    def t(self, key: str, **values: str) -> str:
        return fill(TEXTS[key][self.lang], **values)

    def page(self, template: str, **values: Any) -> None:
        access: Access | None = self.current_user
        who = ""
        if access is not None:
            who = (
                self.t("signed_in_staff")
                if access.staff
                else self.t("signed_in_contact", pilots=", ".join(sorted(access.pilots or ())))
            )
        self.render(
            template, t=self.t, lang=self.lang, access=access, who=who, base=self.base, **values
        )

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """The exception's type only: a page holds names and addresses."""
        if not isinstance(value, tornado.web.HTTPError):
            log.error("dashboard request failed (%s)", getattr(typ, "__name__", typ))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(f"{status_code} {HTTPStatus(status_code).phrase}")


class LoginHandler(_Page):
    """GET /login?t=TOKEN shows a button; its POST redeems the one-time link and starts a
    session. Two steps, because link previews (Telegram's, a mail scanner's) fetch a URL
    by GET and would otherwise use the link up before the person clicks it."""

    def get(self) -> None:
        token = self.get_query_argument("t", "")
        if self.get_query_argument("bye", ""):
            self.page("login.html", message=self.t("logged_out"), token="")
            return
        self.page("login.html", message="", token=token[:200])

    async def post(self) -> None:
        token = self.get_body_argument("t", "")
        address = self.request.remote_ip or "?"
        if self.shared.refused_recently(address):
            log.warning("dashboard: too many failed logins from one address; refused")
            self.set_status(HTTPStatus.TOO_MANY_REQUESTS)
            self.page("login.html", message=self.t("too_many"), token="")
            return
        async with self.app.db() as db, db.begin():
            telegram_id = await redeem(db, token, self.app.clock())
            access = (
                access_for(telegram_id, self.app.settings.admin_ids, self.app.contacts)
                if telegram_id is not None
                else None
            )
            if access is not None:
                role = "staff" if access.staff else "contact"
                repo.add_audit(
                    db, "dashboard_login", "dashboard", f"role={role}", self.app.clock()
                )
        if access is None:
            self.shared.failed(address)
            log.warning("dashboard: login link refused (unknown, used, expired or no access)")
            self.set_status(HTTPStatus.FORBIDDEN)
            self.page("login.html", message=self.t("login_failed"), token="")
            return
        self.set_signed_cookie(
            COOKIE,
            str(access.telegram_id),
            expires_days=None,
            max_age=SESSION_HOURS * 3600,
            path=self.cookie_path,
            httponly=True,
            samesite="Lax",
            secure=self.https,
        )
        self.redirect(f"{self.base}/", status=HTTPStatus.SEE_OTHER)


class LogoutHandler(_Page):
    def post(self) -> None:
        self.clear_cookie(COOKIE, path=self.cookie_path)
        self.redirect(f"{self.base}/login?bye=1", status=HTTPStatus.SEE_OTHER)


class _Private(_Page):
    """Pages with lead data: signed-in people only, everyone else to the login page."""

    def prepare(self) -> None:
        if self.current_user is None:
            self.redirect(f"{self.base}/login")


@dataclass(frozen=True)
class _Row:
    ref: str
    date: str
    audience: str
    verdict: str
    pilot: str
    status: str
    claimed_by: str
    delivery: str


class _Filtered(_Private):
    """Pages that read the overview's filter from the query string (the list, the export)."""

    def choices(self) -> tuple[list[tuple[str, str]], ...]:
        """(statuses, pilots this person may see, audiences), each as (id, label)."""
        access: Access = self.current_user
        content = self.app.content
        statuses = [
            (s, content.messages.staff_lead_status[s].get(self.lang))
            for s in LEAD_STATUSES
            if s != "erased"
        ]
        pilots = [
            (p.id, p.name.get(self.lang))
            for p in content.pilots.values()
            if access.pilots is None or p.id in access.pilots
        ]
        audiences = [(f.id, f.title.get(self.lang)) for f in content.audiences]
        return statuses, pilots, audiences

    def query(self) -> repo.LeadQuery:
        """The filter as typed, each value checked against what exists (else no filter)."""
        statuses, pilots, audiences = self.choices()
        status = self.get_query_argument("status", "")
        pilot = self.get_query_argument("pilot", "")
        flow = self.get_query_argument("flow", "")
        return repo.LeadQuery(
            pilots=self.current_user.pilots,
            status=status if status in dict(statuses) else "",
            pilot=pilot if pilot in dict(pilots) else "",
            flow=flow if flow in dict(audiences) else "",
            search=clean_input(self.get_query_argument("q", ""))[:100].strip(),
        )


class LeadsHandler(_Filtered):
    """GET /: the leads this person may see, filtered, searched and paged; counts on top."""

    async def get(self) -> None:
        access: Access = self.current_user
        content = self.app.content
        statuses, pilots, audiences = self.choices()
        query = self.query()
        number = self.get_query_argument("page", "1")
        page = (
            max(1, int(number))
            if number.isascii() and number.isdecimal() and len(number) < 6
            else 1
        )
        async with self.app.db() as db:
            counts = await repo.status_counts(db, access.pilots)
            leads, total = await repo.find_leads(db, query, (page - 1) * PAGE, PAGE)
            sent = await repo.deliveries_of(db, [lead.id for lead in leads])
        flows = dict(audiences)
        rows = [
            _Row(
                ref=lead.ref or "?",
                date=shown(lead.created_at),
                audience=flows.get(lead.flow, lead.flow),
                verdict=lead.verdict,
                pilot=dict(pilots).get(lead.pilot or "", lead.pilot or "-"),
                status=content.messages.staff_lead_status[lead.status].get(self.lang),
                claimed_by=lead.claimed_by or "",
                delivery=f"{sum(r.status == 'sent' for r in sent[lead.id])}/{len(sent[lead.id])}",
            )
            for lead in leads
        ]
        params = {
            k: v
            for k, v in (
                ("status", query.status),
                ("pilot", query.pilot),
                ("flow", query.flow),
                ("q", query.search),
            )
            if v
        }
        first = (page - 1) * PAGE + 1
        self.page(
            "leads.html",
            rows=rows,
            counts=counts,
            statuses=statuses,
            pilots=pilots,
            audiences=audiences,
            query=query,
            shown=self.t(
                "shown", first=str(first), last=str(first + len(rows) - 1), total=str(total)
            ),
            exports={
                fmt: f"{self.base}/export?{urlencode({**params, 'format': fmt})}"
                for fmt in ("csv", "xlsx")
            },
            previous=f"{self.base}/?{urlencode({**params, 'page': page - 1})}" if page > 1 else "",
            next_page=f"{self.base}/?{urlencode({**params, 'page': page + 1})}"
            if page * PAGE < total
            else "",
        )


class ExportHandler(_Filtered):
    """GET /export?format=csv|xlsx&<the overview's filter>: exactly those leads as a file,
    with the same injection-safe cells as `mkbroute export`, audited."""

    async def get(self) -> None:
        fmt = "csv" if self.get_query_argument("format", "xlsx") == "csv" else "xlsx"
        query = self.query()
        content = self.app.content
        async with self.app.db() as db, db.begin():
            leads, _ = await repo.find_leads(db, query, 0, MAX_EXPORT)
            leads.reverse()  # oldest first, as in the command-line export
            deliveries = await repo.deliveries_of(db, [lead.id for lead in leads])
            headers, rows = table(content, leads, deliveries)
            repo.add_audit(
                db, "export", "dashboard", f"format={fmt}, rows={len(leads)}", self.app.clock()
            )
        data = export_csv(headers, rows) if fmt == "csv" else export_xlsx(headers, rows)
        kind = (
            "text/csv; charset=utf-8"
            if fmt == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        self.set_header("Content-Type", kind)
        name = f"aanvragen-{local(self.app.clock()):%Y%m%d}.{fmt}"
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.finish(data)


class StatsHandler(_Private):
    """GET /stats?periode=...: the funnel per audience (programme staff: it counts everyone's
    conversations, not one route's), as a table and the /stats picture."""

    async def get(self) -> None:
        if not self.current_user.staff:
            raise tornado.web.HTTPError(HTTPStatus.NOT_FOUND)
        period, error = self.period()
        typed = self.get_query_argument("periode", "")[:60]
        async with self.app.db() as db:
            steps = await funnel(db, period)
        self.page(
            "stats.html",
            steps=steps,
            audiences=AUDIENCES,
            period=period,
            error=error,
            typed=typed,
            picture=f"{self.base}/stats.png?{urlencode({'periode': typed})}",
        )

    def period(self) -> tuple[Period, str]:
        words = self.get_query_argument("periode", "")[:60].split()
        try:
            return parse_period(words, local(self.app.clock()).date()), ""
        except PeriodError as exc:
            return Period(), str(exc)


class StatsPictureHandler(StatsHandler):
    async def get(self) -> None:
        if not self.current_user.staff:
            raise tornado.web.HTTPError(HTTPStatus.NOT_FOUND)
        period, _ = self.period()
        async with self.app.db() as db:
            steps = await funnel(db, period)
            created = await lead_times(db, period)
        self.set_header("Content-Type", "image/png")
        self.finish(stats_png(steps, leads_per_week(created)))


class UnansweredHandler(_Private):
    """GET /onbeantwoord: the questions the knowledge base could not answer, grouped, for
    the content editors (programme staff)."""

    async def get(self) -> None:
        if not self.current_user.staff:
            raise tornado.web.HTTPError(HTTPStatus.NOT_FOUND)
        async with self.app.db() as db:
            clusters = await unanswered_clusters(db)
        self.page("unanswered.html", clusters=clusters[:100])


class LeadHandler(_Private):
    """GET /lead/REF: one lead in full, if this person may see it (else the same 404 as for
    a reference that does not exist)."""

    async def get(self, ref: str) -> None:
        access: Access = self.current_user
        content = self.app.content
        async with self.app.db() as db, db.begin():
            lead = await repo.lead_by_ref(db, ref[:40])
            if lead is None or not access.may_see(lead):
                self.set_status(HTTPStatus.NOT_FOUND)
                self.page("message.html", message=self.t("not_found"))
                return
            deliveries = (await repo.deliveries_of(db, [lead.id]))[lead.id]
            kept_notes = await followup.notes(db, lead.id)
            changes = await followup.history(db, lead.id)
            repo.add_audit(db, "lead_viewed", "dashboard", f"ref={lead.ref}", self.app.clock())
        flow = content.flows.get(lead.flow)
        answers = []
        for step in flow.steps if flow else ():
            value = lead.answers.get(step.id)
            choice = next((c for c in step.choices if c.id == value), None)
            if choice is not None:
                answers.append(
                    ((step.label or step.ask).get(self.lang), choice.label.get(self.lang))
                )
        lines = [
            f"{row.kind} · {row.channel} · {row.contact} ({row.pilot}): "
            f"{content.messages.staff_delivery_status[row.status].get(self.lang)}, "
            f"{row.attempts} {self.t('attempts')}, {self.t('sent_at')} {shown(row.sent_at)}"
            for row in deliveries
        ]
        claimed = (
            self.t("claimed", who=lead.claimed_by, at=shown(lead.claimed_at))
            if lead.claimed_by
            else ""
        )
        labels = content.messages.staff_lead_status
        self.page(
            "lead.html",
            lead=lead,
            notice=self.t(self.get_query_argument("done", "")[:30])
            if self.get_query_argument("done", "")[:30] in DONE
            else "",
            choices=[(str(s), labels[s].get(self.lang)) for s in followup.FOLLOW_UP],
            notes=[(shown(n.at), n.author, n.text) for n in kept_notes],
            changes=[
                (
                    shown(c.at),
                    c.author,
                    labels[c.from_status].get(self.lang) if c.from_status in labels else "",
                    labels[c.to_status].get(self.lang) if c.to_status in labels else "",
                    c.reason,
                )
                for c in changes
            ],
            created=shown(lead.created_at),
            audience=flow.title.get(self.lang) if flow else lead.flow,
            pilot=(
                content.pilots[lead.pilot].name.get(self.lang)
                if lead.pilot is not None and lead.pilot in content.pilots
                else lead.pilot or "-"
            ),
            status=content.messages.staff_lead_status[lead.status].get(self.lang),
            consent=f"{shown(lead.consent_at)} ({lead.consent_version})",
            answers=answers,
            deliveries=lines,
            claimed=claimed,
        )


DONE = (
    "done",
    "same",
    "claimed_by_other",
    "claim_first",
    "reason_needed",
    "note_added",
    "note_empty",
)


class _LeadAction(_Private):
    """A POST on one lead (status, note): only for those who may see it; back to its page."""

    async def lead_for(self, db: Any, ref: str) -> Any:
        access: Access = self.current_user
        lead = await repo.lead_by_ref(db, ref[:40], for_update=True)
        if lead is None or not access.may_see(lead):
            raise tornado.web.HTTPError(HTTPStatus.NOT_FOUND)
        return lead

    def author(self) -> str:
        """How a change is signed: the contact person's name, or the programme team."""
        access: Access = self.current_user
        return access.name or "Programmateam"

    def back(self, ref: str, done: str) -> None:
        self.redirect(f"{self.base}/lead/{ref}?done={done}", status=HTTPStatus.SEE_OTHER)


class StatusHandler(_LeadAction):
    """POST /lead/REF/status: claim, follow up, drop out (with a reason) or hand back."""

    async def post(self, ref: str) -> None:
        wanted = self.get_body_argument("to", "")
        if wanted not in {str(s) for s in followup.FOLLOW_UP}:
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST)
        to, author, now = LeadStatus(wanted), self.author(), self.app.clock()
        reason = self.get_body_argument("reason", "")[:200]
        async with self.app.db() as db, db.begin():
            lead = await self.lead_for(db, ref)
            change = await followup.change_status(
                db, self.app.content, self.app.contacts, lead, to, author, now, reason
            )
        if change.outcome == "done" and self.app.bot is not None:
            # The contact persons' cards in Telegram show it too, as after a button press.
            note = followup.card_note(self.app.content, to, author, now, reason)
            await show_on_cards(self.app.bot, self.app.db, self.app.content, lead.id, note)
        self.back(ref, change.outcome)


class NoteHandler(_LeadAction):
    """POST /lead/REF/note: a note for staff only."""

    async def post(self, ref: str) -> None:
        async with self.app.db() as db, db.begin():
            lead = await self.lead_for(db, ref)
            kept = await followup.add_note(
                db,
                lead,
                self.author(),
                self.get_body_argument("text", "")[:2000],
                self.app.clock(),
            )
        self.back(ref, "note_added" if kept else "note_empty")


class EraseHandler(_LeadAction):
    """GET /lead/REF/wissen asks for confirmation; its POST erases the person behind the lead,
    as `mkbroute erase REF` does (programme staff only)."""

    async def get(self, ref: str) -> None:
        if not self.current_user.staff:
            raise tornado.web.HTTPError(HTTPStatus.NOT_FOUND)
        async with self.app.db() as db:
            lead = await self.lead_for(db, ref)
        self.page("erase.html", ref=lead.ref)

    async def post(self, ref: str) -> None:
        if not self.current_user.staff:
            raise tornado.web.HTTPError(HTTPStatus.NOT_FOUND)
        async with self.app.db() as db, db.begin():
            lead = await self.lead_for(db, ref)
            erased = await erase_user(
                db, self.app.content, lead.user_key, self.app.clock(), actor="staff"
            )
        await wipe_wal(self.app.engine)
        told = ", ".join(dict.fromkeys([*erased.delivered_to, *erased.maybe_to]))
        self.page(
            "message.html",
            message=self.t("erased", ref=ref, told=told or self.t("nobody")),
        )


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Method, path and status only: the query string of /login holds a login token."""
    log.info("%s %s %d", handler.request.method, handler.request.path, handler.get_status())


def make_web_app(app: App) -> tornado.web.Application:
    """The dashboard's pages under the path of ``MKBROUTE_DASHBOARD_URL`` ("" at the root)."""
    secret = app.settings.dashboard_secret
    if secret is None:
        raise SystemExit(
            "MKBROUTE_DASHBOARD_SECRET is not set: 32 or more random characters sign the "
            "dashboard's sessions (e.g. `openssl rand -hex 32`)."
        )
    base = app.settings.dashboard_path
    shared = {"shared": _Shared(app, base=base)}
    https = app.settings.dashboard_https
    ref = r"/lead/([A-Za-z0-9-]{1,40})"
    pages: list[tuple[str, type[tornado.web.RequestHandler]]] = [
        ("/", LeadsHandler),
        ("/login", LoginHandler),
        ("/logout", LogoutHandler),
        (ref, LeadHandler),
        (ref + "/status", StatusHandler),
        (ref + "/note", NoteHandler),
        (ref + "/wissen", EraseHandler),
        ("/export", ExportHandler),
        ("/stats", StatsHandler),
        (r"/stats\.png", StatsPictureHandler),
        ("/onbeantwoord", UnansweredHandler),
    ]
    rules: list[Any] = [(re.escape(base) + path, handler, shared) for path, handler in pages]
    if base:
        rules.append((re.escape(base), tornado.web.RedirectHandler, {"url": f"{base}/"}))
    return tornado.web.Application(
        rules,
        cookie_secret=secret.get_secret_value(),
        xsrf_cookies=True,
        xsrf_cookie_kwargs={
            "httponly": True,
            "samesite": "Strict",
            "secure": https,
            "path": base or "/",
        },
        template_path=str(HERE / "templates"),
        static_path=str(HERE / "static"),
        static_url_prefix=f"{base}/static/",
        log_function=_log_request,
    )


def link_for(app: App, token: str) -> str:
    """The login URL for a token: the public address, or the local one without it."""
    base = app.settings.dashboard_url or (
        f"http://{app.settings.dashboard_listen}:{app.settings.dashboard_port}"
    )
    return f"{base.rstrip('/')}/login?t={token}"


async def new_login_link(app: App, telegram_id: int) -> str:
    async with app.db() as db, db.begin():
        token = await new_link(db, telegram_id, app.clock())
        repo.add_audit(db, "dashboard_link", "dashboard", "one-time link made", app.clock())
    return link_for(app, token)


async def serve(app: App) -> None:
    """Serve the dashboard until SIGINT or SIGTERM."""
    web = make_web_app(app)
    server = tornado.httpserver.HTTPServer(web, xheaders=True)
    server.listen(app.settings.dashboard_port, address=app.settings.dashboard_listen)
    log.info(
        "dashboard listening on %s:%s", app.settings.dashboard_listen, app.settings.dashboard_port
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), timeout=5)
