"""Log output: JSON lines for collectors, the classic text format, and never a secret, e-mail
address or phone number in either, not even inside a traceback."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.logs import Redactor, configure
from tests.conftest import mkbroute
from tests.support.botapi import TOKEN, FakeBotAPI, Fault
from tests.test_telegram_e2e import say, start_bot, stop_bot

WEBHOOK_SECRET = "webhook-secret-0123456789"
SMTP_PASSWORD = "smtp-p4ssw0rd-xyz"
MAIL = "fatima.el-amrani@example.org"
PHONE = "+31 6 1234 5678"
SECRETS = [TOKEN, WEBHOOK_SECRET, SMTP_PASSWORD]
# Nothing of these may appear: the token and both its halves, the other secrets, the contact data.
FORBIDDEN = [*SECRETS, *TOKEN.split(":", 1), MAIL, PHONE, "1234 5678"]


@pytest.fixture
def clean_logging() -> Iterator[None]:
    """configure() changes process-wide state; put it back for the next test."""
    root = logging.getLogger()
    handlers, level, hook = list(root.handlers), root.level, sys.excepthook
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
        for flt in [f for f in handler.filters if isinstance(f, Redactor)]:
            handler.removeFilter(flt)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    logging.captureWarnings(False)
    sys.excepthook = hook


def emit_everything() -> int:
    """Log the awkward cases through ``tests.logs``; return how many records were logged."""
    log = logging.getLogger("tests.logs")
    log.info(
        "delivered",
        extra={
            "update_id": 812345678,
            "lead_ref": "L-2026-000123",
            "event": "lead_delivered",
            "outbox_id": 7,
            "error": f"SMTP said no to {MAIL} with {SMTP_PASSWORD}",
        },
    )
    log.warning("user %s wrote\nline two\r\nline three\u2028four\x85five", MAIL)
    log.debug("phone %s, token %s, halves %s", PHONE, TOKEN, " ".join(TOKEN.split(":")))
    try:
        raise RuntimeError(f"POST /bot{TOKEN}/x failed for fatima.el-amrani@example.org {PHONE}")
    except RuntimeError:
        log.exception("update %s failed", 5, extra={"update_id": 5, "error": "RuntimeError"})
    try:
        raise ValueError(f"secret {WEBHOOK_SECRET}\nsecond line")
    except ValueError as exc:
        log.error("handler error", extra={"error": exc})
    return 5


def assert_clean(text: str) -> None:
    for forbidden in FORBIDDEN:
        assert forbidden not in text, forbidden


def test_json_lines_carry_the_extras_and_no_secrets(
    clean_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("DEBUG", SECRETS, "json")
    count = emit_everything()
    err = capsys.readouterr().err
    # splitlines() also splits on U+2028 and U+0085: the strictest reading of "one line".
    records: list[dict[str, Any]] = [json.loads(line) for line in err.splitlines()]
    assert len(records) == count == len(err.split("\n")) - 1
    assert_clean(err)
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
        assert record["logger"] == "tests.logs"
        moment = dt.datetime.fromisoformat(record["time"])
        assert moment.utcoffset() == dt.timedelta(0)
        assert abs(dt.datetime.now(dt.UTC) - moment) < dt.timedelta(minutes=1)
    delivered, multiline, details, failed, handler = records
    assert delivered == {
        "time": delivered["time"],
        "level": "INFO",
        "logger": "tests.logs",
        "message": "delivered",
        "update_id": 812345678,
        "lead_ref": "L-2026-000123",
        "event": "lead_delivered",
        "outbox_id": 7,
        "error": "SMTP said no to [e-mail] with [redacted]",
    }
    assert multiline["message"] == "user [e-mail] wrote\nline two\r\nline three\u2028four\x85five"
    assert "[telefoon]" in details["message"] and "[redacted] [redacted]" in details["message"]
    assert failed["level"] == "ERROR" and failed["message"] == "update 5 failed"
    assert failed["update_id"] == 5 and failed["error"] == "RuntimeError"
    assert failed["exc"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: POST /bot[redacted]/x failed for [e-mail] [telefoon]" in failed["exc"]
    assert "exc" not in delivered and "exc" not in handler
    assert handler["error"] == "secret [redacted]\nsecond line"


def test_the_text_format_is_unchanged(
    clean_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("DEBUG", SECRETS)
    emit_everything()
    err = capsys.readouterr().err
    assert_clean(err)
    head = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
    assert re.search(f"^{head}INFO tests.logs: delivered$", err, re.M)
    assert re.search(f"^{head}WARNING tests.logs: user \\[e-mail\\] wrote\nline two\r$", err, re.M)
    # The redacted traceback follows its message on the next lines, as before.
    assert re.search(
        f"^{head}ERROR tests.logs: update 5 failed\nTraceback \\(most recent call last\\):\n",
        err,
        re.M,
    )
    assert "RuntimeError: POST /bot[redacted]/x failed for [e-mail] [telefoon]\n" in err
    assert not err.lstrip().startswith("{")


def test_configuring_again_replaces_the_handler(
    clean_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI configures twice (before and after reading the settings): one line per record."""
    configure("WARNING")
    configure("INFO", SECRETS, "json")
    logging.getLogger("tests.logs").info("once %s", TOKEN)
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["once [redacted]"]


