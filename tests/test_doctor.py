"""``mkbroute doctor`` as an operator runs it: one line per check, exit 1 only on errors, never
a traceback, never the token, and nothing created or migrated."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from bot.doctor import check_database, check_webhook
from bot.settings import Settings
from bot.store.db import alembic_config, create_engine, upgrade_schema
from tests.conftest import ROOT, mkbroute
from tests.support.botapi import TOKEN
from tests.support.sqlite import sqlite_file

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
HEALTHY = {
    "MKBROUTE_TELEGRAM_TOKEN": TOKEN,
    "MKBROUTE_CONTACTS_FILE": str(ROOT / "contacts.example.yaml"),
    "MKBROUTE_SMTP_HOST": "127.0.0.1",
    "MKBROUTE_SMTP_FROM": "bot@example.org",
    "MKBROUTE_ADMIN_IDS": "1001,1002",
}


@pytest.fixture(autouse=True)
def no_developer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process Settings() must not pick up the developer's own MKBROUTE_ variables."""
    for name in [k for k in os.environ if k.startswith("MKBROUTE_")]:
        monkeypatch.delenv(name)


def doctor(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    proc = mkbroute(data_dir, "doctor", **env)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    for part in (TOKEN, *TOKEN.split(":", 1)):
        assert part not in out, "the token (or half of it) was printed"
    return proc


def upgrade(data_dir: Path, revision: str = "head") -> Path:
    path = data_dir / "mkbroute.db"
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), revision)
    return path


def line(output: str, name: str) -> str:
    """The one line of check ``name``."""
    (found,) = [ln for ln in output.splitlines() if ln[7:].startswith(f"{name}: ")]
    return found


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_healthy_setup_is_all_ok_and_left_untouched(tmp_path: Path) -> None:
    path = upgrade(tmp_path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    proc = doctor(tmp_path, **HEALTHY)
    assert proc.returncode == 0, proc.stdout
    checks = ["settings", "database", "content", "contacts", "telegram", "webhook", "admins"]
    for name in checks:
        assert line(proc.stdout, name).startswith("OK     ")
    assert line(proc.stdout, "database") == (
        f"OK     database: bereikbaar, schema op revisie {HEAD} / "
        f"reachable, schema at revision {HEAD}"
    )
    assert "contactpersonen voor 3 pilot(s) / 3 contact(s) for 3 pilot(s)" in proc.stdout
    assert proc.stdout.rstrip().endswith("Alles in orde. / All good.")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_broken_contacts_file_is_an_error_naming_the_problem(tmp_path: Path) -> None:
    upgrade(tmp_path)
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        "contacts:\n  nergens-hogeschool:\n    - name: Niemand\n      email: n@example.org\n",
        encoding="utf-8",
    )
    proc = doctor(tmp_path, **{**HEALTHY, "MKBROUTE_CONTACTS_FILE": str(contacts)})
    assert proc.returncode == 1
    assert line(proc.stdout, "contacts") == (
        f"FOUT   contacts: 2 fout(en) in {contacts} / ERROR 2 error(s) in {contacts}"
    )
    assert f"{contacts}: contacts.nergens-hogeschool: unknown pilot" in proc.stdout
    assert "contacts.programmateam: the fallback pilot needs at least one contact" in proc.stdout
    # The other checks still ran and passed.
    assert line(proc.stdout, "database").startswith("OK ")
    assert "1 fout(en), 0 waarschuwing(en) / 1 error(s), 0 warning(s)" in proc.stdout

    contacts.write_text("contacts:\n  programmateam:\n    - name: Zonder Adres\n", "utf-8")
    proc = doctor(tmp_path, **{**HEALTHY, "MKBROUTE_CONTACTS_FILE": str(contacts)})
    assert proc.returncode == 1
    assert line(proc.stdout, "contacts").startswith("FOUT   contacts: 1 fout(en) in ")
    assert "give an e-mail address, a Telegram chat id, or both" in proc.stdout


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    url = f"postgresql://mkbroute:geheim-wachtwoord@127.0.0.1:{closed_port()}/mkbroute"
    proc = doctor(tmp_path, **HEALTHY, MKBROUTE_DATABASE_URL=url)
    assert proc.returncode == 1
    assert line(proc.stdout, "database") == (
        "FOUT   database: niet bereikbaar / ERROR not reachable"
    )
    assert "ConnectionRefusedError" in proc.stdout
    assert "geheim-wachtwoord" not in proc.stdout and "***@127.0.0.1" in proc.stdout
    assert line(proc.stdout, "content").startswith("OK ")


def test_an_old_schema_is_a_warning_to_upgrade(tmp_path: Path) -> None:
    path = upgrade(tmp_path, "0004")
    proc = doctor(tmp_path, **HEALTHY)
    assert proc.returncode == 0, proc.stdout
    assert line(proc.stdout, "database") == (
        f"LET OP database: bereikbaar, schema op revisie 0004, de nieuwste is {HEAD}; "
        f"voer `mkbroute db upgrade` uit / WARNING reachable, schema at revision 0004, "
        f"the newest is {HEAD}; run `mkbroute db upgrade`"
    )
    with sqlite_file(path) as db:  # the doctor did not migrate it
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]


def test_a_database_without_schema_is_a_warning_to_upgrade(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "mkbroute.db").close()
    proc = doctor(tmp_path, **HEALTHY)
    assert proc.returncode == 0, proc.stdout
    found = line(proc.stdout, "database")
    assert found.startswith("LET OP database: bereikbaar, maar nog zonder schema")
    assert found.count("`mkbroute db upgrade`") == 2


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    data = tmp_path / "nog-niet"
    proc = doctor(data, **HEALTHY)
    assert proc.returncode == 0, proc.stdout
    found = line(proc.stdout, "database")
    assert (
        found.startswith("LET OP database: ") and "wordt aangemaakt bij de eerste start" in found
    )
    assert "will be created at first start" in found
    assert not data.exists()


