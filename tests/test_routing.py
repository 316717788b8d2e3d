"""Routing: every combination of field, level and province lands on a pilot or the fallback."""

from __future__ import annotations

import itertools

import pytest

from bot.content.bundle import Content
from bot.content.models import Pilot, Programme, Text, Verified
from bot.engine.engine import handle
from bot.engine.routing import route
from bot.engine.types import ConversationState, CreateLead, Inbound
from tests.conftest import NOW
from tests.support.answers import AVANS


@pytest.mark.parametrize("flow_id", ["student", "werkende", "werkgever"])
def test_every_combination_is_routed_with_reasons(content: Content, flow_id: str) -> None:
    flow = content.flows[flow_id]
    assert flow.routing is not None
    choices = {s.id: [c.id for c in s.choices] for s in flow.steps}
    r = flow.routing
    seen: set[str] = set()
    for field, level, province in itertools.product(
        choices[r.field], choices[r.level], choices[r.province]
    ):
        answers = {r.field: field, r.level: level, r.province: province}
        chosen = route(content.pilots, flow, answers)
        assert chosen.pilot in content.pilots
        assert chosen.reasons and "→" in chosen.reasons[0]
        seen.add(chosen.pilot)
    # Every route of the catalogue that can take leads is reachable by some answers.
    assert seen == {p.id for p in content.pilots.values() if p.provinces} | {"programmateam"}


@pytest.mark.parametrize(
    ("field", "level", "province", "pilot", "says"),
    [
        ("bouw", "bachelor", "noord_brabant", "avans-bouwtalent", "Bouwkunde"),
        ("bouw", "weet_niet", "noord_brabant", "avans-bouwtalent", "Civiele Techniek"),
        ("bouw", "ad", "noord_brabant", "programmateam", "geen pilot"),
        # An ASML employee is no construction lead: techniek in Brabant has no route.
        ("techniek", "bachelor", "noord_brabant", "programmateam", "geen pilot"),
        ("bouw", "ad", "overijssel", "saxion-ad-bouwkunde", "Bouwkunde"),
        ("logistiek", "ad", "friesland", "nhl-stenden-ad-logistiek", "Transport en Logistiek"),
        ("ict", "ad", "noord_holland", "hva-ad-ict", "ICT + Associate Degree + Noord-Holland"),
        ("ict", "bachelor", "noord_holland", "programmateam", "geen pilot"),
        ("zorg", "bachelor", "utrecht", "programmateam", "geen pilot"),
        ("zorg", "bachelor", "gelderland", "programmateam", "geen pilot"),
        ("zorg", "bachelor", "groningen", "nhl-stenden-duaal", "geen pilot; deze hogeschool"),
        ("bouw", "bachelor", "limburg", "programmateam", "geen pilot"),
    ],
)
def test_known_routes(
    content: Content, field: str, level: str, province: str, pilot: str, says: str
) -> None:
    flow = content.flows["student"]
    chosen = route(
        content.pilots, flow, {"richting": field, "niveau": level, "provincie": province}
    )
    assert chosen.pilot == pilot
    assert says in " ".join(chosen.reasons)


def test_a_likely_pilot_is_flagged_for_staff(content: Content) -> None:
    chosen = route(
        content.pilots,
        content.flows["werkende"],
        {"richting": "ict", "niveau": "ad", "provincie": "noord_holland"},
    )
    assert any("niet officieel bevestigd" in r for r in chosen.reasons)


def test_a_tie_goes_to_the_fallback(content: Content) -> None:
    twin = Pilot(
        id="tweeling",
        name=Text(nl="Tweeling", en="Twin"),
        programmes=(
            Programme(level="bachelor", field="bouw", name=Text(nl="Bouw", en="Building")),
        ),
        provinces=("noord_brabant",),
        audiences=("student",),
        status="confirmed",
        verified=Verified(source="test", date=NOW.date()),
    )
    pilots = {**content.pilots, "tweeling": twin}
    chosen = route(
        pilots,
        content.flows["student"],
        {"richting": "bouw", "niveau": "bachelor", "provincie": "noord_brabant"},
    )
    assert chosen.pilot == "programmateam" and "even goed" in chosen.reasons[0]


def test_the_user_is_told_who_will_get_in_touch(content: Content) -> None:
    s: ConversationState | None = None
    presses = AVANS
    for p in presses:
        s = handle(content, s, Inbound.button(p), NOW).session
    for text in ("Anna Bakker", "Bakker Bouw B.V."):
        s = handle(content, s, Inbound.from_text(text), NOW).session
    s = handle(content, s, Inbound.button("c:kanaal:email"), NOW).session
    turn = handle(content, s, Inbound.from_text("anna@example.org"), NOW)
    assert (
        "Je gegevens gaan naar Avans Hogeschool met Stichting BouwTalent Zuid"
        in turn.replies[0].text
    )
    turn = handle(content, turn.session, Inbound.button("confirm"), NOW)
    lead = next(e for e in turn.effects if isinstance(e, CreateLead))
    assert lead.pilot == "avans-bouwtalent" and lead.routing
    assert "contactpersoon van Avans Hogeschool" in turn.replies[0].text
