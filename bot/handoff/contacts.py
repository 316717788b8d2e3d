"""The contacts file: who receives a pilot's leads. Deployment configuration, not content."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.content.loader import read_yaml
from bot.engine.validate import Valid, validate

__all__ = ["Contact", "ContactsError", "load_contacts"]


class ContactsError(Exception):
    """The contacts file is invalid; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Contact(BaseModel):
    """A person who receives leads, by e-mail, by Telegram, or both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=2, max_length=100)
    email: str | None = None
    telegram_chat_id: int | None = None
    # Working days after which an unclaimed lead is brought up again.
    follow_up_days: Annotated[int, Field(ge=1, le=30)] = 2

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        checked = validate("email", value)
        if not isinstance(checked, Valid):
            raise ValueError("is not a valid e-mail address")
        return checked.value

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if self.email is None and self.telegram_chat_id is None:
            raise ValueError("give an e-mail address, a Telegram chat id, or both")
        return self


class _File(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    contacts: dict[str, tuple[Contact, ...]]


def load_contacts(
    path: Path, pilots: Mapping[str, object], fallback: str
) -> dict[str, tuple[Contact, ...]]:
    """Read and check the contacts file; raise ContactsError naming every problem."""
    name = str(path)
    try:
        data = read_yaml(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ContactsError([f"{name}: cannot be read: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise ContactsError([f"{name}: invalid YAML: {' '.join(str(exc).split())}"]) from None
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        raise ContactsError(
            [f"{name}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from None
    errors = [
        f"{name}: contacts.{pilot}: unknown pilot (known: {', '.join(sorted(pilots))})"
        for pilot in parsed.contacts
        if pilot not in pilots
    ]
    if not parsed.contacts.get(fallback):
        errors.append(
            f"{name}: contacts.{fallback}: the fallback pilot needs at least one contact, "
            "or leads that match no pilot reach nobody"
        )
    if errors:
        raise ContactsError(errors)
    return dict(parsed.contacts)
