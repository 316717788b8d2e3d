"""One polling bot per database: a second one refuses to start (T22).

SQLite: an OS file lock beside the database. PostgreSQL: a session-level advisory lock, held
by a connection of its own for the life of the process (webhook workers take none: several
may share one database).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["POLLING_LOCK", "AlreadyRunning", "InstanceLock", "advisory_guard"]

# "mkbroute" in ASCII: a fixed key that other applications on the same server will not use.
POLLING_LOCK = 0x6D6B62726F757465


class AlreadyRunning(RuntimeError):
    """Another process holds the lock."""


class InstanceLock:
    """An exclusive, non-blocking lock on a file; released when the process ends, even by a
    crash, because the operating system drops it with the file descriptor."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> InstanceLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(str(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


async def advisory_guard(engine: AsyncEngine) -> AsyncConnection:
    """Take the polling lock on PostgreSQL; the returned connection holds it until closed, and
    the server drops it when the process dies, so a crash never leaves it stuck."""
    conn = await engine.connect()
    got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": POLLING_LOCK})
    await conn.commit()
    if not got:
        await conn.close()
        raise AlreadyRunning("PostgreSQL advisory lock")
    return conn
