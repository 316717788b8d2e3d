"""Message keys (issue 16): every key the code asks for exists in the content model, so a
misspelt key fails here instead of as an AttributeError in a user's conversation."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.content.models import Messages
from bot.store.models import LeadStatus

BOT = Path(__file__).resolve().parent.parent / "bot"
FIELDS = set(Messages.model_fields)


def _keys_used() -> dict[str, str]:
    """String literals passed as a message key: msg("k"), btn(id, "k"), m.k / messages.k."""
    found: dict[str, str] = {}
    for path in BOT.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                args = node.args
                if node.func.attr == "msg" and args and isinstance(args[0], ast.Constant):
                    found[str(args[0].value)] = f"{path.name}:{node.lineno}"
                if node.func.attr == "btn" and len(args) > 1 and isinstance(args[1], ast.Constant):
                    found[str(args[1].value)] = f"{path.name}:{node.lineno}"
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "messages"
            ):
                found[node.attr] = f"{path.name}:{node.lineno}"
    return found


def test_every_message_key_in_the_code_exists() -> None:
    used = _keys_used()
    assert len(used) > 50, "the scan found too few keys to be trusted"
    missing = {k: where for k, where in used.items() if k not in FIELDS}
    assert not missing, missing


def test_every_lead_status_has_a_status_text() -> None:
    """/status looks up status_<status> for the user's lead: one per LeadStatus."""
    for status in LeadStatus:
        if status is LeadStatus.ERASED:
            continue  # an erased lead has no owner left to ask /status
        assert f"status_{status}" in FIELDS, status
