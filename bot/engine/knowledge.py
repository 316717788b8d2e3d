"""The knowledge index: which entry answers a free question, if any.

The engine only depends on the :class:`KnowledgeIndex` protocol; :class:`FuzzyIndex` is the
implementation built from the content at load time.

How :class:`FuzzyIndex` scores: the question and every example question are folded (case,
accents, punctuation), synonyms are mapped to one canonical term, and function words are dropped.
Each remaining query word is matched to the vocabulary with rapidfuzz, so typos still count.
Words are weighted by how rare they are across entries (a word every entry uses says little),
and an example's score is mostly the weighted F1 of the words it shares with the question, plus a
little whole-string similarity to break ties. An entry scores as its best example.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from rapidfuzz import fuzz, process

from bot.engine.text import fold

__all__ = ["FuzzyIndex", "KnowledgeIndex", "Lookup", "Thresholds"]

STOPWORDS = frozenset(
    """
    de het een en of in op te ten van voor met aan bij naar om uit over als dan dat die dit
    deze er hier daar ik je jij u uw we wij mijn mij me jouw jullie zij ze hij haar hem ons
    onze is ben bent zijn was waren wordt worden word kan kun kunt kunnen mag mogen moet
    moeten wil wilt willen zou zouden heb hebt heeft hebben had ga gaat gaan doe doet doen
    wel niet geen nog al ook maar dus toch even eigenlijk precies echt graag iets iemand zo
    er hoor nou eh he hallo hoi the a an and or in on at to of for with by from as than that
    this these those it its i you he she we they my me your our their is am are was were be
    been being do does did can could may might must should would will shall have has had not
    no any some just also so please hi hello there
    """.split()
)
# Question words stay: "wat is de mkb-route" and "waar kan ik de mkb-route volgen" share every
# other word but ask different things.


@dataclass(frozen=True, slots=True)
class Lookup:
    """The index's verdict on a question: answer one entry, offer a few, or none."""

    status: Literal["answer", "ambiguous", "none"]
    ids: tuple[str, ...] = ()
    score: float = 0.0


class KnowledgeIndex(Protocol):
    def lookup(self, text: str, lang: str) -> Lookup:
        """Find the entry that answers ``text``."""
        ...


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Scores (0-100) that separate a confident answer from a 'did you mean' and from nothing."""

    answer: float = 60.0
    suggest: float = 35.0
    margin: float = 8.0


class FuzzyIndex:
    """Weighted word overlap with typo tolerance; see the module docstring."""

    def __init__(
        self,
        examples: Mapping[str, Iterable[str]],
        synonyms: Sequence[Sequence[str]] = (),
        thresholds: Thresholds = Thresholds(),
        word_score: float = 85.0,
    ) -> None:
        self.thresholds = thresholds
        self._word_score = word_score
        self._canon: dict[str, str] = {}
        for group in synonyms:
            folded = [fold(t) for t in group if fold(t)]
            for term in folded[1:]:
                self._canon.setdefault(term, folded[0])
        # Longest terms first so that "midden en kleinbedrijf" wins over "bedrijf".
        self._terms = sorted(self._canon, key=len, reverse=True)
        self._examples: list[tuple[str, frozenset[str], str]] = []
        for entry_id, questions in examples.items():
            for q in questions:
                words = self.words(q)
                if words:
                    self._examples.append((entry_id, words, self.normalise(q)))
        entries_with: dict[str, set[str]] = {}
        for entry_id, words, _ in self._examples:
            for w in words:
                entries_with.setdefault(w, set()).add(entry_id)
        n = max(1, len({e for e, _, _ in self._examples}))
        self._idf = {w: math.log(1 + n / len(ids)) for w, ids in entries_with.items()}
        self._vocab = sorted(self._idf)

    def normalise(self, text: str) -> str:
        """Fold the text and map synonyms to their canonical term."""
        folded = f" {fold(text)} "
        for term in self._terms:
            if f" {term} " in folded:
                folded = folded.replace(f" {term} ", f" {self._canon[term]} ")
        return folded.strip()

    def words(self, text: str) -> frozenset[str]:
        """The content words of a text: synonyms canonical, function words dropped."""
        words = self.normalise(text).split()
        return frozenset(w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit()))

    def _similar(self, word: str) -> dict[str, float]:
        """Vocabulary words close to ``word`` (exact match 1.0, typos a little less)."""
        if word in self._idf:
            return {word: 1.0}
        if len(word) < 4:
            return {}
        hits = process.extract(
            word, self._vocab, scorer=fuzz.ratio, score_cutoff=self._word_score, limit=5
        )
        return {w: score / 100 for w, score, _ in hits}

    def scores(self, text: str) -> list[tuple[str, float]]:
        """Best score (0-100) per entry, highest first."""
        query = self.words(text)
        if not query or not self._examples:
            return []
        matches = {q: self._similar(q) for q in query}
        unknown_weight = max(self._idf.values(), default=1.0)
        q_weight = {
            q: max((self._idf[w] for w in m), default=unknown_weight) for q, m in matches.items()
        }
        q_total = sum(q_weight.values())
        whole = self.normalise(text)
        best: dict[str, float] = {}
        for entry_id, words, example in self._examples:
            shared = 0.0
            covered = 0.0
            for q, similar in matches.items():
                hit = max((sim for w, sim in similar.items() if w in words), default=0.0)
                if hit:
                    shared += q_weight[q] * hit
                    covered += max(self._idf[w] * sim for w, sim in similar.items() if w in words)
            if not shared:
                continue
            precision = shared / q_total
            recall = covered / sum(self._idf[w] for w in words)
            f1 = 2 * precision * recall / (precision + recall)
            # The whole-string similarity breaks ties between examples sharing the same words.
            score = 70 * f1 + 0.3 * fuzz.ratio(whole, example)
            if score > best.get(entry_id, 0.0):
                best[entry_id] = score
        return sorted(best.items(), key=lambda kv: kv[1], reverse=True)

    def lookup(self, text: str, lang: str) -> Lookup:
        ranked = self.scores(text)
        if not ranked:
            return Lookup("none")
        t = self.thresholds
        top_id, top = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if top >= t.answer and top - second >= t.margin:
            return Lookup("answer", (top_id,), top)
        if top >= t.suggest:
            close = tuple(i for i, s in ranked[:3] if s >= t.suggest and top - s < 20)
            return Lookup("ambiguous", close, top)
        return Lookup("none", (), top)
