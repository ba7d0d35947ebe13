"""Training triples (English query, English passage, target-language passage).

Sources: a registered dataset with triples (MLQA-R) or the JSONL format of docs/DATA_FORMATS.md:
one object per line with `query_en`, `passage_en`, `passage_tgt`, `lang` and optional `id`.

Order: triples are interleaved round-robin across languages in the order of `langs`
(lang1[0], lang2[0], ..., lang1[1], lang2[1], ...; a language that runs out drops out), each
language in file order. `limit=N` keeps the first N of that order, so a small limit still covers
every language evenly.

Nothing is dropped without a count: the returned list carries a `TriplesReport` (`.report`) with
the rows read, loaded, skipped for other languages, cut by the limit, and every bad row with its
line; bad rows also raise a `TriplesWarning`, or with `strict=True` a `TriplesFormatError`.
"""

from __future__ import annotations

import itertools
import json
import os
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xldiag import config
from xldiag.atomic import atomic_path
from xldiag.data.dataset import DataFormatError, DatasetError
from xldiag.data.files import cached_by_file, iter_jsonl
from xldiag.data.registry import resolve, triple_sources

FIELDS = ("query_en", "passage_en", "passage_tgt", "lang")


@dataclass(frozen=True)
class Triple:
    """One training example; (lang, id) is unique within a source."""

    id: str
    lang: str
    query_en: str
    passage_en: str
    passage_tgt: str


@dataclass(frozen=True)
class BadRow:
    line: int | None  # None when the source is not line-based (MLQA-R: the id says where)
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line is not None else self.reason


@dataclass
class TriplesReport:
    """What happened to every row of a triples source."""

    source: str
    n_rows: int = 0  # rows read (non-blank lines, or source questions)
    n_other_lang: int = 0  # good rows in languages not asked for
    n_over_limit: int = 0  # good rows cut by `limit`
    n_loaded: int = 0
    by_lang: dict[str, int] = field(default_factory=dict)
    bad: list[BadRow] = field(default_factory=list)

    @property
    def n_bad(self) -> int:
        return len(self.bad)

    def summary(self, show: int = 5) -> str:
        """One paragraph: counts, then the first `show` bad rows."""
        text = (
            f"{self.source}: {self.n_loaded} triples loaded from {self.n_rows} rows "
            f"({self.n_bad} bad rows skipped, {self.n_other_lang} in other languages, {self.n_over_limit} over the limit)"
        )
        return text + self.bad_lines(show)

    def bad_lines(self, show: int = 5) -> str:
        """"; line 2: reason; line 7: reason; ... N more" for the first `show` bad rows ("" if none)."""
        if not self.bad:
            return ""
        text = "; " + "; ".join(str(b) for b in self.bad[:show])
        if self.n_bad > show:
            text += f"; ... {self.n_bad - show} more"
        return text


class TriplesWarning(UserWarning):
    """Some rows of a triples source were bad and skipped (see the report)."""


class TriplesFormatError(DataFormatError):
    """strict mode: the first bad row, as `file:line: reason`."""


class Triples(list):
    """A plain list of Triple that also carries the `report` of how it was loaded."""

    def __init__(self, items=(), report: TriplesReport | None = None):
        super().__init__(items)
        self.report = report


@dataclass(frozen=True)
class ParsedTriples:
    path: str
    triples: tuple[Triple, ...]
    bad: tuple[BadRow, ...]
    n_rows: int


def _check_row(row) -> str | None:
    """Why a parsed JSONL row is not a usable triple, or None."""
    if not isinstance(row, dict):
        return f"expected a JSON object, got {type(row).__name__}"
    for name in FIELDS:
        value = row.get(name)
        if value is None:
            return f"missing field {name!r}"
        if not isinstance(value, str) or not value.strip():
            return f"field {name!r} must be a non-empty string"
    if any(c.isspace() for c in row["lang"]):
        return f"field 'lang' must be a language code, got {row['lang']!r}"
    if "id" in row and not isinstance(row["id"], (str, int)):
        return "field 'id' must be a string or an integer"
    return None


@cached_by_file
def parse_triples_jsonl(path: Path) -> ParsedTriples:
    """Read a triples JSONL file; bad rows are collected (with line numbers), not raised."""
    triples, bad, seen, n_rows = [], [], {}, 0
    for line, row, error in iter_jsonl(path):
        n_rows += 1
        error = error or _check_row(row)
        if error is None:
            key = (row["lang"], str(row.get("id", f"line{line}")))
            if key in seen:
                error = f"duplicate id {key[1]!r} for lang {key[0]!r} (first on line {seen[key]})"
            seen.setdefault(key, line)
        if error:
            bad.append(BadRow(line, error))
            continue
        triples.append(Triple(key[1], row["lang"], row["query_en"], row["passage_en"], row["passage_tgt"]))
    return ParsedTriples(str(path), tuple(triples), tuple(bad), n_rows)


