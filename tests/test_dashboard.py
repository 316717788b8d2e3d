"""The staff dashboard in a real headless browser (Debian's chromium + chromedriver): login by
one-time link, who sees what, filters, a lead in full, language, logout (issue 18)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.handoff.access import new_link, redeem
from bot.store.db import create_engine, make_sessionmaker, upgrade_schema
from tests.conftest import chat_jsonl, cli_env, mkbroute
from tests.support.answers import AVANS, STUDENT
from tests.support.botapi import FakeBotAPI
from tests.test_telegram_e2e import (
    GOOD,
    USER,
    WEBHOOK_SECRET,
    free_port,
    post,
    read_log,
    start_bot,
    start_webhook,
    stop_bot,
    wait_text,
)

ADMIN, ANOUK, STRANGER = 4242, 9001, 5555
SECRET = "d" * 40
CONTACTS = """contacts:
  programmateam:
    - {name: Team, email: team@example.org}
  avans-bouwtalent:
    - {name: Anouk, email: anouk@example.org, telegram_chat_id: 9001}
"""


async def test_a_login_link_works_once_and_only_for_ten_minutes(db_url: str) -> None:
    engine = create_engine(db_url)
    await upgrade_schema(engine)
    db = make_sessionmaker(engine)
    now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    async with db() as session, session.begin():
        token = await new_link(session, ADMIN, now)
        late = await new_link(session, ADMIN, now)
    async with db() as session, session.begin():
        assert await redeem(session, "forged", now) is None
        assert await redeem(session, token, now + dt.timedelta(minutes=9)) == ADMIN
        assert await redeem(session, token, now + dt.timedelta(minutes=9)) is None  # used
        assert await redeem(session, late, now + dt.timedelta(minutes=11)) is None  # expired
    await engine.dispose()


async def test_the_overview_queries_on_sqlite_and_postgresql(db_url: str) -> None:
    """Search is case-insensitive over reference, name, e-mail, phone and company on both
    databases; a contact's view and the counts leave other routes and erased leads out."""
    from bot.store.models import LeadRow
    from bot.store.repo import LeadQuery, find_leads, status_counts

    engine = create_engine(db_url)
    await upgrade_schema(engine)
    db = make_sessionmaker(engine)
    now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    people = [
        ("avans-bouwtalent", "Anna Bakker", "Bakker Bouw B.V.", "queued"),
        ("avans-bouwtalent", "Bram Smit", "Smit Installatie", "claimed"),
        ("programmateam", "Sam de Vries", None, "queued"),
        ("programmateam", None, None, "erased"),
    ]
    async with db() as session, session.begin():
        for i, (pilot, name, company, status) in enumerate(people, start=1):
            session.add(
                LeadRow(
                    ref=f"L-2026-{i:06d}",
                    user_key=f"u{i}",
                    run=1,
                    flow="werkgever",
                    verdict="geschikt",
                    reasons=[],
                    routing=[],
                    answers={},
                    name=name,
                    company=company,
                    email=f"u{i}@example.org",
                    phone=None,
                    minor=False,
                    lang="nl",
                    pilot=pilot,
                    status=status,
                    consent_version="v1",
                    consent_at=now,
                    created_at=now,
                )
            )
    async with db() as session:
        found, total = await find_leads(session, LeadQuery(search="BAKKER"), 0, 50)
        assert [lead.ref for lead in found] == ["L-2026-000001"] and total == 1
        found, total = await find_leads(session, LeadQuery(search="u3@example"), 0, 50)
        assert [lead.name for lead in found] == ["Sam de Vries"]
        avans = frozenset({"avans-bouwtalent"})
        found, total = await find_leads(session, LeadQuery(pilots=avans), 0, 1)
        assert total == 2 and [lead.ref for lead in found] == ["L-2026-000002"]  # newest first
        found, _ = await find_leads(session, LeadQuery(pilots=avans, search="sam"), 0, 50)
        assert found == []
        assert await status_counts(session, None) == {"queued": 2, "claimed": 1}
        assert await status_counts(session, avans) == {"queued": 1, "claimed": 1}
    await engine.dispose()


@dataclass
class Dashboard:
    data: Path
    downloads: Path
    env: dict[str, str]
    url: str
    log: Path
    refs: dict[str, str]

    def link(self, telegram_id: int) -> str:
        made = mkbroute(self.data, "dashboard", "link", str(telegram_id), **self.env)
        assert made.returncode == 0, made.stderr
        return made.stdout.splitlines()[0]


