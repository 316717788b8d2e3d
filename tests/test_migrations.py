"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from bot.store.db import alembic_config, create_engine, upgrade_schema
from bot.store.models import Base


def _diff(conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_upgrade_from_empty_matches_the_models_and_is_idempotent(db_url: str) -> None:
    engine = create_engine(db_url)
    await upgrade_schema(engine)
    await upgrade_schema(engine)  # a second start finds the schema current
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
        tables = await conn.run_sync(_tables)
    assert {"sessions", "processed_inbound", "leads", "consents", "events", "unanswered"} <= tables
    await engine.dispose()


def _sql(url: str, statement: str) -> list[tuple[object, ...]]:
    """Run one statement outside Alembic, as an operator's old data would have been written."""

    async def run() -> list[tuple[object, ...]]:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement))
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrading_keeps_existing_leads_and_downgrade_works(db_url: str) -> None:
    """A lead stored before the routing column existed survives the upgrade; down and up again."""
    cfg = alembic_config(db_url)
    command.upgrade(cfg, "0001")
    _sql(
        db_url,
        "INSERT INTO leads (ref, user_key, run, flow, verdict, reasons, answers, minor, lang,"
        " status, consent_version, consent_at, created_at) VALUES ('L-2026-000001', 'u', 1,"
        " 'student', 'geschikt', '[]', '{}', false, 'nl', 'new', 'v1', '2026-11-29',"
        " '2026-11-29')",
    )
    command.upgrade(cfg, "head")
    rows = _sql(db_url, "SELECT ref, routing FROM leads")
    assert [(ref, str(routing)) for ref, routing in rows] == [("L-2026-000001", "[]")]
    command.downgrade(cfg, "base")
    assert "leads" not in _sql_tables(db_url)
    command.upgrade(cfg, "head")
    assert _sql(db_url, "SELECT count(*) FROM leads") == [(0,)]


def _sql_tables(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_tables)
        finally:
            await engine.dispose()

    return asyncio.run(run())
