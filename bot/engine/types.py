"""The engine's plain, frozen values: what comes in, what goes out, and the session in between."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypeAlias

from bot.content.commands import ALIASES

__all__ = [
    "Button",
    "ConversationState",
    "CreateLead",
    "Effect",
    "Event",
    "Inbound",
    "RecordConsent",
    "Reply",
    "StateError",
    "Turn",
    "Unanswered",
]

MAX_INBOUND = 4096  # Telegram's own message limit; anything longer is cut before processing.


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a user: typed text, a pressed button, or a /command."""

    kind: Literal["text", "button", "command"]
    value: str
    args: str = ""
    lang: str | None = None  # the client's language, used for a new session only

    @classmethod
    def from_text(cls, text: str, lang: str | None = None) -> Inbound:
        """Classify typed text: ``/cmd@bot args`` becomes a command, anything else text."""
        text = text[:MAX_INBOUND]
        stripped = text.strip()
        if stripped.startswith("/") and len(stripped) > 1 and not stripped[1].isspace():
            head, _, args = stripped[1:].partition(" ")
            name = head.split("@", 1)[0].casefold()
            return cls("command", ALIASES.get(name, name), args.strip(), lang)
        return cls("text", text, "", lang)

    @classmethod
    def button(cls, button_id: str, lang: str | None = None) -> Inbound:
        return cls("button", button_id[:128], "", lang)


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()
    # A file sent with the text: (file name, UTF-8 JSON), e.g. the user's data for portability.
    document: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """An analytics event for the funnel; holds no personal data."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordConsent:
    notice_version: str
    given_at: str


@dataclass(frozen=True, slots=True)
class CreateLead:
    """Store a confirmed lead; ``{lead_ref}`` in this turn's replies becomes its reference."""

    run: int
    flow: str
    verdict: str
    reasons: tuple[str, ...]
    answers: dict[str, str]
    contact: dict[str, str]
    minor: bool
    consent_version: str
    consent_at: str
    lang: str
    pilot: str
    routing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unanswered:
    """A free question the knowledge base could not answer, for the editors."""

    text: str
    lang: str


Effect: TypeAlias = Event | RecordConsent | CreateLead | Unanswered


class StateError(ValueError):
    """A stored session could not be read back."""


@dataclass(frozen=True, slots=True)
class ConversationState:
    """Everything the engine remembers about one user between messages."""

    lang: str = "nl"
    mode: Literal["menu", "question", "flow", "summary", "done"] = "menu"
    flow: str | None = None  # the flow of the open step (an audience flow or the contact flow)
    step: str | None = None  # the open step
    audience: str | None = None  # the questionnaire of this run
    run: int = 0  # counts started questionnaires; one lead at most per run
    answers: dict[str, str] = field(default_factory=dict)
    contact: dict[str, str] = field(default_factory=dict)  # personal data, only after consent
    history: tuple[str, ...] = ()  # "flow:step" of the steps answered so far, for /terug
    outcome: dict[str, Any] | None = None  # {"verdict": ..., "reasons": [...], "contact": bool}
    consent: dict[str, str] | None = None  # {"version": ..., "at": ...}
    lead_ref: str | None = None
    editing: bool = False  # answering a "wijzig" from the summary
    asking: bool = False  # /vraag was sent: the next text is a question, not an answer
    suggesting: bool = False  # the last reply was "Bedoel je...?" for the open choice step

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> ConversationState:
        """Read a stored session back; unknown keys (from a newer version) are ignored."""
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            names = {f.name for f in fields(cls)}
            kwargs = {k: v for k, v in data.items() if k in names}
            if "history" in kwargs:
                kwargs["history"] = tuple(kwargs["history"])
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            raise StateError(f"stored session is unreadable: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Turn:
    session: ConversationState
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...] = ()
