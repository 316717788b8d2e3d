"""Every slash command in one table: its Dutch and English names, aliases, and who may use it.

The engine's command parsing, the Telegram menu (``setMyCommands``), the help texts (checked at
content load: ``messages.yaml`` must describe every user command) and the staff handlers all
read this table, so a command is added or renamed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALIASES",
    "COMMANDS",
    "ENGLISH_COMMANDS",
    "STAFF_COMMANDS",
    "TABLE",
    "Command",
    "names_of",
]


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # the Dutch name: the one the engine and the staff handlers know it by
    en: str | None = None  # the English name where it differs (English users' menu)
    aliases: tuple[str, ...] = ()  # other names people type
    staff: bool = False  # staff only: never in the menu, refused for everyone else
    telegram: bool = False  # answered by the Telegram adapter itself, not in the menu


# User commands in menu order, then the staff commands.
TABLE: tuple[Command, ...] = (
    Command("start"),
    Command("menu"),
    Command("vraag", "question"),
    Command("contact", "human", ("mens", "person")),
    Command("terug", "back"),
    Command("opnieuw", "restart"),
    Command("stop"),
    Command("status"),
    Command("mijngegevens", "mydata"),
    Command("verwijder", "delete"),
    Command("privacy"),
    Command("taal", "language"),
    Command("help"),
    Command("id", None, ("mijnid", "myid"), telegram=True),
    Command("leads", staff=True),
    Command("lead", staff=True),
    Command("export", staff=True),
    Command("stats", staff=True),
    Command("onbeantwoord", "unanswered", staff=True),
    Command("herlaad", "reload", staff=True),
    Command("dashboard", staff=True),
)

COMMANDS: tuple[str, ...] = tuple(c.name for c in TABLE if not (c.staff or c.telegram))
STAFF_COMMANDS: tuple[str, ...] = tuple(c.name for c in TABLE if c.staff)
ENGLISH_COMMANDS: dict[str, str] = {c.name: c.en for c in TABLE if c.en and c.name in COMMANDS}
# Every other name of a user command -> its Dutch name (/mydata works like /mijngegevens).
ALIASES: dict[str, str] = {
    other: c.name for c in TABLE if c.name in COMMANDS for other in (c.en, *c.aliases) if other
}


def names_of(name: str) -> tuple[str, ...]:
    """Every name a command answers to (Dutch first)."""
    command = next(c for c in TABLE if c.name == name)
    return tuple(n for n in (command.name, command.en, *command.aliases) if n)
