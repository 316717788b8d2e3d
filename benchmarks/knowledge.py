"""Knowledge matcher benchmark: accuracy against two baselines, and latency as the base grows.

Run from the repository root (the baselines need the ``bench`` extra):

    pip install -e '.[bench]'
    python -m benchmarks.knowledge                 # accuracy + latency table
    python -m benchmarks.knowledge --calibrate     # grid-search thresholds on the dev set

All systems run on the same data in the same process. Accuracy is measured on the held-out set
``benchmarks/data/knowledge_eval.yaml``; thresholds (ours and the baselines' out-of-scope cut-off)
are calibrated on ``benchmarks/data/knowledge_dev.yaml`` only.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.content.loader import index_inputs, load_content, read_yaml
from bot.engine.knowledge import FuzzyIndex, Thresholds
from bot.engine.text import fold

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Item:
    q: str
    lang: str
    id: str | None


def load_items(name: str) -> list[Item]:
    raw = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))["questions"]
    return [Item(x["q"], x["lang"], x["id"]) for x in raw]


def real_data() -> tuple[dict[str, list[str]], dict[str, str], list[list[str]]]:
    """The shipped entries as the assistant's own loader feeds them to the matcher."""
    content = load_content(ROOT)
    examples, bodies = index_inputs(content.knowledge.values())
    synonyms = read_yaml(ROOT / "knowledge" / "synonyms.yaml")["groups"]
    return examples, bodies, synonyms


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


def ours(
    examples: Mapping[str, Sequence[str]], bodies: Mapping[str, str], synonyms: list[list[str]]
) -> FuzzyIndex:
    return FuzzyIndex(examples, synonyms, bodies=bodies)


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


def calibrate_ours(index: FuzzyIndex, dev: Sequence[Item]) -> tuple[Thresholds, Scores]:
    """Grid search: most confident-correct answers with at most 5% out-of-scope answered."""
    cache = {i.q: index._rank(i.q) for i in dev}
    best: tuple[float, Thresholds, Scores] | None = None
    suggest = Thresholds().suggest
    for answer in range(60, 200, 4):
        for margin in range(0, 41, 2):
            for known in range(10):
                t = Thresholds(float(answer), suggest, float(margin), known / 10)
                rule = margin_rule(t, lambda q: cache[q][1])
                s = evaluate(lambda q: cache[q][0], dev, rule)
                if s.oos_confident > 0.05:
                    continue
                # Prefer right answers; a confident wrong answer costs twice a missed one.
                value = s.confident_correct - 2 * s.confident_wrong
                if best is None or value > best[0]:
                    best = (value, t, s)
    assert best is not None
    return best[1], best[2]


@dataclass(frozen=True)
class Shown:
    """What the user sees in the first reply (issue 14): the entry shown, the buttons offered."""

    n: int
    oos: int
    right_first: float  # in-scope: the right answer is shown in the first reply
    one_tap: float  # in-scope: shown, or one of the offered buttons
    wrong: float  # in-scope: another entry's answer is shown
    oos_shown: float  # out-of-scope: any entry's answer is shown


def shown(index: FuzzyIndex, items: Sequence[Item], cache: dict[str, Any] | None = None) -> Shown:
    """The decision the chat makes (``FuzzyIndex.lookup``), scored as a user would see it."""
    right = tap = wrong = oos_shown = 0
    inscope = [i for i in items if i.id]
    for item in items:
        ranked = cache[item.q] if cache is not None else index._rank(item.q)
        found = index.decide(*ranked)
        first = found.ids[0] if found.status in ("answer", "likely") else None
        offered = {"likely": found.ids[1:], "ambiguous": found.ids}.get(found.status, ())
        if not item.id:
            oos_shown += first is not None
            continue
        right += first == item.id
        tap += first == item.id or item.id in offered
        wrong += first is not None and first != item.id
    n, oos = len(inscope), len(items) - len(inscope)
    return Shown(
        n, oos, right / max(1, n), tap / max(1, n), wrong / max(1, n), oos_shown / max(1, oos)
    )


