"""The loaded, validated and frozen content the engine works on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.content.models import Entry, Flow, Messages, Pilot
from bot.knowledge.matcher import KnowledgeIndex

__all__ = ["Content"]


@dataclass(frozen=True, slots=True)
class Content:
    flows: Mapping[str, Flow]
    messages: Messages
    knowledge: Mapping[str, Entry]
    index: KnowledgeIndex
    version: str
    pilots: Mapping[str, Pilot]

    @property
    def fallback_pilot(self) -> Pilot:
        return next(p for p in self.pilots.values() if p.fallback)

    @property
    def audiences(self) -> tuple[Flow, ...]:
        """The questionnaires offered in the start menu, in menu order."""
        return tuple(
            sorted((f for f in self.flows.values() if f.kind == "audience"), key=lambda f: f.order)
        )

    @property
    def contact_flow(self) -> Flow:
        return next(f for f in self.flows.values() if f.kind == "contact")
