"""The knowledge index: which entry answers a free question, if any.

The engine only depends on the :class:`KnowledgeIndex` protocol; :class:`FuzzyIndex` is the
implementation built from the content at load time. A semantic scorer could sit behind the same
protocol.

How :class:`FuzzyIndex` scores: the question and every example question are folded (case,
accents, punctuation), synonyms are mapped to one canonical term, function words are dropped and
the remaining words lightly stemmed. A query word that is not in the vocabulary is matched with
rapidfuzz (typos) or split into two known words (Dutch compounds: "studiekosten"). Words weigh
by how rare they are across entries, and an example's score is mostly the weighted F1 of the
words it shares with the question, plus a little whole-string similarity to break ties. An entry
scores as its best example, plus a small bonus for query words that occur in its answer. An
inverted index keeps the work per question proportional to the
examples that share a word with it, not to the size of the knowledge base.

Out-of-scope examples (knowledge/outside.yaml: "hoe meld ik me ziek", "subsidie voor
zonnepanelen") form a pseudo-entry, :data:`OUTSIDE`, ranked like any entry but never returned:
when it comes close to the best entry, no answer is shown. An answer is also only shown when the
entry itself knows most of the question's words (its coverage), not just the vocabulary as a
whole.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, pairwise, repeat
from operator import mul
from types import MappingProxyType
from typing import Literal, NamedTuple, Protocol

from rapidfuzz import fuzz, process

from bot.knowledge.learned import Perceptron, unit_length
from bot.knowledge.text import fold

__all__ = [
    "OUTSIDE",
    "FuzzyIndex",
    "KnowledgeIndex",
    "Lookup",
    "Ranking",
    "SecondOpinion",
    "Thresholds",
    "stem",
]

# The pseudo-entry made of questions the assistant does not answer (knowledge/outside.yaml).
# It competes in the ranking like an entry; when it comes close to the top, nothing is shown.
OUTSIDE = "~outside"

STOPWORDS = frozenset(
    """
    de het een en of in op te ten van voor met aan bij naar om uit over als dan dat die dit
    deze er hier daar ik je jij u uw we wij mijn mij me jouw jullie zij ze hij haar hem ons onze
    is ben bent zijn was waren wordt worden word kan kun kunt kunnen mag mogen moet moeten wil
    wilt willen zou zouden heb hebt heeft hebben had ga gaat gaan doe doet doen wel niet geen
    nog al ook maar dus toch even eigenlijk precies echt graag iets iemand zo hoor nou eh he
    hallo hoi the a an and or in on at to of for with by from as than that this these those it
    its i you he she we they my me your our their is am are was were be been being do does did
    can could may might must should would will shall have has had not no any some just also so
    please hi hello there
    ofzo zoiets zo n voordat nadat liever beste goedemorgen goedemiddag goedenavond hey hee yo
    misschien allemaal gewoon helemaal heel erg best eens ongeveer wellicht
    don t doesn isn aren im ive whole mainly them him her mine anyone anything something
    really actually about into yet still already then very much
    mn zn dr nie aub ff effe qua ter zomaar soms eindelijk stuff ago asking somewhere somehow
    sure anyway kinda gonna wanna ur pls plz thx okay oke
    """.split()
)
# Question words are kept on purpose: "wat is de mkb-route" and "waar kan ik de mkb-route
# volgen" share every other word but ask different things.

_DOUBLED = frozenset("bdfgklmnprst")


def stem(word: str) -> str:
    """A light Dutch/English stem: plural and verb endings off ("opleidingen" -> "opleiding")."""
    if len(word) > 4 and word.endswith("en"):
        word = word[:-2]
        if len(word) > 3 and word[-1] == word[-2] and word[-1] in _DOUBLED:
            word = word[:-1]  # "kosten" -> "kost", "stoppen" -> "stop"
    elif len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


@lru_cache(maxsize=8192)
def _word_grams(word: str, low: int, high: int) -> tuple[str, ...]:
    padded = f" {word} "
    return tuple(
        padded[i : i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1)
    )


def char_ngrams(text: str, low: int = 2, high: int = 4) -> dict[str, int]:
    """Character n-grams inside space-padded words, with counts ("werkt" shares "werk")."""
    # Words repeat across thousands of example questions: each word's n-grams are cut once,
    # and Counter counts them in C (start-up builds a profile of every example).
    return Counter(chain.from_iterable(_word_grams(w, low, high) for w in text.split()))


def _unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {k: v / norm for k, v in vector.items()} if norm else {}


@dataclass(frozen=True, slots=True)
class Lookup:
    """The index's verdict on a question: answer one entry, offer a few, or none."""

    status: Literal["answer", "likely", "ambiguous", "none"]
    # The answer; for "likely" the entry shown first, then up to two alternatives; the
    # suggestions when ambiguous; for "none" the topics offered as buttons, if any.
    ids: tuple[str, ...] = ()
    score: float = 0.0  # the best entry's score
    runners_up: tuple[str, ...] = ()  # the next best entries, for tools and diagnostics


