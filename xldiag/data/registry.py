"""Datasets described declaratively (mteb style): where the files are, where they come from,
which loader turns them into a ParallelDataset. `load_dataset` is the one entry point.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from xldiag import config
from xldiag.data.belebele import FLORES_CODES, load_belebele
from xldiag.data.dataset import DatasetError, ParallelDataset
from xldiag.data.jsonl import load_jsonl_dataset
from xldiag.data.mlqa import load_mlqa, mlqa_triple_rows
from xldiag.data.xquad import load_xquad

JSONL_PREFIX = "jsonl:"


@dataclass(frozen=True)
class DatasetSpec:
    """How to find, fetch and load one dataset.

    `files` is a path pattern relative to the data folder; `{lang}` is the ISO 639-1 code and
    `{code}` the file's own language code (`lang_codes`, e.g. en → eng_Latn). `fetch_base` +
    `/` + `fetch_name` (same placeholders) is the public download URL of one language's file.
    """

    name: str
    languages: tuple[str, ...]
    splits: tuple[str, ...]
    description: str
    files: str
    loader: Callable[..., ParallelDataset]
    fetch_base: str | None = None
    fetch_name: str | None = None
    lang_codes: dict[str, str] = field(default_factory=dict)
    license: str = ""
    # Training triples: rows(spec, lang, data_dir) → (id, query_en, passage_en, passage_tgt, problem).
    triples: Callable | None = None
    triple_languages: tuple[str, ...] = ()

    def code(self, lang: str) -> str:
        return self.lang_codes.get(lang, lang)

    def relpath(self, lang: str) -> str:
        return self.files.format(lang=lang, code=self.code(lang))

    def path(self, data_dir: Path, lang: str) -> Path:
        return Path(data_dir) / self.relpath(lang)

    def url(self, lang: str, base_url: str | None = None) -> str:
        """Download URL of `lang`'s file; `base_url` replaces the public base (mirrors, tests)."""
        base = base_url or self.fetch_base
        if not base or not self.fetch_name:
            raise DatasetError(f"{self.name} has no download source")
        return base.rstrip("/") + "/" + self.fetch_name.format(lang=lang, code=self.code(lang))

    def present(self, data_dir: Path) -> list[str]:
        """Languages whose file exists under `data_dir`."""
        return [lang for lang in self.languages if self.path(data_dir, lang).is_file()]

    def require_files(self, data_dir: Path, langs: list[str]) -> None:
        """FileNotFoundError listing missing files and the command that fetches them."""
        missing = [lang for lang in langs if not self.path(data_dir, lang).is_file()]
        if missing:
            paths = ", ".join(str(self.path(data_dir, lang)) for lang in missing)
            raise FileNotFoundError(
                f"{self.name}: missing {paths}; fetch with `python -m xldiag data fetch {self.name} "
                f"--langs {' '.join(missing)} --data-dir {data_dir}`"
            )


XQUAD_LANGS = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
MLQA_LANGS = ("en", "ar", "de", "es", "hi", "vi", "zh")
MLQA_COMMIT = "354d67d1cd066854cdfbf5ad0e6105528976141d"  # deleted upstream afterwards

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            name="xquad",
            languages=XQUAD_LANGS,
            splits=("test",),
            description="XQuAD: 240 SQuAD v1.1 dev paragraphs and 1190 questions, "
            "professionally translated into 11 languages (fully parallel).",
            files="xquad/xquad.{lang}.json",
            loader=load_xquad,
            fetch_base="https://raw.githubusercontent.com/google-deepmind/xquad/master",
            fetch_name="xquad.{lang}.json",
            license="CC BY-SA 4.0",
        ),
        DatasetSpec(
            name="belebele",
            languages=tuple(FLORES_CODES),
            splits=("test",),
            description="Belebele: 488 FLORES-200 passages with 900 multiple-choice questions, "
            "fully parallel; official (one line per question) or regrouped (one line per passage) JSONL.",
            files="belebele/{code}.jsonl",
            loader=load_belebele,
            fetch_base="https://huggingface.co/datasets/facebook/belebele/resolve/main/data",
            fetch_name="{code}.jsonl",
            lang_codes=FLORES_CODES,
            license="CC BY-SA 4.0",
        ),
        DatasetSpec(
            name="mlqa-r",
            languages=MLQA_LANGS,
            splits=("dev",),
            description="MLQA-R (LAReQA): MLQA dev with sentence breaks; comparable, not translated, "
            "contexts paired by question id. Also the source of English→target training triples.",
            files="mlqa-r/{lang}.json",
            loader=load_mlqa,
            fetch_base=f"https://raw.githubusercontent.com/google-research-datasets/lareqa/{MLQA_COMMIT}/mlqa-r",
            fetch_name="{lang}.json",
            license="CC BY-NC 4.0 (non-commercial); MLQA underneath CC BY-SA 3.0",
            triples=mlqa_triple_rows,
            triple_languages=tuple(lang for lang in MLQA_LANGS if lang != "en"),
        ),
    ]
}


