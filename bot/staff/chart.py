"""A PNG for /stats: the funnel as bars, and confirmed leads per week."""

from __future__ import annotations

import datetime as dt
import io
import math
from collections import Counter
from collections.abc import Sequence

from bot.clock import local
from bot.staff.stats import FunnelStep

__all__ = ["leads_per_week", "stats_png"]

LABELS = {
    "session_started": "gestart",
    "flow_started": "doelgroep gekozen",
    "outcome": "vragenlijst af",
    "contact_offered": "contact aangeboden",
    "consent_given": "toestemming",
    "lead_confirmed": "aanvraag bevestigd",
    "delivered": "afgeleverd",
    "claimed": "opgepakt",
}


def leads_per_week(created: Sequence[dt.datetime]) -> list[tuple[str, int]]:
    """ISO weeks (of Dutch dates) from the first to the last lead, including empty weeks."""
    if not created:
        return []
    days = [local(d).date() for d in created]
    counts = Counter(d.isocalendar()[:2] for d in days)
    start = min(days)
    start -= dt.timedelta(days=start.weekday())
    end = max(days)
    out = []
    day = start
    while day <= end:
        year, week, _ = day.isocalendar()
        out.append((f"{year}-w{week:02d}", counts.get((year, week), 0)))
        day += dt.timedelta(days=7)
    return out


WIDTH, HEIGHT = 800, 720
BLUE, ORANGE, INK, GREY = "#2a7ab0", "#e07b24", "#222222", "#888888"


def stats_png(steps: Sequence[FunnelStep], weekly: Sequence[tuple[str, int]]) -> bytes:
    """Both charts in one PNG, numbers on the bars (Pillow: no plotting stack needed)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=15)
    title = ImageFont.load_default(size=18)

    # The funnel: one horizontal bar per main step, its number behind it.
    main = [s for s in steps if not s.name.startswith(" ")]
    draw.text((20, 12), "Trechter", fill=INK, font=title)
    left, right, top, row = 190, WIDTH - 70, 48, 34
    most = max([s.total for s in main] + [1])
    for i, step in enumerate(main):
        y = top + i * row
        draw.text((20, y + 6), LABELS.get(step.name, step.name), fill=INK, font=font)
        length = round((right - left) * step.total / most)
        draw.rectangle((left, y, left + max(length, 1), y + row - 8), fill=BLUE)
        draw.text((left + length + 6, y + 6), str(step.total), fill=INK, font=font)

    # Leads per week: vertical bars, the count above each, week labels below (thinned out).
    base = top + len(main) * row + 40
    draw.text((20, base), "Bevestigde aanvragen per week", fill=INK, font=title)
    floor, ceiling = HEIGHT - 70, base + 50
    draw.line((40, floor, WIDTH - 20, floor), fill=GREY)
    if weekly:
        highest = max([n for _, n in weekly] + [1])
        draw.text((4, ceiling - 8), str(highest), fill=GREY, font=font)  # the scale's top
        slot = (WIDTH - 80) / len(weekly)
        # Show "w49" under the bars (the year once, at the left), as many as fit side by side.
        widest = max(draw.textlength(label.split("-")[-1], font=font) for label, _ in weekly)
        every = max(1, math.ceil((widest + 8) / slot))
        draw.text((40, floor + 30), weekly[0][0].split("-")[0], fill=GREY, font=font)
        for i, (label, count) in enumerate(weekly):
            x = 50 + i * slot
            height = round((floor - ceiling) * count / highest)
            draw.rectangle((x, floor - height, x + max(slot * 0.7, 2), floor), fill=ORANGE)
            if count and slot >= 18:
                draw.text((x, floor - height - 18), str(count), fill=INK, font=font)
            if i % every == 0:
                draw.text((x, floor + 8), label.split("-")[-1], fill=INK, font=font)
    else:
        draw.text((50, floor - 30), "nog geen aanvragen", fill=GREY, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
