"""Pydantic models of the content files: flows, UI messages and knowledge entries.

Every model is frozen and forbids unknown keys, so a typo in a YAML file is an error that names
its path instead of a silently ignored setting.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from bot.content.commands import COMMANDS
from bot.content.conditions import All, AnyOf, Condition, Eq, Not, parse_condition

__all__ = [
    "COMMANDS",
    "LANGS",
    "AltTexts",
    "AskedQuestion",
    "Audience",
    "Choice",
    "Entry",
    "Flow",
    "Goto",
    "InputKind",
    "Messages",
    "Note",
    "Outcome",
    "Pilot",
    "Programme",
    "Routing",
    "Source",
    "Step",
    "Text",
    "Verdict",
    "VerdictRule",
]

LANGS: tuple[str, ...] = ("nl", "en")
# The stored statuses (bot.store.models.LeadStatus / OutboxStatus; a test keeps them equal),
# named here because content must not depend on the database layer.
LEAD_STATUSES = (
    "new",
    "queued",
    "delivered",
    "claimed",
    "in_conversation",
    "enrolled",
    "dropped",
    "declined",
    "undeliverable",
    "erased",
)
DELIVERY_STATUSES = ("pending", "sending", "sent", "dead")
Verdict = Literal["geschikt", "mogelijk", "nog_niet"]
InputKind = Literal["name", "email", "phone", "text"]
Audience = Literal["algemeen", "student", "werkende", "werkgever", "hogeschool"]
Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=30)]
KbId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=40)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _cond(raw: Any) -> Condition:
    if isinstance(raw, Eq | All | AnyOf | Not):
        return raw
    return parse_condition(raw)


When = Annotated[Condition, BeforeValidator(_cond)]


class Text(_Frozen):
    """A user-facing text in Dutch and English."""

    nl: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.nl


class AltTexts(_Frozen):
    """Other ways people type a choice, per language."""

    nl: tuple[str, ...] = ()
    en: tuple[str, ...] = ()


class Choice(_Frozen):
    id: Id
    label: Text
    also: AltTexts = AltTexts()
    # Typed whole numbers in this range pick the choice ("ik ben 17" -> "16 of 17").
    range: tuple[int, int] | None = None


class Goto(_Frozen):
    when: When | None = None
    goto: str


class Step(_Frozen):
    """One question: choices (buttons) or typed input with validation."""

    id: Id
    ask: Text
    label: Text | None = None  # short name shown in the summary ("Naam")
    choices: tuple[Choice, ...] = ()
    input: InputKind | None = None
    personal: bool = False
    # The contact flow marks its offer ("shall someone contact you?") and consent steps; both
    # must have the choices ``ja`` and ``nee``.
    role: Literal["offer", "consent"] | None = None
    max_length: int = Field(default=200, ge=1, le=2000)
    # A typed-input step the user may skip ("Overslaan"); nothing is stored then.
    optional: bool = False
    when: When | None = None
    next: tuple[Goto, ...] = ()


class VerdictRule(_Frozen):
    when: When | None = None
    verdict: Verdict


class Note(_Frozen):
    when: When | None = None
    text: Text


class Link(_Frozen):
    """A button to a knowledge entry, shown when ``when`` holds."""

    when: When | None = None
    entry: KbId


class Forward(_Frozen):
    """A message written to be forwarded (to an employer, parents, a colleague), sent on its own
    so that forwarding it does not forward the verdict."""

    when: When | None = None
    intro: Text
    text: Text


class Outcome(_Frozen):
    verdicts: tuple[VerdictRule, ...] = Field(min_length=1)
    reasons: tuple[Note, ...] = Field(min_length=1)
    next_steps: tuple[Note, ...] = Field(min_length=1)
    # What the route gives this user, told with a positive or "mogelijk" verdict (first three
    # that hold), with buttons to the answers that go deeper (first three links that hold).
    benefits: tuple[Note, ...] = ()
    links: tuple[Link, ...] = ()
    forward: tuple[Forward, ...] = ()
    # Contact is offered after geschikt/mogelijk when this holds.
    contact_when: When | None = None
    # A lead created under this condition is flagged as a minor's.
    minor_when: When | None = None
    # Under this condition no personal data is ever asked (the under-16 gate).
    no_personal_when: When | None = None


class Routing(_Frozen):
    """Which of an audience flow's questions hold the field, the level and the province."""

    field: Id
    level: Id
    province: Id


