"""Which pilot a lead goes to: a pure function of the user's answers and the pilots' content."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.content.models import Flow, Pilot

__all__ = ["Route", "route"]


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
        if pilot.fallback or province not in pilot.provinces:
            continue
        fits = [
            p
            for p in pilot.programmes
            if p.field == field and (level == p.level or level not in ("ad", "bachelor"))
        ]
        if not fits:
            continue
        score = 3.0 + (1.0 if fits[0].level == level else 0.5)
        score += 0.5 if pilot.status == "confirmed" else 0.0
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
    if pilot.status != "confirmed":
        reasons.append("let op: deze pilot is niet officieel bevestigd")
    return Route(pilot.id, tuple(reasons), score)
