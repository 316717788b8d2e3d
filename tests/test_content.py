"""The content loader: the shipped files are valid, and broken files give readable errors."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.content.bundle import Content
from bot.content.loader import (
    MAX_ANSWER,
    SPECIAL_KNOWLEDGE,
    ContentError,
    content_warnings,
    load_content,
    read_yaml,
)
from tests.conftest import ROOT


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for folder in ("flows", "knowledge"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found in {path.name}: {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _errors(root: Path) -> list[str]:
    with pytest.raises(ContentError) as info:
        load_content(root)
    return info.value.errors


def test_shipped_content_is_valid(content: Content) -> None:
    assert [f.id for f in content.audiences] == ["student", "werkende", "werkgever"]
    assert content.contact_flow.id == "contact"
    assert len(content.knowledge) >= 45


def test_content_is_frozen(content: Content) -> None:
    with pytest.raises(TypeError):
        content.flows["student"] = content.flows["werkende"]  # type: ignore[index]
    with pytest.raises(Exception, match="frozen"):
        content.flows["student"].title.nl = "x"  # type: ignore[misc]


BREAKAGES: list[tuple[str, str, str, str, str]] = [
    # (file, old, new, expected error fragment, expected key path fragment)
    (
        "flows/student.yaml",
        "    label: {nl: Leeftijd, en: Age}",
        "    label: {nl: Leeftijd, en: Age}\n    colour: red",
        "unknown key",
        "steps[0].colour",
    ),
    (
        "flows/student.yaml",
        "label: {nl: havo, en: havo}",
        "label: {nl: havo}",
        "Field required",
        "steps[1].choices[0].label.en",
    ),
    (
        "flows/student.yaml",
        "      - id: vwo",
        "      - id: havo",
        "choice id 'havo' is used twice",
        "steps[1]",
    ),
    (
        "flows/werkende.yaml",
        "    when: {werkgever: [mkb, groot]}",
        "    when: {werkgevr: [mkb]}",
        "unknown choice question 'werkgevr'",
        "steps[3].when",
    ),
    (
        "flows/werkende.yaml",
        "    when: {werkgever: [mkb, groot]}",
        "    when: {werkgever: [mkb, klein]}",
        "has no choice 'klein'",
        "steps[3].when",
    ),
    (
        "flows/contact.yaml",
        "    next:\n      - goto: vraag",
        "    next:\n      - goto: adres",
        "unknown step 'adres'",
        "steps[6].next[0].goto",
    ),
    (
        "flows/contact.yaml",
        "    max_length: 100\n",
        "    max_length: 100\n    next:\n      - goto: end\n",
        "step 'bedrijf' can never be reached",
        "steps[4]",
    ),
    (
        "flows/messages.yaml",
        'kb_source:\n  nl: "Bron: {sources}"',
        'kb_source:\n  nl: "Bron: {bronnen}"',
        "unknown placeholder {bronnen}",
        "kb_source.nl",
    ),
    ("flows/messages.yaml", "menu_question:", "menu_questoin:", "unknown key", "menu_questoin"),
    (
        "flows/student.yaml",
        "    - verdict: geschikt\n  reasons:",
        "    - when: {werkplek: mkb}\n      verdict: geschikt\n  reasons:",
        "last rule must have no 'when'",
        "outcome.verdicts",
    ),
    (
        "flows/student.yaml",
        "id: student\n",
        "id: student\nid: werkende\n",
        "duplicate key 'id'",
        "flows/student.yaml",
    ),
    ("flows/student.yaml", "title: {nl:", "title: [nl:", "invalid YAML", "flows/student.yaml"),
    (
        "knowledge/route.yaml",
        "related: [",
        "related: [bestaat-niet, ",
        "related: id 'bestaat-niet' does not exist",
        "knowledge/route.yaml: entries[0].related",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "error", "path"), BREAKAGES, ids=[b[3][:40] for b in BREAKAGES]
)
def test_broken_content_is_reported_with_file_and_path(
    tree: Path, file: str, old: str, new: str, error: str, path: str
) -> None:
    _edit(tree / file, old, new)
    errors = _errors(tree)
    hits = [e for e in errors if error in e]
    assert hits, f"no error with {error!r} in {errors}"
    assert any(e.startswith(file.split("/")[0]) and path in e for e in hits), hits


def test_yaml_that_constructs_python_objects_is_refused(tree: Path) -> None:
    (tree / "flows" / "student.yaml").write_text(
        "!!python/object/apply:os.system ['echo pwned']\n", encoding="utf-8"
    )
    errors = _errors(tree)
    assert any("flows/student.yaml: invalid YAML" in e for e in errors), errors


def test_all_problems_are_listed_at_once(tree: Path) -> None:
    _edit(tree / "flows/student.yaml", "label: {nl: havo, en: havo}", "label: {nl: havo}")
    _edit(tree / "flows/werkgever.yaml", "title: {nl:", "titel: {nl:")
    errors = _errors(tree)
    assert any("student.yaml" in e for e in errors) and any("werkgever.yaml" in e for e in errors)


def test_missing_folders(tmp_path: Path) -> None:
    assert "expected the folders flows/ and knowledge/" in _errors(tmp_path)[0]


def test_content_check_command(
    tree: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MKBROUTE_CONTENT_DIR", raising=False)
    assert main(["content", "check", "--dir", str(tree)]) == 0
    assert "Content OK" in capsys.readouterr().out
    _edit(tree / "flows/student.yaml", "label: {nl: havo, en: havo}", "label: {nl: havo}")
    with pytest.raises(SystemExit) as info:
        main(["content", "check", "--dir", str(tree)])
    message = str(info.value.code)
    assert "flows/student.yaml: steps[1].choices[0].label.en: Field required" in message
    assert "Traceback" not in message


def test_outcome_placeholders_must_name_a_choice_question(tree: Path) -> None:
    _edit(tree / "flows/student.yaml", "({diploma})", "({diplomaa})")
    errors = _errors(tree)
    assert any("unknown placeholder {diplomaa}" in e and "outcome.reasons" in e for e in errors)


def test_long_answers_and_sources_without_url_are_warnings(tree: Path) -> None:
    path = next(
        p for p in sorted((tree / "knowledge").glob("*.yaml")) if p.name not in SPECIAL_KNOWLEDGE
    )
    data = read_yaml(path)
    entry = data["entries"][0]
    entry["answer"] = {"nl": "a" * (MAX_ANSWER + 34), "en": "b" * MAX_ANSWER}
    entry["sources"] = [
        {"label": "Zonder link"},
        {"label": "Met link", "url": "https://example.org/bron"},
    ]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    content = load_content(tree)  # a warning, not an error
    warnings = content_warnings(content, dt.date.today())
    eid = entry["id"]
    size = MAX_ANSWER + 34
    assert f"entry {eid!r} (nl): answer is {size} characters (limit {MAX_ANSWER})" in warnings
    assert not any(w.startswith(f"entry {eid!r} (en): answer is") for w in warnings)
    assert f"entry {eid!r}: source 'Zonder link' has no URL" in warnings
    assert not any("'Met link'" in w for w in warnings)


def test_money_facts_from_before_last_studiejaar_are_flagged(content: Content) -> None:
    """Issue 14 §2: an amount stated with a year older than last studiejaar gets a warning;
    the same text was current enough a year earlier."""
    from bot.content.loader import _old_money_facts

    entry = content.knowledge["slim-regeling"]  # "in 2023 maximaal 25.000 euro"
    now = _old_money_facts(entry, dt.date(2026, 12, 1))
    assert now and all("2023" in w and "studiejaar 2025-2026" in w for w in now)
    assert _old_money_facts(entry, dt.date(2024, 10, 1)) == []
