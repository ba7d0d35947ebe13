"""A user's own parallel data as JSONL (documented in docs/DATA_FORMATS.md).

One JSON object per line, one passage per line:

    {"id": "p1", "title": "optional",
     "passages": {"en": "...", "de": "..."},
     "questions": {"en": "...", "de": "..."}}                      # one question, id = item id
    {"id": "p2", "passages": {...},
     "questions": [{"id": "q7", "text": {"en": "...", "de": "..."}}, ...]}   # several questions
    {"id": "p3", "passages": {...}}                                 # no question: a distractor

Lines whose passages are identical in every language are the same passage (so a file with one
line per question that repeats the passage works too). Question order is file order; passage
order is order of first appearance.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from xldiag.atomic import atomic_path
from xldiag.data.dataset import DataFormatError, DatasetError, ParallelDataset, ParallelismError
from xldiag.data.files import cached_by_file, read_jsonl

Texts = tuple[tuple[str, str], ...]  # ((lang, text), ...): hashable, shareable from the cache


@dataclass(frozen=True)
class JsonlItem:
    line: int
    id: str
    title: str | None
    passages: Texts
    questions: tuple[tuple[str, Texts], ...]  # (question id, texts)


def _texts(value, what: str, path: Path, line: int) -> Texts:
    if not isinstance(value, dict) or not value:
        raise DataFormatError(f"{path}:{line}: {what} must be a non-empty object {{lang: text}}")
    for lang, text in value.items():
        if not isinstance(text, str) or not text.strip():
            raise DataFormatError(f"{path}:{line}: {what}[{lang!r}] must be a non-empty string")
    return tuple(value.items())


def _questions(row: dict, item_id: str, path: Path, line: int):
    raw = row.get("questions")
    if raw is None or raw == []:
        return ()
    if isinstance(raw, dict):
        return ((item_id, _texts(raw, "questions", path, line)),)
    if not isinstance(raw, list):
        raise DataFormatError(f"{path}:{line}: 'questions' must be an object or a list of objects")
    out = []
    for k, question in enumerate(raw, start=1):
        if not isinstance(question, dict):
            raise DataFormatError(f"{path}:{line}: questions[{k - 1}] must be an object with 'text'")
        qid = str(question.get("id", f"{item_id}#{k}"))
        out.append((qid, _texts(question.get("text"), f"questions[{k - 1}].text", path, line)))
    return tuple(out)


@cached_by_file
def parse_jsonl_dataset(path: Path) -> tuple[JsonlItem, ...]:
    """Parse and check the structure of every line (not yet the languages)."""
    items, seen = [], {}
    for line, row in read_jsonl(path):
        if not isinstance(row, dict):
            raise DataFormatError(f"{path}:{line}: expected a JSON object, got {type(row).__name__}")
        item_id = str(row.get("id", f"line{line}"))
        title = row.get("title")
        item = JsonlItem(
            line, item_id, None if title is None else str(title),
            _texts(row.get("passages"), "passages", path, line), _questions(row, item_id, path, line),
        )
        for qid, _ in item.questions:
            if qid in seen:
                raise DataFormatError(f"{path}:{line}: question id {qid!r} already used on line {seen[qid]}")
            seen[qid] = line
        items.append(item)
    if not items:
        raise DataFormatError(f"{path}: no items")
    return tuple(items)


def jsonl_languages(path: str | os.PathLike) -> list[str]:
    """Languages present in every line's passages (in the first line's order)."""
    items = parse_jsonl_dataset(path)
    common = set.intersection(*(set(dict(item.passages)) for item in items))
    return [lang for lang, _ in items[0].passages if lang in common]


def _missing(texts: Texts, langs: list[str]) -> str | None:
    have = dict(texts)
    return next((lang for lang in langs if lang not in have), None)


def load_jsonl_dataset(path: str | os.PathLike, langs: list[str] | None = None) -> ParallelDataset:
    """Load the JSONL parallel format; every line must have every requested language."""
    path = Path(path)
    items = parse_jsonl_dataset(path)
    available = jsonl_languages(path)
    langs = list(langs) if langs else available
    for item in items:
        lang = _missing(item.passages, langs) or next(
            (m for _, texts in item.questions if (m := _missing(texts, langs))), None
        )
        if lang:
            raise ParallelismError(
                f"{path}:{item.line}: item {item.id!r} has no {lang!r} text "
                f"(languages in every line: {', '.join(available) or 'none'})"
            )
    passage_of: dict[tuple[str, ...], int] = {}
    titles, qids, qp = [], [], []
    questions = {lang: [] for lang in langs}
    for item in items:
        texts = dict(item.passages)
        key = tuple(texts[lang] for lang in langs)
        if key not in passage_of:
            passage_of[key] = len(passage_of)
            titles.append(item.title)
        for qid, qtexts in item.questions:
            qids.append(qid)
            qp.append(passage_of[key])
            for lang in langs:
                questions[lang].append(dict(qtexts)[lang])
    if not qids:
        raise DatasetError(f"{path}: no questions (every line is a distractor passage)")
    keys = list(passage_of)
    return ParallelDataset(
        name=str(path),
        langs=langs,
        passages={lang: [key[i] for key in keys] for i, lang in enumerate(langs)},
        questions=questions,
        question_ids=qids,
        question_passage=qp,
        titles=[t or "" for t in titles] if any(t is not None for t in titles) else None,
        meta={"files": {lang: str(path) for lang in langs}, "format": "jsonl"},
    ).validate()


def write_jsonl_dataset(dataset: ParallelDataset, path: str | os.PathLike) -> Path:
    """Write `dataset` in the JSONL format (one line per passage, unused passages included)."""
    by_passage: dict[int, list[int]] = {p: [] for p in range(dataset.n_passages)}
    for q, p in enumerate(dataset.question_passage):
        by_passage[int(p)].append(q)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for p, qs in by_passage.items():
            row = {"id": f"p{p}"}
            if dataset.titles is not None:
                row["title"] = dataset.titles[p]
            row["passages"] = {lang: dataset.passages[lang][p] for lang in dataset.langs}
            row["questions"] = [
                {"id": dataset.question_ids[q], "text": {l: dataset.questions[l][q] for l in dataset.langs}}
                for q in qs
            ]
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
