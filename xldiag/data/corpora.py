"""Aligned corpora: text to *estimate* a language correction on, never to evaluate on.

An `AlignedCorpus` holds, per target language, line-aligned English and target texts (line i of
one side translates line i of the other). A correction reads monolingual texts per language
(`texts(lang)`: the target side, or for English the English sides of every pair) and, where it
needs them, parallel pairs (`pairs(lang)`).

Registered corpora (the layout is in the data folder's README):

- ``ntrex``    NTREX-128: newstest2019 English and its human translations, 1,997 lines, every
               file line-parallel; news, so disjoint from XQuAD, MLQA and Belebele. The default.
- ``tatoeba``  LASER's Tatoeba test pairs: 1,000 pairs per language (th: 548); each language has
               its own English side.
- ``mlqa-r``   MLQA-R training triples reduced to their (English passage, target passage) pairs:
               comparable paragraphs, not translations.
- a path       a parallel JSONL dataset (docs/DATA_FORMATS.md): its passages, aligned by index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from xldiag import config
from xldiag.data.dataset import DatasetError
from xldiag.data.files import cached_by_file, open_text
from xldiag.data.jsonl import load_jsonl_dataset
from xldiag.data.triples import load_triples
from xldiag.vocab import PIVOT


@dataclass(frozen=True)
class AlignedCorpus:
    """Per target language: (English lines, target lines), aligned line by line."""

    name: str
    sides: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]

    @property
    def langs(self) -> list[str]:
        """English first, then the target languages."""
        return [PIVOT, *self.sides]

    def texts(self, lang: str) -> list[str]:
        """Distinct monolingual texts of `lang`, in first-seen order (English: every pair's English side)."""
        if lang == PIVOT:
            lines = [line for english, _ in self.sides.values() for line in english]
        elif lang in self.sides:
            lines = list(self.sides[lang][1])
        else:
            raise DatasetError(f"Corpus {self.name!r} has no {lang!r} text (it has {', '.join(self.langs)}).")
        return list(dict.fromkeys(lines))

    def pairs(self, lang: str) -> tuple[list[str], list[str]]:
        """(English lines, `lang` lines), aligned: line i of one translates line i of the other."""
        if lang not in self.sides:
            raise DatasetError(f"Corpus {self.name!r} has no English–{lang} pairs (it has {', '.join(self.sides)}).")
        english, target = self.sides[lang]
        return list(english), list(target)

    def limited(self, limit: int | None) -> "AlignedCorpus":
        """The first `limit` pairs of each language."""
        if limit is None:
            return self
        return AlignedCorpus(self.name, {lang: (e[:limit], t[:limit]) for lang, (e, t) in self.sides.items()})


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    languages: tuple[str, ...]  # target languages (English is always there)
    description: str
    loader: Callable[["CorpusSpec", list[str], Path], AlignedCorpus]
    codes: dict[str, str]  # our language code -> the corpus's file code


NTREX_CODES = {"ar": "arb", "de": "deu", "el": "ell", "es": "spa", "hi": "hin", "ro": "ron", "ru": "rus",
               "th": "tha", "tr": "tur", "vi": "vie", "zh": "zho-CN"}
TATOEBA_CODES = {"ar": "ara", "de": "deu", "el": "ell", "es": "spa", "hi": "hin", "ro": "ron", "ru": "rus",
                 "th": "tha", "tr": "tur", "vi": "vie", "zh": "cmn"}


@cached_by_file
def read_lines(path: Path) -> tuple[str, ...]:
    """A line-per-text file (trailing newline and carriage returns dropped; empty lines kept, so
    alignment by line number holds)."""
    with open_text(path) as f:
        return tuple(line.rstrip("\r\n") for line in f)


def _aligned(name: str, english: Path, target: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    e, t = read_lines(english), read_lines(target)
    if len(e) != len(t):
        raise DatasetError(f"{name}: {english} has {len(e)} lines but {target} has {len(t)}; "
                           "aligned files must have one line per text.")
    keep = [i for i in range(len(e)) if e[i].strip() and t[i].strip()]  # a pair needs both sides
    return tuple(e[i] for i in keep), tuple(t[i] for i in keep)


def _load_ntrex(spec: CorpusSpec, langs: list[str], root: Path) -> AlignedCorpus:
    folder = root / "ntrex" / "NTREX-128"
    english = folder / "newstest2019-src.eng.txt"
    return AlignedCorpus(spec.name, {lang: _aligned(spec.name, english, folder / f"newstest2019-ref.{spec.codes[lang]}.txt")
                                     for lang in langs})


def _load_tatoeba(spec: CorpusSpec, langs: list[str], root: Path) -> AlignedCorpus:
    folder = root / "tatoeba" / "v1"
    sides = {}
    for lang in langs:
        code = spec.codes[lang]
        sides[lang] = _aligned(spec.name, folder / f"tatoeba.{code}-eng.eng", folder / f"tatoeba.{code}-eng.{code}")
    return AlignedCorpus(spec.name, sides)


def _load_mlqa_pairs(spec: CorpusSpec, langs: list[str], root: Path) -> AlignedCorpus:
    triples = load_triples("mlqa-r", langs, data_dir=root, strict=True)
    sides = {}
    for lang in langs:
        pairs = dict.fromkeys((t.passage_en, t.passage_tgt) for t in triples if t.lang == lang)
        sides[lang] = (tuple(e for e, _ in pairs), tuple(t for _, t in pairs))
    return AlignedCorpus(spec.name, sides)


CORPORA: dict[str, CorpusSpec] = {spec.name: spec for spec in [
    CorpusSpec("ntrex", tuple(NTREX_CODES), "NTREX-128 news (newstest2019 + human translations), 1,997 "
               "line-parallel sentences; disjoint from XQuAD, MLQA, Belebele", _load_ntrex, NTREX_CODES),
    CorpusSpec("tatoeba", tuple(TATOEBA_CODES), "Tatoeba (LASER test pairs), 1,000 short sentence pairs "
               "per language (th: 548)", _load_tatoeba, TATOEBA_CODES),
    CorpusSpec("mlqa-r", ("ar", "de", "es", "hi", "vi", "zh"), "MLQA-R passage pairs (comparable, not "
               "translated)", _load_mlqa_pairs, {}),
]}
DEFAULT_CORPUS = "ntrex"


def load_corpus(name_or_path: str | os.PathLike, langs, data_dir: str | os.PathLike | None = None,
                limit: int | None = None) -> AlignedCorpus:
    """The aligned corpus `name_or_path` (a registered name or a parallel JSONL file) for the
    target languages `langs` (English is always included; asking for it alone is fine)."""
    targets = [lang for lang in dict.fromkeys(langs) if lang != PIVOT]
    name = os.fspath(name_or_path)
    if name in CORPORA:
        spec = CORPORA[name]
        missing = [lang for lang in targets if lang not in spec.languages]
        if missing:
            raise DatasetError(f"Corpus {name!r} has no {', '.join(missing)} (it has {', '.join(spec.languages)}); "
                               "pick another with --fix-data or a JSONL file of your own.")
        return spec.loader(spec, targets, config.data_dir(data_dir)).limited(limit)
    path = Path(name).expanduser()
    if not path.is_file():
        raise DatasetError(f"Unknown corpus {name!r}: use one of {', '.join(CORPORA)} or the path of a parallel "
                           "JSONL file (docs/DATA_FORMATS.md).")
    return _jsonl_corpus(path, targets).limited(limit)


def _jsonl_corpus(path: Path, targets: list[str]) -> AlignedCorpus:
    data = load_jsonl_dataset(path, [PIVOT, *targets])
    return AlignedCorpus(path.name, {lang: (tuple(data.passages[PIVOT]), tuple(data.passages[lang]))
                                     for lang in targets})