class Flow(_Frozen):
    id: Id
    kind: Literal["audience", "contact"]
    title: Text
    also: AltTexts = AltTexts()  # typed forms that pick this flow from the start menu
    order: int = 0
    steps: tuple[Step, ...] = Field(min_length=1)
    outcome: Outcome | None = None
    routing: Routing | None = None
    # Told right after the audience is chosen: what the route gives this audience, in short.
    intro: Text | None = None
    intro_link: KbId | None = None
    # The contact flow's own age gate, for people who reach it without a questionnaire.
    minor_when: When | None = None
    no_personal_when: When | None = None


class Messages(_Frozen):
    """Every fixed text the assistant says outside the questionnaires."""

    privacy_version: str = Field(min_length=1, max_length=40)
    welcome: Text
    console_intro: Text
    welcome_back: Text
    menu_prompt: Text
    menu_question: Text
    ask_question: Text
    help: Text
    unknown_command: Text
    not_understood: Text
    did_you_mean: Text
    human_phrases: AltTexts
    greeting_phrases: AltTexts
    thanks_phrases: AltTexts
    topics_phrases: AltTexts
    greeting_reply: Text
    thanks_reply: Text
    topics_intro: Text
    topics_group: Text
    topics_general: Text
    btn_topics: Text
    kb_more: Text
    switch_confirm: Text
    btn_switch: Text
    # Knowledge entries offered per group in the topic overview ("Welke onderwerpen...?").
    topics: dict[str, tuple[KbId, ...]] = Field(min_length=1)
    contact_intro: Text
    contact_busy: Text
    contact_young: Text
    outcome_contact_anyway: Text
    outcome_benefits: Text
    verdict_vraag: Text
    btn_skip: Text
    btn_add_question: Text
    channel_telegram: Text
    channel_console: Text
    pick_again: Text
    number_unclear: Text
    kb_did_you_mean: Text
    kb_no_match: Text
    kb_no_match_topics: Text
    kb_question_kept: Text
    kb_no_match_young: Text
    not_understood_menu: Text
    kb_source: Text
    kb_read_more: Text
    kb_likely: Text
    stale_button: Text
    back_at_start: Text
    nothing_open: Text
    restarted: Text
    stopped: Text
    privacy_full: Text
    language_prompt: Text
    language_set: Text
    invalid_name: Text
    invalid_email: Text
    invalid_phone: Text
    invalid_text: Text
    invalid_link: Text
    too_long: Text
    verdict_geschikt: Text
    verdict_mogelijk: Text
    verdict_nog_niet: Text
    outcome_header: Text
    outcome_reasons: Text
    outcome_next: Text
    under16_info: Text
    contact_declined: Text
    consent_declined: Text
    summary_header: Text
    summary_answers: Text
    summary_short: Text
    summary_use_buttons: Text
    summary_route: Text
    summary_route_likely: Text
    summary_route_linked: Text
    route_phrases: AltTexts
    routes_found: Text
    routes_none: Text
    routes_list: Text
    routes_list_none: Text
    routes_more: Text
    route_in_field: Text
    route_in_region: Text
    route_confirmed: Text
    route_likely: Text
    route_linked: Text
    lead_confirmed: Text
    lead_already: Text
    lead_cancelled: Text
    use_buttons: Text
    error_retry: Text
    error_generic: Text
    btn_back: Text
    btn_restart: Text
    btn_menu: Text
    btn_resume: Text
    btn_confirm: Text
    btn_cancel: Text
    btn_edit: Text
    btn_privacy: Text
    btn_none_of_these: Text
    btn_human: Text
    non_text: Text
    group_private: Text
    flood_notice: Text
    handoff_title: Text
    handoff_minor: Text
    handoff_reasons: Text
    handoff_routing: Text
    handoff_consent: Text
    handoff_claim: Text
    handoff_decline: Text
    handoff_claimed: Text
    handoff_declined: Text
    decline_ask: Text
    decline_reasons: dict[str, Text] = Field(min_length=1)
    handoff_already: Text
    handoff_reminder: Text
    status_none: Text
    mydata_header: Text
    mydata_language: Text
    mydata_answers: Text
    mydata_lead: Text
    mydata_counts: Text
    mydata_nothing: Text
    mydata_footer: Text
    erase_confirm: Text
    erase_done: Text
    erase_done_shared: Text
    erase_done_maybe: Text
    erase_expired: Text
    erase_cancelled: Text
    btn_erase_yes: Text
    btn_erase_no: Text
    handoff_erased: Text
    handoff_not_yours: Text
    status_line: Text
    status_expect: Text
    status_overdue: Text
    status_new: Text
    status_queued: Text
    status_delivered: Text
    status_claimed: Text
    status_declined: Text
    status_undeliverable: Text
    status_in_conversation: Text
    status_enrolled: Text
    status_dropped: Text
    your_id: Text
    # Descriptions for the Telegram command menu (setMyCommands), one per command.
    commands: dict[str, Text]
    # Lead and delivery statuses as staff read them in exports and overviews ("opgepakt").
    staff_lead_status: dict[str, Text]
    staff_delivery_status: dict[str, Text]

    @field_validator("staff_lead_status")
    @classmethod
    def _all_lead_statuses(cls, value: dict[str, Text]) -> dict[str, Text]:
        return _exactly(value, LEAD_STATUSES, "staff_lead_status")

    @field_validator("staff_delivery_status")
    @classmethod
    def _all_delivery_statuses(cls, value: dict[str, Text]) -> dict[str, Text]:
        return _exactly(value, DELIVERY_STATUSES, "staff_delivery_status")

    @field_validator("commands")
    @classmethod
    def _all_commands(cls, value: dict[str, Text]) -> dict[str, Text]:
        missing = [c for c in COMMANDS if c not in value]
        unknown = [c for c in value if c not in COMMANDS]
        if missing or unknown:
            raise ValueError(f"commands: missing {missing}, unknown {unknown}")
        return value

    @field_validator("privacy_version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float | dt.date) else v


def _exactly(value: dict[str, Text], keys: tuple[str, ...], name: str) -> dict[str, Text]:
    missing = [k for k in keys if k not in value]
    unknown = [k for k in value if k not in keys]
    if missing or unknown:
        raise ValueError(f"{name}: missing {missing}, unknown {unknown}")
    return value


class Programme(_Frozen):
    level: Literal["ad", "bachelor"]
    field: Id
    name: Text


class Verified(_Frozen):
    source: str = Field(min_length=1)
    date: dt.date
    note: str = ""


class Pilot(_Frozen):
    """A pilot (a hogeschool's route) that leads can be handed to."""

    id: KbId
    name: Text
    hogeschool: str | None = None
    partners: tuple[str, ...] = ()
    programmes: tuple[Programme, ...] = ()
    provinces: tuple[Id, ...] = ()
    audiences: tuple[Audience, ...] = Field(min_length=1)
    website: str | None = Field(default=None, pattern=r"^https?://\S+$")
    status: Literal["confirmed", "likely", "linked"]
    fallback: bool = False
    verified: Verified


class Source(_Frozen):
    label: str = Field(min_length=1, max_length=200)
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    file: str | None = None


class Questions(_Frozen):
    nl: tuple[str, ...] = Field(min_length=1)
    en: tuple[str, ...] = Field(min_length=1)


class Outside(_Frozen):
    """knowledge/outside.yaml: questions the assistant does not answer, near misses included."""

    questions: Questions


class AskedQuestion(_Frozen):
    """A question as a user typed it, and the entry that answers it (None: out of scope)."""

    q: str = Field(min_length=1, max_length=500)
    lang: Literal["nl", "en"]
    id: KbId | None


class Entry(_Frozen):
    """One knowledge entry: example questions, an answer, its sources."""

    id: KbId
    title: Text  # short label for follow-up buttons ("Wat kost het?")
    audiences: tuple[Audience, ...] = Field(min_length=1)
    questions: Questions
    answer: Text
    sources: tuple[Source, ...] = Field(min_length=1)
    related: tuple[str, ...] = ()
    reviewed: dt.date


PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
