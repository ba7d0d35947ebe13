"""The plain structure every evaluation loader fills, and the errors loaders raise."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class DatasetError(ValueError):
    """A dataset cannot be used as asked (unknown name, unsupported language, bad content)."""


class DataFormatError(DatasetError):
    """A data file is malformed; the message names the file and, where known, the line."""


class ParallelismError(DatasetError):
    """Languages disagree (ids, order, passage mapping); the message names the first offending id and file."""


@dataclass
class ParallelDataset:
    """A fully parallel set of passages and questions (see docs/ARCHITECTURE.md).

    Passage p in every language is a translation of the same text; question q (same id and
    position in every language) is about passage `question_passage[q]`.
    """

    name: str
    langs: list[str]
    passages: dict[str, list[str]]
    questions: dict[str, list[str]]
    question_ids: list[str]
    question_passage: np.ndarray
    titles: list[str] | None = None
    # Free-form provenance (files read, pairing rule); never needed by the pipeline.
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.question_passage = np.asarray(self.question_passage, dtype=np.int64)

    @property
    def n_passages(self) -> int:
        return len(self.passages[self.langs[0]]) if self.langs else 0

    @property
    def n_questions(self) -> int:
        return len(self.question_ids)

    def validate(self) -> "ParallelDataset":
        """Check shapes agree across languages; raise ParallelismError otherwise. Returns self."""
        if not self.langs:
            raise DatasetError(f"{self.name}: no languages")
        n_p, n_q = self.n_passages, self.n_questions
        for lang in self.langs:
            if len(self.passages[lang]) != n_p:
                raise ParallelismError(
                    f"{self.name}: {lang} has {len(self.passages[lang])} passages, "
                    f"{self.langs[0]} has {n_p}"
                )
            if len(self.questions[lang]) != n_q:
                raise ParallelismError(
                    f"{self.name}: {lang} has {len(self.questions[lang])} questions, expected {n_q}"
                )
        if self.question_passage.shape != (n_q,):
            raise ParallelismError(f"{self.name}: question_passage has shape {self.question_passage.shape}")
        if n_q and (self.question_passage.min() < 0 or self.question_passage.max() >= n_p):
            raise ParallelismError(f"{self.name}: question_passage points outside 0..{n_p - 1}")
        if len(set(self.question_ids)) != n_q:
            raise ParallelismError(f"{self.name}: duplicate question ids")
        if self.titles is not None and len(self.titles) != n_p:
            raise ParallelismError(f"{self.name}: {len(self.titles)} titles for {n_p} passages")
        return self

    def subset(self, limit: int | None) -> "ParallelDataset":
        """The first `limit` questions and only the passages they use (order kept, re-indexed).

        `None` (or a limit at least the number of questions) returns the dataset unchanged.
        Passages that no kept question uses (distractors) are dropped.
        """
        if limit is None or limit >= self.n_questions:
            return self
        if limit < 1:
            raise ValueError(f"limit must be a positive number of questions, got {limit}")
        used = np.unique(self.question_passage[:limit])  # sorted: keeps the passage order
        new_index = {int(old): new for new, old in enumerate(used)}
        return ParallelDataset(
            name=self.name,
            langs=list(self.langs),
            passages={lang: [self.passages[lang][p] for p in used] for lang in self.langs},
            questions={lang: list(self.questions[lang][:limit]) for lang in self.langs},
            question_ids=list(self.question_ids[:limit]),
            question_passage=np.array([new_index[int(p)] for p in self.question_passage[:limit]]),
            titles=None if self.titles is None else [self.titles[p] for p in used],
            meta={**self.meta, "limit": limit},
        )


def check_same_questions(
    name: str, reference: tuple[str, str], other: tuple[str, str], ref_ids, ids, ref_qp=None, qp=None
) -> None:
    """Raise ParallelismError naming the first id where `ids` (from file `other`) departs from `ref_ids`.

    `reference` and `other` are (lang, file) pairs used only in the message. When `ref_qp`/`qp`
    (question → passage index) are given, the passage each question maps to must agree too.
    """
    ref_lang, ref_file = reference
    lang, path = other
    for i, (a, b) in enumerate(zip(ref_ids, ids)):
        if a != b:
            raise ParallelismError(
                f"{name}: question {i} is {b!r} in {path} ({lang}) but {a!r} in {ref_file} ({ref_lang})"
            )
        if ref_qp is not None and ref_qp[i] != qp[i]:
            raise ParallelismError(
                f"{name}: question {b!r} maps to passage {qp[i]} in {path} ({lang}) "
                f"but to passage {ref_qp[i]} in {ref_file} ({ref_lang})"
            )
    if len(ids) != len(ref_ids):
        shorter, longer = (ids, ref_ids) if len(ids) < len(ref_ids) else (ref_ids, ids)
        extra = longer[len(shorter)]
        raise ParallelismError(
            f"{name}: {path} ({lang}) has {len(ids)} questions, {ref_file} ({ref_lang}) has "
            f"{len(ref_ids)}; first unmatched id {extra!r}"
        )
