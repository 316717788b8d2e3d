"""A PNG for /stats: the funnel as bars, and confirmed leads per week."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from collections.abc import Sequence

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
    """ISO weeks from the first to the last lead, including weeks without any."""
    if not created:
        return []
    counts = Counter(d.isocalendar()[:2] for d in created)
    start = min(created).date()
    start -= dt.timedelta(days=start.weekday())
    end = max(created).date()
    out = []
    day = start
    while day <= end:
        year, week, _ = day.isocalendar()
        out.append((f"{year}-w{week:02d}", counts.get((year, week), 0)))
        day += dt.timedelta(days=7)
    return out


def stats_png(steps: Sequence[FunnelStep], weekly: Sequence[tuple[str, int]]) -> bytes:
    """Render both charts into one PNG (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    main = [s for s in steps if not s.name.startswith(" ")]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), dpi=100)
    names = [LABELS.get(s.name, s.name) for s in main][::-1]
    values = [s.total for s in main][::-1]
    bars = top.barh(names, values, color="#2a7ab0")
    top.bar_label(bars, padding=3)
    top.set_title("Trechter")
    top.set_xlabel("aantal")
    if weekly:
        labels, counts = zip(*weekly, strict=True)
        bottom.bar(labels, counts, color="#e07b24")
        bottom.tick_params(axis="x", labelrotation=45)
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_title("Bevestigde aanvragen per week")
    bottom.set_ylabel("aanvragen")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()
