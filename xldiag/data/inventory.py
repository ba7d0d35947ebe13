"""What the data folder holds: one row per (dataset, supported language) — `data list`."""

from __future__ import annotations

import os

from xldiag import config
from xldiag.data.registry import DATASETS
from xldiag.data.triples import load_triples


def inventory(data_dir: str | os.PathLike | None = None) -> list[dict]:
    """One row per (dataset, supported language): file, present, passages, questions, triples, error.

    Counts are for the language's file on its own (MLQA-R: all questions of that file).
    """
    root = config.data_dir(data_dir)
    rows = []
    for spec in DATASETS.values():
        for lang in spec.languages:
            row = {"dataset": spec.name, "lang": lang, "file": spec.relpath(lang),
                   "present": spec.path(root, lang).is_file(), "passages": None,
                   "questions": None, "triples": None, "error": None}
            if row["present"]:
                try:
                    ds = spec.loader(spec, [lang], root)
                    row["passages"], row["questions"] = ds.n_passages, ds.n_questions
                    if spec.triples is not None and lang in spec.triple_languages:
                        row["triples"] = len(load_triples(spec.name, [lang], data_dir=root))
                except (OSError, ValueError) as err:
                    row["error"] = str(err)
            rows.append(row)
    return rows
