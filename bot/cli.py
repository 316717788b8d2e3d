"""The ``mkbroute`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from bot.content.bundle import Content
from bot.content.loader import ContentError, load_content
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store.db import create_engine, make_sessionmaker, upgrade_schema

__all__ = ["main"]


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"  MKBROUTE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        ]
        raise SystemExit("Invalid setting(s):\n" + "\n".join(lines)) from None


def _content(settings: Settings, folder: Path | None = None) -> Content:
    try:
        return load_content(folder or settings.content_dir, settings.thresholds)
    except ContentError as exc:
        raise SystemExit("Content errors:\n" + "\n".join(f"  {e}" for e in exc.errors)) from None


async def _chat(settings: Settings, jsonl: bool, user: str, lang: str | None) -> None:
    content = _content(settings)
    engine = create_engine(settings.db_url)
    try:
        await upgrade_schema(engine)
        runtime = Runtime(
            content, make_sessionmaker(engine), default_lang=settings.default_language
        )
        if jsonl:
            from bot.adapters.console import run_jsonl

            await run_jsonl(runtime, sys.stdin, sys.stdout)
        else:
            from bot.adapters.console import run_interactive

            await run_interactive(runtime, user, lang)
    finally:
        await engine.dispose()


def _content_check(settings: Settings, folder: Path | None) -> int:
    content = _content(settings, folder)
    print(
        f"Content OK: {len(content.flows)} flows, {len(content.knowledge)} knowledge entries "
        f"(version {content.version})."
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mkbroute", description="Mkb-route assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="chat in the terminal (no token, no server)")
    chat.add_argument("--jsonl", action="store_true", help="JSON lines on stdin/stdout")
    chat.add_argument("--user", default="terminal", help="user id for the interactive chat")
    chat.add_argument("--lang", choices=["nl", "en"], default=None, help="language of a new chat")
    content = sub.add_parser("content", help="content tools")
    content_sub = content.add_subparsers(dest="content_command", required=True)
    check = content_sub.add_parser("check", help="validate flows/ and knowledge/")
    check.add_argument("--dir", type=Path, default=None, help="content folder to check")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mkbroute`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = _settings()
    if args.command == "chat":
        try:
            asyncio.run(_chat(settings, args.jsonl, args.user, args.lang))
        except KeyboardInterrupt:
            return 130
        return 0
    if args.command == "content":
        return _content_check(settings, args.dir)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
