"""Content lint that needs the engine: replies of the questionnaires that are too long to read.

The verdict at the end of a questionnaire is put together at run time from many notes, so its
length can only be known by running the engine. :func:`long_replies` walks every audience flow
through :func:`bot.engine.engine.handle`, pressing the offered choice buttons depth first, in
both languages. Pure: no I/O, a fixed clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from bot.content.bundle import Content
from bot.content.conditions import All, AnyOf, Condition, Eq, Not, iter_eq
from bot.content.models import LANGS, PLACEHOLDER, Flow, Step, Text
from bot.engine import buttons as bid
from bot.engine.engine import handle
from bot.engine.types import ConversationState, Inbound, Reply

__all__ = ["MAX_REPLY", "long_replies"]

MAX_REPLY = 600
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
_SNIPPET = 60


def _fields(value: object) -> Iterator[object]:
    """The field values of a content model (a frozen pydantic model), else nothing."""
    for name in getattr(type(value), "model_fields", ()):
        yield getattr(value, name)


def _find(value: object, kinds: type | tuple[type, ...]) -> Iterator[Any]:
    """Every value of ``kinds`` anywhere inside a content model (steps, gotos, notes...)."""
    if isinstance(value, kinds):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _find(item, kinds)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _find(item, kinds)
    else:
        for item in _fields(value):
            yield from _find(item, kinds)


def _conditions(value: object) -> Iterator[Condition]:
    return _find(value, (Eq, All, AnyOf, Not))


def _texts(value: object) -> Iterator[Text]:
    return _find(value, Text)


def _mentioned(flows: tuple[Flow, ...]) -> dict[str, set[str]]:
    """Per step id, the choice ids that some condition of ``flows`` tests for."""
    out: dict[str, set[str]] = {}
    for flow in flows:
        for cond in _conditions(flow):
            for eq in iter_eq(cond):
                out.setdefault(eq.key, set()).update(eq.values)
    return out


def _placeholders(flow: Flow) -> set[str]:
    """The step ids whose chosen label is filled into a text ("Met je diploma ({diploma})")."""
    return {
        ph
        for text in _texts(flow)
        for lang in LANGS
        for ph in PLACEHOLDER.findall(getattr(text, lang))
    }


class _Walker:
    """Depth-first search over one audience flow in one language."""

    def __init__(self, content: Content, flow: Flow, lang: str, limit: int) -> None:
        self.content = content
        self.flow = flow
        self.lang = lang
        self.limit = limit
        self.steps: dict[str, Step] = {s.id: s for s in flow.steps}
        self.mentioned = _mentioned((flow, content.contact_flow))
        self.labelled = _placeholders(flow)
        self.contact_steps = {s.id for s in content.contact_flow.steps}
        self.seen_states: set[tuple[str | None, tuple[tuple[str, str], ...]]] = set()
        self.seen_texts: set[str] = set()
        self.found: list[str] = []

    def run(self) -> list[str]:
        start = handle(self.content, None, Inbound.from_text("/start", lang=self.lang), NOW)
        turn = handle(self.content, start.session, Inbound.button(bid.menu(self.flow.id)), NOW)
        self.visit(turn.session, turn.replies, ())
        return self.found

    def visit(
        self, session: ConversationState, replies: tuple[Reply, ...], path: tuple[str, ...]
    ) -> None:
        for reply in replies:
            self.check(reply.text, path)
        if self.finished(session, replies):
            return
        state = (session.step, tuple(sorted(session.answers.items())))
        if state in self.seen_states:
            return
        self.seen_states.add(state)
        for choice in self.options(session, replies):
            turn = handle(
                self.content, session, Inbound.button(bid.choice(session.step or "", choice)), NOW
            )
            self.visit(turn.session, turn.replies, (*path, f"{session.step}={choice}"))

    def finished(self, session: ConversationState, replies: tuple[Reply, ...]) -> bool:
        """The questionnaire is over: its session ended or the contact flow took over."""
        if session.mode != "flow" or session.flow != self.flow.id:
            return True
        return any(
            (pressed := bid.parse(b.id)).kind == "c" and pressed.arg in self.contact_steps
            for r in replies
            for b in r.buttons
        )

    def options(self, session: ConversationState, replies: tuple[Reply, ...]) -> list[str]:
        """The offered choices of the open step; those no condition tells apart count once."""
        step = self.steps.get(session.step or "")
        if step is None:
            return []
        pressed = [bid.parse(b.id) for r in replies for b in r.buttons]
        offered = list(
            dict.fromkeys(p.arg2 for p in pressed if p.kind == "c" and p.arg == step.id)
        )
        mentioned = self.mentioned.get(step.id, set())
        kept = [c for c in offered if c in mentioned]
        rest = [c for c in offered if c not in mentioned]
        if rest:
            if step.id in self.labelled:
                # The label ends up in a text: the longest one makes the longest reply.
                labels = {c.id: len(c.label.get(self.lang)) for c in step.choices}
                rest.sort(key=lambda c: -labels.get(c, 0))
            kept.append(rest[0])
        return kept

    def check(self, text: str, path: tuple[str, ...]) -> None:
        if len(text) <= self.limit or text in self.seen_texts:
            return
        self.seen_texts.add(text)
        where = f"after {', '.join(path)}" if path else "at the start"
        snippet = " ".join(text.split())[:_SNIPPET]
        self.found.append(
            f"flow {self.flow.id!r} ({self.lang}): reply of {len(text)} characters "
            f"{where}: '{snippet}…'"
        )


def long_replies(content: Content, limit: int = MAX_REPLY) -> list[str]:
    """Every questionnaire reply longer than ``limit`` characters, per flow and language."""
    found: list[str] = []
    for flow in content.audiences:
        for lang in LANGS:
            found += _Walker(content, flow, lang, limit).run()
    return list(dict.fromkeys(found))
