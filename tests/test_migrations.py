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


def test_upgrading_keeps_existing_leads_and_downgrade_works(tmp_path: object) -> None:
    """A lead stored before the routing column existed survives the upgrade; down and up again."""
    import sqlite3
    from pathlib import Path

    from alembic import command

    from bot.store.db import alembic_config

    path = Path(str(tmp_path)) / "old.db"
    cfg = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(cfg, "0001")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO leads (ref, user_key, run, flow, verdict, reasons, answers, minor, lang,"
            " status, consent_version, consent_at, created_at) VALUES ('L-2026-000001', 'u', 1,"
            " 'student', 'geschikt', '[]', '{}', 0, 'nl', 'new', 'v1', '2026-11-29', '2026-11-29')"
        )
    command.upgrade(cfg, "head")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT ref, routing FROM leads").fetchall() == [("L-2026-000001", "[]")]
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM leads").fetchone() == (0,)
