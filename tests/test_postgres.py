"""PostgreSQL for real: a server stopped mid-conversation (T7), one polling bot per database
(T22), and several webhook workers sharing one database without losing or doubling anything."""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.content.bundle import Content
from bot.engine.types import Inbound
from bot.handoff.channels import Channel, EmailChannel
from bot.handoff.contacts import Contact
from bot.handoff.dispatcher import Dispatcher
from bot.runtime import Runtime
from bot.store.db import create_engine, make_sessionmaker, upgrade_schema
from bot.store.models import EventRow, LeadRow, OutboxRow, ProcessedInbound, SessionRow
from tests.conftest import NOW
from tests.support.answers import AVANS
from tests.support.botapi import FakeBotAPI
from tests.support.mail import Mailbox
from tests.support.pg import PgCluster, find_bindir, new_pg_database
from tests.test_telegram_e2e import (
    free_port,
    post,
    read_log,
    say,
    start_bot,
    stop_bot,
)

pytestmark = pytest.mark.postgresql


@pytest.fixture
def own_cluster() -> Iterator[PgCluster]:
    """A server of this test's own: it is going to be stopped."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed")
    cluster = PgCluster(bindir)
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
async def outage_world(
    own_cluster: PgCluster, content: Content, mailbox: tuple[Mailbox, int]
) -> AsyncIterator[tuple[Runtime, Dispatcher, Mailbox]]:
    box, port = mailbox
    engine = create_engine(own_cluster.url())
    await upgrade_schema(engine)
    sm = make_sessionmaker(engine)
    contacts = {"programmateam": (Contact(name="Programmateam", email="team@example.org"),)}
    channels: dict[str, Channel] = {
        "email": EmailChannel("127.0.0.1", port, "bot@example.org", security="none", timeout=5)
    }
    runtime = Runtime(content, sm, clock=lambda: NOW, contacts=contacts)
    dispatcher = Dispatcher(sm, content, channels, contacts, jitter=lambda: 0.0, base_delay=0.2)
    yield runtime, dispatcher, box
    await engine.dispose()


async def test_postgresql_stopped_mid_conversation_recovers_without_a_restart(
    own_cluster: PgCluster,
    outage_world: tuple[Runtime, Dispatcher, Mailbox],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """T7: ``pg_ctl stop -m immediate`` while a user is answering, started again later: one
    friendly retry, nothing acknowledged lost, the same process carries on (pool_pre_ping),
    the dispatcher resumes, one lead, one delivery."""
    runtime, dispatcher, box = outage_world
    key = "tg:700"
    for button in AVANS:
        await runtime.handle(key, Inbound.button(button))
    await runtime.handle(key, Inbound.from_text("Anna Bakker"))
    stop = asyncio.Event()
    loop = asyncio.create_task(dispatcher.run_forever(stop, interval=0.2))

    own_cluster.stop("immediate")
    down = await runtime.handle(key, Inbound.from_text("Bakker Bouw B.V."))
    assert down.failed and "probeer het" in down.replies[0].text
    await asyncio.sleep(1.0)  # the dispatcher keeps failing quietly meanwhile
    assert not loop.done()
    own_cluster.start()

    result = await runtime.handle(key, Inbound.from_text("Bakker Bouw B.V."))
    assert not result.failed, "the bot did not recover without a restart"
    await runtime.handle(key, Inbound.button("c:kanaal:email"))
    await runtime.handle(key, Inbound.from_text("anna@example.org"))
    done = await runtime.handle(key, Inbound.button("confirm"))
    assert done.events, [r.text[:60] for r in done.replies]
    ref = done.events[-1]["ref"]
    for _ in range(100):
        if box.messages:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await loop
    async with runtime.sessionmaker() as db:
        leads = (await db.scalars(select(LeadRow))).all()
    assert [(lead.ref, lead.name, lead.company) for lead in leads] == [
        (ref, "Anna Bakker", "Bakker Bouw B.V.")
    ]
    assert [m["Subject"].count(ref) for m in box.messages] == [1]
    assert "Anna Bakker" not in caplog.text


async def test_two_runtimes_on_one_database_serialise_a_user(content: Content) -> None:
    """Two processes' worth of runtimes (separate engines) receive the same user's first
    message and a duplicated update at the same moment: one session, one answer each."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed")
    cluster = PgCluster(bindir)
    cluster.start()
    try:
        url = await asyncio.to_thread(new_pg_database, cluster)
        engines = [create_engine(url) for _ in range(2)]
        await upgrade_schema(engines[0])
        a, b = (Runtime(content, make_sessionmaker(e), clock=lambda: NOW) for e in engines)
        for n in range(20):
            key = f"tg:{n}"
            first = await asyncio.gather(
                a.handle(key, Inbound.from_text("/start"), channel="tg", inbound_id=f"{n}-1"),
                b.handle(key, Inbound.button("menu:werkgever"), channel="tg", inbound_id=f"{n}-2"),
            )
            assert not any(r.failed for r in first)
            dup = await asyncio.gather(
                a.handle(
                    key, Inbound.button("c:medewerkers:10_49"), channel="tg", inbound_id=f"{n}-3"
                ),
                b.handle(
                    key, Inbound.button("c:medewerkers:10_49"), channel="tg", inbound_id=f"{n}-3"
                ),
            )
            assert sorted(r.duplicate for r in dup) == [False, True]
        async with a.sessionmaker() as db:
            sessions = await db.scalar(select(func.count()).select_from(SessionRow))
            processed = await db.scalar(select(func.count()).select_from(ProcessedInbound))
        assert (sessions, processed) == (20, 60)
        for engine in engines:
            await engine.dispose()
    finally:
        cluster.destroy()


