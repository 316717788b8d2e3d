"""Statistics for staff: the funnel from first message to claimed lead, and the questions the
knowledge base could not answer, grouped by similarity."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from rapidfuzz import fuzz
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.knowledge.text import fold
from bot.staff.period import Period
from bot.store.models import EventRow, LeadRow, LeadStatus, UnansweredRow

__all__ = ["Cluster", "FunnelStep", "funnel", "lead_times", "render_funnel", "unanswered_clusters"]

AUDIENCES = ("student", "werkende", "werkgever")
EVERYTHING = Period()
# A lead that was claimed stays counted as claimed while it is followed up.
CLAIMED = (
    LeadStatus.CLAIMED,
    LeadStatus.IN_CONVERSATION,
    LeadStatus.ENROLLED,
    LeadStatus.DROPPED,
)


@dataclass(frozen=True)
class FunnelStep:
    name: str
    total: int
    by_audience: dict[str, int]


async def _events(db: AsyncSession, kind: str, period: Period) -> FunnelStep:
    query = select(EventRow.data).where(EventRow.type == kind)
    query = query.where(*period.within(EventRow.at))
    rows = (await db.scalars(query)).all()
    per = Counter(str(d.get("flow")) for d in rows if isinstance(d, dict) and d.get("flow"))
    return FunnelStep(kind, len(rows), {a: per.get(a, 0) for a in AUDIENCES})


async def _leads(
    db: AsyncSession, name: str, statuses: tuple[LeadStatus, ...], period: Period
) -> FunnelStep:
    query = select(LeadRow.flow, func.count()).where(LeadRow.status.in_(statuses))
    query = query.where(*period.within(LeadRow.created_at))
    per = {str(flow): int(n) for flow, n in (await db.execute(query.group_by(LeadRow.flow))).all()}
    return FunnelStep(name, sum(per.values()), {a: int(per.get(a, 0)) for a in AUDIENCES})


async def funnel(db: AsyncSession, period: Period = EVERYTHING) -> list[FunnelStep]:
    """Started, audience chosen, completed, per verdict, offered, consented, confirmed,
    delivered, claimed."""
    steps = [
        await _events(db, "session_started", period),
        await _events(db, "flow_started", period),
        await _events(db, "outcome", period),
    ]
    query = select(EventRow.data).where(EventRow.type == "outcome")
    query = query.where(*period.within(EventRow.at))
    outcomes = (await db.scalars(query)).all()
    for verdict in ("geschikt", "mogelijk", "nog_niet"):
        picked = [d for d in outcomes if isinstance(d, dict) and d.get("verdict") == verdict]
        per = Counter(str(d.get("flow")) for d in picked)
        steps.append(
            FunnelStep(f"  {verdict}", len(picked), {a: per.get(a, 0) for a in AUDIENCES})
        )
    steps += [
        await _events(db, "contact_offered", period),
        await _events(db, "consent_given", period),
        await _events(db, "lead_confirmed", period),
        await _leads(
            db, "delivered", (LeadStatus.DELIVERED, LeadStatus.DECLINED, *CLAIMED), period
        ),
        await _leads(db, "claimed", CLAIMED, period),
    ]
    return steps


async def lead_times(db: AsyncSession, period: Period = EVERYTHING) -> list[dt.datetime]:
    """When each lead was confirmed (for the leads-per-week chart)."""
    query = select(LeadRow.created_at)
    query = query.where(*period.within(LeadRow.created_at))
    return list((await db.scalars(query)).all())


def render_funnel(steps: list[FunnelStep]) -> str:
    """A table with the conversion from the previous main step."""
    lines = [f"{'stap':18}{'totaal':>8}{'%':>7}" + "".join(f"{a:>11}" for a in AUDIENCES)]
    previous: int | None = None
    for step in steps:
        sub = step.name.startswith("  ")
        rate = "" if sub or not previous else f"{100 * step.total / previous:.0f}%"
        lines.append(
            f"{step.name:18}{step.total:>8}{rate:>7}"
            + "".join(f"{step.by_audience.get(a, 0):>11}" for a in AUDIENCES)
        )
        if not sub:
            previous = step.total
    return "\n".join(lines)


@dataclass(frozen=True)
class Cluster:
    example: str
    count: int
    variants: tuple[str, ...]


async def unanswered_clusters(
    db: AsyncSession, period: Period = EVERYTHING, similarity: float = 70.0
) -> list[Cluster]:
    """Unanswered questions grouped by similarity, most frequent first."""
    query = select(UnansweredRow.text).order_by(UnansweredRow.id)
    query = query.where(*period.within(UnansweredRow.at))
    texts = (await db.scalars(query)).all()
    groups: list[tuple[str, list[str]]] = []
    for text in texts:
        key = fold(text)
        for head, members in groups:
            if fuzz.token_set_ratio(key, head) >= similarity:
                members.append(text)
                break
        else:
            groups.append((key, [text]))
    clusters = [
        Cluster(Counter(m).most_common(1)[0][0], len(m), tuple(dict.fromkeys(m))[:5])
        for _, m in groups
    ]
    return sorted(clusters, key=lambda c: -c.count)
