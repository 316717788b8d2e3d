"""Database engine creation and schema upgrades (Alembic) at start."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

__all__ = [
    "alembic_config",
    "create_engine",
    "make_sessionmaker",
    "schema_revision",
    "upgrade_schema",
    "wipe_wal",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_MS = 5000
MIGRATION_LOCK = 0x6D6B62726F757466  # "mkbroutf": next to the polling lock's key


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers (staff exports) work while the bot writes; the busy timeout makes a
    # briefly locked database wait instead of failing the user's message at once.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows are overwritten with zeros, not left in free pages: an erasure must not
    # survive in the file (see wipe_wal for the write-ahead log).
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine; for a SQLite file the folder is created (0700) and WAL mode switched
    on, and the database file only readable by this user (0600; the CLI sets the umask for
    the -wal and -shm files)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database).expanduser()
            if not path.parent.exists():
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                path.touch(mode=0o600, exist_ok=True)
                path.chmod(0o600)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


async def wipe_wal(engine: AsyncEngine) -> None:
    """After an erasure on SQLite: move the write-ahead log into the file and truncate it, so
    no erased byte survives in ``-wal`` while the bot runs. A no-op on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _upgrade(conn: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def _current(conn: Connection) -> tuple[str | None, str | None]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return MigrationContext.configure(conn).get_current_revision(), head


async def schema_revision(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """(the database's revision, the newest migration's revision)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade_schema(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration; a no-op when it is current."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several workers starting at once: one migrates, the others wait for its commit
            # and then find the schema current.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(_upgrade)
