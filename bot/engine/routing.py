"""Which pilot a lead goes to: a pure function of the user's answers and the pilots' content."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.content.models import Flow, Pilot, Programme

__all__ = ["Route", "find_routes", "route"]

# A confirmed pilot beats a likely one, and both beat a hogeschool that is only linked.
_STATUS_BONUS = {"confirmed": 0.5, "likely": 0.0, "linked": -0.5}


@dataclass(frozen=True, slots=True)
class Route:
    """The chosen pilot, why (in words staff can read), and how well it matched."""

    pilot: str
    reasons: tuple[str, ...]
    score: float


def _label(flow: Flow, step_id: str, value: str | None) -> str:
    step = next((s for s in flow.steps if s.id == step_id), None)
    choice = next((c for c in step.choices if c.id == value), None) if step else None
    return choice.label.nl if choice else "onbekend"


def route(pilots: Mapping[str, Pilot], flow: Flow, answers: Mapping[str, str]) -> Route:
    """Field, level and province decide; no match or a tie goes to the fallback pilot.

    A pilot matches when one of its programmes has the user's field and level ("weet ik nog
    niet" fits any level) and the user's province is one of its provinces. A confirmed pilot
    beats a likely one; an exact level beats "weet ik nog niet".
    """
    fallback = next(p for p in pilots.values() if p.fallback)
    if flow.routing is None:
        return Route(fallback.id, ("geen routeringsvragen in deze vragenlijst",), 0.0)
    r = flow.routing
    field, level, province = answers.get(r.field), answers.get(r.level), answers.get(r.province)
    said = " + ".join(
        _label(flow, step, value)
        for step, value in ((r.field, field), (r.level, level), (r.province, province))
    )
    scored: list[tuple[float, Pilot, str]] = []
    for pilot in pilots.values():
        # A lead needs both the field and the region; the route finder may do with less.
        fits = _fitting(pilot, field, level, province) if field and province else []
        if not fits:
            continue
        score = 3.0 + (1.0 if fits[0].level == level else 0.5)
        score += _STATUS_BONUS[pilot.status]
        scored.append((score, pilot, ", ".join(p.name.nl for p in fits)))
    scored.sort(key=lambda t: (-t[0], t[1].id))
    if not scored:
        return Route(fallback.id, (f"{said} → geen pilot gevonden, naar {fallback.name.nl}",), 0.0)
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        tied = " en ".join(p.name.nl for _, p, _ in scored[:2])
        return Route(
            fallback.id,
            (f"{said} → past even goed bij {tied}; {fallback.name.nl} kiest",),
            scored[0][0],
        )
    score, pilot, programmes = scored[0]
    reasons = [f"{said} → {pilot.name.nl} ({programmes})"]
    if pilot.status == "likely":
        reasons.append("let op: deze pilot is niet officieel bevestigd")
    elif pilot.status == "linked":
        reasons.append("let op: geen pilot; deze hogeschool is aan het programma verbonden")
    return Route(pilot.id, tuple(reasons), score)


def find_routes(
    pilots: Mapping[str, Pilot],
    field: str | None,
    level: str | None = None,
    province: str | None = None,
) -> list[Pilot]:
    """The routes that fit what is known (any of the three may be unknown), best first.

    "weet ik nog niet" for the level fits every level; an unknown province fits every region.
    """
    found = [
        (_STATUS_BONUS[pilot.status], pilot)
        for pilot in pilots.values()
        if _fitting(pilot, field, level, province)
    ]
    found.sort(key=lambda t: (-t[0], t[1].id))
    return [p for _, p in found]


def _fitting(
    pilot: Pilot, field: str | None, level: str | None, province: str | None
) -> list[Programme]:
    """The pilot's programmes for this field and level in this province; None fits anything."""
    if pilot.fallback or (province and province not in pilot.provinces):
        return []
    return [
        p
        for p in pilot.programmes
        if (not field or p.field == field)
        and (level not in ("ad", "bachelor") or p.level == level)
    ]
