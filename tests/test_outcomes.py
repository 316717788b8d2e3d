"""Every combination of answers in every questionnaire gets a verdict that explains itself.

The questionnaires are small enough to walk exhaustively through the real engine: each path ends
in a verdict with reasons and next steps, the policy in the foundation issue holds on every path,
and nobody under 16 is ever offered contact.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.content.bundle import Content
from bot.content.models import Flow
from bot.engine.engine import handle
from bot.engine.types import ConversationState, Event, Inbound, Turn
from tests.conftest import NOW


def walk(content: Content, flow: Flow) -> Iterator[tuple[dict[str, str], Turn]]:
    """Depth-first over every choice at every step the engine actually asks."""
    start = handle(content, ConversationState(), Inbound.button(f"menu:{flow.id}"), NOW)
    stack: list[tuple[Turn, dict[str, str]]] = [(start, {})]
    while stack:
        turn, answers = stack.pop()
        s = turn.session
        if s.mode != "flow" or s.flow != flow.id:
            yield answers, turn
            continue
        step = next(x for x in flow.steps if x.id == s.step)
        for choice in step.choices:
            nxt = handle(content, s, Inbound.button(f"c:{step.id}:{choice.id}"), NOW)
            stack.append((nxt, {**answers, step.id: choice.id}))


def outcome(turn: Turn) -> Event:
    return next(e for e in turn.effects if isinstance(e, Event) and e.type == "outcome")


def offered_contact(turn: Turn) -> bool:
    return any(b.id == "c:aanbod:ja" for r in turn.replies for b in r.buttons)


ADMISSIBLE = {"havo", "vwo", "mbo4", "propedeuse", "hbo"}


def expected(flow: str, a: dict[str, str]) -> str:
    """The questionnaire policy (issues 2 and 13), written independently of the YAML."""
    abroad = a.get("provincie") == "buitenland"  # the route is Dutch: at most "mogelijk"
    if flow == "werkgever":
        if a["medewerkers"] == "250_plus":
            return "nog_niet"
        return "mogelijk" if a["begeleider"] != "ja" or abroad else "geschikt"
    if a["diploma"] in ("mbo123", "geen"):
        return "mogelijk" if a["leeftijd"] == "21_plus" else "nog_niet"
    if a["diploma"] == "buitenlands" or abroad:
        return "mogelijk"
    if flow == "student":
        return "geschikt" if a["werkplek"] == "mkb" else "mogelijk"
    return "geschikt" if a["werkgever"] == "mkb" and a.get("steun") == "ja" else "mogelijk"


def under_16(a: dict[str, str]) -> bool:
    return a.get("leeftijd") == "onder_16" or a.get("leeftijd_minderjarig") == "onder_16"


@pytest.mark.parametrize("flow_id", ["student", "werkende", "werkgever"])
def test_every_path_follows_the_policy(content: Content, flow_id: str) -> None:
    flow = content.flows[flow_id]
    paths = 0
    for answers, turn in walk(content, flow):
        paths += 1
        event = outcome(turn)
        verdict = event.data["verdict"]
        assert verdict == expected(flow_id, answers), answers
        assert event.data["reasons"], f"no reasons for {answers}"
        text = "\n".join(r.text for r in turn.replies)
        assert "Wat je nu kunt doen:\n•" in text, f"no next steps for {answers}"
        # The deployment's values are filled in by the runtime; nothing else may be left.
        left = text.replace("{org_contact}", "").replace("{session_days}", "")
        assert "{" not in left, f"unfilled placeholder for {answers}: {text}"
        if under_16(answers):
            assert not offered_contact(turn), answers
            assert "jonger bent dan 16" in text
            # Nothing may invite a child under 16 to leave details or contact someone here.
            assert "contactpersoon" not in text.casefold(), answers
        else:
            assert offered_contact(turn) == (verdict != "nog_niet"), answers
    assert paths > 1000


def test_reasons_name_the_users_own_answers(content: Content) -> None:
    # A label is only pasted where it reads well ("met je diploma (havo)"), never as
    # "geen van deze is niet genoeg".
    for diploma, label in (("havo", "havo"), ("mbo4", "mbo niveau 4")):
        s = handle(content, None, Inbound.button("menu:student"), NOW).session
        picks = [
            ("leeftijd", "18_20"),
            ("diploma", diploma),
            ("niveau", "ad"),
            ("richting", "ict"),
            ("provincie", "utrecht"),
            ("werkplek", "mkb"),
        ]
        for step, choice in picks:
            turn = handle(content, s, Inbound.button(f"c:{step}:{choice}"), NOW)
            s = turn.session
        assert any(label in r for r in outcome(turn).data["reasons"]), (diploma, outcome(turn))


def test_paths_cover_each_verdict(content: Content) -> None:
    seen = {
        (flow.id, outcome(turn).data["verdict"])
        for flow in content.audiences
        for _, turn in walk(content, flow)
    }
    for flow in ("student", "werkende", "werkgever"):
        for verdict in ("geschikt", "mogelijk", "nog_niet"):
            assert (flow, verdict) in seen


@pytest.mark.parametrize("flow_id", ["student", "werkende", "werkgever"])
def test_positive_verdicts_tell_the_benefits_and_forward_on_their_own(
    content: Content, flow_id: str
) -> None:
    """Issue 13 §1: every geschikt/mogelijk verdict says what the route gives, with buttons to
    the deeper answers; a message meant for forwarding is a reply of its own."""
    flow = content.flows[flow_id]
    forwards = 0
    for answers, turn in walk(content, flow):
        verdict = outcome(turn).data["verdict"]
        texts = [r.text for r in turn.replies]
        benefit = [r for r in turn.replies if r.text.startswith("Wat het je oplevert:")]
        if verdict == "nog_niet":
            assert not benefit, answers
            continue
        assert len(benefit) == 1 and benefit[0].text.count("•") >= 2, (answers, texts)
        assert all(b.id.startswith("kb:") for b in benefit[0].buttons) and benefit[0].buttons
        for i, text in enumerate(texts):
            if "www.mkbrouteinhbo.nl" in text and "Meer informatie" in text:
                forwards += 1
                assert "Mijn inschatting" not in text and "Wat het je oplevert" not in text
                # Introduced at the end of the benefits message just before it.
                assert texts[i - 1].startswith("Wat het je oplevert:"), texts[i - 1]
                assert texts[i - 1].rstrip().endswith((":", "door."))
    assert forwards > 0
