"""Settings from the environment (prefix ``MKBROUTE_``), validated at start."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from bot.knowledge.matcher import Thresholds

__all__ = ["Settings"]

_KB = Thresholds()
_TOKEN = re.compile(r"\d{3,20}:[A-Za-z0-9_-]{20,100}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class Settings(BaseSettings):
    # The `mkbroute` command also reads a .env file (see bot.cli); the environment wins.
    model_config = SettingsConfigDict(
        env_prefix="MKBROUTE_", extra="ignore", frozen=True, env_file_encoding="utf-8"
    )

    data_dir: Path = Path("data")
    database_url: str | None = None
    # PostgreSQL in parts, as an alternative to database_url: a password with @, : or / needs
    # no URL escaping here (compose passes POSTGRES_PASSWORD as MKBROUTE_DB_PASSWORD).
    db_host: str | None = None
    db_port: int = Field(default=5432, ge=1, le=65535)
    db_name: str = Field(default="mkbroute", min_length=1, max_length=63)
    db_user: str = Field(default="mkbroute", min_length=1, max_length=63)
    db_password: SecretStr | None = None
    content_dir: Path | None = None
    default_language: Literal["nl", "en"] = "nl"
    kb_answer_score: float = Field(default=_KB.answer, ge=0, le=300)
    kb_suggest_score: float = Field(default=_KB.suggest, ge=0, le=300)
    kb_margin: float = Field(default=_KB.margin, ge=0, le=200)
    kb_known: float = Field(default=_KB.known, ge=0, le=1)
    kb_suggest_known: float = Field(default=_KB.suggest_known, ge=0, le=1)
    kb_likely_score: float = Field(default=_KB.likely, ge=0, le=1000)
    kb_likely_margin: float = Field(default=_KB.likely_margin, ge=0, le=200)
    kb_likely_known: float = Field(default=_KB.likely_known, ge=0, le=1)
    kb_likely_covers: float = Field(default=_KB.likely_covers, ge=0, le=1)
    kb_outside_margin: float = Field(default=_KB.outside_margin, ge=0, le=200)
    # The semantic second opinion for questions the words alone do not settle (needs the
    # `semantic` extra: pip install 'mkbroute[semantic]'); off by default.
    semantic: bool = False

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # json: one JSON object per line, for log collectors (Loki, ELK, journald + jq).
    log_format: Literal["text", "json"] = "text"
    # Telegram user ids of staff (numbers; usernames can be changed by anyone, so never those).
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    contacts_file: Path | None = None
    # The controller named in the privacy notice (AVG art. 13).
    org_name: str = Field(
        default="het programma Mkb-route in het hbo", min_length=2, max_length=200
    )
    org_contact: str = Field(default="www.mkbrouteinhbo.nl", min_length=2, max_length=200)
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    # Per network operation; short enough that a hung server cannot hold a stop past 10 s.
    smtp_timeout: float = Field(default=5.0, gt=0, le=60)
    dispatch_interval: float = Field(default=5.0, gt=0, le=3600)
    # Retention (days): unfinished conversations, leads after their last activity, delivered
    # messages, and questions the knowledge base could not answer.
    retention_sessions_days: int = Field(default=30, ge=1, le=3650)
    retention_leads_days: int = Field(default=365, ge=1, le=3650)
    retention_outbox_days: int = Field(default=30, ge=1, le=3650)
    retention_unanswered_days: int = Field(default=365, ge=1, le=3650)
    retention_audit_days: int = Field(default=730, ge=1, le=3650)
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"  # behind the TLS proxy; 0.0.0.0 only in a container
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    # The staff dashboard (`mkbroute dashboard`): its public address (used in login links),
    # where it listens, and the key that signs its session cookies (32+ characters).
    dashboard_url: str | None = None
    dashboard_listen: str = "127.0.0.1"
    dashboard_port: int = Field(default=8090, ge=1, le=65535)
    dashboard_secret: SecretStr | None = None
    # Serve the dashboard inside `mkbroute webhook` too, under the path of dashboard_url.
    dashboard_mount: bool = False
    # Per-user flood control: a burst, then this many messages a minute.
    flood_burst: int = Field(default=8, ge=1, le=1000)
    flood_per_minute: int = Field(default=40, ge=1, le=6000)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _admins(cls, value: object) -> object:
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
            bad = [v for v in items if not (v.isascii() and v.isdecimal())]
            if bad:
                raise ValueError(
                    "use numeric Telegram user ids separated by commas; usernames are refused "
                    "because anyone can change theirs"
                )
            return tuple(int(v) for v in items)
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("telegram_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        # The token itself never appears in an error message.
        if not _TOKEN.fullmatch(value.get_secret_value().strip()):
            raise ValueError(
                "does not look like a bot token (digits, a colon, then letters, digits, _ or -); "
                "get one from @BotFather"
            )
        return SecretStr(value.get_secret_value().strip())

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not _SECRET.fullmatch(value.get_secret_value()):
            raise ValueError(
                "use 16 to 256 characters: letters, digits, _ and - (Telegram's rule)"
            )
        if len(value.get_secret_value()) < 16:
            # Telegram allows 1 character; a secret that short can be guessed by trying.
            raise ValueError("use at least 16 characters, e.g. `openssl rand -hex 32`")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        """'info' and ' Info ' mean INFO."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("telegram_api_url", "telegram_file_url", "webhook_url", "dashboard_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async driver."""
        if value is None or not value.strip():
            return None
        try:
            url = make_url(value.strip())
        except (ArgumentError, ValueError):
            # ValueError: a port that is not a number, e.g. the tail of a password after an
            # unescaped ":"; its message would quote that tail.
            raise ValueError(
                "not a database URL (example: sqlite:///data/mkbroute.db); a password with @, : "
                "or / needs URL escaping (%40, %3A, %2F), or set MKBROUTE_DB_HOST, "
                "MKBROUTE_DB_USER and MKBROUTE_DB_PASSWORD instead"
            ) from None
        if "@" in (url.host or "") or "/" in (url.password or ""):
            # An unescaped @ or / in the password: the rest of the password would be read as
            # the host (and shown in messages). Never echo any of it.
            raise ValueError(
                "the password holds @, : or / without URL escaping (%40, %3A, %2F); "
                "or set MKBROUTE_DB_HOST, MKBROUTE_DB_USER and MKBROUTE_DB_PASSWORD instead"
            )
        backend = url.get_backend_name()
        if backend not in _ASYNC_DRIVERS:
            raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
        if url.drivername != _ASYNC_DRIVERS[backend]:
            url = url.set(drivername=_ASYNC_DRIVERS[backend])
        return url.render_as_string(hide_password=False)

    @field_validator("dashboard_secret")
    @classmethod
    def _dashboard_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("smtp_from")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[A-Za-z]{2,}", value):
            raise ValueError("must be a plain e-mail address, like bot@example.org")
        return value

    @field_validator("contacts_file")
    @classmethod
    def _contacts(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} does not exist")
        return value

    @field_validator("content_dir")
    @classmethod
    def _content(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value

    @property
    def webhook_path(self) -> str:
        """The path Telegram posts to: the webhook URL's own path, "/" when it has none."""
        return _path_of(self.webhook_url) or "/"

    @property
    def dashboard_path(self) -> str:
        """The dashboard's path prefix: its public URL's own path, "" when it has none."""
        return _path_of(self.dashboard_url)

    @property
    def dashboard_https(self) -> bool:
        """Behind https (the public address says so): cookies only travel encrypted."""
        return (self.dashboard_url or "").startswith("https://")

    def dashboard_mount_problem(self) -> str | None:
        """Why the dashboard cannot be mounted in the webhook server, or None when it can."""
        if self.dashboard_secret is None:
            return "MKBROUTE_DASHBOARD_SECRET is not set (32+ characters, `openssl rand -hex 32`)"
        path = self.dashboard_path
        if not path:
            return (
                "MKBROUTE_DASHBOARD_URL needs a path of its own on the webhook's address, "
                "e.g. https://bot.example.org/dashboard"
            )
        hook = self.webhook_path
        if hook == path or hook.startswith(path + "/") or path.startswith(hook + "/"):
            return (
                f"the dashboard path {path} and the webhook path {hook} overlap: give "
                "each its own, e.g. /telegram and /dashboard"
            )
        if path == "/healthz" or path.startswith("/healthz/"):
            return "the dashboard path must not be /healthz (the health check lives there)"
        return None

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            answer=self.kb_answer_score,
            suggest=self.kb_suggest_score,
            margin=self.kb_margin,
            known=self.kb_known,
            suggest_known=self.kb_suggest_known,
            likely=self.kb_likely_score,
            likely_margin=self.kb_likely_margin,
            likely_known=self.kb_likely_known,
            likely_covers=self.kb_likely_covers,
            outside_margin=self.kb_outside_margin,
        )

    @property
    def db_url(self) -> str:
        """The configured database, or a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        if self.db_host:
            return URL.create(
                "postgresql+asyncpg",
                username=self.db_user,
                password=self.db_password.get_secret_value() if self.db_password else None,
                host=self.db_host,
                port=self.db_port,
                database=self.db_name,
            ).render_as_string(hide_password=False)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'mkbroute.db').resolve()}"


def _path_of(url: str | None) -> str:
    """A URL's own path without its trailing slash ("" for none)."""
    return urllib.parse.urlsplit(url or "").path.rstrip("/")
