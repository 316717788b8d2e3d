"""Conversation tests written as data: each tests/conversations/*.yaml is a transcript of user
lines and the behaviour expected from the bot, replayed through the pure engine.

A transcript: ``name``, optional ``lang``, and ``steps``. Each step is one of
``user: <text or /command>`` or ``press: <button id>`` (the button must be on offer in the bot's
previous replies, unless ``stale: true``), with expectations:

- ``says``: text or list of texts that must appear in the bot's replies (case-insensitive);
- ``not_says``: texts that must not appear;
- ``buttons`` / ``no_buttons``: button ids that must / must not be offered;
- ``events``: event types the turn must emit; ``no_events``: types it must not;
- ``verdict``: the verdict of an ``outcome`` event in this turn;
- ``lead``: a mapping the turn's CreateLead must match (``false``: no lead may be created);
- ``contact_stored``: whether any personal data is held in the session after the turn;
- ``unanswered``: true when the turn must log an unanswered question.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.content.bundle import Content
from bot.engine.engine import handle
from bot.engine.types import ConversationState, CreateLead, Event, Inbound, Turn, Unanswered
from tests.conftest import NOW

FILES = sorted((Path(__file__).parent / "conversations").glob("*.yaml"))
KEYS = {
    "user",
    "press",
    "stale",
    "says",
    "not_says",
    "buttons",
    "no_buttons",
    "events",
    "no_events",
    "verdict",
    "lead",
    "contact_stored",
    "unanswered",
}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _check(turn: Turn, step: dict[str, Any], where: str) -> None:
    text = "\n".join(r.text for r in turn.replies)
    low = text.casefold()
    offered = [b.id for r in turn.replies for b in r.buttons]
    events = [e for e in turn.effects if isinstance(e, Event)]
    types = [e.type for e in events]
    show = f"{where}\n--- bot said:\n{text}\n--- buttons: {offered}\n--- events: {types}"
    for s in _list(step.get("says", [])):
        assert str(s).casefold() in low, f"expected {s!r}\n{show}"
    for s in _list(step.get("not_says", [])):
        assert str(s).casefold() not in low, f"did not expect {s!r}\n{show}"
    for b in _list(step.get("buttons", [])):
        assert b in offered, f"expected button {b!r}\n{show}"
    for b in _list(step.get("no_buttons", [])):
        assert b not in offered, f"did not expect button {b!r}\n{show}"
    for e in _list(step.get("events", [])):
        assert e in types, f"expected event {e!r}\n{show}"
    for e in _list(step.get("no_events", [])):
        assert e not in types, f"did not expect event {e!r}\n{show}"
    if "verdict" in step:
        verdicts = [e.data["verdict"] for e in events if e.type == "outcome"]
        assert verdicts == [step["verdict"]], f"expected verdict {step['verdict']}\n{show}"
        outcome = next(e for e in events if e.type == "outcome")
        assert outcome.data["reasons"], f"an outcome must give reasons\n{show}"
    leads = [e for e in turn.effects if isinstance(e, CreateLead)]
    if step.get("lead") is False:
        assert not leads, f"no lead expected\n{show}"
    elif isinstance(step.get("lead"), dict):
        assert len(leads) == 1, f"expected one lead\n{show}"
        for key, want in step["lead"].items():
            assert getattr(leads[0], key) == want, f"lead.{key}: {getattr(leads[0], key)!r}"
    if "contact_stored" in step:
        assert bool(turn.session.contact) == step["contact_stored"], (
            f"personal data held: {sorted(turn.session.contact)}\n{show}"
        )
    if "unanswered" in step:
        logged = any(isinstance(e, Unanswered) for e in turn.effects)
        assert logged == step["unanswered"], f"unanswered logged: {logged}\n{show}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(content: Content, path: Path) -> None:
    script = yaml.safe_load(path.read_text(encoding="utf-8"))
    session: ConversationState | None = None
    offered: list[str] = []
    lang = script.get("lang", "nl")
    for i, step in enumerate(script["steps"]):
        unknown = set(step) - KEYS
        assert not unknown, f"{path.name} step {i}: unknown keys {unknown}"
        where = f"{path.name} step {i}: {step.get('user', step.get('press'))!r}"
        if "press" in step:
            if not step.get("stale"):
                assert step["press"] in offered, f"{where}: button not on offer: {offered}"
            inbound = Inbound.button(step["press"], lang)
        else:
            inbound = Inbound.from_text(str(step["user"]), lang)
        turn = handle(content, session, inbound, NOW)
        _check(turn, step, where)
        # Round-trip through JSON every turn, exactly as the database does.
        session = ConversationState.from_json(turn.session.to_json())
        offered = [b.id for r in turn.replies for b in r.buttons]


def test_transcripts_exist() -> None:
    assert len(FILES) >= 10