def calibrate_shown(index: FuzzyIndex, dev: Sequence[Item]) -> tuple[Thresholds, Shown]:
    """Grid search over the answer and likely bands: the most right answers in the first
    reply with at most 2% wrong answers and 2.5% out-of-scope questions answered."""
    base = index.thresholds
    cache: dict[str, Any] = {i.q: index._rank(i.q) for i in dev}
    best: tuple[float, Thresholds, Shown] | None = None
    for answer in range(76, 112, 4):
        for margin in (6.0, 8.0, 10.0, 12.0):
            for likely in range(60, answer + 1, 4):
                for likely_margin in (2.0, 4.0, 6.0, 8.0):
                    for likely_known in (0.5, 0.6, 0.7, 0.8):
                        t = Thresholds(
                            float(answer),
                            base.suggest,
                            margin,
                            base.known,
                            base.suggest_known,
                            float(likely),
                            likely_margin,
                            likely_known,
                        )
                        index.thresholds = t
                        s = shown(index, dev, cache)
                        if s.wrong > 0.02 or s.oos_shown > 0.025:
                            continue
                        value = s.right_first + 0.25 * s.one_tap
                        if best is None or value > best[0]:
                            best = (value, t, s)
    index.thresholds = base
    assert best is not None
    return best[1], best[2]


def shown_table(index: FuzzyIndex, items: Sequence[Item], name: str) -> None:
    print(f"\nwhat the user sees, {name}")
    cols = f"{'right 1st':>10} {'1 tap':>7} {'wrong':>7} {'oos shown':>10}"
    print(f"{'lang':6} {'in':>4} {'oos':>4} {cols}")
    for lang in ("nl", "en"):
        s = shown(index, [i for i in items if i.lang == lang])
        print(
            f"{lang:6} {s.n:4d} {s.oos:4d} {s.right_first:10.1%} {s.one_tap:7.1%} "
            f"{s.wrong:7.1%} {s.oos_shown:10.1%}"
        )


def latency(rank: Ranker, questions: Sequence[str], repeat: int = 3) -> tuple[float, float]:
    samples: list[float] = []
    for _ in range(repeat):
        for q in questions:
            start = time.perf_counter()
            rank(q)
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * (len(samples) - 1))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", action="store_true", help="grid-search our thresholds")
    parser.add_argument(
        "--calibrate-shown", action="store_true", help="grid-search the answer/likely bands"
    )
    parser.add_argument("--sizes", default="50,500,5000", help="knowledge base sizes for latency")
    args = parser.parse_args(argv)

    examples, bodies, synonyms = real_data()
    dev, test = load_items("knowledge_dev.yaml"), load_items("knowledge_eval.yaml")
    index = ours(examples, bodies, synonyms)
    if args.calibrate:
        t, s = calibrate_ours(index, dev)
        print(f"calibrated on dev: {t}\n  -> {s}")
        return
    if args.calibrate_shown:
        t2, s2 = calibrate_shown(index, dev)
        print(f"calibrated on dev: {t2}\n  -> {s2}")
        return
    shown_table(index, dev, "dev set (tuning)")
    shown_table(index, test, "old eval set")
    if (DATA / "knowledge_heldout.yaml").exists():
        shown_table(index, load_items("knowledge_heldout.yaml"), "frozen held-out set")

    systems: dict[str, tuple[Ranker, Confident]] = {
        "mkbroute (ours)": (
            index.scores,
            margin_rule(index.thresholds, lambda q: index._rank(q)[1]),
        ),
    }
    for name, build in (("bm25", bm25), ("tfidf-char-2-4", tfidf_char)):
        rank = build(examples)
        systems[name] = (rank, cutoff_rule(calibrate_cutoff(rank, dev)))

    inscope = sum(1 for i in test if i.id)
    print(f"held-out set: {inscope} in-scope, {len(test) - inscope} out-of-scope questions")
    print(f"{'system':18} {'top-1':>7} {'conf.right':>11} {'conf.wrong':>11} {'oos conf.':>10}")
    for name, (rank, confident) in systems.items():
        s = evaluate(rank, test, confident)
        print(
            f"{name:18} {s.top1:7.1%} {s.confident_correct:11.1%} {s.confident_wrong:11.1%} "
            f"{s.oos_confident:10.1%}"
        )

    questions = [i.q for i in test]
    print("\nlatency per query in ms (p50 / p99), same questions, same process")
    header = "".join(f"{f'{n} entries':>20}" for n in args.sizes.split(","))
    print(f"{'system':18}{header}")
    builders: dict[str, Callable[[dict[str, list[str]]], Ranker]] = {
        "mkbroute (ours)": lambda ex: ours(ex, bodies, synonyms).scores,
        "bm25": bm25,
        "tfidf-char-2-4": tfidf_char,
    }
    for name, make in builders.items():
        cells = []
        for size in (int(n) for n in args.sizes.split(",")):
            rank = make(padded(examples, size))
            rank(questions[0])  # warm up
            p50, p99 = latency(rank, questions)
            cells.append(f"{p50:9.3f} / {p99:7.3f}")
        print(f"{name:18}" + "".join(f"{c:>20}" for c in cells))


if __name__ == "__main__":
    main()
