"""Flood control: a per-user token bucket (pure; the guard handler applies it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["FLOOD_NOTICE_EVERY", "FloodGuard"]

FLOOD_NOTICE_EVERY = 60.0


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    noticed: float = float("-inf")


@dataclass
class FloodGuard:
    """Per-user token bucket: a burst, then a steady rate; one notice a minute when exceeded."""

    burst: int = 10
    per_minute: int = 30
    clock: Callable[[], float] = field(default=time.monotonic)
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def check(self, user_id: int) -> Literal["ok", "notice", "drop"]:
        """'ok' to process, 'notice' to drop with the flood notice, 'drop' to drop silently."""
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
            if len(self._buckets) > 50_000:
                self._forget(now)
        bucket.tokens = min(
            float(self.burst), bucket.tokens + (now - bucket.stamp) * self.per_minute / 60.0
        )
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return "ok"
        if now - bucket.noticed >= FLOOD_NOTICE_EVERY:
            bucket.noticed = now
            return "notice"
        return "drop"

    def _forget(self, now: float) -> None:
        """Bound memory: forget users whose bucket has long been full again."""
        idle = 2 * 60.0 * self.burst / self.per_minute + FLOOD_NOTICE_EVERY
        for uid in [u for u, b in self._buckets.items() if now - b.stamp > idle]:
            del self._buckets[uid]