def test_json_mode_turns_a_crash_into_a_json_line(
    clean_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", SECRETS, "json")
    try:
        raise KeyError(MAIL)
    except KeyError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    (line,) = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert record["level"] == "CRITICAL" and "KeyError: '[e-mail]'" in record["exc"]


def test_a_wrong_log_format_is_a_clear_settings_error(tmp_path: Path) -> None:
    proc = mkbroute(tmp_path, "ask", "--json", "hallo", MKBROUTE_LOG_FORMAT="xml")
    assert proc.returncode == 1
    assert "MKBROUTE_LOG_FORMAT: Input should be 'text' or 'json'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert mkbroute(tmp_path, "ask", "hallo", MKBROUTE_LOG_FORMAT=" JSON ").returncode == 0


def test_a_command_logs_json_lines(tmp_path: Path) -> None:
    """``mkbroute chat`` warns that contacts cannot be reached: as JSON when asked for."""
    contacts = Path(__file__).resolve().parent.parent / "contacts.example.yaml"
    env = {"MKBROUTE_CONTACTS_FILE": str(contacts), "MKBROUTE_LOG_FORMAT": "json"}
    proc = mkbroute(tmp_path, "chat", "--jsonl", **env)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "WARNING" and record["logger"] == "bot.handoff.service"
    assert "no channel" in record["message"]


def test_a_bot_at_debug_logs_only_clean_json_lines(api: FakeBotAPI, tmp_path: Path) -> None:
    """The real ``mkbroute run`` at DEBUG, with a Telegram failure and a user typing contact
    data: every line of its stderr is one JSON object and nothing secret or personal is in it."""
    proc = start_bot(
        api,
        tmp_path,
        MKBROUTE_LOG_FORMAT="json",
        MKBROUTE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        MKBROUTE_SMTP_PASSWORD=SMTP_PASSWORD,
    )
    try:
        api.state.add_fault("getUpdates", Fault("status", 502, "Bad Gateway"))
        say(api, 4242, "/start", "digitale assistent")
        say(api, 4242, f"mail me op {MAIL} of bel {PHONE}", "")
    finally:
        code, log = stop_bot(proc)
    assert code == 0, log[-3000:]
    records = [json.loads(line) for line in log.splitlines()]
    assert len(records) > 5
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    # The failed poll was logged, as one line like everything else.
    assert any(r["level"] == "ERROR" and "NetworkError" in r["message"] for r in records)
    # One line per handled update, with its id: an operator can follow a message through.
    handled = [r for r in records if r.get("event") == "handled"]
    assert len(handled) == 2 and all(isinstance(r["update_id"], int) for r in handled)
    assert_clean(log)


def test_lead_references_stay_readable_in_log_messages() -> None:
    """Staff search the log for a lead's reference; the phone mask must not eat it."""
    record = logging.LogRecord(
        "bot", logging.INFO, __file__, 1, "lead %s: call 06 1234 5678", ("L-2026-000123",), None
    )
    Redactor([]).filter(record)
    assert record.getMessage() == "lead L-2026-000123: call [telefoon]"