def triple_sources() -> list[str]:
    """Names of registered datasets that provide training triples."""
    return [name for name, spec in DATASETS.items() if spec.triples is not None]


def resolve(name_or_path: str | os.PathLike) -> tuple[DatasetSpec | None, Path | None]:
    """(spec, None) for a registered name, (None, path) for a JSONL file; DatasetError otherwise.

    A registered name wins over a same-named file; `jsonl:PATH` forces a path.
    """
    text = os.fspath(name_or_path)
    if text.startswith(JSONL_PREFIX):
        return None, _existing(Path(text[len(JSONL_PREFIX):]).expanduser())
    if text in DATASETS:
        return DATASETS[text], None
    path = Path(text).expanduser()
    if path.suffix in (".jsonl", ".gz") or os.sep in text or path.exists():
        return None, _existing(path)
    raise DatasetError(
        f"Unknown dataset {text!r}; registered: {', '.join(DATASETS)}, or a JSONL file path "
        "(see docs/DATA_FORMATS.md)"
    )


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"Data file {path} does not exist.")
    return path


def normalize_langs(spec: DatasetSpec, langs, data_dir: Path) -> list[str]:
    """ISO codes, de-duplicated in order; file codes (eng_Latn) are accepted and mapped back.

    `None` means every supported language whose file is present.
    """
    if langs is None:
        present = spec.present(data_dir)
        if not present:
            spec.require_files(data_dir, list(spec.languages))
        return present
    if isinstance(langs, str):
        langs = [part for part in langs.replace(",", " ").split() if part]
    back = {code: lang for lang, code in spec.lang_codes.items()}
    out = list(dict.fromkeys(back.get(lang, lang) for lang in langs))
    unknown = [lang for lang in out if lang not in spec.languages]
    if unknown or not out:
        raise DatasetError(
            f"{spec.name} does not support {', '.join(unknown) or 'an empty language list'}; "
            f"supported: {', '.join(spec.languages)}"
        )
    return out


def load_dataset(
    name: str | os.PathLike,
    langs: list[str] | str | None = None,
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
) -> ParallelDataset:
    """Load a registered dataset (`xquad`, `belebele`, `mlqa-r`) or a JSONL file as a ParallelDataset.

    `langs`: ISO codes (None: all present); `data_dir`: `--data-dir`, else $XLDIAG_DATA_DIR
    (unused for a JSONL path); `limit`: keep the first N questions and only their passages.
    Parsed files are cached per process (keyed by path + mtime + size).
    """
    spec, path = resolve(name)
    if spec is None:
        return load_jsonl_dataset(path, langs=_as_list(langs)).subset(limit)
    root = config.data_dir(data_dir)
    langs = normalize_langs(spec, langs, root)
    spec.require_files(root, langs)
    return spec.loader(spec, langs, root).subset(limit)


def _as_list(langs) -> list[str] | None:
    if isinstance(langs, str):
        return [part for part in langs.replace(",", " ").split() if part]
    return list(langs) if langs else None
