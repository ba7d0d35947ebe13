"""Belebele: FLORES passages with multiple-choice questions, read from either of two layouts.

- official (facebook/belebele on the hub, `data/<code>.jsonl`): one line per question with `link`,
  `question_number`, `flores_passage`, `question`, `mc_answer1..4`, `correct_answer_num`, `dialect`;
  passages are obtained by grouping lines by `link` (first-appearance order).
- regrouped (the copy in the shared data folder): one line per passage,
  `{"text", "items": [{"question", "answers", "multiple"}], "metadata": {"extra": {"url"}}}`;
  the question number is the item's position (1-based).

Question ids are `<link>#<question_number>` in both layouts, so the two agree and files of
different layouts can be mixed across languages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xldiag.data.dataset import DataFormatError, ParallelDataset, ParallelismError, check_same_questions
from xldiag.data.files import cached_by_file, first_jsonl_object, read_jsonl

# ISO 639-1 → FLORES-200 code used in Belebele file names.
FLORES_CODES = {
    "ar": "arb_Arab", "de": "deu_Latn", "el": "ell_Grek", "en": "eng_Latn", "es": "spa_Latn",
    "fr": "fra_Latn", "hi": "hin_Deva", "it": "ita_Latn", "ja": "jpn_Jpan", "ko": "kor_Hang",
    "nl": "nld_Latn", "pl": "pol_Latn", "pt": "por_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl",
    "th": "tha_Thai", "tr": "tur_Latn", "vi": "vie_Latn", "zh": "zho_Hans",
}
ISO_CODES = {code: iso for iso, code in FLORES_CODES.items()}


@dataclass(frozen=True)
class BelebeleFile:
    """One parsed Belebele file, normalised to passages + questions."""

    path: str
    layout: str  # "official" or "regrouped"
    links: tuple[str, ...]  # per passage
    passages: tuple[str, ...]
    questions: tuple[str, ...]
    ids: tuple[str, ...]
    question_passage: tuple[int, ...]


def detect_layout(path: Path) -> str:
    """'official' or 'regrouped', from the first line's fields."""
    first = first_jsonl_object(path)
    if "flores_passage" in first and "link" in first:
        return "official"
    if "text" in first and "items" in first:
        return "regrouped"
    raise DataFormatError(
        f"{path}:1: not a Belebele file: expected fields link/question_number/flores_passage/question "
        f"(official layout) or text/items/metadata (regrouped layout), found {sorted(first)}"
    )


@cached_by_file
def parse_belebele(path: Path) -> BelebeleFile:
    """Parse a Belebele JSONL file of either layout."""
    layout = detect_layout(path)
    rows = read_jsonl(path)
    parse = _parse_official if layout == "official" else _parse_regrouped
    return parse(path, rows)


def _field(row, key: str, path: Path, line: int, kind=str):
    value = row.get(key) if isinstance(row, dict) else None
    if not isinstance(value, kind):
        raise DataFormatError(f"{path}:{line}: missing or non-{kind.__name__} field {key!r}")
    return value


def _parse_regrouped(path: Path, rows) -> BelebeleFile:
    links, passages, questions, ids, qp = [], [], [], [], []
    for line, row in rows:
        metadata = _field(row, "metadata", path, line, dict)
        link = (metadata.get("extra") or {}).get("url")
        if not isinstance(link, str):
            raise DataFormatError(f"{path}:{line}: missing metadata.extra.url (the passage link)")
        links.append(link)
        passages.append(_field(row, "text", path, line))
        for number, item in enumerate(_field(row, "items", path, line, list), start=1):
            questions.append(_field(item, "question", path, line))
            ids.append(f"{link}#{number}")
            qp.append(len(passages) - 1)
    return BelebeleFile(str(path), "regrouped", tuple(links), tuple(passages), tuple(questions), tuple(ids), tuple(qp))


def _parse_official(path: Path, rows) -> BelebeleFile:
    passage_of: dict[str, int] = {}
    links, passages, entries = [], [], {}
    for line, row in rows:
        link = _field(row, "link", path, line)
        passage = _field(row, "flores_passage", path, line)
        try:
            number = int(row.get("question_number"))
        except (TypeError, ValueError):
            raise DataFormatError(f"{path}:{line}: missing or non-integer 'question_number'") from None
        if link not in passage_of:
            passage_of[link] = len(passages)
            links.append(link)
            passages.append(passage)
        elif passages[passage_of[link]] != passage:
            raise DataFormatError(f"{path}:{line}: link {link} has a different flores_passage than before")
        key = (passage_of[link], number)
        if key in entries:
            raise DataFormatError(f"{path}:{line}: duplicate question {link}#{number}")
        entries[key] = _field(row, "question", path, line)
    # Passage-major, then question_number: the same order as the regrouped layout.
    keys = sorted(entries)
    return BelebeleFile(
        str(path), "official", tuple(links), tuple(passages),
        tuple(entries[k] for k in keys),
        tuple(f"{links[p]}#{n}" for p, n in keys),
        tuple(p for p, _ in keys),
    )


def load_belebele(spec, langs: list[str], data_dir: Path) -> ParallelDataset:
    """Registry loader: `belebele/<flores code>.jsonl` per language, checked to be parallel."""
    parsed = {lang: parse_belebele(spec.path(data_dir, lang)) for lang in langs}
    ref_lang, ref = langs[0], parsed[langs[0]]
    for lang in langs[1:]:
        other = parsed[lang]
        check_same_questions(
            spec.name, (ref_lang, ref.path), (lang, other.path), ref.ids, other.ids,
            ref.question_passage, other.question_passage,
        )
        if other.links != ref.links:
            first = next((b for a, b in zip(ref.links, other.links) if a != b), None)
            raise ParallelismError(
                f"{spec.name}: passages differ between {ref.path} and {other.path}; first "
                f"offending link {first!r} ({len(ref.links)} vs {len(other.links)} passages)"
            )
    return ParallelDataset(
        name=spec.name,
        langs=list(langs),
        passages={lang: list(p.passages) for lang, p in parsed.items()},
        questions={lang: list(p.questions) for lang, p in parsed.items()},
        question_ids=list(ref.ids),
        question_passage=list(ref.question_passage),
        titles=list(ref.links),
        meta={"files": {lang: p.path for lang, p in parsed.items()},
              "layouts": {lang: p.layout for lang, p in parsed.items()}},
    ).validate()
