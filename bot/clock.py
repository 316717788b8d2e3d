"""The wall clock, in one place: every stored time is an aware UTC datetime."""

from __future__ import annotations

import datetime as dt

__all__ = ["utcnow"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
