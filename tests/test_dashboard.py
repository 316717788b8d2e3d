"""The staff dashboard in a real headless browser (Debian's chromium + chromedriver): login by
one-time link, who sees what, filters, a lead in full, language, logout (issue 18)."""

from __future__ import annotations

import datetime as dt
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
from tests.support.answers import AVANS

ADMIN, ANOUK, STRANGER = 4242, 9001, 5555
SECRET = "d" * 40
CONTACTS = """contacts:
  programmateam:
    - {name: Team, email: team@example.org}
  avans-bouwtalent:
    - {name: Anouk, email: anouk@example.org, telegram_chat_id: 9001}
"""
STUDENT = [
    "menu:student",
    "c:leeftijd:18_20",
    "c:diploma:mbo4",
    "c:niveau:ad",
    "c:richting:ict",
    "c:provincie:gelderland",
    "c:werkplek:mkb",
    "c:aanbod:ja",
    "c:toestemming:ja",
]


async def test_a_login_link_works_once_and_only_for_ten_minutes(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'links.db'}")
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dashboard:
    data: Path
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
    port = _free_port()
    env = {
        "MKBROUTE_ADMIN_IDS": str(ADMIN),
        "MKBROUTE_CONTACTS_FILE": str(contacts),
        "MKBROUTE_DASHBOARD_SECRET": SECRET,
        "MKBROUTE_DASHBOARD_PORT": str(port),
        "MKBROUTE_DASHBOARD_URL": f"http://127.0.0.1:{port}",
    }
    refs = {
        "avans": _lead(data, "a", AVANS, "Bakker Bouw", env),
        "student": _lead(data, "s", STUDENT, "", env),
    }
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
        yield Dashboard(data, env, f"http://127.0.0.1:{port}", log, refs)
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0, log.read_text("utf-8")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
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
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _login(driver: Any, link: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(link)
    driver.find_element(By.ID, "login").click()
    _wait(driver, lambda d: "t=" not in d.current_url)


def _wait(driver: Any, until: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(until)


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
    find(By.ID, "apply").click()
    assert _rows(driver) == [dashboard.refs["avans"]]
    # A filter on a status nobody has: nothing, said in words.
    driver.get(dashboard.url + "/?status=claimed")
    assert find(By.ID, "none").text == "Geen aanvragen gevonden."

    # The lead in full: contact details, routing reasons, deliveries.
    driver.get(dashboard.url + "/")
    find(By.LINK_TEXT, dashboard.refs["avans"]).click()
    assert find(By.ID, "ref").text == dashboard.refs["avans"]
    assert "Anna Bakker" in find(By.ID, "contact").text
    assert find(By.ID, "routing").find_elements(By.TAG_NAME, "li")
    assert (
        "anouk" in find(By.ID, "deliveries").text.casefold()
        or "Anouk" in find(By.ID, "deliveries").text
    )

    # English on request, and it stays English.
    find(By.ID, "language").click()
    assert "Contact details" in driver.page_source
    driver.get(dashboard.url + "/")
    assert (
        "Contact person" not in find(By.ID, "who").text
        and "Programme team" in find(By.ID, "who").text
    )

    # Log out: back to the login page, and no data without logging in again.
    find(By.ID, "logout").click()
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