def test_a_second_polling_bot_on_one_postgresql_refuses_to_start(
    api: FakeBotAPI, tmp_path: Path, pg_cluster: PgCluster
) -> None:
    """T22 on PostgreSQL: an advisory lock, dropped by the server when the holder dies."""
    url = new_pg_database(pg_cluster)
    first = start_bot(api, tmp_path, MKBROUTE_DATABASE_URL=url)
    try:
        say(api, 501, "/start", "digitale assistent")
        second = start_bot(api, tmp_path, MKBROUTE_DATABASE_URL=url)
        second.wait(timeout=60)
        assert second.returncode != 0
        assert "already polling" in read_log(second)
        say(api, 501, "/menu", "Waarmee kan ik je helpen")
    finally:
        first.kill()  # a crash, not a clean stop: the server must still drop the lock
        first.wait()
        read_log(first)
    again = start_bot(api, tmp_path, MKBROUTE_DATABASE_URL=url)
    try:
        say(api, 501, "/help", "Zo werk ik")
    finally:
        assert stop_bot(again)[0] == 0


SECRET = "workers-secret_123"


NAMES = ["Anna", "Bram", "Cor", "Daan", "Eva", "Fleur", "Gijs", "Hanna", "Ilse", "Joost"]


def person(n: int) -> str:
    return f"{NAMES[n % len(NAMES)]} Jansen"


def phone(n: int) -> str:
    return f"06 1234 {5000 + n % 1000:04d}"


def employer_script(n: int) -> list[tuple[str, str]]:
    return [
        ("text", "/start"),
        *(("button", b) for b in AVANS),
        ("text", person(n)),
        ("text", f"Bedrijf {n} B.V."),
        ("button", "c:kanaal:telefoon"),
        ("text", phone(n)),
        ("button", "confirm"),
    ]


def reference_replies(content: Content, script: list[tuple[str, str]], folder: Path) -> list[str]:
    """What one process on its own answers to ``script``: the order the workers must keep."""

    async def run() -> list[str]:
        engine = create_engine(f"sqlite+aiosqlite:///{folder / 'reference.db'}")
        await upgrade_schema(engine)
        rt = Runtime(content, make_sessionmaker(engine), clock=lambda: NOW)
        texts: list[str] = []
        for kind, value in script:
            inbound = Inbound.button(value) if kind == "button" else Inbound.from_text(value)
            result = await rt.handle("ref", inbound, channel="telegram")
            texts.extend(r.text for r in result.replies)
        await engine.dispose()
        return texts

    return asyncio.run(run())


def _normal(text: str) -> str:
    # The reference runs on a fixed clock without contacts; the promised date differs.
    text = re.sub(r"binnen \d+ werkdagen(.*?)uiterlijk \w+ \d+ \w+", r"binnen N\1DATE", text)
    return re.sub(r"L-\d{4}-\d{6}", "L-REF", text)


