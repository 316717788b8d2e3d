"""Button ids: the one grammar of what a button press means, built and parsed only here.

An id is ``kind``, ``kind:arg`` or ``kind:arg:arg2``; Telegram carries at most 64 bytes of it
back as callback data. The engine, the runtime (erasure), the lead cards (claims) and the
Telegram adapter all build and read ids through these functions, so a change of the grammar
is a change in one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "BACK",
    "CANCEL",
    "CARD_KINDS",
    "CONFIRM",
    "CONTACT",
    "ERASE_NO",
    "KINDS",
    "MENU",
    "NONE",
    "PRIVACY",
    "RESTART",
    "RESUME",
    "SKIP",
    "TOPICS",
    "Pressed",
    "choice",
    "claim",
    "decline",
    "decline_why",
    "edit",
    "erase_yes",
    "kb",
    "lang",
    "menu",
    "parse",
    "switch",
    "topics",
]

CONFIRM: Final = "confirm"
CANCEL: Final = "cancel"
BACK: Final = "back"
RESTART: Final = "restart"
RESUME: Final = "resume"
PRIVACY: Final = "privacy"
CONTACT: Final = "contact"
SKIP: Final = "skip"
NONE: Final = "none"  # "Geen van deze" after a "Bedoel je...?"
MENU: Final = "menu"
TOPICS: Final = "topics"
ERASE_NO: Final = "erase:no"
# Buttons on a lead card, pressed by a contact person (handled apart from the conversation).
CARD_KINDS: Final = ("claim", "decline", "declinewhy")


# Every kind an id may start with: the plain ids above and the prefixes built below.
KINDS: Final = frozenset(
    {CONFIRM, CANCEL, BACK, RESTART, RESUME, PRIVACY, CONTACT, SKIP, NONE, MENU, TOPICS}
    | {"c", "switch", "kb", "lang", "edit", "erase", *CARD_KINDS}
)


def choice(step: str, choice_id: str) -> str:
    return f"c:{step}:{choice_id}"


def menu(flow: str) -> str:
    return f"menu:{flow}"


def switch(flow: str) -> str:
    return f"switch:{flow}"


def topics(group: str) -> str:
    return f"topics:{group}"


def kb(entry: str) -> str:
    return f"kb:{entry}"


def lang(code: str) -> str:
    return f"lang:{code}"


def edit(step: str) -> str:
    return f"edit:{step}"


def erase_yes(minute: int) -> str:
    """ "Ja, wis alles", stamped with the minute it was asked (it expires)."""
    return f"erase:yes:{minute}"


def claim(ref: str) -> str:
    return f"claim:{ref}"


def decline(ref: str) -> str:
    return f"decline:{ref}"


def decline_why(ref: str, reason: str) -> str:
    return f"declinewhy:{ref}:{reason}"


@dataclass(frozen=True, slots=True)
class Pressed:
    """A parsed button id: ``c:leeftijd:16_17`` is ``Pressed("c", "leeftijd", "16_17")``."""

    kind: str
    arg: str = ""
    arg2: str = ""


def parse(button_id: str) -> Pressed:
    """Split an id (forged ones included: any string parses, unknown kinds are stale)."""
    kind, _, rest = button_id.partition(":")
    arg, _, arg2 = rest.partition(":")
    return Pressed(kind, arg, arg2)