def interleave(groups: list[list[Triple]]) -> list[Triple]:
    """Round-robin over the groups (a group that runs out drops out)."""
    rows = itertools.zip_longest(*groups)
    return [t for row in rows for t in row if t is not None]


def _raise_first(source: str, bad: list[BadRow]) -> None:
    first = bad[0]
    where = f"{source}:{first.line}" if first.line is not None else source
    raise TriplesFormatError(f"{where}: {first.reason}")


def _jsonl_triples(path: Path, langs: list[str] | None, strict: bool):
    parsed = parse_triples_jsonl(path)
    report = TriplesReport(source=str(path), n_rows=parsed.n_rows, bad=list(parsed.bad))
    if parsed.n_rows == 0:
        raise DatasetError(f"{path} is empty (no non-blank lines); a triples file has one JSON object per line "
                           "with query_en, passage_en, passage_tgt and lang (docs/DATA_FORMATS.md)")
    if strict and report.bad:
        _raise_first(report.source, report.bad)
    found = list(dict.fromkeys(t.lang for t in parsed.triples))
    langs = list(langs) if langs else found
    unknown = [lang for lang in langs if lang not in found]
    if unknown or not langs:
        raise DatasetError(
            f"{path}: no triples for {', '.join(unknown) or 'any language'}; languages in the file: "
            f"{', '.join(found) or 'none'} ({report.n_rows} rows, {report.n_bad} bad rows skipped{report.bad_lines()})"
        )
    groups = {lang: [] for lang in langs}
    for triple in parsed.triples:
        if triple.lang in groups:
            groups[triple.lang].append(triple)
        else:
            report.n_other_lang += 1
    return [groups[lang] for lang in langs], report


def _dataset_triples(spec, langs: list[str] | None, data_dir, strict: bool):
    available = list(spec.triple_languages)
    langs = list(langs) if langs else available
    unknown = [lang for lang in langs if lang not in available]
    if unknown:
        raise DatasetError(
            f"{spec.name} has no triples for {', '.join(unknown)}; available: {', '.join(available)}"
        )
    root = config.data_dir(data_dir)
    spec.require_files(root, langs)
    report = TriplesReport(source=f"{spec.name} ({root})")
    groups = []
    for lang in langs:
        group = []
        for qid, query_en, passage_en, passage_tgt, problem in spec.triples(spec, lang, root):
            report.n_rows += 1
            if problem:
                report.bad.append(BadRow(None, f"{lang}: {problem}"))
                if strict:
                    _raise_first(report.source, report.bad)
                continue
            group.append(Triple(qid, lang, query_en, passage_en, passage_tgt))
        groups.append(group)
    return groups, report


def load_triples(
    name_or_path: str | os.PathLike,
    langs: list[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    strict: bool = False,
) -> Triples:
    """Training triples from a dataset name (`mlqa-r`) or a JSONL path (`jsonl:` prefix optional).

    `langs`: target languages (None: all available). Returns a `Triples` list, interleaved
    round-robin across `langs`, with `.report`; bad rows warn (TriplesWarning) or, with
    `strict=True`, raise TriplesFormatError naming the first bad row's file and line.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of triples, got {limit}")
    spec, path = resolve(name_or_path)
    if spec is not None:
        if spec.triples is None:
            raise DatasetError(
                f"{spec.name} has no training triples; sources with triples: "
                f"{', '.join(triple_sources())}, or a JSONL file (docs/DATA_FORMATS.md)"
            )
        groups, report = _dataset_triples(spec, langs, data_dir, strict)
    else:
        groups, report = _jsonl_triples(path, langs, strict)
    triples = interleave(groups)
    if limit is not None:
        report.n_over_limit = max(0, len(triples) - limit)
        triples = triples[:limit]
    report.n_loaded = len(triples)
    report.by_lang = dict(Counter(t.lang for t in triples))
    if report.bad:
        warnings.warn(TriplesWarning(report.summary()), stacklevel=2)
    return Triples(triples, report)


def write_triples_jsonl(triples, path: str | os.PathLike) -> Path:
    """Write triples in the JSONL format (atomically); `load_triples(path)` reads them back."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for triple in triples:
            out.write(json.dumps(asdict(triple), ensure_ascii=False) + "\n")
    return path
