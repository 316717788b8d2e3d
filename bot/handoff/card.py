"""What a contact person receives about a lead: the same facts as text, HTML and a chat card."""

from __future__ import annotations

import html
from dataclasses import dataclass

from bot.content.bundle import Content
from bot.engine import buttons as bid
from bot.knowledge.text import clean_input

__all__ = ["Card", "LeadFacts", "render"]


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """The parts of a lead a card shows (kept apart from the ORM so cards are pure)."""

    ref: str
    flow: str
    verdict: str
    reasons: tuple[str, ...]
    routing: tuple[str, ...]
    answers: dict[str, str]
    name: str | None
    company: str | None
    email: str | None
    phone: str | None
    question: str | None
    minor: bool
    consent_version: str
    consent_at: str


@dataclass(frozen=True, slots=True)
class Card:
    subject: str  # built from our own words and the reference only: never user text
    text: str
    html: str
    # Buttons for chat channels: (callback data, label), e.g. ("claim:L-2026-000001", "...").
    actions: tuple[tuple[str, str], ...] = ()


def _safe(value: str) -> str:
    # Control and bidi characters were removed on input already; this is a second fence.
    return clean_input(value)


def render(
    content: Content, lead: LeadFacts, lang: str = "nl", *, note: str = "", actions: bool = True
) -> Card:
    """The card in the contact's language; user-provided values are cleaned and escaped.

    ``note`` goes on top (a reminder, a claim); ``actions`` adds the claim/decline buttons.
    """
    m = content.messages
    flow = content.flows.get(lead.flow)
    rows: list[tuple[str, str]] = []
    labels = {
        "naam": lead.name,
        "bedrijf": lead.company,
        "email": lead.email,
        "telefoon": lead.phone,
        "vraag": lead.question,
    }
    contact_flow = content.contact_flow
    for step in contact_flow.steps:
        value = labels.get(step.id)
        if value:
            rows.append(((step.label or step.ask).get(lang), _safe(value)))
    answers: list[tuple[str, str]] = []
    if flow is not None:
        for step in flow.steps:
            choice = next((c for c in step.choices if c.id == lead.answers.get(step.id)), None)
            if choice is not None:
                answers.append(((step.label or step.ask).get(lang), choice.label.get(lang)))
    verdict = getattr(m, f"verdict_{lead.verdict}").get(lang)
    title = flow.title.get(lang) if flow else lead.flow
    head = m.handoff_title.get(lang).replace("{lead_ref}", lead.ref)
    lines = [*([note, ""] if note else []), head, "", f"{title} · {lead.verdict}: {verdict}"]
    if lead.minor:
        lines.append(m.handoff_minor.get(lang))
    lines += ["", *(f"{k}: {v}" for k, v in rows), "", m.handoff_reasons.get(lang)]
    lines += [f"- {r}" for r in lead.reasons]
    lines += ["", m.summary_answers.get(lang), *(f"- {k}: {v}" for k, v in answers)]
    lines += ["", m.handoff_routing.get(lang), *(f"- {r}" for r in lead.routing)]
    consent = m.handoff_consent.get(lang).replace("{version}", lead.consent_version)
    lines += ["", consent.replace("{at}", lead.consent_at)]
    text = "\n".join(lines)
    body = "".join(f"<p>{html.escape(line)}</p>" if line else "" for line in lines)
    buttons = (
        (
            (bid.claim(lead.ref), m.handoff_claim.get(lang)),
            (bid.decline(lead.ref), m.handoff_decline.get(lang)),
        )
        if actions
        else ()
    )
    return Card(subject=head, text=text, html=f"<html><body>{body}</body></html>", actions=buttons)
