"""Staff dashboard: server time of the leads overview with 10,000 leads, and page weight.

Issue 18's target: the overview filtered and paginated, p95 server time <= 100 ms on SQLite, and
the page (HTML + CSS; there is no JavaScript) <= 100 kB. The baseline, measured in the same run,
is the login page: the same server, cookie check and template machinery without a query.

    python -m benchmarks.dashboard [--leads 10000] [--repeat 200]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import tornado.httpclient
import tornado.httpserver
import tornado.netutil
import tornado.web
from pydantic import SecretStr

from bot.adapters.dashboard import COOKIE, make_web_app
from bot.app import open_app
from bot.settings import Settings
from bot.store.models import LeadRow

PILOTS = ("avans-bouwtalent", "programmateam")
CSS = Path(__file__).resolve().parent.parent / "bot/adapters/dashboard/static/dashboard.css"
STATUSES = ("queued", "delivered", "claimed", "declined", "undeliverable")


async def _fill(app_db: object, n: int) -> None:
    now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    async with app_db() as db, db.begin():  # type: ignore[operator]
        for i in range(1, n + 1):
            db.add(
                LeadRow(
                    ref=f"L-2026-{i:06d}",
                    user_key=f"b{i}",
                    run=1,
                    flow=("student", "werkende", "werkgever")[i % 3],
                    verdict="geschikt",
                    reasons=["x"],
                    routing=["y"],
                    answers={},
                    name=f"Naam {i}",
                    company=f"Bedrijf {i} B.V.",
                    email=f"u{i}@example.org",
                    phone=None,
                    minor=False,
                    lang="nl",
                    pilot=PILOTS[i % 2],
                    status=STATUSES[i % 5],
                    consent_version="v1",
                    consent_at=now,
                    created_at=now - dt.timedelta(minutes=i),
                )
            )


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


async def run(leads: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    settings = Settings(
        data_dir=folder,
        database_url=None,
        admin_ids=(1,),
        dashboard_secret=SecretStr("b" * 40),
    )
    async with open_app(settings, background=False) as app:
        begin = time.perf_counter()
        await _fill(app.db, leads)
        print(f"{leads} leads stored in {time.perf_counter() - begin:.1f} s")
        web = make_web_app(app)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        port = sockets[0].getsockname()[1]
        server = tornado.httpserver.HTTPServer(web)
        server.add_sockets(sockets)
        signed = tornado.web.create_signed_value("b" * 40, COOKIE, "1").decode()
        client = tornado.httpclient.AsyncHTTPClient()
        base = f"http://127.0.0.1:{port}"
        pages = {
            "login page (baseline)": "/login",
            "overview, page 1": "/",
            "overview, status filter, page 3": "/?status=claimed&page=3",
            "overview, search 'bedrijf 99'": "/?q=bedrijf+99",
            "overview, route + audience": "/?pilot=avans-bouwtalent&flow=werkgever",
        }
        results: dict[str, tuple[float, float, int]] = {}
        for name, path in pages.items():
            times = []
            size = 0
            for _ in range(repeat):
                start = time.perf_counter()
                answer = await client.fetch(
                    base + path, headers={"Cookie": f"{COOKIE}={signed}"}, follow_redirects=False
                )
                times.append(time.perf_counter() - start)
                size = len(answer.body)
            results[name] = (statistics.median(times) * 1000, _p95(times) * 1000, size)
        server.stop()
    css = CSS.stat().st_size
    baseline = results["login page (baseline)"][1]
    print(f"\n{'page':36} {'p50 ms':>8} {'p95 ms':>8} {'x login p95':>12} {'HTML kB':>8}")
    for name, (p50, p95, size) in results.items():
        print(f"{name:36} {p50:8.1f} {p95:8.1f} {p95 / baseline:12.1f} {size / 1024:8.1f}")
    worst = max(p95 for name, (_, p95, _) in results.items() if name.startswith("overview"))
    heaviest = max(size for name, (_, _, size) in results.items() if name.startswith("overview"))
    weight = (heaviest + css) / 1024
    met = "met" if worst <= 100 else "MISSED"
    print(f"\nworst overview p95: {worst:.1f} ms (target <= 100 ms): {met}")
    met = "met" if weight <= 100 else "MISSED"
    print(f"page weight (HTML + CSS, no JS): {weight:.1f} kB (target <= 100 kB): {met}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    asyncio.run(run(args.leads, args.repeat))


if __name__ == "__main__":
    main()
