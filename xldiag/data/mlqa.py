"""MLQA-R (MLQA dev with sentence breaks, from the LAReQA repository): `mlqa-r/<lang>.json`.

MLQA is not a fully parallel corpus: a question id is shared by the languages in which that
question exists, and each language's context is a *comparable* Wikipedia paragraph (built around
a parallel answer sentence), not a translation. We therefore pair by question id:

- as a ParallelDataset: keep the question ids present in every requested language, ordered as in
  `en.json` (the pivot; ids absent from English follow in the first language's order). Passage p
  is the tuple of contexts (one per language) of its questions; identical tuples are merged.
  An English context can therefore appear in several passages when it is paired with different
  target contexts (de: 465 passages for 447 distinct English contexts).
- as training triples: for each target-language question, (English question, English context,
  target context) by id. Every non-English id in the shipped files also appears in `en.json`.
"""

from __future__ import annotations

from pathlib import Path

from xldiag.data.dataset import DataFormatError, DatasetError, ParallelDataset
from xldiag.data.xquad import SquadFile, parse_squad
from xldiag.vocab import PIVOT



def _index(parsed: SquadFile) -> dict[str, int]:
    """question id → position; duplicate ids in one file are a format error."""
    index: dict[str, int] = {}
    for i, qid in enumerate(parsed.ids):
        if qid in index:
            raise DataFormatError(f"{parsed.path}: duplicate question id {qid!r}")
        index[qid] = i
    return index


def _pivot(spec, data_dir: Path) -> SquadFile:
    path = spec.path(data_dir, PIVOT)
    if not path.exists():
        raise FileNotFoundError(
            f"{spec.name}: the English file {path} is needed to pair questions by id; "
            f"fetch it with `python -m xldiag data fetch {spec.name} --langs en`"
        )
    return parse_squad(path)


def load_mlqa(spec, langs: list[str], data_dir: Path) -> ParallelDataset:
    """Registry loader: questions shared by all `langs`, passages paired by question id."""
    pivot = _pivot(spec, data_dir)
    parsed = {lang: parse_squad(spec.path(data_dir, lang)) for lang in langs}
    index = {lang: _index(p) for lang, p in parsed.items()}
    first = parsed[langs[0]]
    in_pivot = set(pivot.ids)
    order = list(pivot.ids) + [qid for qid in first.ids if qid not in in_pivot]
    kept = [qid for qid in order if all(qid in index[lang] for lang in langs)]
    if not kept:
        raise DatasetError(f"{spec.name}: no question id is shared by all of {', '.join(langs)}")

    passage_of: dict[tuple[str, ...], int] = {}
    question_passage, titles = [], []
    for qid in kept:
        key = tuple(parsed[l].contexts[parsed[l].question_passage[index[l][qid]]] for l in langs)
        if key not in passage_of:
            passage_of[key] = len(passage_of)
            titles.append(first.titles[first.question_passage[index[langs[0]][qid]]])
        question_passage.append(passage_of[key])
    keys = list(passage_of)  # dicts keep insertion order = passage index
    return ParallelDataset(
        name=spec.name,
        langs=list(langs),
        passages={lang: [key[i] for key in keys] for i, lang in enumerate(langs)},
        questions={lang: [parsed[lang].questions[index[lang][qid]] for qid in kept] for lang in langs},
        question_ids=kept,
        question_passage=question_passage,
        titles=titles,
        meta={"files": {lang: p.path for lang, p in parsed.items()}, "pairing": "question id"},
    ).validate()


def mlqa_triple_rows(spec, lang: str, data_dir: Path):
    """Yield (question id, English question, English context, target context, problem) for `lang`.

    `problem` is None for a good row, else why the row cannot be used (its id is not in en.json).
    """
    pivot = _pivot(spec, data_dir)
    en_index = _index(pivot)
    target = parse_squad(spec.path(data_dir, lang))
    for i, qid in enumerate(target.ids):
        context = target.contexts[target.question_passage[i]]
        j = en_index.get(qid)
        if j is None:
            yield qid, None, None, context, f"id {qid!r} is not in {pivot.path}"
            continue
        yield qid, pivot.questions[j], pivot.contexts[pivot.question_passage[j]], context, None

