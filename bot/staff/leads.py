"""Lead overviews for staff: the latest leads in one line each, and one lead in full."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import shown
from bot.content.bundle import Content
from bot.store import repo
from bot.store.models import OutboxStatus

__all__ = ["lead_detail", "lead_lines"]


async def lead_lines(
    db: AsyncSession, content: Content, limit: int = 20, *, pilots: frozenset[str] | None = None
) -> list[str]:
    """One line per lead, newest first: reference, date, audience, verdict, pilot, status.
    ``pilots``: only those pilots' leads (a contact person's view); None: all."""
    leads = await repo.latest_leads(db, limit, pilots)
    deliveries = await repo.deliveries_of(db, [lead.id for lead in leads])
    lines = []
    for lead in leads:
        rows = deliveries[lead.id]
        sent = sum(r.status == OutboxStatus.SENT for r in rows)
        flow = content.flows.get(lead.flow)
        audience = flow.title.nl if flow else lead.flow
        who = f" door {lead.claimed_by}" if lead.claimed_by else ""
        status = content.messages.staff_lead_status[lead.status].nl
        lines.append(
            f"{lead.ref}  {shown(lead.created_at, date_only=True)}  {audience}  {lead.verdict}  "
            f"{lead.pilot or '-'}  {status}{who}  ({sent}/{len(rows)} bezorgd)"
        )
    return lines


async def lead_detail(
    db: AsyncSession, content: Content, ref: str, *, pilots: frozenset[str] | None = None
) -> str | None:
    """Everything staff need about one lead, with routing reasons and delivery history; None
    when there is no such lead or it belongs to a pilot outside ``pilots`` (said the same way,
    so a contact person cannot tell whether another pilot's reference exists)."""
    lead = await repo.lead_by_ref(db, ref)
    if lead is None or (pilots is not None and lead.pilot not in pilots):
        return None
    lines = [
        f"Aanvraag {lead.ref} van {shown(lead.created_at)}",
        f"Doelgroep: {lead.flow}; inschatting: {lead.verdict}; "
        f"status: {content.messages.staff_lead_status[lead.status].nl}",
        f"Naam: {lead.name or '-'}; bedrijf: {lead.company or '-'}",
        f"E-mail: {lead.email or '-'}; telefoon: {lead.phone or '-'}",
        f"Vraag: {lead.question or '-'}",
        f"Minderjarig: {'ja' if lead.minor else 'nee'}; toestemming: "
        f"{shown(lead.consent_at)} (versie {lead.consent_version})",
        f"Pilot: {lead.pilot or '-'}",
        *(f"  - {r}" for r in lead.routing),
        "Redenen:",
        *(f"  - {r}" for r in lead.reasons),
    ]
    if lead.claimed_by:
        lines.append(f"Opgepakt door {lead.claimed_by} op {shown(lead.claimed_at)}")
    lines.append("Bezorging:")
    for row in (await repo.deliveries_of(db, [lead.id]))[lead.id]:
        when = shown(row.sent_at)
        error = f"; fout: {row.last_error}" if row.last_error else ""
        lines.append(
            f"  - {row.kind} via {row.channel} aan {row.contact} ({row.pilot}): "
            f"{content.messages.staff_delivery_status[row.status].nl}, "
            f"{row.attempts} poging(en), verzonden {when}{error}"
        )
    return "\n".join(lines)
