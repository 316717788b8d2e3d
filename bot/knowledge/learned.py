"""A learned second opinion for the knowledge matcher: an averaged perceptron.

The word-overlap matcher scores an entry by its best example question. That misses which words
*separate* two neighbouring entries ("hoe lang duurt het voordat iemand me terugbelt" shares
"hoe lang duurt" with the study's duration). A linear model trained on all example questions
at once learns exactly that: a word that occurs in one entry's examples and not its
neighbour's gains weight for that entry. Its scores are added to the matcher's.

Training is deterministic (a fixed seed) and takes a few seconds, so the trained weights are
stored next to the content and rebuilt when the examples change (see the content loader).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["FEATURES_VERSION", "Perceptron", "unit_length"]

# Bump when the features change: stored weights with another version are retrained.
FEATURES_VERSION = 3


def unit_length(features: Iterable[str]) -> dict[str, float]:
    """Binary features scaled to unit length, so long questions do not score higher."""
    unique = sorted(set(features))  # a fixed order: float sums identical run to run
    if not unique:
        return {}
    value = 1.0 / math.sqrt(len(unique))
    return dict.fromkeys(unique, value)


class Perceptron:
    """A multi-class averaged perceptron with a margin over sparse features."""

    def __init__(self, weights: dict[str, dict[str, float]]) -> None:
        # Taken as is, not copied: train() and load() build fresh dictionaries (no start-up
        # time spent copying 120,000 weights).
        self.weights = weights

    @classmethod
    def train(
        cls,
        samples: Sequence[tuple[Mapping[str, float], str]],
        epochs: int = 6,
        margin: float = 1.0,
        seed: int = 0,
        prune: float = 0.1,
    ) -> Perceptron:
        """Learn weights that rank each sample's label first, by ``margin`` where possible.

        Averaged weights below ``prune`` are dropped: a third of the weights, no measurable
        change in the answers, a smaller file to store and load."""
        labels = sorted({label for _, label in samples})
        weights: dict[str, dict[str, float]] = {}
        totals: dict[str, dict[str, float]] = {}  # step-weighted updates, for the average
        step = 1
        order = list(range(len(samples)))
        rnd = random.Random(seed)
        for _ in range(epochs):
            rnd.shuffle(order)
            for i in order:
                features, label = samples[i]
                scores = _scores(weights, features)
                own = scores.pop(label, 0.0)
                rival, best = max(
                    ((c, v) for c, v in scores.items()),
                    key=lambda cv: (cv[1], cv[0]),
                    default=(next(c for c in labels if c != label), 0.0),
                )
                if own - best < margin:
                    for f, v in features.items():
                        w = weights.setdefault(f, {})
                        t = totals.setdefault(f, {})
                        w[label] = w.get(label, 0.0) + v
                        t[label] = t.get(label, 0.0) + step * v
                        w[rival] = w.get(rival, 0.0) - v
                        t[rival] = t.get(rival, 0.0) - step * v
                step += 1
        averaged = {
            f: {c: round(v - totals[f][c] / step, 4) for c, v in w.items()}
            for f, w in weights.items()
        }
        kept = {f: {c: v for c, v in w.items() if abs(v) >= prune} for f, w in averaged.items()}
        return cls({f: w for f, w in kept.items() if w})

    def scores(
        self, features: Mapping[str, float], labels: Iterable[str] | None = None
    ) -> dict[str, float]:
        """Each label's score for a question's features (labels without evidence omitted);
        with ``labels``, only theirs (the matcher's candidates: a fraction of the work)."""
        if labels is None:
            return _scores(self.weights, features)
        wanted = frozenset(labels)
        out = dict.fromkeys(wanted, 0.0)
        for f, v in features.items():
            w = self.weights.get(f)
            if w:
                for c in w.keys() & wanted:  # the intersection in C, then only the hits
                    out[c] += w[c] * v
        return out

    def dump(self) -> dict[str, Any]:
        """A compact JSON-able form: label names once, then per feature index/weight pairs."""
        labels = sorted({c for w in self.weights.values() for c in w})
        at = {c: i for i, c in enumerate(labels)}
        return {
            "labels": labels,
            "weights": {
                f: [x for c, v in sorted(w.items()) for x in (at[c], v)]
                for f, w in sorted(self.weights.items())
            },
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Perceptron:
        """The inverse of :meth:`dump`; raises ``ValueError`` on a malformed document."""
        try:
            labels = list(data["labels"])
            weights = {
                str(f): {labels[int(p[i])]: float(p[i + 1]) for i in range(0, len(p), 2)}
                for f, p in data["weights"].items()
            }
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a stored perceptron: {exc}") from exc
        return cls(weights)


def _scores(
    weights: Mapping[str, Mapping[str, float]], features: Mapping[str, float]
) -> dict[str, float]:
    out: dict[str, float] = {}
    for f, v in features.items():
        for c, w in weights.get(f, {}).items():
            out[c] = out.get(c, 0.0) + w * v
    return out