class Ranking(NamedTuple):
    """The entries that share words with a question, and how well the vocabulary knows it."""

    ranked: list[tuple[str, float]]  # best first; may include OUTSIDE
    known: float  # share of the question's word weight the whole vocabulary knows
    covers: dict[str, float]  # per ranked entry: the share its own words and answer know
    words: int = 0  # content words in the question
    # Points each entry got for the user's audience: they break ties, but a weak match must
    # not become a confident answer through them ("iets anders" from an employer).
    boost: Mapping[str, float] = MappingProxyType({})


class SecondOpinion(Protocol):
    """A matcher that reads questions differently (bot.knowledge.semantic)."""

    @property
    def threshold(self) -> float:
        """The similarity a match needs after "Bedoel je...?"."""
        ...

    @property
    def threshold_none(self) -> float:
        """The similarity a match needs after "none"."""
        ...

    @property
    def margin(self) -> float:
        """How far the best entry must be ahead of the next."""
        ...

    @property
    def disagree(self) -> float:
        """How far it must prefer a runner-up to question a confident answer."""
        ...

    def similarities(self, text: str) -> dict[str, float]:
        """Each entry's (and OUTSIDE's) similarity to ``text``."""
        ...


class KnowledgeIndex(Protocol):
    def lookup(self, text: str, lang: str, audience: str | None = None) -> Lookup:
        """Find the entry that answers ``text``, preferring entries for ``audience``."""
        ...


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Scores (0-100) that separate a confident answer from a 'did you mean' and from nothing."""

    # Calibrated on the first tuning sets (python -m benchmarks.knowledge --calibrate): the most
    # right answers shown in the first reply with at most 2% wrong answers and 2.5% of
    # out-of-scope questions shown an answer. Later searches (now out of fold on
    # knowledge/asked.yaml) preferred smaller margins; on the fresh validation sets those
    # showed more wrong and out-of-scope answers, so these stay (docs/knowledge.md).
    answer: float = 84.0
    suggest: float = 70.0
    margin: float = 14.0
    known: float = 0.7  # the share of the question's word weight the vocabulary must know
    suggest_known: float = 0.4  # the same, for offering a "Bedoel je...?"
    # Between confident and "Bedoel je...?": show the best answer with a light hedge and two
    # alternatives as buttons. "Bedoel je...?" first only when the best two are really tied:
    # within likely_margin points (the search found 0 best; 2 keeps real ties a question, at
    # 0.4 points of right answers and 0.3 fewer wrong ones).
    likely: float = 60.0
    likely_margin: float = 2.0
    likely_known: float = 0.6
    likely_covers: float = 0.5  # the share of the question's words the shown entry knows
    # How far the best entry must stay ahead of the out-of-scope examples to be shown.
    outside_margin: float = 10.0
    # Below every band: no answer, but the nearest topics as buttons ("Gaat het over...?")
    # when the words still point somewhere. A tap away instead of a dead end; never shown
    # when the out-of-scope examples win.
    hint: float = 50.0
    hint_known: float = 0.3
    # The top entry must know the question's main words, not just "hoe zit het met".
    hint_covers: float = 0.5
    # A confident answer offers the runner-up as its first button when it is this close.
    answer_close: float = 40.0


class FuzzyIndex:
    """Weighted word overlap with typo and compound tolerance; see the module docstring."""

    BODY_IN_PROFILE = 6.0

    def __init__(
        self,
        examples: Mapping[str, Iterable[str]],
        synonyms: Sequence[Sequence[str]] = (),
        thresholds: Thresholds = Thresholds(),
        word_score: float = 85.0,
        bodies: Mapping[str, str] | None = None,
        body_weight: float = 10.0,
        audiences: Mapping[str, Iterable[str]] | None = None,
        outside: Iterable[str] = (),
        learned: Perceptron | None = None,
    ) -> None:
        self.thresholds = thresholds
        self.learned = learned
        self.semantic: SecondOpinion | None = None
        self.learned_points = 30.0
        self.f1_points = 70.0
        self.ratio_share = 0.3
        self.second_share = 0.2
        self.profile_points = 100.0
        self.candidates = 10
        self._word_score = word_score
        self._body_weight = body_weight
        self._audiences = {e: frozenset(a) for e, a in (audiences or {}).items()}
        # More than the learned model's usual lead: "wat kost het (voor) mij" from an employer
        # is about wages, however often "kost" means tuition in the examples (30 was enough
        # until the questions users asked added 43 more tuition examples).
        self.audience_points = 40.0
        self._canon: dict[str, str] = {}
        for group in synonyms:
            folded = [fold(t) for t in group if fold(t)]
            for term in folded[1:]:
                self._canon.setdefault(term, folded[0])
        # Longest terms first so that "midden en kleinbedrijf" wins over "bedrijf".
        self._terms = sorted(self._canon, key=len, reverse=True)
        # One scan in C tells whether any term occurs at all (most texts have none).
        self._any_term = (
            re.compile("|".join(re.escape(f" {t} ") for t in self._terms)) if self._terms else None
        )
        # Where each word starts a term (positions in _terms): a term can only occur in a text
        # that has its first word, so a text need not be searched for all ~300 terms.
        self._terms_from: dict[str, tuple[int, ...]] = {}
        for i, term in enumerate(self._terms):
            first = term.split()[0]
            self._terms_from[first] = (*self._terms_from.get(first, ()), i)
        self._entry: list[str] = []
        self._words: list[frozenset[str]] = []
        self._text: list[str] = []
        sources = {**examples, OUTSIDE: list(outside)} if outside else dict(examples)
        for entry_id, questions in sources.items():
            for q in questions:
                text = self.normalise(q)
                words = self._content_words(text)
                if words:
                    self._entry.append(entry_id)
                    self._words.append(words)
                    self._text.append(text)
        postings: dict[str, list[int]] = {}
        entries_with: dict[str, set[str]] = {}
        for i, words in enumerate(self._words):
            for w in words:
                postings.setdefault(w, []).append(i)
                entries_with.setdefault(w, set()).add(self._entry[i])
        # The out-of-scope examples do not dilute word weights: they are not an entry to find.
        n = max(1, len(set(self._entry) - {OUTSIDE}))
        self._idf = {
            w: math.log(1 + n / max(1, len(ids - {OUTSIDE}))) for w, ids in entries_with.items()
        }
        self._postings = {w: tuple(ix) for w, ix in postings.items()}
        self._weight = [sum(self._idf[w] for w in words) for words in self._words]
        self._max_idf = max(self._idf.values(), default=1.0)
        # A typo of a synonym ("tution" for "tuition") should find what the synonym stands
        # for, although only the canonical term ("collegegeld") is in the vocabulary.
        self._alias: dict[str, str] = {}
        for term, canon in self._canon.items():
            target = self._content_words(canon)
            if " " not in term and len(target) == 1 and next(iter(target)) in self._idf:
                self._alias.setdefault(stem(term), next(iter(target)))
        by_length: dict[int, list[str]] = {}
        for w in sorted({*self._idf, *self._alias}):
            by_length.setdefault(len(w), []).append(w)
        self._by_length = by_length
        # Words of each entry's answer and title: weak evidence for words no example uses.
        self._body: dict[str, frozenset[str]] = {}
        for entry_id, body in (bodies or {}).items():
            for w in self.words(body):
                if w in self._idf:
                    self._body[w] = self._body.get(w, frozenset()) | {entry_id}
        # Which entries know a word at all (an example or their answer): the entry's coverage.
        self._knows = {
            w: frozenset(ids) | self._body.get(w, frozenset()) for w, ids in entries_with.items()
        }
        self._similar = lru_cache(maxsize=4096)(self._similar_uncached)
        self._build_profiles()

    def _build_profiles(self) -> None:
        """One TF-IDF character n-gram profile per entry: the sum of its examples' vectors.

        Word overlap misses inflections and word order ("wat levert het op als je al werkt"
        vs "voordelen voor werkenden"); the profile of all of an entry's examples together
        catches them, and gives every entry a say that a single lucky example cannot.
        """
        grams = [char_ngrams(t) for t in self._text]
        df = Counter(chain.from_iterable(grams))
        n = len(grams)
        self._gram_idf = idf = {k: math.log((1 + n) / (1 + d)) + 1 for k, d in df.items()}
        profiles: dict[str, dict[str, float]] = {}
        for entry, g in zip(self._entry, grams, strict=True):
            # Each example's unit vector, added to its entry's profile (n-grams seen once,
            # the usual case, weigh their idf: 1 + log(1) = 1).
            values = [idf[k] if c == 1 else (1 + math.log(c)) * idf[k] for k, c in g.items()]
            norm = math.sqrt(sum(map(mul, values, values)))
            acc = profiles.setdefault(entry, {})
            get = acc.get
            for k, v in zip(g, values, strict=True):
                acc[k] = get(k, 0.0) + v / norm
        self._profiles = {e: _unit(v) for e, v in profiles.items()}

    def _profile_similarity(self, text: str, entries: Iterable[str]) -> dict[str, float]:
        """Cosine between the question's n-gram vector and each entry's profile."""
        idf = self._gram_idf
        grams = [(k, c) for k, c in char_ngrams(text).items() if k in idf]
        keys = [k for k, _ in grams]
        values = [idf[k] if c == 1 else (1 + math.log(c)) * idf[k] for k, c in grams]
        norm = math.sqrt(sum(map(mul, values, values)))
        if not norm:
            return dict.fromkeys(entries, 0.0)
        # The dot products run in C (map over the question's n-grams, in their fixed order);
        # the profiles are unit length, so dividing by the question's norm gives the cosine.
        return {
            entry: sum(map(mul, values, map(self._profiles[entry].get, keys, repeat(0.0)))) / norm
            for entry in entries
        }

    def normalise(self, text: str) -> str:
        """Fold the text and map synonyms to their canonical term."""
        folded = f" {fold(text)} "
        if self._any_term is None or not self._any_term.search(folded):
            return folded.strip()
        # The terms in _terms order (longest first), as if each were tried in turn: only
        # those whose first word the text has, plus any a replacement brings in later on.
        starts = self._terms_from
        todo = [i for w in set(folded.split()) for i in starts.get(w, ())]
        heapq.heapify(todo)
        tried: set[int] = set()
        while todo:
            i = heapq.heappop(todo)
            if i in tried:
                continue
            tried.add(i)
            term = self._terms[i]
            if f" {term} " in folded:
                canon = self._canon[term]
                folded = folded.replace(f" {term} ", f" {canon} ")
                for w in canon.split():
                    for j in starts.get(w, ()):
                        if j > i:
                            heapq.heappush(todo, j)
        return folded.strip()

    def words(self, text: str) -> frozenset[str]:
        """The content words of a text: synonyms canonical, function words dropped, stemmed."""
        return self._content_words(self.normalise(text))

    @staticmethod
    def _content_words(normalised: str) -> frozenset[str]:
        words = normalised.split()
        return frozenset(
            stem(w) for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())
        )

    def _similar_uncached(self, word: str) -> tuple[tuple[str, float], ...]:
        """Vocabulary words that stand for ``word``: itself, typo neighbours, or compound parts."""
        if word in self._idf:
            return ((word, 1.0),)
        if word in self._alias:
            return ((self._alias[word], 1.0),)
        if len(word) < 4:
            return ()
        # Dutch spelling slips a typo score misses: "y" for "ij" ("leeftyd"), "ei" and "ij"
        # swapped ("tweide", "bijdrage" as "beidrage").
        for a, b in (("y", "ij"), ("ei", "ij"), ("ij", "ei")):
            if a in word and (fixed := word.replace(a, b)) in self._idf:
                return ((fixed, 0.95),)
        # ratio >= 85 needs lengths within about a third of each other: search only those.
        lo, hi = int(len(word) * 0.74), int(len(word) * 1.35) + 1
        vocab = [w for n in range(lo, hi + 1) for w in self._by_length.get(n, ())]
        hits = process.extract(
            word, vocab, scorer=fuzz.ratio, score_cutoff=self._word_score, limit=3
        )
        if hits:
            found: dict[str, float] = {}
            for w, score, _ in hits:  # best first; an alias stands for its canonical term
                found.setdefault(self._alias.get(w, w), score / 100)
            return tuple(found.items())
        for cut in range(3, len(word) - 2):
            head, tail = word[:cut], stem(word[cut:])
            if head in self._idf and tail in self._idf:
                return ((head, 0.9), (tail, 0.9))
        return ()

    def features(self, text: str) -> dict[str, float]:
        """What the learned model sees of a text: its words (typos and compounds resolved),
        word pairs, and the character n-grams of its words."""
        normalised = self.normalise(text)
        return self._features(self._content_words(normalised), normalised)

    def _features(self, content: Iterable[str], normalised: str) -> dict[str, float]:
        words = sorted(content)
        found = {f"w:{m}" for w in words for m, _ in self._similar(w) or ((w, 1.0),)}
        tokens = normalised.split()
        found.update(f"b:{a}_{b}" for a, b in pairwise(tokens))
        found.update(f"c:{g}" for g in char_ngrams(" ".join(words), 3, 4))
        return unit_length(found)

    def training_samples(self) -> list[tuple[dict[str, float], str]]:
        """Every example question (out-of-scope ones included) with its entry."""
        return [(self.features(t), e) for e, t in zip(self._entry, self._text, strict=True)]

    def scores(self, text: str, audience: str | None = None) -> list[tuple[str, float]]:
        """Entries that share something with ``text``, best first, with their scores."""
        return [(e, v) for e, v in self.rank(text, audience).ranked if e != OUTSIDE]

    def rank(self, text: str, audience: str | None = None) -> Ranking:
        """The ranking, and how much of the question the vocabulary and each entry know."""
        query = self.words(text)
        if not query:
            return Ranking([], 0.0, {})
        shared: dict[int, float] = {}
        # What a typo or compound adds to an example's recall beyond its precision share
        # (for a word the vocabulary knows both are the same: one sum serves both).
        extra: dict[int, float] = {}
        in_body: dict[str, float] = {}
        known_by: list[tuple[float, tuple[frozenset[str], ...]]] = []
        q_total = 0.0
        q_known = 0.0
        for q in sorted(query):  # a fixed order keeps float sums identical run to run
            similar = self._similar(q)
            weight = max((self._idf[w] for w, _ in similar), default=self._max_idf)
            q_total += weight
            # A word only the out-of-scope examples use ("isolatie") is not known.
            if any(self._knows[w] - {OUTSIDE} for w, _ in similar):
                q_known += weight
            known_by.append((weight, tuple(self._knows[w] for w, _ in similar)))
            for entry in sorted({e for w, _ in similar for e in self._body.get(w, ())}):
                in_body[entry] = in_body.get(entry, 0.0) + weight
            if len(similar) == 1:
                # The usual case, a word the vocabulary knows: no best-of to keep per example.
                w, sim = similar[0]
                add = weight * sim  # weight is this word's idf: also what it covers
                shared_get = shared.get
                for ex in self._postings[w]:
                    shared[ex] = shared_get(ex, 0.0) + add
                continue
            best: dict[int, tuple[float, float]] = {}
            for w, sim in similar:
                cover = self._idf[w] * sim
                for ex in self._postings[w]:
                    old = best.get(ex)
                    if old is None or sim > old[0]:
                        best[ex] = (sim, cover)
            for ex, (sim, cover) in best.items():
                shared[ex] = shared.get(ex, 0.0) + weight * sim
                extra[ex] = extra.get(ex, 0.0) + cover - weight * sim
        if not shared:
            return Ranking([], q_known / q_total, {})
        whole = self.normalise(text)
        bonus = {e: self._body_weight * hit / q_total for e, hit in in_body.items()}
        result: dict[str, tuple[float, float]] = {}
        examples = list(shared)
        # The whole-string similarity breaks ties between examples sharing the same words;
        # rapidfuzz's iterator reads the question once for all of them (half the time of a
        # call per example).
        similarities = process.extract_iter(
            whole, list(map(self._text.__getitem__, examples)), scorer=fuzz.ratio, score_cutoff=0
        )
        f1_points, share, weights, entries = (
            self.f1_points,
            self.ratio_share,
            self._weight,
            self._entry,
        )
        extra_get, result_get = extra.get, result.get
        for _, similarity, at in similarities:
            ex = examples[at]
            hit = shared[ex]
            precision = hit / q_total
            recall = (hit + extra_get(ex, 0.0) if extra else hit) / weights[ex]
            if recall > 1.0:
                recall = 1.0
            f1 = 2 * precision * recall / (precision + recall)
            score = f1_points * f1 + share * similarity
            entry = entries[ex]
            first, runner = result_get(entry, (0.0, 0.0))
            if score > first:
                result[entry] = (score, first)
            elif score > runner:
                result[entry] = (first, score)
        # An entry whose other examples agree earns a little more than one lucky example.
        words = {
            e: first + self.second_share * runner + bonus.get(e, 0.0)
            for e, (first, runner) in result.items()
        }
        top = sorted(words, key=lambda e: (-words[e], e))[: self.candidates]
        # One word is a topic ("collegegeld?") or nothing ("anders"): the words decide it; the
        # model, trained on whole questions, would make a confident guess of a lone word.
        learned: dict[str, float] = {}
        if self.learned is not None and len(query) > 1:
            labels = [*top, OUTSIDE] if OUTSIDE in self._profiles and OUTSIDE not in top else top
            learned = self.learned.scores(self._features(query, whole), labels)
            if learned.get(OUTSIDE, 0.0) > 0 and OUTSIDE not in top:
                top.append(OUTSIDE)  # the model knows it as out of scope, word overlap not
        profile = self._profile_similarity(whole, top)
        final = {
            e: words.get(e, 0.0)
            + self.profile_points * profile[e]
            + self.learned_points * learned.get(e, 0.0)
            for e in top
        }
        boost: dict[str, float] = {}
        if audience:
            # "wat kost het voor mij?" means tuition from a student, wages from an employer: an
            # entry for the user's audience gains, one written only for others loses.
            for e in final:
                meant = self._audiences.get(e)
                if not meant or "algemeen" in meant:
                    continue
                boost[e] = self.audience_points if audience in meant else -self.audience_points
                final[e] += boost[e]
        ranked = sorted(final.items(), key=lambda kv: (-kv[1], kv[0]))
        covers = {
            e: sum(w for w, by in known_by if any(e in k for k in by)) / q_total
            for e, _ in ranked[:3]
        }
        return Ranking(ranked, q_known / q_total, covers, len(query), boost)

    def lookup(self, text: str, lang: str, audience: str | None = None) -> Lookup:
        ranking = self.rank(text, audience)
        others = frozenset(e for e, points in ranking.boost.items() if points < 0)
        return self.second_opinion(text, self.decide(ranking), others)

    def second_opinion(
        self, text: str, found: Lookup, for_others: frozenset[str] = frozenset()
    ) -> Lookup:
        """With the semantic stage: a shown answer the model clearly disagrees with becomes
        "Bedoel je...?" with both; after "Bedoel je...?" or nothing, a clear semantic match is
        shown instead (as "likely": hedged, with the word matcher's suggestions as buttons)."""
        stage = self.semantic
        if stage is None:
            return found
        sims = stage.similarities(text)
        if found.status in ("answer", "likely"):
            first = found.ids[0]
            # The model does not know who asks: an entry written only for other users (a
            # student's tuition for an employer asking "wat kost het") is no rival.
            rivals = [e for e in found.runners_up[:2] if e != first and e not in for_others]
            other = max(rivals, key=lambda e: sims.get(e, -1.0), default=None)
            if other is None or sims.get(other, -1.0) - sims.get(first, -1.0) < stage.disagree:
                return found
            rest = [e for e in found.ids[1:] if e != other]
            return Lookup("ambiguous", (first, other, *rest)[:3], found.score, found.runners_up)
        nearest = sorted(sims.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        if not nearest or nearest[0][0] == OUTSIDE:
            return found
        (best, score), runner = nearest[0], nearest[1][1] if len(nearest) > 1 else -1.0
        # After "none" the words point nowhere in particular (or at the out-of-scope
        # examples): only a very close match overrules them.
        needed = stage.threshold_none if found.status == "none" else stage.threshold
        if score < needed or score - runner < stage.margin:
            return found
        # Buttons: the word matcher's suggestions, then semantic runners-up nearly as close
        # (farther ones are noise: "Wat kan deze bot?" under a question about Dutch).
        others = [i for i in found.ids if i != best]
        near = score - 2 * stage.margin
        others += [e for e, s in nearest[1:] if s >= near and e not in (OUTSIDE, best, *others)]
        return Lookup("likely", (best, *others[:2]), found.score, found.runners_up)

    def decide(self, ranking: Ranking) -> Lookup:
        """Answer, likely, "Bedoel je...?" or nothing, from a question's :class:`Ranking`."""
        outside = next((v for e, v in ranking.ranked if e == OUTSIDE), 0.0)
        ranked = [(e, v) for e, v in ranking.ranked if e != OUTSIDE]
        if not ranked:
            return Lookup("none")
        t = self.thresholds
        known = ranking.known
        top_id, top = ranked[0]
        base = top - ranking.boost.get(top_id, 0.0)  # how well the words alone match
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        others = tuple(i for i, _ in ranked[1:4])
        covers = ranking.covers.get(top_id, 0.0)
        # The user's audience counts among entries, not against the out-of-scope examples.
        if outside >= base:
            # Closer to a question we do not answer ("hoe meld ik me ziek") than to any entry.
            return Lookup("none", (), top, tuple(i for i, _ in ranked[:3]))
        # A question with words the knowledge base has never seen ("subsidie voor
        # zonnepanelen") is probably about something else: no answer shown then, nor when
        # the out-of-scope examples come close.
        clear = base - outside >= t.outside_margin
        if clear and base >= t.answer and top - second >= t.margin and known >= t.known:
            # A runner-up close behind is offered as the first button: one tap if we erred;
            # not one written only for other users (a student is not shown employer costs).
            close = tuple(
                i
                for i, v in ranked[1:2]
                if v >= t.hint and top - v < t.answer_close and ranking.boost.get(i, 0.0) >= 0
            )
            return Lookup("answer", (top_id, *close), top, others)
        # One word ("diploma?") is a topic, not a question: guessing which one is not "likely".
        if (
            clear
            and ranking.words > 1
            and base >= t.likely
            and top - second >= t.likely_margin
            and known >= t.likely_known
            and covers >= t.likely_covers
        ):
            close = tuple(i for i, s in ranked[1:3] if s >= t.hint)
            return Lookup("likely", (top_id, *close), top, others)
        if base >= t.suggest and known >= t.suggest_known:
            close = tuple(i for i, s in ranked[:3] if s >= t.suggest and top - s < 20)
            return Lookup("ambiguous", close, top, others)
        if base > outside and base >= t.hint and known >= t.hint_known and covers >= t.hint_covers:
            topics = tuple(i for i, s in ranked[:3] if s >= t.hint and top - s < 20)
            return Lookup("none", topics, top, others)
        return Lookup("none", (), top, others)
