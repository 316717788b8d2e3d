"""Button ids (issue 16): one grammar, built and parsed in bot/engine/buttons.py only."""

from __future__ import annotations

import pytest

from bot.content.bundle import Content
from bot.engine import buttons as bid
from bot.engine.engine import handle
from bot.engine.types import Inbound
from tests.conftest import NOW
from tests.support.answers import AVANS


@pytest.mark.parametrize(
    ("built", "parsed"),
    [
        (bid.choice("leeftijd", "16_17"), bid.Pressed("c", "leeftijd", "16_17")),
        (bid.menu("student"), bid.Pressed("menu", "student")),
        (bid.kb("collegegeld"), bid.Pressed("kb", "collegegeld")),
        (bid.erase_yes(29_000_000), bid.Pressed("erase", "yes", "29000000")),
        (
            bid.decline_why("L-2026-000123", "regio"),
            bid.Pressed("declinewhy", "L-2026-000123", "regio"),
        ),
        (bid.CONFIRM, bid.Pressed("confirm")),
        ("", bid.Pressed("")),  # a forged, empty id parses (and is stale)
    ],
)
def test_every_id_parses_back(built: str, parsed: bid.Pressed) -> None:
    assert bid.parse(built) == parsed


def test_every_button_the_engine_shows_uses_the_grammar(content: Content) -> None:
    """Walk an employer to a lead summary pressing every offered button once: each id is of a
    known kind and fits Telegram's 64 bytes of callback data."""
    session = None
    seen: set[str] = set()
    for press in ["/start", *AVANS]:
        inbound = Inbound.from_text(press) if press.startswith("/") else Inbound.button(press)
        turn = handle(content, session, inbound, NOW)
        session = turn.session
        for reply in turn.replies:
            for button in reply.buttons:
                seen.add(button.id)
                probe = handle(content, session, Inbound.button(button.id), NOW)
                assert probe.replies, button.id
    assert len(seen) > 20
    for button_id in seen:
        assert bid.parse(button_id).kind in bid.KINDS, button_id
        assert len(button_id.encode()) <= 64, button_id
