"""Estimation text must not be evaluation text: a fix fitted on the texts it is then scored on
would be tuned to the test. The check compares texts by their hash (`xldiag.embeddings.text_key`,
sha1 of the UTF-8 bytes — the embedding cache's identity of a text), against every passage and
every question of every language of the evaluation dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from xldiag.data import ParallelDataset
from xldiag.embeddings import text_key


@dataclass(frozen=True)
class Overlap:
    """Estimation texts that are also evaluation texts (`shared`, first-seen order)."""

    n_estimation: int  # distinct estimation texts
    n_evaluation: int  # distinct evaluation texts (passages and questions, all languages)
    shared: tuple[str, ...]

    @property
    def disjoint(self) -> bool:
        return not self.shared


def evaluation_keys(dataset: ParallelDataset) -> set[bytes]:
    """The hashes of every passage and question of every language of `dataset`."""
    texts = [t for lang in dataset.langs for t in (*dataset.passages.get(lang, ()), *dataset.questions.get(lang, ()))]
    return {text_key(t) for t in texts}


def text_overlap(estimation_texts: Iterable[str], dataset: ParallelDataset) -> Overlap:
    """Which estimation texts the evaluation dataset also holds (by text hash)."""
    evaluation = evaluation_keys(dataset)
    distinct = list(dict.fromkeys(estimation_texts))
    shared = tuple(t for t in distinct if text_key(t) in evaluation)
    return Overlap(len(distinct), len(evaluation), shared)


def check_disjoint(estimation_texts: Iterable[str], dataset: ParallelDataset, data: str = "the estimation data") -> Overlap:
    """`text_overlap`, raising ValueError (one line, the count and an example) if any text is shared."""
    overlap = text_overlap(estimation_texts, dataset)
    if not overlap.disjoint:
        example = overlap.shared[0][:80] + ("…" if len(overlap.shared[0]) > 80 else "")
        raise ValueError(f"{len(overlap.shared)} of the {overlap.n_estimation} texts of {data} are also in the "
                         f"evaluation set {dataset.name!r} (e.g. {example!r}); estimate the fix on other text "
                         "(--fix-data ntrex, tatoeba, mlqa-r or a JSONL file).")
    return overlap