def _lead(data: Path, user: str, buttons: list[str], company: str, env: dict[str, str]) -> str:
    lines: list[object] = [{"user": user, "button": b} for b in buttons]
    lines += [{"user": user, "text": "Anna Bakker" if company else "Sam de Vries"}]
    if company:
        lines.append({"user": user, "text": company})
    lines += [
        {"user": user, "button": "c:kanaal:email"},
        {"user": user, "text": f"{user}@example.org"},
        {"user": user, "button": "confirm"},
    ]
    replies = chat_jsonl(data, lines, **env)
    text = replies[-1]["replies"][0]["text"]
    return str(text.split("referentie ")[1].split(".")[0])


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    data = tmp_path_factory.mktemp("dashboard")
    contacts = data / "contacts.yaml"
    contacts.write_text(CONTACTS, encoding="utf-8")
    port = free_port()
    env = {
        "MKBROUTE_ADMIN_IDS": str(ADMIN),
        "MKBROUTE_CONTACTS_FILE": str(contacts),
        "MKBROUTE_DASHBOARD_SECRET": SECRET,
        "MKBROUTE_DASHBOARD_PORT": str(port),
        "MKBROUTE_DASHBOARD_URL": f"http://127.0.0.1:{port}",
    }
    refs = {
        "avans": _lead(data, "a", AVANS, "Bakker Bouw <i>&</i> =SUM(1)", env),
        "student": _lead(data, "s", ["menu:student", *STUDENT], "", env),
    }
    chat_jsonl(data, [{"user": "q", "text": "/vraag hoe laat gaat de trein naar Zwolle"}], **env)
    log = data / "dashboard.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "dashboard"],
            env=cli_env(data, MKBROUTE_LOG_LEVEL="INFO", **env),
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, log.read_text("utf-8")
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.1)
        yield Dashboard(data, data / "downloads", env, f"http://127.0.0.1:{port}", log, refs)
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0, log.read_text("utf-8")


@pytest.fixture(scope="module")
def browser(dashboard: Dashboard) -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        if os.environ.get("MKBROUTE_TEST_BROWSER") == "require":
            pytest.fail("MKBROUTE_TEST_BROWSER=require, but chromium or chromedriver is missing")
        pytest.skip("chromium and chromium-driver are not installed (apt-get install them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    # Debian's binaries, named explicitly: Selenium Manager would try to download a browser.
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    dashboard.downloads.mkdir(exist_ok=True)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(dashboard.downloads),
            "download.prompt_for_download": False,
        },
    )
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    # A loaded machine may render a page a moment after the navigation reports done.
    driver.implicitly_wait(2)
    try:
        yield driver
    finally:
        driver.quit()


