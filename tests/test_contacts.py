"""The contacts file is checked at start: unknown pilots and bad addresses stop the program."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content.bundle import Content
from bot.handoff.contacts import Contact, ContactsError, load_contacts
from tests.conftest import ROOT


def check(content: Content, path: Path) -> dict[str, tuple[Contact, ...]]:
    return dict(load_contacts(path, content.pilots, content.fallback_pilot.id))


def test_the_example_file_is_valid(content: Content) -> None:
    contacts = check(content, ROOT / "contacts.example.yaml")
    assert set(contacts) <= set(content.pilots)
    assert all("example.org" in (c.email or "example.org") for cs in contacts.values() for c in cs)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "contacts:\n  onbekend:\n    - {name: Ann, email: ann@example.org}\n"
            "  programmateam:\n    - {name: Bo, email: bo@example.org}\n",
            "unknown pilot",
        ),
        (
            "contacts:\n  programmateam:\n    - {name: Bo, email: bo@@example}\n",
            "not a valid e-mail address",
        ),
        ("contacts:\n  programmateam:\n    - {name: Bo}\n", "a Telegram chat id, or both"),
        (
            "contacts:\n  avans-bouwtalent:\n    - {name: Bo, email: bo@example.org}\n",
            "fallback pilot needs at least one contact",
        ),
        (
            "contacts:\n  programmateam:\n    - {name: Bo, email: bo@example.org, phone: 1}\n",
            "Extra inputs are not permitted",
        ),
        ("contacts: [\n", "invalid YAML"),
    ],
)
def test_bad_contacts_files_are_refused_with_a_reason(
    content: Content, tmp_path: Path, text: str, error: str
) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContactsError) as info:
        check(content, path)
    assert any(error in e and str(path) in e for e in info.value.errors), info.value.errors
