"""Lead overviews for staff: the latest leads in one line each, and one lead in full."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.content.bundle import Content
from bot.store import repo
from bot.store.models import OutboxStatus

__all__ = ["lead_detail", "lead_lines"]


async def lead_lines(db: AsyncSession, content: Content, limit: int = 20) -> list[str]:
    """One line per lead, newest first: reference, date, audience, verdict, pilot, status."""
    leads = await repo.latest_leads(db, limit)
    deliveries = await repo.deliveries_of(db, [lead.id for lead in leads])
    lines = []
    for lead in leads:
        rows = deliveries[lead.id]
        sent = sum(r.status == OutboxStatus.SENT for r in rows)
        flow = content.flows.get(lead.flow)
        audience = flow.title.nl if flow else lead.flow
        who = f" door {lead.claimed_by}" if lead.claimed_by else ""
        lines.append(
            f"{lead.ref}  {lead.created_at:%d-%m-%Y}  {audience}  {lead.verdict}  "
            f"{lead.pilot or '-'}  {lead.status}{who}  ({sent}/{len(rows)} bezorgd)"
        )
    return lines


async def lead_detail(db: AsyncSession, content: Content, ref: str) -> str | None:
    """Everything staff need about one lead, with routing reasons and delivery history."""
    lead = await repo.lead_by_ref(db, ref)
    if lead is None:
        return None
    lines = [
        f"Aanvraag {lead.ref} van {lead.created_at:%d-%m-%Y %H:%M} UTC",
        f"Doelgroep: {lead.flow}; inschatting: {lead.verdict}; status: {lead.status}",
        f"Naam: {lead.name or '-'}; bedrijf: {lead.company or '-'}",
        f"E-mail: {lead.email or '-'}; telefoon: {lead.phone or '-'}",
        f"Vraag: {lead.question or '-'}",
        f"Minderjarig: {'ja' if lead.minor else 'nee'}; toestemming: "
        f"{lead.consent_at:%d-%m-%Y %H:%M} (versie {lead.consent_version})",
        f"Pilot: {lead.pilot or '-'}",
        *(f"  - {r}" for r in lead.routing),
        "Redenen:",
        *(f"  - {r}" for r in lead.reasons),
    ]
    if lead.claimed_by:
        lines.append(f"Opgepakt door {lead.claimed_by} op {lead.claimed_at:%d-%m-%Y %H:%M}")
    lines.append("Bezorging:")
    for row in (await repo.deliveries_of(db, [lead.id]))[lead.id]:
        when = f"{row.sent_at:%d-%m-%Y %H:%M}" if row.sent_at else "-"
        error = f"; fout: {row.last_error}" if row.last_error else ""
        lines.append(
            f"  - {row.kind} via {row.channel} aan {row.contact} ({row.pilot}): {row.status}, "
            f"{row.attempts} poging(en), verzonden {when}{error}"
        )
    return "\n".join(lines)
