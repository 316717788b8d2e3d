"""Settings from the environment (prefix ``MKBROUTE_``), validated at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.engine.knowledge import Thresholds

__all__ = ["Settings"]

_KB = Thresholds()
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MKBROUTE_", extra="ignore", frozen=True)

    data_dir: Path = Path("data")
    database_url: str | None = None
    content_dir: Path | None = None
    default_language: Literal["nl", "en"] = "nl"
    kb_answer_score: float = Field(default=_KB.answer, ge=0, le=300)
    kb_suggest_score: float = Field(default=_KB.suggest, ge=0, le=300)
    kb_margin: float = Field(default=_KB.margin, ge=0, le=200)
    kb_known: float = Field(default=_KB.known, ge=0, le=1)
    kb_suggest_known: float = Field(default=_KB.suggest_known, ge=0, le=1)

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async driver."""
        if value is None or not value.strip():
            return None
        try:
            url = make_url(value.strip())
        except ArgumentError:
            raise ValueError("not a database URL (example: sqlite:///data/mkbroute.db)") from None
        backend = url.get_backend_name()
        if backend not in _ASYNC_DRIVERS:
            raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
        if url.drivername != _ASYNC_DRIVERS[backend]:
            url = url.set(drivername=_ASYNC_DRIVERS[backend])
        return url.render_as_string(hide_password=False)

    @field_validator("content_dir")
    @classmethod
    def _content(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            self.kb_answer_score,
            self.kb_suggest_score,
            self.kb_margin,
            self.kb_known,
            self.kb_suggest_known,
        )

    @property
    def db_url(self) -> str:
        """The configured database, or a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'mkbroute.db').resolve()}"
