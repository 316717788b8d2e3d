"""The terminal adapter: an interactive chat, and the JSON-lines machine interface.

JSON lines (a stable contract): one object per input line, exactly one object per output line.
In: ``{"user": "u1", "text": "hallo"}`` or ``{"user": "u1", "button": "menu:student"}``, with
optional ``"lang"`` (for a new user) and ``"id"`` (an inbound id; a repeated id is not processed
twice). Out: ``{"user", "replies": [{"text", "buttons": [{"id", "label"}]}], "events": [...]}``,
or ``{"error": "..."}`` for a line that cannot be read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TextIO

from bot.engine.types import Inbound, Reply
from bot.runtime import Result, Runtime

__all__ = ["parse_line", "render_replies", "run_interactive", "run_jsonl"]

MAX_LINE = 64 * 1024


class LineError(ValueError):
    """A JSON line that is not a valid message."""


def parse_line(line: str) -> tuple[str, Inbound, str | None]:
    """Read one JSON line into (user key, inbound, inbound id), or raise LineError."""
    if len(line) > MAX_LINE:
        raise LineError(f"line longer than {MAX_LINE} characters")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LineError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise LineError("expected a JSON object")
    unknown = set(data) - {"user", "text", "button", "lang", "id"}
    if unknown:
        raise LineError(f"unknown field(s): {', '.join(sorted(unknown))}")
    user = data.get("user")
    if isinstance(user, bool) or not isinstance(user, str | int) or not str(user).strip():
        raise LineError("'user' must be a non-empty string")
    user = str(user).strip()
    if len(user) > 64:
        raise LineError("'user' is longer than 64 characters")
    lang = data.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise LineError("'lang' must be a string")
    inbound_id = data.get("id")
    if inbound_id is not None:
        if isinstance(inbound_id, bool) or not isinstance(inbound_id, str | int):
            raise LineError("'id' must be a string or a number")
        inbound_id = str(inbound_id)[:100]
    has_text, has_button = "text" in data, "button" in data
    if has_text == has_button:
        raise LineError("give exactly one of 'text' and 'button'")
    if has_text:
        if not isinstance(data["text"], str):
            raise LineError("'text' must be a string")
        inbound = Inbound.from_text(data["text"], lang)
    else:
        if not isinstance(data["button"], str) or not data["button"]:
            raise LineError("'button' must be a non-empty string")
        inbound = Inbound.button(data["button"], lang)
    return user, inbound, inbound_id


def _result_json(user: str, result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {
        "user": user,
        "replies": [
            {
                "text": r.text,
                "buttons": [{"id": b.id, "label": b.label} for b in r.buttons],
                **(
                    {"document": {"name": r.document[0], "content": r.document[1]}}
                    if r.document
                    else {}
                ),
            }
            for r in result.replies
        ],
        "events": list(result.events),
    }
    if result.duplicate:
        out["duplicate"] = True
    if result.failed:
        out["failed"] = True
    return out


async def run_jsonl(runtime: Runtime, stdin: TextIO, stdout: TextIO) -> None:
    """Serve the JSON-lines interface until end of input."""
    while True:
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return
        if not line.strip():
            continue
        try:
            user, inbound, inbound_id = parse_line(line)
        except LineError as exc:
            out: dict[str, Any] = {"error": str(exc)}
        else:
            result = await runtime.handle(
                f"console:{user}", inbound, channel="console", inbound_id=inbound_id
            )
            out = _result_json(user, result)
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()


def render_replies(replies: tuple[Reply, ...]) -> tuple[str, list[str]]:
    """Replies as terminal text with numbered buttons, plus the button ids by number."""
    lines: list[str] = []
    ids: list[str] = []
    for reply in replies:
        lines.append(reply.text)
        if reply.document is not None:
            name, body = reply.document
            lines += ["", f"--- {name} ---", body, f"--- einde {name} ---"]
        for button in reply.buttons:
            ids.append(button.id)
            lines.append(f"  [{len(ids)}] {button.label}")
        lines.append("")
    return "\n".join(lines), ids


async def run_interactive(
    runtime: Runtime,
    user: str,
    lang: str | None,
    read: Callable[[str], str] = input,
    write: Callable[[str], object] = print,
) -> None:
    """Chat in the terminal: type a number to press a button, /help for help, /quit to leave."""
    intro = runtime.content.messages.console_intro
    write(intro.get(lang or runtime.default_lang) + "\n")
    result = await runtime.handle(f"console:{user}", Inbound.from_text("/start", lang))
    text, ids = render_replies(result.replies)
    write(text)
    while True:
        try:
            line = await asyncio.to_thread(read, "> ")
        except (EOFError, KeyboardInterrupt):
            write("")
            return
        if line.strip() in ("/quit", "/exit"):
            return
        stripped = line.strip()
        if stripped.isascii() and stripped.isdecimal() and 1 <= int(stripped) <= len(ids):
            inbound = Inbound.button(ids[int(stripped) - 1], lang)
        else:
            inbound = Inbound.from_text(line, lang)
        result = await runtime.handle(f"console:{user}", inbound)
        if result.replies:
            text, new_ids = render_replies(result.replies)
            write(text)
            # Keep the old numbers when a reply has no buttons (an error or plain answer).
            ids = new_ids or ids
