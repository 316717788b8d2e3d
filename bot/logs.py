"""Logging set-up: secrets never reach a log line, whatever the level."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["Redactor", "configure"]

REDACTED = "[redacted]"


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w:])\+?\d[\d ()-]{7,}\d")


class Redactor(logging.Filter):
    """Replace every occurrence of a secret (the bot token, its halves, a webhook secret, the
    SMTP password) and mask e-mail addresses and phone numbers."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so the whole token is replaced before its halves.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = message
        for secret in self.secrets:
            clean = clean.replace(secret, REDACTED)
        clean = _PHONE.sub("[telefoon]", _EMAIL.sub("[e-mail]", clean))
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so the handler does not print the raw one.
            text = logging.Formatter().formatException(record.exc_info)
            for secret in self.secrets:
                text = text.replace(secret, REDACTED)
            text = _PHONE.sub("[telefoon]", _EMAIL.sub("[e-mail]", text))
            record.exc_info = None
            record.exc_text = None
            clean = f"{clean}\n{text}"
        if clean != message:
            record.msg, record.args = clean, None
        return True


def configure(level: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr at ``level``; httpx stays at WARNING (its URLs contain the token) and
    libraries that log personal data at DEBUG stay at INFO."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
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
    for handler in root.handlers:
        handler.addFilter(redactor)
