"""The one content holder of a running process.

The conversation, the handoff dispatcher and the Telegram adapter all read the content through
the same holder, so ``/herlaad`` swaps it for every one of them at once (before, lead cards,
reminders and the fallback pilot kept coming from the old files after a reload).
"""

from __future__ import annotations

from bot.content.bundle import Content

__all__ = ["ContentHolder", "holder_of"]


class ContentHolder:
    """Holds the current :class:`Content`; :meth:`swap` replaces it for every reader."""

    def __init__(self, content: Content) -> None:
        self._content = content

    @property
    def current(self) -> Content:
        return self._content

    def swap(self, content: Content) -> None:
        # One attribute assignment: a reader sees the old or the new content, never a mix.
        self._content = content


def holder_of(content: Content | ContentHolder) -> ContentHolder:
    """Share ``content`` if it is already a holder, else hold it (tests pass plain content)."""
    return content if isinstance(content, ContentHolder) else ContentHolder(content)
