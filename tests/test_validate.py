"""Typed answers: names, e-mail addresses, phone numbers and free text."""

from __future__ import annotations

import pytest

from bot.engine.validate import Invalid, Valid, validate
from bot.knowledge.text import clean_input, scrub


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("06 12345678", "+31612345678"),
        ("06-12345678", "+31612345678"),
        ("+31 6 1234 5678", "+31612345678"),
        ("0031612345678", "+31612345678"),
        ("020 123 4567", "+31201234567"),
        ("+32 470 12 34 56", "+32470123456"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_numbers_are_stored_as_e164(raw: str, stored: str) -> None:
    assert validate("phone", raw) == Valid(stored)


@pytest.mark.parametrize(
    "raw", ["12345", "06 1234", "bel me maar", "+31 6 1234 5678 9999", "=1+2"]
)
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    assert validate("phone", raw) == Invalid("invalid_phone")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("sanne@example.org", "sanne@example.org"),
        (" Sanne.de.Vries@Example.ORG ", "Sanne.de.Vries@example.org"),
        ("<jan+mkb@mail.example.nl>", "jan+mkb@mail.example.nl"),
        # Internationalised domains are stored in the ASCII form every mail server accepts.
        ("info@bakkerij-müller.nl", "info@xn--bakkerij-mller-psb.nl"),
        ("Anna@Bücher.DE", "Anna@xn--bcher-kva.de"),
    ],
)
def test_email_addresses(raw: str, stored: str) -> None:
    assert validate("email", raw) == Valid(stored)


@pytest.mark.parametrize(
    "raw",
    [
        "sanne@",
        "sanne.example.org",
        "sanne@example",
        "a b@example.org",
        "x@@y.nl",
        "jan..jansen@example.org",
        "=HYPERLINK(1)@x.nl x",
    ],
)
def test_bad_email_addresses(raw: str) -> None:
    assert validate("email", raw) == Invalid("invalid_email")


@pytest.mark.parametrize("raw", ["Sanne de Vries", "Zoë O'Neill", "José-María", "Ng", "Đặng Thị"])
def test_names(raw: str) -> None:
    assert validate("name", raw, 100) == Valid(raw)


@pytest.mark.parametrize(
    "raw", ["x", "1234", "wat is dit?", "jan@example.org", "=cmd|' /C calc'!A0"]
)
def test_not_names(raw: str) -> None:
    assert validate("name", raw, 100) == Invalid("invalid_name")


def test_long_answers_are_refused_not_cut() -> None:
    assert validate("name", "a" * 101, 100) == Invalid("too_long")
    assert validate("text", "b" * 121, 120) == Invalid("too_long")
    assert validate("text", "Bakkerij Jansen B.V.", 120) == Valid("Bakkerij Jansen B.V.")


def test_control_and_bidi_characters_are_removed() -> None:
    # U+202E (right-to-left override) would make an export show reversed text.
    assert clean_input("Jan\u202e Jansen\x00\x07") == "Jan Jansen"
    assert clean_input("ｆｕｌｌ\u3000width") == "full width"  # NFKC
    assert clean_input("  a\n\tb  ") == "a b"
    assert validate("name", "Jan\u200bJansen", 100) == Valid("JanJansen")


def test_scrub_masks_contact_details_in_logged_questions() -> None:
    text = "mail me op sanne@example.org of bel 06-12345678, kan ik met 21 jaar starten?"
    assert scrub(text) == "mail me op [e-mail] of bel [telefoon], kan ik met 21 jaar starten?"


@pytest.mark.parametrize(
    "text",
    [
        "klik op www.mijnbank-inloggen.nl",
        "zie https://example.org/login",
        "Bakkerij bol.com",
        "@support_bot stuur je code",
        "bel /start opnieuw",
        "HTTP://EXAMPLE.ORG",
    ],
)
def test_free_text_for_a_card_refuses_links_mentions_and_commands(text: str) -> None:
    """Issue 15: a company name or question lands on a contact's card and in an e-mail; a
    link, @name or /command there is phishing riding along with a real lead."""
    assert validate("text", text) == Invalid("invalid_link")


@pytest.mark.parametrize(
    "text", ["Bakkerij de Ster", "Jansen & Zn. B.V.", "Q&A Consultancy", "kan ik 4 dagen werken?"]
)
def test_ordinary_company_names_and_questions_pass(text: str) -> None:
    assert validate("text", text) == Valid(text)