def test_missing_optional_settings_are_warnings(tmp_path: Path) -> None:
    upgrade(tmp_path)
    proc = doctor(tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "leads worden bewaard maar niet bezorgd" in line(proc.stdout, "contacts")
    assert "leads are stored but not delivered" in line(proc.stdout, "contacts")
    assert line(proc.stdout, "telegram").startswith("LET OP telegram: geen MKBROUTE_TELEGRAM")
    assert line(proc.stdout, "admins").startswith("LET OP admins: ")
    assert "0 fout(en), 3 waarschuwing(en)" in proc.stdout


def test_invalid_settings_are_listed_like_every_command_does(tmp_path: Path) -> None:
    bad = TOKEN.replace(":", "")
    proc = doctor(tmp_path, MKBROUTE_TELEGRAM_TOKEN=bad, MKBROUTE_SMTP_PORT="0")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Invalid setting(s):")
    assert "MKBROUTE_TELEGRAM_TOKEN" in proc.stderr and "MKBROUTE_SMTP_PORT" in proc.stderr
    assert bad not in proc.stderr


def test_webhook_settings_must_be_complete_and_https() -> None:
    secret = "s3cret-value-0123456"

    def status(**env: str) -> str:
        return check_webhook(Settings(**env)).status  # type: ignore[arg-type]

    assert status() == "ok"
    assert status(webhook_url="https://bot.example.org/telegram", webhook_secret=secret) == "ok"
    assert status(webhook_url="https://bot.example.org:8443/t", webhook_secret=secret) == "ok"
    assert status(webhook_url="https://bot.example.org/telegram") == "error"
    assert status(webhook_secret=secret) == "error"
    assert status(webhook_url="http://bot.example.org/telegram", webhook_secret=secret) == "error"
    assert status(webhook_url="https://bot.example.org:8080/t", webhook_secret=secret) == "error"
    # T31: a URL without a path is fine (updates arrive at "/"); /healthz is taken.
    bare = check_webhook(Settings(webhook_url="https://bot.example.org", webhook_secret=secret))
    assert bare.status == "ok" and "path /" in bare.en
    assert status(webhook_url="https://bot.example.org/healthz", webhook_secret=secret) == "error"


def test_a_dashboard_mounted_in_the_webhook_server_needs_a_path_of_its_own() -> None:
    hook = {
        "webhook_url": "https://bot.example.org/telegram",
        "webhook_secret": "s3cret-value-0123456",
    }
    mounted = {**hook, "dashboard_mount": True, "dashboard_secret": "k" * 32}

    def check(url: str | None, **env: object) -> tuple[str, str]:
        found = check_webhook(Settings(**{**mounted, "dashboard_url": url, **env}))  # type: ignore[arg-type]
        return found.status, found.en

    assert check("https://bot.example.org/dashboard") == (
        "ok",
        "https://bot.example.org/telegram, with a secret; updates at path /telegram, the "
        "dashboard at /dashboard",
    )
    for url, why in (
        (None, "needs a path of its own"),
        ("https://bot.example.org/", "needs a path of its own"),
        ("https://bot.example.org/telegram", "overlap"),
        ("https://bot.example.org/telegram/beheer", "overlap"),
        ("https://bot.example.org/healthz", "must not be /healthz"),
    ):
        status, said = check(url)
        assert status == "error" and why in said, (url, said)
    status, said = check("https://bot.example.org/dashboard", dashboard_secret=None)
    assert status == "error" and "MKBROUTE_DASHBOARD_SECRET" in said


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield int(server.getsockname()[1])
    server.close()


async def test_a_database_that_does_not_answer_times_out(silent_server: int) -> None:
    url = f"postgresql://u:p@127.0.0.1:{silent_server}/x"
    settings = Settings(database_url=url)
    check = await asyncio.wait_for(check_database(settings, seconds=0.5), 10)
    assert (check.status, check.nl, check.en) == (
        "error",
        "geen antwoord binnen 0.5 s",
        "no answer within 0.5 s",
    )


async def test_a_schema_newer_than_the_code_is_an_error(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'mkbroute.db'}")
    await upgrade_schema(engine)
    await engine.dispose()
    with sqlite_file(tmp_path / "mkbroute.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    check = await check_database(Settings(data_dir=tmp_path))
    assert check.status == "error" and "9999" in check.en and "newer version" in check.en


def test_secrets_in_plain_text_over_the_network_are_warned_about() -> None:
    """Issue 15: a password over unencrypted SMTP to another host, or the bot token over
    http:// to a non-local Bot API, is a warning; on the same machine it is fine."""
    from bot.doctor import check_settings

    def check(**env: object) -> tuple[str, str]:
        c = check_settings(Settings(**env))  # type: ignore[arg-type]
        return c.status, c.en

    plain = {"smtp_security": "none", "smtp_password": "hunter2", "smtp_from": "a@b.nl"}
    status, text = check(smtp_host="mail.example.org", **plain)
    assert status == "warn" and "mail.example.org" in text and "hunter2" not in text
    assert check(smtp_host="127.0.0.1", **plain)[0] == "ok"
    assert (
        check(smtp_host="mail.example.org", smtp_security="starttls", smtp_password="x")[0] == "ok"
    )
    assert check(telegram_api_url="http://api.example.org/bot")[0] == "warn"
    assert check(telegram_api_url="http://127.0.0.1:8081/bot")[0] == "ok"
