"""The learned second opinion of the knowledge matcher, and its stored weights."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from bot.content.bundle import Content
from bot.content.loader import learned_model
from bot.knowledge.learned import Perceptron
from bot.knowledge.matcher import FuzzyIndex

# Two neighbours that share "hoe lang": the study's duration and the wait for a call.
EXAMPLES = {
    "duur": [
        "hoe lang duurt de opleiding",
        "hoe lang duurt de studie",
        "hoeveel jaar duurt het",
        "hoe lang ben ik bezig",
        "how long does the programme take",
        "how many years is it",
    ],
    "reactietijd": [
        "wanneer belt iemand mij terug",
        "hoe snel krijg ik antwoord",
        "wanneer hoor ik iets van de contactpersoon",
        "hoe snel reageert de contactpersoon",
        "how soon will i hear back",
        "when will the contact person call",
    ],
}
QUESTION = "hoe lang duurt het voordat iemand mij terugbelt"


def _index() -> FuzzyIndex:
    return FuzzyIndex(EXAMPLES, ())


def test_training_is_deterministic_and_survives_a_round_trip() -> None:
    index = _index()
    one = Perceptron.train(index.training_samples())
    two = Perceptron.train(index.training_samples())
    assert one.weights == two.weights
    back = Perceptron.load(json.loads(json.dumps(one.dump())))
    features = index.features(QUESTION)
    assert back.scores(features) == pytest.approx(one.scores(features))


@pytest.mark.parametrize("doc", [{}, {"labels": ["a"], "weights": {"w:x": [5, 1.0]}}, []])
def test_a_malformed_stored_model_is_refused(doc: object) -> None:
    with pytest.raises(ValueError, match="not a stored perceptron"):
        Perceptron.load(doc)  # type: ignore[arg-type]


def _learned(root: Path, examples: dict[str, list[str]] = EXAMPLES) -> Perceptron:
    index = FuzzyIndex(examples, ())
    return learned_model(root, index, examples, (), ())


def test_weights_are_stored_once_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _learned(tmp_path)
    stored = list((tmp_path / ".cache").glob("learned-*.json"))
    assert len(stored) == 1

    def no_training(*args: object, **kwargs: object) -> Perceptron:
        raise AssertionError("trained again although the weights are stored")

    monkeypatch.setattr(Perceptron, "train", no_training)
    assert _learned(tmp_path).weights == first.weights


def test_changed_examples_get_new_weights_and_only_recent_ones_stay(tmp_path: Path) -> None:
    """An edit means new weights under a new name; the newest three files stay (switching
    back to a recent version needs no training), older ones are removed."""
    names = []
    for extra in (
        "hoeveel maanden duurt het",
        "duurt het lang",
        "hoe lang ben ik student",
        "tijd?",
    ):
        _learned(tmp_path, {**EXAMPLES, "duur": [*EXAMPLES["duur"], extra]})
        newest = max((tmp_path / ".cache").glob("learned-*.json"), key=lambda p: p.stat().st_mtime)
        names.append(newest.name)
    assert len(set(names)) == 4
    kept = {p.name for p in (tmp_path / ".cache").glob("learned-*.json")}
    assert kept == set(names[1:])


def test_a_damaged_weights_file_is_retrained_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = _learned(tmp_path)
    (stored,) = (tmp_path / ".cache").glob("learned-*.json")
    stored.write_text('{"labels": ["duur"], "weights": {"w:x": [', encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        again = _learned(tmp_path)
    assert again.weights == good.weights
    assert "ignoring stored knowledge weights" in caplog.text
    assert json.loads(stored.read_text(encoding="utf-8"))["labels"]  # rewritten whole


def test_an_unwritable_content_folder_falls_back_to_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content_root = tmp_path / "content"
    content_root.mkdir()
    (content_root / ".cache").write_text("not a folder", encoding="utf-8")  # mkdir fails
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    _learned(content_root)
    assert list((tmp_path / "xdg" / "mkbroute").glob("learned-*.json"))


def test_the_shipped_content_comes_with_its_learned_model(content: Content) -> None:
    """A hairdresser asking what a dual student brings her: word overlap alone leans to the
    employer's costs (both share "wat heb ik aan", "student"); the learned model knows it is
    an employer asking what she gains and shows the employer's benefits."""
    question = "ik run een kapsalon, wat heb ik aan een duale student"
    index = content.index
    assert isinstance(index, FuzzyIndex) and index.learned is not None
    model, index.learned = index.learned, None
    try:
        plain = index.lookup(question, "nl")
        assert plain.status == "ambiguous" or plain.ids[0] != "voordelen-werkgever", plain
    finally:
        index.learned = model
    found = index.lookup(question, "nl")
    assert found.status in ("answer", "likely") and found.ids[0] == "voordelen-werkgever"


def test_weights_stored_under_a_private_umask_are_readable_by_the_runtime_user(
    tmp_path: Path,
) -> None:
    """The image stores the weights as root while the CLI's umask is 0077; the bot runs as
    an unprivileged user and must be able to read them, or it trains them again on every new
    data volume."""
    old = os.umask(0o077)
    try:
        _learned(tmp_path)
    finally:
        os.umask(old)
    (stored,) = (tmp_path / ".cache").glob("learned-*.json")
    assert stat.S_IMODE((tmp_path / ".cache").stat().st_mode) == 0o755
    assert stat.S_IMODE(stored.stat().st_mode) == 0o644
