"""The funnel counts against scripted conversations, and unanswered questions clustered."""

from __future__ import annotations

from pathlib import Path

from bot.engine.types import Inbound
from bot.runtime import Runtime
from bot.staff.stats import funnel, render_funnel, unanswered_clusters
from tests.conftest import mkbroute

LEAD = [
    "menu:werkgever",
    "c:medewerkers:1_9",
    "c:doel:aannemen",
    "c:begeleider:ja",
    "c:sector:ict",
    "c:niveau:ad",
    "c:provincie:utrecht",
    "c:aanbod:ja",
    "c:toestemming:ja",
]


async def run(rt: Runtime, user: str, buttons: list[str], texts: tuple[str, ...] = ()) -> None:
    await rt.handle(user, Inbound.from_text("/start"))
    for b in buttons:
        await rt.handle(user, Inbound.button(b))
    for t in texts:
        await rt.handle(user, Inbound.from_text(t))


async def test_the_funnel_counts_each_step(runtime: Runtime) -> None:
    # 1: a full lead; 2: declines consent; 3: 250+ staff (nog_niet); 4: only looks.
    await run(runtime, "a", LEAD, ("Ada Jansen", "Ada BV"))
    await runtime.handle("a", Inbound.button("c:kanaal:email"))
    await runtime.handle("a", Inbound.from_text("ada@example.org"))
    await runtime.handle("a", Inbound.button("confirm"))
    await run(runtime, "b", [*LEAD[:-1], "c:toestemming:nee"])
    await run(runtime, "c", ["menu:werkgever", "c:medewerkers:250_plus"])
    await run(runtime, "d", [])
    async with runtime.sessionmaker() as db:
        steps = {s.name.strip(): s for s in await funnel(db)}
        table = render_funnel(list(await funnel(db)))
    assert steps["session_started"].total == 4
    assert steps["flow_started"].total == 3
    assert steps["outcome"].total == 3 and steps["outcome"].by_audience["werkgever"] == 3
    assert steps["geschikt"].total == 2 and steps["nog_niet"].total == 1
    assert steps["contact_offered"].total == 2
    assert (
        steps["consent_given"].total == 1 and steps["consent_given"].by_audience["werkgever"] == 1
    )
    assert steps["lead_confirmed"].total == 1
    assert steps["delivered"].total == 0 and steps["claimed"].total == 0
    assert "75%" in table  # 3 of 4 chose an audience


async def test_unanswered_questions_are_grouped(runtime: Runtime) -> None:
    for q in (
        "hoe laat gaat de trein naar Zwolle",
        "hoe laat vertrekt de trein naar zwolle?",
        "Hoe laat gaat de trein naar Zwolle",
        "kan ik mijn hond meenemen naar school",
    ):
        await runtime.handle("q", Inbound.from_text(f"/vraag {q}"))
    async with runtime.sessionmaker() as db:
        clusters = await unanswered_clusters(db)
    assert [c.count for c in clusters] == [3, 1]
    assert "trein" in clusters[0].example.casefold()


def test_stats_and_unanswered_commands(tmp_path: Path) -> None:
    png = tmp_path / "stats.png"
    proc = mkbroute(tmp_path, "stats", "--png", str(png))
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    for command, expect in (("stats", "session_started"), ("unanswered", "No unanswered")):
        proc = mkbroute(tmp_path, command)
        assert proc.returncode == 0 and expect in proc.stdout, proc.stderr


def test_leads_per_week_fills_empty_weeks() -> None:
    import datetime as dt

    from bot.staff.chart import leads_per_week

    monday = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    weeks = leads_per_week([monday, monday + dt.timedelta(days=1), monday + dt.timedelta(days=15)])
    assert weeks == [("2026-w45", 2), ("2026-w46", 0), ("2026-w47", 1)]
    assert leads_per_week([]) == []


def test_the_chart_shows_the_funnel_and_the_weeks() -> None:
    """The /stats picture without matplotlib: one blue bar per main step, longest first, and
    an orange bar for a week with leads; a lead late on Sunday in UTC counts for Monday's
    week in the Netherlands."""
    import datetime as dt
    import io

    from PIL import Image

    from bot.staff.chart import leads_per_week, stats_png
    from bot.staff.stats import FunnelStep

    sunday_night = dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC)  # Monday 00:30 in NL
    assert leads_per_week([sunday_night]) == [("2026-w49", 1)]
    steps = [FunnelStep("session_started", 100, {}), FunnelStep("lead_confirmed", 25, {})]
    picture = Image.open(io.BytesIO(stats_png(steps, [("2026-w48", 0), ("2026-w49", 4)])))
    assert picture.format == "PNG" and picture.size == (800, 720)
    rgb = picture.convert("RGB")
    blue = [x for x in range(800) if rgb.getpixel((x, 60)) == (0x2A, 0x7A, 0xB0)]
    second = [x for x in range(800) if rgb.getpixel((x, 94)) == (0x2A, 0x7A, 0xB0)]
    assert len(blue) > 3 * len(second) > 0  # 100 against 25
    orange = [
        y
        for y in range(300, 720)
        for x in range(420, 700)
        if rgb.getpixel((x, y)) == (0xE0, 0x7B, 0x24)
    ]
    assert orange
