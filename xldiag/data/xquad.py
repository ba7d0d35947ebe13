"""XQuAD (and any SQuAD v1.1-layout file): one file per language, fully parallel.

Layout: {"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", ...}]}]}]}.
Passages are the paragraphs in file order; the files of all languages must list the same
question ids in the same positions, each under the same paragraph.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xldiag.data.dataset import DataFormatError, ParallelDataset, ParallelismError, check_same_questions
from xldiag.data.files import cached_by_file, read_json


@dataclass(frozen=True)
class SquadFile:
    """One parsed SQuAD-layout file (tuples: safe to share from the cache)."""

    path: str
    titles: tuple[str, ...]  # per passage: the article title
    contexts: tuple[str, ...]
    questions: tuple[str, ...]
    ids: tuple[str, ...]
    question_passage: tuple[int, ...]


def _require(obj, key: str, kind, where: str, path: Path):
    """obj[key] if it has the expected type, else a DataFormatError naming file and location."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(k.__name__ for k in kinds)
        raise DataFormatError(f"{path}: {where} has no {expected} field {key!r}")
    return value


@cached_by_file
def parse_squad(path: Path) -> SquadFile:
    """Parse a SQuAD-layout JSON file (plain or .gz) into passages and questions."""
    doc = read_json(path)
    titles, contexts, questions, ids, question_passage = [], [], [], [], []
    for a, article in enumerate(_require(doc, "data", list, "the top level", path)):
        title = article.get("title", "") if isinstance(article, dict) else ""
        for p, para in enumerate(_require(article, "paragraphs", list, f"data[{a}]", path)):
            where = f"data[{a}].paragraphs[{p}]"
            contexts.append(_require(para, "context", str, where, path))
            titles.append(str(title))
            for q, qa in enumerate(_require(para, "qas", list, where, path)):
                ids.append(str(_require(qa, "id", (str, int), f"{where}.qas[{q}]", path)))
                questions.append(_require(qa, "question", str, f"{where}.qas[{q}]", path))
                question_passage.append(len(contexts) - 1)
    return SquadFile(str(path), tuple(titles), tuple(contexts), tuple(questions), tuple(ids), tuple(question_passage))


def load_parallel_squad(name: str, files: dict[str, Path]) -> ParallelDataset:
    """Build a ParallelDataset from one fully parallel SQuAD-layout file per language."""
    langs = list(files)
    parsed = {lang: parse_squad(path) for lang, path in files.items()}
    ref = parsed[langs[0]]
    for lang in langs[1:]:
        other = parsed[lang]
        check_same_questions(
            name, (langs[0], ref.path), (lang, other.path), ref.ids, other.ids,
            ref.question_passage, other.question_passage,
        )
        if len(other.contexts) != len(ref.contexts):
            raise ParallelismError(
                f"{name}: {other.path} ({lang}) has {len(other.contexts)} passages but {ref.path} "
                f"({langs[0]}) has {len(ref.contexts)} (questions agree; the extra passages differ)"
            )
    return ParallelDataset(
        name=name,
        langs=langs,
        passages={lang: list(p.contexts) for lang, p in parsed.items()},
        questions={lang: list(p.questions) for lang, p in parsed.items()},
        question_ids=list(ref.ids),
        question_passage=list(ref.question_passage),
        titles=list(ref.titles),
        meta={"files": {lang: p.path for lang, p in parsed.items()}},
    ).validate()


def load_xquad(spec, langs: list[str], data_dir: Path) -> ParallelDataset:
    """Registry loader for XQuAD (`xquad/xquad.<lang>.json`)."""
    return load_parallel_squad(spec.name, {lang: spec.path(data_dir, lang) for lang in langs})
