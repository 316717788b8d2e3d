"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from bot.store.db import create_engine, upgrade_schema
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
