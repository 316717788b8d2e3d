"""Rule 3: a typed answer to a choice step is never guessed.

For every choice step of every flow, short random words and numbers only ever answer the step
when they are a label or alias, a number inside a choice's range, or a close match of a form of
at least four characters. Everything else is a "Bedoel je...?" with buttons, or a new question.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from bot.content.bundle import Content
from bot.content.models import Step
from bot.engine.engine import _choice_forms, _match_choice
from bot.knowledge.text import fold

WORDS = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
    st.sampled_from(
        [
            "tja",
            "jaar",
            "tweejarig",
            "jawel",
            "neehoor",
            "nou",
            "hmm",
            "ok",
            "oke",
            "jaja",
            "misschien wel",
            "geen",
            "niet",
            "iets",
            "business",
            "landbouw",
            "tilburg",
            "x",
        ]
    ),
    st.integers(min_value=0, max_value=100_000).map(str),
    st.from_regex(r"\A[a-z]{1,6} [0-9]{1,4}\Z"),
)


def _choice_steps(content: Content) -> list[tuple[str, Step]]:
    return [(f.id, s) for f in content.flows.values() for s in f.steps if s.choices]


def _justified(step: Step, text: str, choice_id: str) -> bool:
    """Why an answer may be taken: the exact form, a number in range, or a clear match."""
    query = fold(text)
    choice = next(c for c in step.choices if c.id == choice_id)
    forms = [fold(f) for f in _choice_forms(choice)]
    if query in forms:
        return True
    numbers = [int(n) for n in re.findall(r"\d+", text.replace(".", "").replace(",", ""))]
    if choice.range and len(numbers) == 1 and choice.range[0] <= numbers[0] <= choice.range[1]:
        return True
    long_forms = [f for f in forms if len(f) >= 4]
    return len(query) >= 4 and any(
        fuzz.ratio(query, f) >= 88 or f" {f} " in f" {query} " for f in long_forms
    )


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_short_words_and_numbers_never_answer_without_reason(
    content: Content, data: st.DataObject
) -> None:
    steps = _choice_steps(content)
    flow_id, step = data.draw(st.sampled_from(steps), label="step")
    text = data.draw(WORDS, label="text")
    status, ids, _ = _match_choice(step, text)
    if status == "answer":
        assert _justified(step, text, ids[0]), f"{flow_id}.{step.id}: {text!r} -> {ids[0]}"


@pytest.mark.parametrize(
    ("flow", "step", "text"),
    [
        ("werkende", "steun", "tja"),
        ("werkende", "steun", "jaar"),
        ("werkende", "steun", "tweejarig"),
        ("student", "diploma", "2"),
        ("student", "diploma", "3"),
        ("student", "diploma", "4"),
        ("werkgever", "provincie", "landbouw"),
        ("werkgever", "sector", "landbouw"),
    ],
)
def test_misread_answers_of_the_review_are_not_taken(
    content: Content, flow: str, step: str, text: str
) -> None:
    found = next(s for s in content.flows[flow].steps if s.id == step)
    assert _match_choice(found, text)[0] != "answer"


@pytest.mark.parametrize(
    ("flow", "step", "text", "choice"),
    [
        ("werkgever", "medewerkers", "ongeveer 1.200 man", "250_plus"),
        ("werkgever", "medewerkers", "1500", "250_plus"),
        ("werkgever", "medewerkers", "1200 medewerkers", "250_plus"),
        ("werkgever", "medewerkers", "we zijn met 35", "10_49"),
        ("werkgever", "provincie", "Tilburg", "noord_brabant"),
        ("werkende", "provincie", "Den Bosch", "noord_brabant"),
        ("student", "provincie", "ik woon in Zwolle", "overijssel"),
        ("werkende", "steun", "nog niet", "nog_niet"),
        ("werkende", "steun", "ik weet het niet", "nog_niet"),
        ("student", "diploma", "ik heb havo", "havo"),
    ],
)
def test_clear_answers_are_understood(
    content: Content, flow: str, step: str, text: str, choice: str
) -> None:
    found = next(s for s in content.flows[flow].steps if s.id == step)
    assert _match_choice(found, text)[:2] == ("answer", (choice,))


def test_every_choice_step_is_covered(content: Content) -> None:
    # The property above samples from these; a flow without choice steps would make it vacuous.
    assert {flow for flow, _ in _choice_steps(content)} >= {
        "student",
        "werkende",
        "werkgever",
        "contact",
    }
