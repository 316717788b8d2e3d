"""Random and hostile input never breaks the engine or its promises (a bounded T14)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content.bundle import Content
from bot.engine.engine import handle
from bot.engine.types import ConversationState, CreateLead, Inbound
from tests.conftest import NOW

COMMANDS = [
    "/start",
    "/menu",
    "/vraag",
    "/terug",
    "/opnieuw",
    "/stop",
    "/privacy",
    "/taal",
    "/taal en",
    "/help",
    "/onbekend",
    "/vraag wat kost het",
]
BUTTONS = [
    "menu:student",
    "menu:werkende",
    "menu:werkgever",
    "menu:vraag",
    "back",
    "restart",
    "resume",
    "confirm",
    "cancel",
    "privacy",
    "edit:naam",
    "edit:email",
    "lang:en",
    "kb:duur",
    "kb:bestaat-niet",
    "c:leeftijd:onder_16",
    "c:x:y",
    "menu:contact",
    ":::",
]
texts = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "17",
            "15",
            "ja",
            "nee",
            "havo",
            "Jan Jansen",
            "jan@example.org",
            "06 12345678",
            "=1+1",
            "<b>hi</b>",
            "\u202e\u0000",
            "9" * 40,
            "?",
        ]
    ),
)


def inbound() -> st.SearchStrategy[Inbound]:
    return st.one_of(
        texts.map(Inbound.from_text),
        st.sampled_from(COMMANDS).map(Inbound.from_text),
        st.sampled_from(BUTTONS).map(Inbound.button),
        st.text(max_size=80).map(Inbound.button),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(inbound(), min_size=1, max_size=40), choices=st.data())
def test_random_conversations_keep_the_promises(
    content: Content, script: list[Inbound], choices: st.DataObject
) -> None:
    session: ConversationState | None = None
    offered: list[str] = []
    leads = 0
    for message in script:
        # Half the time press a button the bot really offered, as a user would.
        press: bool = choices.draw(st.booleans())
        if offered and press:
            message = Inbound.button(choices.draw(st.sampled_from(offered)))
        turn = handle(content, session, message, NOW)
        assert turn.replies, f"no reply to {message}"
        for reply in turn.replies:
            assert 0 < len(reply.text) <= 4096
            for button in reply.buttons:
                assert 0 < len(button.id.encode()) <= 64 and button.label
        s = turn.session
        if s.contact:
            assert s.consent is not None, "personal data held without consent"
        if (
            s.answers.get("leeftijd") == "onder_16"
            or s.answers.get("leeftijd_minderjarig") == "onder_16"
        ):
            assert not s.contact
        for effect in turn.effects:
            if isinstance(effect, CreateLead):
                leads += 1
                under_16 = "onder_16" in (
                    effect.answers.get("leeftijd"),
                    effect.answers.get("leeftijd_minderjarig"),
                )
                assert not under_16, "a lead was created for someone under 16"
                assert effect.consent_at and effect.consent_version
        assert leads <= s.run, "more leads than questionnaire runs"
        session = ConversationState.from_json(s.to_json())
        assert session == s
        offered = [b.id for r in turn.replies for b in r.buttons]
