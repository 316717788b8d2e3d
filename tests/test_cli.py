"""The ``mkbroute`` command as a user runs it: JSON lines, the terminal chat, settings errors."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import chat_jsonl, mkbroute


def run(
    args: list[str], data_dir: Path, stdin: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return mkbroute(data_dir, *args, stdin=stdin, **env)


def jsonl(data_dir: Path, lines: list[Any], **env: str) -> list[dict[str, Any]]:
    out = chat_jsonl(data_dir, lines, **env)
    assert len(out) == len([ln for ln in lines if not (isinstance(ln, str) and not ln.strip())])
    return out


def test_jsonl_contract_with_interleaved_users_and_bad_lines(tmp_path: Path) -> None:
    out = jsonl(
        tmp_path,
        [
            {"user": "a", "text": "/start"},
            {"user": "b", "text": "/start", "lang": "en"},
            "this is not json",
            {"user": "a", "button": "menu:werkgever"},
            {"user": "b", "button": "menu:werkgever"},
            {"user": "a", "text": "25 medewerkers"},
            {"user": "b", "text": "5"},
            ["not", "an", "object"],
            {"user": "a"},
            {"user": "a", "text": "x", "button": "y"},
            {"user": "a", "text": "hi", "colour": "red"},
            {"user": "", "text": "hi"},
        ],
    )
    assert out[0]["user"] == "a" and "digitale assistent" in out[0]["replies"][0]["text"]
    assert {"id": "menu:student", "label": "🎓 Ik wil studeren"} in out[0]["replies"][0]["buttons"]
    assert "digital assistant" in out[1]["replies"][0]["text"]
    assert out[2] == {"error": out[2]["error"]} and "not valid JSON" in out[2]["error"]
    assert "Wat wil je met de Mkb-route" in out[5]["replies"][0]["text"]
    assert "What would you like to do" in out[6]["replies"][0]["text"]
    assert "expected a JSON object" in out[7]["error"]
    assert "exactly one of 'text' and 'button'" in out[8]["error"]
    assert "exactly one of" in out[9]["error"]
    assert "unknown field(s): colour" in out[10]["error"]
    assert "'user' must be a non-empty string" in out[11]["error"]


def test_jsonl_full_run_emits_outcome_and_lead_events(tmp_path: Path) -> None:
    script = [
        {"user": "w", "button": "menu:werkgever"},
        {"user": "w", "text": "1 tot 9"},
        {"user": "w", "text": "een student aannemen"},
        {"user": "w", "text": "ja"},
        {"user": "w", "button": "c:sector:ict"},
        {"user": "w", "text": "bachelor"},
        {"user": "w", "text": "Gelderland"},
        {"user": "w", "button": "c:aanbod:ja"},
        {"user": "w", "button": "c:toestemming:ja"},
        {"user": "w", "text": "Ayşe Yılmaz"},
        {"user": "w", "text": "Yılmaz ICT B.V."},
        {"user": "w", "text": "mail"},
        {"user": "w", "text": "ayse@example.org"},
        {"user": "w", "button": "confirm", "id": 77},
        {"user": "w", "button": "confirm", "id": 77},
    ]
    out = jsonl(tmp_path, script)
    outcome = next(e for o in out for e in o["events"] if e["type"] == "outcome")
    assert outcome["flow"] == "werkgever" and outcome["verdict"] == "geschikt"
    assert outcome["reasons"]
    # ICT bachelor in Gelderland: no pilot matches, so the programme team gets it.
    assert out[-2]["events"][-1] == {
        "type": "lead",
        "ref": "L-2026-000001",
        "pilot": "programmateam",
    }
    assert out[-1] == {"user": "w", "replies": [], "events": [], "duplicate": True}


def test_resume_after_restart_of_the_process(tmp_path: Path) -> None:
    jsonl(
        tmp_path,
        [
            {"user": "r", "button": "menu:werkende"},
            {"user": "r", "text": "30"},
            {"user": "r", "text": "mkb"},
        ],
    )
    # A new process on the same data folder asks the open question again.
    out = jsonl(tmp_path, [{"user": "r", "text": "/start"}, {"user": "r", "button": "resume"}])
    assert "Welkom terug" in out[0]["replies"][0]["text"]
    assert "Steunt je werkgever" in out[1]["replies"][0]["text"]
    assert (tmp_path / "mkbroute.db").exists()


def test_interactive_chat_uses_numbers_for_buttons(tmp_path: Path) -> None:
    proc = run(["chat"], tmp_path, "1\n/help\n/quit\n")
    assert proc.returncode == 0, proc.stderr
    assert "[1] 🎓 Ik wil studeren" in proc.stdout
    assert "Hoe oud ben je?" in proc.stdout  # pressed [1]
    assert "/terug" in proc.stdout  # the help text
    assert "Traceback" not in proc.stderr


def test_interactive_chat_takes_odd_digits_as_text(tmp_path: Path) -> None:
    """ "²" passes str.isdigit() but not int(): it must be read as text, not crash the chat."""
    proc = run(["chat"], tmp_path, "²\n٣\n/quit\n")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr


def test_interactive_chat_ends_cleanly_at_end_of_input(tmp_path: Path) -> None:
    proc = run(["chat", "--lang", "en"], tmp_path, "4\nwhat is the mkb route\n")
    assert proc.returncode == 0, proc.stderr
    assert "I have a question" in proc.stdout and "Source:" in proc.stdout


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"MKBROUTE_DEFAULT_LANGUAGE": "de"}, "MKBROUTE_DEFAULT_LANGUAGE"),
        ({"MKBROUTE_DATABASE_URL": "mysql://x/y"}, "unsupported database 'mysql'"),
        ({"MKBROUTE_DATABASE_URL": "::not a url::"}, "not a database URL"),
        ({"MKBROUTE_CONTENT_DIR": "/does/not/exist"}, "is not a folder"),
        ({"MKBROUTE_KB_ANSWER_SCORE": "lots"}, "MKBROUTE_KB_ANSWER_SCORE"),
        ({"MKBROUTE_CONTACTS_FILE": "/does/not/exist.yaml"}, "does not exist"),
        ({"MKBROUTE_CONTACTS_FILE": "README.md"}, "Contacts file errors"),
        ({"MKBROUTE_WEBHOOK_SECRET": "short"}, "at least 16 characters"),
        ({"MKBROUTE_LOG_LEVEL": "loud"}, "MKBROUTE_LOG_LEVEL"),
    ],
)
def test_bad_settings_give_a_clear_message(
    tmp_path: Path, env: dict[str, str], fragment: str
) -> None:
    proc = run(["chat", "--jsonl"], tmp_path, "", **env)
    assert proc.returncode != 0
    assert fragment in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [["chat", "--jsonl"], ["leads"], ["purge"], ["stats"]])
def test_an_unusable_data_folder_is_a_clear_message(tmp_path: Path, command: list[str]) -> None:
    """Issue 15: a data folder that cannot be created or written (here: a file is in the way)
    gives one sentence naming the setting, not a traceback."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder", encoding="utf-8")
    proc = run(command, blocker / "data", '{"user": "u", "text": "/start"}\n')
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert (
        "MKBROUTE_DATA_DIR" in proc.stderr and "Cannot open or write the database" in proc.stderr
    )


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    out = jsonl(tmp_path, [{"user": "u", "text": "/start"}], MKBROUTE_LOG_LEVEL=" debug ")
    assert out[0]["replies"]


def test_plain_sqlite_url_is_accepted(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "bot.db"
    out = jsonl(
        tmp_path, [{"user": "u", "text": "/start"}], MKBROUTE_DATABASE_URL=f"sqlite:///{db}"
    )
    assert out[0]["replies"] and db.exists()


def test_db_commands_report_and_upgrade_the_schema(tmp_path: Path) -> None:
    current = run(["db", "current"], tmp_path, "")
    assert current.returncode == 1 and "schema revision: none" in current.stdout
    upgraded = run(["db", "upgrade"], tmp_path, "")
    import re

    assert upgraded.returncode == 0
    assert re.search(r"schema revision: (\S+) \(newest: \1\)", upgraded.stdout), upgraded.stdout
    assert run(["db", "current"], tmp_path, "").returncode == 0


def test_a_postgresql_url_gets_the_async_driver() -> None:
    from bot.settings import Settings

    url = Settings(database_url="postgresql://u:p@db:5432/mkbroute").db_url
    assert url.startswith("postgresql+asyncpg://u:p@db:5432/mkbroute")
