"""Logging set-up: secrets never reach a log line, whatever the level or the format."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Literal, TextIO

__all__ = ["EXTRA_FIELDS", "JsonFormatter", "Redactor", "configure"]

REDACTED = "[redacted]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Structured fields a record may carry (``log.info(..., extra={"lead_ref": ...})``); the JSON
# format writes them as top-level keys.
EXTRA_FIELDS = ("update_id", "lead_ref", "event", "outbox_id", "error")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w:-])\+?\d[\d ()-]{7,}\d")
# A lead reference's digits would look like a phone number to _PHONE.
_LEAD_REF = re.compile(r"L-\d{4}-\d{6,}")


class Redactor(logging.Filter):
    """Replace every occurrence of a secret (the bot token, its halves, a webhook secret, the
    SMTP password) and mask e-mail addresses and phone numbers, in the message, the traceback,
    the stack and the structured extra fields."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so the whole token is replaced before its halves.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` without secrets, e-mail addresses and phone numbers."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _PHONE.sub("[telefoon]", _EMAIL.sub("[e-mail]", text))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so no formatter ever sees the raw one; every
            # formatter prints exc_text when it is set.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        for key in EXTRA_FIELDS:
            value = record.__dict__.get(key)
            if value is None or isinstance(value, int | float):
                continue
            text = str(value)
            if key != "lead_ref" or not _LEAD_REF.fullmatch(text):
                text = self.scrub(text)
            setattr(record, key, text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: time (UTC), level, logger, message, the extra
    fields the record carries, and ``exc`` for a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        created = dt.datetime.fromtimestamp(record.created, dt.UTC)
        data: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in EXTRA_FIELDS:
            if record.__dict__.get(key) is not None:
                data[key] = record.__dict__[key]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        # ensure_ascii: besides \n, characters like U+2028 and U+0085 count as line breaks for
        # some readers (Python's splitlines among them); escaped, a record is always one line.
        return json.dumps(data, ensure_ascii=True, default=str)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record arrives."""

    def emit(self, record: logging.LogRecord) -> None:
        # A stream captured at set-up goes stale when stderr is replaced (redirects, pytest).
        self.stream = sys.stderr
        super().emit(record)


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    """In JSON mode a crash is one more (redacted) JSON line, not a raw traceback."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("bot").critical("uncaught %s", kind.__name__, exc_info=(kind, value, tb))


def configure(
    level: str, secrets: Iterable[str] = (), fmt: Literal["text", "json"] = "text"
) -> None:
    """Log to stderr at ``level`` as text or JSON lines; httpx stays at WARNING (its URLs contain
    the token) and libraries that log personal data at DEBUG stay at INFO. Calling it again
    replaces the previous set-up."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    json_mode = fmt == "json"
    # A log collector reading JSON lines must not meet raw tracebacks or warnings.
    logging.captureWarnings(json_mode)
    if json_mode:
        sys.excepthook = _log_uncaught
    elif sys.excepthook is _log_uncaught:
        sys.excepthook = sys.__excepthook__
    # httpx logs URLs with the token; SQLAlchemy logs SQL parameters (personal data) at INFO.
    for noisy in ("httpx", "httpcore", "sqlalchemy", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # At DEBUG these libraries log whole updates: names, e-mail addresses.
    # Our own DEBUG lines never do, so DEBUG is safe to switch on in production.
    for chatty in ("telegram", "tornado", "asyncio", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.INFO, logging.getLevelName(level)))
    values = list(secrets)
    for secret in list(values):
        if ":" in secret:
            values.extend(secret.split(":", 1))
    redactor = Redactor(values)
    # Every handler on the root logger, not only ours: nothing may print an unscrubbed record.
    for each in root.handlers:
        for old in [f for f in each.filters if isinstance(f, Redactor)]:
            each.removeFilter(old)
        each.addFilter(redactor)
