"""A SQLite file opened directly by a test, always closed again.

``with sqlite3.connect(path) as db:`` commits but never closes the connection; Python 3.13
reports that as a ResourceWarning, which the suite treats as an error.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def sqlite_file(path: str | Path) -> Iterator[sqlite3.Connection]:
    """The database at ``path``: committed when the block succeeds, closed in any case."""
    db = sqlite3.connect(path)
    try:
        with db:
            yield db
    finally:
        db.close()