def _login(driver: Any, link: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(link)
    _go(driver, driver.find_element(By.ID, "login"))


def _go(driver: Any, element: Any) -> None:
    """Click a link or a submit button and wait until the next page has replaced this one
    (a click returns before a form's navigation is done)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_: Any) -> bool:
        try:
            page.is_enabled()
        except WebDriverException:
            # Stale, or Chrome's "node does not belong to the document" in mid-navigation:
            # either way the old page is gone.
            return True
        return False

    _wait(driver, replaced)
    _wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")


def _wait(driver: Any, until: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(until)


def _rows(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        row.get_attribute("data-ref")
        for row in driver.find_elements(By.CSS_SELECTOR, "#leads tbody tr")
    ]


def test_programme_staff_review_a_lead_from_login_to_logout(
    dashboard: Dashboard, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    find = driver.find_element
    driver.delete_all_cookies()
    driver.get(dashboard.url + "/")
    # Not signed in: the login page, and nothing of any lead.
    assert driver.current_url.endswith("/login")
    assert "/dashboard" in find(By.ID, "how").text
    assert not any(ref in driver.page_source for ref in dashboard.refs.values())

    link = dashboard.link(ADMIN)
    _login(driver, link)
    assert driver.current_url == dashboard.url + "/"
    assert "Programmateam" in find(By.ID, "who").text
    assert sorted(_rows(driver)) == sorted(dashboard.refs.values())
    counts = {
        li.get_attribute("data-status"): li.find_element(By.TAG_NAME, "b").text
        for li in driver.find_elements(By.CSS_SELECTOR, "#counts li")
    }
    assert sum(int(n) for n in counts.values()) == 2
    # The session cookie cannot be read by scripts and is not sent cross-site.
    session = next(c for c in driver.get_cookies() if c["name"] == "mkbroute_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"

    # Search: a company name finds its lead only.
    find(By.ID, "q").send_keys("bakker bouw")
    _go(driver, find(By.ID, "apply"))
    assert _rows(driver) == [dashboard.refs["avans"]]
    # A filter on a status nobody has: nothing, said in words.
    driver.get(dashboard.url + "/?status=claimed")
    assert find(By.ID, "none").text == "Geen aanvragen gevonden."

    # The lead in full: contact details, routing reasons, deliveries.
    driver.get(dashboard.url + "/")
    _go(driver, find(By.LINK_TEXT, dashboard.refs["avans"]))
    assert find(By.ID, "ref").text == dashboard.refs["avans"]
    assert "Anna Bakker" in find(By.ID, "contact").text
    assert find(By.ID, "routing").find_elements(By.TAG_NAME, "li")
    assert (
        "anouk" in find(By.ID, "deliveries").text.casefold()
        or "Anouk" in find(By.ID, "deliveries").text
    )

    # English on request, and it stays English.
    _go(driver, find(By.ID, "language"))
    assert "Contact details" in driver.page_source
    driver.get(dashboard.url + "/")
    assert (
        "Contact person" not in find(By.ID, "who").text
        and "Programme team" in find(By.ID, "who").text
    )

    # Log out: back to the login page, and no data without logging in again.
    _go(driver, find(By.ID, "logout"))
    assert "/login" in driver.current_url
    driver.get(dashboard.url + "/")
    assert driver.current_url.endswith("/login")

    # The same link a second time: refused, in words.
    _login(driver, link)
    assert (
        "werkt niet" in find(By.ID, "message").text
        or "does not work" in find(By.ID, "message").text
    )
    assert not _rows(driver)

    # The token never reaches the server's log (tornado's access log shows the path only).
    token = link.split("t=", 1)[1]
    assert token not in dashboard.log.read_text("utf-8")


def test_a_contact_person_sees_only_their_own_pilots_leads(
    dashboard: Dashboard, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    _login(driver, dashboard.link(ANOUK))
    assert _rows(driver) == [dashboard.refs["avans"]]
    assert "avans-bouwtalent" in driver.find_element(By.ID, "who").text
    # Another pilot's lead by its reference: the same answer as a reference that does not exist.
    driver.get(f"{dashboard.url}/lead/{dashboard.refs['student']}")
    other = driver.find_element(By.ID, "message").text
    driver.get(f"{dashboard.url}/lead/L-1999-000001")
    assert driver.find_element(By.ID, "message").text == other
    assert "Sam de Vries" not in driver.page_source


def _as(driver: Any, url: str, form: dict[str, str] | None = None) -> tuple[int, str]:
    """GET, or POST a form, with the browser's session and XSRF cookies, as a crafted request
    would (the pages offer no such link or form): the status and the body."""
    import urllib.error
    import urllib.parse
    import urllib.request

    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    body = None
    if form is not None:
        body = urllib.parse.urlencode({**form, "_xsrf": cookies["_xsrf"]}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode("utf-8-sig")
    except urllib.error.HTTPError as refused:
        with refused:
            return int(refused.code), refused.read().decode("utf-8")


def test_a_contact_cannot_change_note_or_export_another_pilots_lead(
    dashboard: Dashboard, browser: Any
) -> None:
    """Issue 18: a contact of pilot A gets 404 for a lead of pilot B in the status change and
    the note, even with a valid session and XSRF token, and B's lead is not in A's export."""
    import csv
    import io

    from selenium.webdriver.common.by import By

    driver = browser
    other = dashboard.refs["student"]
    _login(driver, dashboard.link(ANOUK))
    driver.get(f"{dashboard.url}/")  # the XSRF cookie is set by a page with a form
    for path, fields in (
        ("status", {"to": "claimed", "reason": ""}),
        ("note", {"note": "ik pak deze"}),
        ("wissen", {}),
    ):
        status, page = _as(driver, f"{dashboard.url}/lead/{other}/{path}", fields)
        assert status == 404, (path, status)
        assert "Sam de Vries" not in page
    # B's person is not found in A's overview, nor in A's export of that search.
    driver.get(f"{dashboard.url}/?q=Sam")
    assert _rows(driver) == []
    status, data = _as(driver, f"{dashboard.url}/export?q=Sam&format=csv")
    rows = list(csv.reader(io.StringIO(data), delimiter=";"))
    assert status == 200 and len(rows) == 1 and rows[0][0] == "Referentie"
    status, data = _as(driver, f"{dashboard.url}/export?format=csv")
    assert other not in data and dashboard.refs["avans"] in data
    # The programme team sees B's lead untouched: still waiting, no note.
    _login(driver, dashboard.link(ADMIN))
    driver.get(f"{dashboard.url}/lead/{other}")
    assert driver.find_element(By.ID, "lead-status").text == "in de wachtrij"
    assert "ik pak deze" not in driver.page_source


def test_nobody_else_gets_a_link_and_the_dashboard_needs_its_secret(
    dashboard: Dashboard, tmp_path: Path
) -> None:
    refused = mkbroute(dashboard.data, "dashboard", "link", str(STRANGER), **dashboard.env)
    assert refused.returncode != 0 and "neither" in refused.stderr
    no_secret = {k: v for k, v in dashboard.env.items() if k != "MKBROUTE_DASHBOARD_SECRET"}
    unset = mkbroute(tmp_path, "dashboard", **no_secret)
    assert unset.returncode != 0 and "MKBROUTE_DASHBOARD_SECRET" in unset.stderr
    short = mkbroute(tmp_path, "dashboard", **{**no_secret, "MKBROUTE_DASHBOARD_SECRET": "kort"})
    assert short.returncode != 0 and "32" in short.stderr


def _download(dashboard: Dashboard, driver: Any, link_id: str, suffix: str) -> Path:
    from selenium.webdriver.common.by import By

    for old in dashboard.downloads.iterdir():
        old.unlink()
    driver.find_element(By.ID, link_id).click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = [p for p in dashboard.downloads.iterdir() if p.suffix == suffix]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} downloaded")


def test_staff_export_the_filter_read_the_funnel_and_the_unanswered_questions(
    dashboard: Dashboard, browser: Any
) -> None:
    import csv
    import io

    from openpyxl import load_workbook
    from selenium.webdriver.common.by import By

    driver = browser
    find = driver.find_element
    _login(driver, dashboard.link(ADMIN))
    find(By.ID, "q").send_keys("bakker bouw")
    _go(driver, find(By.ID, "apply"))
    # Exactly the filtered leads, as files staff can open: the CSV in Dutch Excel's dialect
    # with the formula trigger quoted, the XLSX with typed cells.
    data = _download(dashboard, driver, "export-csv", ".csv").read_text("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data), delimiter=";"))
    assert [r[0] for r in rows[1:]] == [dashboard.refs["avans"]]
    assert rows[1][rows[0].index("Bedrijf")] == "Bakker Bouw <i>&</i> =SUM(1)"
    book = load_workbook(_download(dashboard, driver, "export-xlsx", ".xlsx"))
    sheet = book["Aanvragen"]
    assert sheet.max_row == 2 and sheet["A2"].value == dashboard.refs["avans"]

    # The funnel for a period, as a table and the picture.
    _go(driver, find(By.ID, "nav-stats"))
    find(By.ID, "periode").send_keys("deze maand")
    _go(driver, find(By.ID, "apply"))
    assert "t/m" in find(By.ID, "period").text
    confirmed = find(By.CSS_SELECTOR, '#funnel tr[data-step="lead_confirmed"]')
    assert confirmed.find_elements(By.TAG_NAME, "td")[1].text == "2"
    assert driver.execute_script("return document.getElementById('chart').naturalWidth") == 800
    find(By.ID, "periode").clear()
    find(By.ID, "periode").send_keys("volgend jaar")
    _go(driver, find(By.ID, "apply"))
    assert "01-09-2026" in find(By.ID, "message").text

    # What the knowledge base could not answer.
    _go(driver, find(By.ID, "nav-unanswered"))
    assert "trein naar Zwolle" in find(By.ID, "unanswered").text


def test_user_text_is_shown_as_text_and_forms_need_their_xsrf_token(
    dashboard: Dashboard, browser: Any
) -> None:
    import urllib.error
    import urllib.request

    from selenium.webdriver.common.by import By

    driver = browser
    _login(driver, dashboard.link(ADMIN))
    driver.get(f"{dashboard.url}/lead/{dashboard.refs['avans']}")
    contact = driver.find_element(By.ID, "contact")
    assert "Bakker Bouw <i>&</i> =SUM(1)" in contact.text
    assert not contact.find_elements(By.TAG_NAME, "i")  # escaped, not markup
    for path in ("/logout", "/login"):
        request = urllib.request.Request(dashboard.url + path, data=b"t=x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
        refused.value.close()


def test_on_a_phone_the_overview_does_not_scroll_sideways(
    dashboard: Dashboard, browser: Any
) -> None:
    """390 px wide (an iPhone): the page fits; only the table scrolls inside its box. The
    screenshots go to the staff manual when MKBROUTE_SCREENSHOTS names a folder."""
    driver = browser
    _login(driver, dashboard.link(ADMIN))
    driver.set_window_size(390, 844)
    try:
        wide = driver.execute_script("return document.documentElement.scrollWidth")
        culprits = driver.execute_script(
            "return [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth)"
            ".map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)"
        )
        assert wide <= driver.execute_script("return window.innerWidth"), culprits
        folder = Path(os.environ.get("MKBROUTE_SCREENSHOTS") or dashboard.data)
        driver.save_screenshot(str(folder / "dashboard-telefoon.png"))
        driver.set_window_size(1200, 900)
        driver.save_screenshot(str(folder / "dashboard-overzicht.png"))
        driver.get(f"{dashboard.url}/lead/{dashboard.refs['avans']}")
        driver.save_screenshot(str(folder / "dashboard-aanvraag.png"))
    finally:
        driver.set_window_size(1200, 900)


def test_a_contact_person_claims_follows_up_and_keeps_notes(
    dashboard: Dashboard, browser: Any
) -> None:
    """Issue 18: claim, in conversation, dropped out (a reason is required), a note; the
    history says who did what; another route's contact cannot change it."""
    import asyncio

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    from sqlalchemy import select

    from bot.store.models import LeadNoteRow

    driver = browser
    find = driver.find_element
    ref = dashboard.refs["avans"]
    _login(driver, dashboard.link(ANOUK))
    driver.get(f"{dashboard.url}/lead/{ref}")

    def change(to: str, reason: str = "") -> str:
        Select(find(By.ID, "to")).select_by_value(to)
        find(By.ID, "reason").clear()
        if reason:
            find(By.ID, "reason").send_keys(reason)
        _go(driver, find(By.ID, "change"))
        return str(find(By.ID, "notice").text)

    assert change("in_conversation") == "Pak de aanvraag eerst op."
    assert change("claimed") == "Opgeslagen."
    assert find(By.ID, "lead-status").text == "opgepakt"
    assert "Opgepakt door Anouk" in find(By.ID, "claimed").text
    assert change("in_conversation") == "Opgeslagen."
    assert change("dropped") == "Geef een reden bij afgehaakt."
    assert change("dropped", "kiest toch voor voltijd") == "Opgeslagen."
    history = find(By.ID, "history").text
    assert "Anouk: in de wachtrij → opgepakt" in history
    assert "in gesprek → afgehaakt (kiest toch voor voltijd)" in history
    find(By.ID, "note").send_keys("Belde op 2-12; <b>wil</b> in 2027 opnieuw kijken.")
    _go(driver, find(By.ID, "add-note"))
    assert find(By.ID, "notice").text == "Notitie opgeslagen."
    assert "<b>wil</b> in 2027" in find(By.ID, "note-list").text

    # The programme team sees the same history and note; the overview counts follow.
    _login(driver, dashboard.link(ADMIN))
    driver.get(f"{dashboard.url}/lead/{ref}")
    assert "opnieuw kijken" in find(By.ID, "note-list").text
    driver.get(dashboard.url + "/?status=dropped")
    assert _rows(driver) == [ref]

    # Erasing the person erases the notes and the history with the lead's personal data.
    erased = mkbroute(dashboard.data, "erase", ref, **dashboard.env)
    assert erased.returncode == 0, erased.stderr
    driver.get(f"{dashboard.url}/lead/{ref}")
    assert "niet voor jou" in find(By.ID, "message").text

    async def left() -> int:
        engine = create_engine(f"sqlite+aiosqlite:///{dashboard.data / 'mkbroute.db'}")
        async with make_sessionmaker(engine)() as db:
            count = len((await db.scalars(select(LeadNoteRow))).all())
        await engine.dispose()
        return count

    assert asyncio.run(left()) == 0


def test_programme_staff_erase_a_person_after_confirming(
    dashboard: Dashboard, browser: Any
) -> None:
    """As `mkbroute erase REF`, with a confirmation step; contact persons cannot."""
    from selenium.webdriver.common.by import By

    driver = browser
    find = driver.find_element
    ref = dashboard.refs["student"]
    _login(driver, dashboard.link(ANOUK))
    driver.get(f"{dashboard.url}/lead/{ref}/wissen")
    assert "Sam de Vries" not in driver.page_source and not driver.find_elements(By.ID, "erase")
    _login(driver, dashboard.link(ADMIN))
    driver.get(f"{dashboard.url}/lead/{ref}")
    _go(driver, find(By.ID, "erase-link"))
    assert "niet ongedaan" in find(By.ID, "warning").text
    _go(driver, find(By.ID, "cancel"))
    assert find(By.ID, "ref").text == ref  # nothing happened
    _go(driver, find(By.ID, "erase-link"))
    _go(driver, find(By.ID, "erase"))
    assert f"{ref} is gewist" in find(By.ID, "message").text
    driver.get(dashboard.url + "/")
    assert ref not in _rows(driver)
    listed = mkbroute(dashboard.data, "lead", ref, **dashboard.env)
    assert "Sam de Vries" not in listed.stdout


def test_the_dashboard_mounted_in_the_webhook_server(
    api: FakeBotAPI, browser: Any, tmp_path: Path
) -> None:
    """Issue 18: `mkbroute webhook` with MKBROUTE_DASHBOARD_MOUNT serves the dashboard under
    the path of MKBROUTE_DASHBOARD_URL beside Telegram's webhook and /healthz: every link,
    form, picture and stylesheet stays under that path, and the webhook still answers."""
    from selenium.webdriver.common.by import By

    driver = browser
    find = driver.find_element
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(CONTACTS, encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}/beheer/dashboard"
    env = {
        "MKBROUTE_ADMIN_IDS": str(ADMIN),
        "MKBROUTE_CONTACTS_FILE": str(contacts),
        "MKBROUTE_DASHBOARD_SECRET": SECRET,
        "MKBROUTE_DASHBOARD_URL": base,
        "MKBROUTE_DASHBOARD_MOUNT": "true",
    }
    ref = _lead(tmp_path, "a", AVANS, "Bakker Bouw", env)

    # Without a path of its own the dashboard would cover the webhook: refused at start.
    clash = start_bot(
        api,
        tmp_path,
        "webhook",
        **{**env, "MKBROUTE_DASHBOARD_URL": f"http://127.0.0.1:{port}"},
        MKBROUTE_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
        MKBROUTE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    assert clash.wait(timeout=60) != 0
    assert "MKBROUTE_DASHBOARD_URL needs a path" in read_log(clash)

    proc, url, _ = start_webhook(api, tmp_path, port=port, **env)
    try:
        link = mkbroute(tmp_path, "dashboard", "link", str(ADMIN), **env).stdout.splitlines()[0]
        assert link.startswith(f"{base}/login?t=")
        _login(driver, link)
        assert driver.current_url == f"{base}/"
        assert _rows(driver) == [ref]
        assert driver.execute_script("return document.styleSheets[0].cssRules.length") > 0
        outside = driver.execute_script(
            "return [...document.querySelectorAll('a[href], form[action]')]"
            ".map(e => e.href || e.action).filter(u => !u.startsWith(arguments[0]))",
            base + "/",
        )
        assert outside == []
        _go(driver, find(By.LINK_TEXT, ref))
        assert find(By.ID, "ref").text == ref
        _go(driver, find(By.ID, "nav-stats"))
        assert driver.execute_script("return document.getElementById('chart').naturalWidth")
        _go(driver, find(By.ID, "logout"))
        assert driver.current_url.startswith(f"{base}/login")
        driver.get(base)  # without the slash: to the overview, which asks for a login
        assert driver.current_url == f"{base}/login"

        # Telegram's webhook and the health check beside it are unchanged.
        update = {**api.state.message_update(USER, "/start"), "update_id": 9001}
        assert post(url, json.dumps(update).encode(), GOOD) == 200
        wait_text(api, USER, "Mkb-route", timeout=60)
        assert post(f"http://127.0.0.1:{port}/healthz", b"", {}, method="GET") == 200
    finally:
        code, log = stop_bot(proc)
    assert code == 0, log[-3000:]
    assert link.split("t=", 1)[1] not in log
