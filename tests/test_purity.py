"""The engine stays pure: no Telegram, no database, no asyncio, no I/O (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "bot" / "engine"
# The matcher and text helpers the engine calls live below it, and are held to the same rule.
KNOWLEDGE = ENGINE.parent / "knowledge"
FORBIDDEN_MODULES = {
    "telegram",
    "sqlalchemy",
    "asyncio",
    "aiosqlite",
    "alembic",
    "httpx",
    "os",
    "io",
    "pathlib",
    "socket",
    "subprocess",
    "shutil",
    "tempfile",
    "logging",
    "yaml",
    "sys",
    "threading",
    "time",
    "bot.store",
    "bot.adapters",
    "bot.runtime",
    "bot.cli",
    "bot.content.loader",
    "bot.settings",
}
FORBIDDEN_CALLS = {"open", "print", "input", "eval", "exec", "__import__", "compile"}
MODULES = sorted([*ENGINE.glob("*.py"), *KNOWLEDGE.glob("*.py")])


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _forbidden(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES)


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_engine_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = sorted(n for n in _imports(tree) if _forbidden(n))
    assert not bad, f"{path.name} imports {bad}"
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not calls & FORBIDDEN_CALLS, f"{path.name} calls {sorted(calls & FORBIDDEN_CALLS)}"
    assert not any(isinstance(n, ast.AsyncFunctionDef | ast.Await) for n in ast.walk(tree))


def test_the_check_catches_a_violation() -> None:
    tree = ast.parse("import sqlalchemy.orm\nfrom telegram import Bot\n")
    assert {n for n in _imports(tree) if _forbidden(n)} == {"sqlalchemy.orm", "telegram"}


def test_modules_the_engine_relies_on_are_pure_too() -> None:
    """bot.content.models/bundle/conditions are imported by the engine: same rules."""
    for name in ("models.py", "bundle.py", "conditions.py"):
        tree = ast.parse((ENGINE.parent / "content" / name).read_text(encoding="utf-8"))
        assert not [n for n in _imports(tree) if _forbidden(n)], name