def test_two_webhook_workers_share_one_database(
    api: FakeBotAPI, tmp_path: Path, pg_cluster: PgCluster, content: Content
) -> None:
    """Two ``mkbroute webhook`` processes behind one endpoint, one PostgreSQL: interleaved and
    duplicated updates for the same users go to either worker. Every answer is stored once
    and in order, every lead is delivered once (the dispatchers claim with SKIP LOCKED)."""
    url = new_pg_database(pg_cluster)
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        "contacts:\n  programmateam:\n    - name: Team\n      telegram_chat_id: 9001\n",
        encoding="utf-8",
    )
    ports = [free_port(), free_port()]
    workers = [
        start_bot(
            api,
            tmp_path,
            "webhook",
            MKBROUTE_DATABASE_URL=url,
            MKBROUTE_WEBHOOK_URL="https://bot.example.org/telegram",
            MKBROUTE_WEBHOOK_SECRET=SECRET,
            MKBROUTE_WEBHOOK_LISTEN="127.0.0.1",
            MKBROUTE_WEBHOOK_PORT=str(port),
            MKBROUTE_CONTACTS_FILE=str(contacts),
            MKBROUTE_DISPATCH_INTERVAL="0.2",
        )
        for port in ports
    ]
    users = list(range(8001, 8009))  # eight people, eight different names
    scripts = {u: employer_script(u) for u in users}
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    endpoints = [f"http://127.0.0.1:{p}/telegram" for p in ports]
    failures: list[str] = []
    try:
        for endpoint, worker in zip(endpoints, workers, strict=True):
            health = wait_healthy(endpoint.replace("/telegram", "/healthz"), worker)
            assert health["database"] == "ok" and health["outbox_waiting"] == 0

        def deliver(body: bytes, targets: list[str]) -> None:
            codes: list[int] = []
            threads = [
                threading.Thread(target=lambda t=t: codes.append(post(t, body, headers)))
                for t in targets
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if codes != [200] * len(targets):
                failures.append(f"HTTP {codes}")

        def user(u: int) -> None:
            rng = random.Random(u)
            for kind, value in scripts[u]:
                update = (
                    api.state.message_update(u, value)
                    if kind == "text"
                    else api.state.callback_update(u, 1, value)
                )
                update["update_id"] = api.state.next_update_id()
                body = json.dumps(update).encode()
                # Telegram redelivers now and then: sometimes the same update to both workers.
                targets = endpoints if rng.random() < 0.3 else [rng.choice(endpoints)]
                deliver(body, targets)

        threads = [threading.Thread(target=user, args=(u,)) for u in users]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures
        api.wait_for(lambda _: len(api.messages_to(9001)) >= len(users), timeout=60)
        time.sleep(1.5)  # a second delivery, if there were one, would arrive now
    finally:
        logs = [stop_bot(w) for w in workers]
    assert [code for code, _ in logs] == [0, 0], logs[0][1][-2000:] + logs[1][1][-2000:]

    reference = [_normal(t) for t in reference_replies(content, employer_script(0), tmp_path)]
    for u in users:
        got = [_normal(s.text) for s in api.messages_to(u)]
        want = [t.replace(person(0), person(u)) for t in reference]
        want = [t.replace("Bedrijf 0", f"Bedrijf {u}") for t in want]
        assert got == [w.replace(phone(0)[-4:], phone(u)[-4:]) for w in want], u

    rows = asyncio.run(_stored(url))
    leads, outbox, events, processed = rows
    assert sorted((lead["company"], lead["name"]) for lead in leads) == sorted(
        (f"Bedrijf {u} B.V.", person(u)) for u in users
    )
    assert processed == sum(len(s) for s in scripts.values())
    assert events == len(users)
    assert [o["status"] for o in outbox] == ["sent"] * len(users)
    cards = [s.text for s in api.messages_to(9001)]
    for lead in leads:
        assert sum(lead["ref"] in c for c in cards) == 1, lead["ref"]


def wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 60) -> dict[str, Any]:
    """Poll ``/healthz`` until it answers 200; fail early with the log if the worker died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: dict[str, Any] = json.loads(response.read())
                return body
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited:\n{read_log(proc)[-3000:]}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def _stored(url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, int]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        leads = [
            dict(r._mapping)
            for r in await conn.execute(select(LeadRow.ref, LeadRow.name, LeadRow.company))
        ]
        outbox = [dict(r._mapping) for r in await conn.execute(select(OutboxRow.status))]
        events = await conn.scalar(select(func.count()).where(EventRow.type == "lead_confirmed"))
        processed = await conn.scalar(select(func.count()).select_from(ProcessedInbound))
    await engine.dispose()
    return leads, outbox, int(events or 0), int(processed or 0)


def test_the_deploy_guide_from_an_empty_folder_to_a_webhook_bot_with_email(
    api: FakeBotAPI, tmp_path: Path, pg_cluster: PgCluster, mailbox: tuple[Mailbox, int]
) -> None:
    """Issue 17: docs/deploy.md walked as an operator would: .env from .env.example, the
    database in parts, `mkbroute db upgrade`, `doctor`, `webhook`, `health`, a lead from a
    user to a contact person's mailbox, `db current` and `leads`, then a clean stop."""
    from tests.conftest import ROOT, mkbroute
    from tests.support.botapi import TOKEN
    from tests.test_telegram_e2e import WEBHOOK_SECRET

    box, smtp_port = mailbox
    database = new_pg_database(pg_cluster).rsplit("/", 1)[1]
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        "contacts:\n  programmateam:\n    - name: Team\n      email: team@example.org\n"
        "  avans-bouwtalent:\n    - name: Anouk\n      email: anouk@example.org\n",
        encoding="utf-8",
    )
    port = free_port()
    filled = {
        "MKBROUTE_TELEGRAM_TOKEN": TOKEN,
        "MKBROUTE_TELEGRAM_API_URL": api.url,
        "MKBROUTE_TELEGRAM_FILE_URL": api.file_url,
        "MKBROUTE_WEBHOOK_URL": "https://bot.example.org/telegram",  # behind the proxy
        "MKBROUTE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "MKBROUTE_WEBHOOK_LISTEN": "127.0.0.1",
        "MKBROUTE_WEBHOOK_PORT": str(port),
        "MKBROUTE_DB_HOST": "127.0.0.1",
        "MKBROUTE_DB_PORT": str(pg_cluster.port),
        "MKBROUTE_DB_NAME": database,
        "MKBROUTE_DB_USER": "postgres",
        "MKBROUTE_DB_PASSWORD": "p@ss:w/rd",  # the test cluster trusts local connections
        "MKBROUTE_CONTACTS_FILE": str(contacts),
        "MKBROUTE_SMTP_HOST": "127.0.0.1",
        "MKBROUTE_SMTP_PORT": str(smtp_port),
        "MKBROUTE_SMTP_SECURITY": "none",
        "MKBROUTE_SMTP_FROM": "bot@example.org",
        "MKBROUTE_ADMIN_IDS": "4242",
        "MKBROUTE_DISPATCH_INTERVAL": "0.2",
    }
    # cp .env.example .env, then fill in: the documented lines, uncommented where set.
    lines = []
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        name = line.lstrip("# ").split("=", 1)[0]
        lines.append(f"{name}={filled[name]}" if name in filled else line)
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    use = {"MKBROUTE_ENV_FILE": str(env_file)}

    upgraded = mkbroute(tmp_path, "db", "upgrade", **use)
    assert upgraded.returncode == 0, upgraded.stderr
    doctor = mkbroute(tmp_path, "doctor", **use)
    assert doctor.returncode == 0, doctor.stdout
    assert "p@ss" not in doctor.stdout and "postgres:***@127.0.0.1" in doctor.stdout
    worker = start_bot(api, tmp_path, "webhook", **use)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", worker)
        assert mkbroute(tmp_path, "health", **use).returncode == 0
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
        }
        for kind, value in employer_script(7):
            update = (
                api.state.message_update(7007, value)
                if kind == "text"
                else api.state.callback_update(7007, 1, value)
            )
            update["update_id"] = api.state.next_update_id()
            assert (
                post(f"http://127.0.0.1:{port}/telegram", json.dumps(update).encode(), headers)
                == 200
            )
        deadline = time.monotonic() + 30
        while not box.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [m["To"] for m in box.messages] == ["anouk@example.org"]
        ref = re.search(r"L-\d{4}-\d{6}", str(box.messages[0]["Subject"]))
        assert ref is not None
        assert mkbroute(tmp_path, "db", "current", **use).returncode == 0
        listed = mkbroute(tmp_path, "leads", **use)
        assert ref.group(0) in listed.stdout and "bezorgd" in listed.stdout
    finally:
        code, log = stop_bot(worker)
    assert code == 0, log[-3000:]
