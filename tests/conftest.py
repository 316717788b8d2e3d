"""Shared fixtures: the shipped content, a fixed clock, and a real SQLite database per test."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.content.bundle import Content
from bot.content.loader import load_content
from bot.runtime import Runtime
from bot.store.db import create_engine, make_sessionmaker, upgrade_schema

ROOT = Path(__file__).resolve().parent.parent
# An employer in Noord-Brabant with a supervisor, up to the consent: routed to Avans/BouwTalent.
AVANS = [
    "menu:werkgever",
    "c:medewerkers:10_49",
    "c:doel:aannemen",
    "c:begeleider:ja",
    "c:sector:techniek",
    "c:niveau:bachelor",
    "c:provincie:noord_brabant",
    "c:aanbod:ja",
    "c:toestemming:ja",
]
NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for running ``mkbroute`` in a subprocess: nothing of the developer's own
    MKBROUTE_ settings, a data folder of the test's own, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MKBROUTE_")}
    env.update(MKBROUTE_DATA_DIR=str(data_dir), **extra)
    return env


@pytest.fixture(scope="session")
def content() -> Content:
    return load_content(ROOT)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'mkbroute.db'}"


@pytest.fixture
async def runtime(content: Content, db_url: str) -> AsyncIterator[Runtime]:
    engine = create_engine(db_url)
    await upgrade_schema(engine)
    yield Runtime(content, make_sessionmaker(engine), clock=lambda: NOW)
    await engine.dispose()
