"""Shared fixtures: the shipped content, a fixed clock, and a real database per test (a SQLite
file, and again on a throwaway PostgreSQL server)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bot.content.bundle import Content
from bot.content.loader import load_content
from bot.runtime import Runtime
from bot.store.db import create_engine, make_sessionmaker, upgrade_schema
from tests.support.answers import AVANS
from tests.support.botapi import FakeBotAPI
from tests.support.mail import Mailbox
from tests.support.pg import PgCluster, find_bindir, new_pg_database

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)


def avans_lead_lines(user: str = "z") -> list[object]:
    """`mkbroute chat --jsonl` lines: an employer in Brabant confirms a lead by e-mail."""
    lines: list[object] = [{"user": user, "button": b} for b in AVANS]
    return [
        *lines,
        {"user": user, "text": "Zoë Jansen"},
        {"user": user, "text": "Jansen Bouw"},
        {"user": user, "button": "c:kanaal:email"},
        {"user": user, "text": "zoe@example.org"},
        {"user": user, "button": "confirm"},
    ]


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for running ``mkbroute`` in a subprocess: nothing of the developer's own
    MKBROUTE_ settings, a data folder of the test's own, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MKBROUTE_")}
    # Nor a .env file the developer keeps in the checkout.
    env.update({"MKBROUTE_DATA_DIR": str(data_dir), "MKBROUTE_ENV_FILE": "", **extra})
    return env


def mkbroute(
    data_dir: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``mkbroute ARGS`` in a subprocess with :func:`cli_env` (``env`` adds settings)."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        env=cli_env(data_dir, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def chat_jsonl(data_dir: Path, lines: Sequence[object], **env: str) -> list[dict[str, Any]]:
    """Feed ``lines`` (dicts, or raw strings) to ``mkbroute chat --jsonl``; its answers."""
    stdin = "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines)
    proc = mkbroute(data_dir, "chat", "--jsonl", stdin=stdin, **env)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.fixture(scope="session")
def content() -> Content:
    return load_content(ROOT)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL server for the whole run; each test gets a database of its own."""
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("MKBROUTE_TEST_PG") == "require":
            pytest.fail("MKBROUTE_TEST_PG=require, but no PostgreSQL binaries were found")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    cluster = PgCluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'mkbroute.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, and (second run of the test) a real PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'mkbroute.db'}"
    return new_pg_database(request.getfixturevalue("pg_cluster"))


@pytest.fixture
async def runtime(content: Content, db_url: str) -> AsyncIterator[Runtime]:
    engine = create_engine(db_url)
    await upgrade_schema(engine)
    yield Runtime(content, make_sessionmaker(engine), clock=lambda: NOW)
    await engine.dispose()


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    """The Bot API emulator on 127.0.0.1 (tests/support/botapi.py)."""
    server = FakeBotAPI().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()
