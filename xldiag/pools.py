"""Retrieval pools: who is in the pool and who is gold, for one scenario and one language set.

Scenarios (queries are all questions of the dataset, in `query_lang`):

- ``multi``      pool = docs of every language in `langs`; gold = the parallel docs, one per language.
- ``multi-1``    pool as in ``multi``, but per query the query-language gold is excluded together
                 with its duplicates (same text, same language); gold = the other-language doc(s).
- ``mono-same``  pool = docs in the query language only; gold = the query-language doc.
- ``mono-cross`` pool = docs in the other language(s) only (classic CLIR); gold = those docs.

`langs` may hold English and a target language, two non-English languages, or N languages
(``multi`` over N languages: gold = all N parallel docs).

Constructions:

- ``unique``       each distinct passage text once per language; doc id ``"{lang}:p{passage}"``
                   (`doc_id` builds these ids, `parse_doc_id` reads them back).
                   Passages whose text repeats within a language are merged into the first one.
- ``per-question`` one doc per question per language (passages repeated); doc id ``"{lang}:q{question}"``.
                   The gold of question q is q's own docs; other docs with the same passage are
                   *duplicates*: not gold, not excluded, and they tie with the gold (ties are real).
                   They are listed in `Pool.duplicates` so that language-preference counts can
                   leave them out of the "unrelated" docs (pass them to `rank_gold(related=...)`).

Identity by content: a pool's docs are distinct texts with a multiplicity. `Pool.text_id` gives
each doc's distinct text (equal strings share one id, in any language); ranking scores each text
once per query (`rank_gold(doc_text=pool.text_id)`), so copies of a passage tie exactly by
construction. XQuAD en+zh: 2,380 per-question docs are 480 distinct texts, as in the unique pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xldiag.vocab import POOLS, SCENARIOS

# --- document ids --------------------------------------------------------------------------------

# The letter of a doc id after "{lang}:": which index follows, per pool construction.
DOC_KINDS = {"p": "passage", "q": "question"}  # unique pool: passage index; per-question: question index


def doc_id(lang: str, kind: str, index: int) -> str:
    """A pool document's id: `"{lang}:p{passage}"` (unique pool) or `"{lang}:q{question}"`
    (per-question pool), e.g. doc_id("zh", "p", 12) == "zh:p12"."""
    if kind not in DOC_KINDS:
        raise ValueError(f"Unknown document kind {kind!r}; choose one of {', '.join(DOC_KINDS)}.")
    return f"{lang}:{kind}{int(index)}"


def parse_doc_id(text: str) -> tuple[str, str, int]:
    """`"zh:p12"` → ("zh", "p", 12): the inverse of `doc_id`; ValueError naming the id otherwise."""
    lang, sep, rest = str(text).partition(":")
    if not (sep and lang and rest[:1] in DOC_KINDS and rest[1:].isdigit()):
        raise ValueError(f"{text!r} is not a document id (expected e.g. 'zh:p12' or 'zh:q40').")
    return lang, rest[0], int(rest[1:])


def doc_passage(text: str, question_passage) -> tuple[str, int]:
    """(language, passage index) of a document id; a per-question id `q{n}` points at question n's
    passage (`question_passage[n]`, the dataset's array)."""
    lang, kind, index = parse_doc_id(text)
    return lang, int(question_passage[index]) if kind == "q" else index



@dataclass
class Pool:
    """One scenario for one language set. Index arrays use -1 as padding."""

    scenario: str
    construction: str
    langs: list[str]  # the languages of the docs in this pool
    query_lang: str
    doc_ids: list[str]
    doc_lang: np.ndarray  # str, one per doc
    doc_passage: np.ndarray  # int, passage index of each doc
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    query_index: np.ndarray  # int, question index of each query
    gold: np.ndarray  # int (n_queries, n_gold); column order follows `langs`
    excluded: np.ndarray  # int (n_queries, n_excl); docs removed from this query's pool
    duplicates: np.ndarray | None = None  # int (n_queries, n_dup): same language and text as a gold, not gold
    text_id: np.ndarray | None = None  # int, per doc: its distinct text (first-appearance order)
    pair: list[str] = field(default_factory=list)  # the `langs` argument given to build_pool
    dataset: str = ""

    @property
    def n_docs(self) -> int:
        """|D|: docs in the pool (a query's own pool is smaller by its excluded docs, see `docs_per_query`)."""
        return len(self.doc_ids)

    @property
    def n_texts(self) -> int:
        """Distinct texts among the docs (what ranking scores per query)."""
        return int(self.text_id.max(initial=-1)) + 1

    @property
    def text_first_doc(self) -> np.ndarray:
        """For each distinct text, the first doc holding it (to look its embedding up)."""
        return np.unique(self.text_id, return_index=True)[1].astype(np.int64)

    @property
    def n_queries(self) -> int:
        return len(self.query_ids)

    @property
    def n_rel(self) -> int:
        """|R|: gold docs per query (the same for every query in every scenario)."""
        return int((self.gold >= 0).sum(axis=1).max(initial=0))

    @property
    def n_excluded(self) -> np.ndarray:
        """Excluded docs per query."""
        return (self.excluded >= 0).sum(axis=1)

    @property
    def docs_per_query(self) -> np.ndarray:
        """Pool size for each query (all docs minus that query's excluded docs)."""
        return len(self.doc_ids) - self.n_excluded

    @property
    def doc_lang_codes(self) -> np.ndarray:
        """Index of each doc's language in `langs` (the `doc_lang_codes` of `rank_gold`)."""
        return _codes(self.doc_lang, self.langs)

    @property
    def gold_langs(self) -> list[str]:
        """Language of each gold column (all queries share it)."""
        first = self.gold[0] if len(self.gold) else np.zeros(0, dtype=int)
        return [str(self.doc_lang[i]) for i in first if i >= 0]


def _codes(doc_lang: np.ndarray, langs: list[str]) -> np.ndarray:
    lookup = {lang: i for i, lang in enumerate(langs)}
    return np.array([lookup[lang] for lang in doc_lang], dtype=np.int64)


def build_pool(dataset, scenario: str, query_lang: str, langs, construction: str = "unique",
               doc_lists: dict | None = None) -> Pool:
    """The pool of `scenario` for queries in `query_lang`, over the language set `langs`.

    `dataset` is a `ParallelDataset` (or anything with `name, langs, passages, questions,
    question_ids, question_passage`). Raises ValueError for an unknown scenario or construction,
    a query language outside `langs`, repeated or missing languages, or too few languages.
    `doc_lists`: a dict the caller keeps for this one dataset; the doc lists of each (languages,
    construction) are built once into it and shared, read only, by the pools that have those docs
    (a language set's 8 pools have 3 distinct doc lists).
    """
    langs = _check_args(dataset, scenario, query_lang, langs, construction)
    pool_langs = _pool_langs(scenario, query_lang, langs)
    lists = {} if doc_lists is None else doc_lists
    key = (tuple(pool_langs), construction)
    if key not in lists:
        lists[key] = _docs(dataset, pool_langs, construction)
    docs = lists[key]
    n_q = len(dataset.question_ids)
    # gold_by_lang[lang][q]: the doc that is gold for question q in that language.
    gold_by_lang = {lang: docs["gold"][lang] for lang in pool_langs}
    gold_langs = [lang for lang in pool_langs if not (scenario == "multi-1" and lang == query_lang)]
    gold = np.stack([gold_by_lang[lang] for lang in gold_langs], axis=1).astype(np.int64)

    # Docs sharing a (language, text) group: duplicates of a gold, or what Multi-1 excludes.
    groups = docs["group"]  # doc -> index of its (lang, text) group
    members = _group_members(groups)
    excluded = np.full((n_q, 0), -1, dtype=np.int64)
    if scenario == "multi-1":
        own = gold_by_lang[query_lang]
        excluded = _pad([members[groups[d]] for d in own])
    duplicates = _duplicates(gold, groups, members)

    return Pool(
        scenario=scenario,
        construction=construction,
        langs=pool_langs,
        query_lang=query_lang,
        doc_ids=docs["ids"],
        doc_lang=docs["lang"],
        doc_passage=docs["passage"],
        doc_texts=docs["texts"],
        query_ids=[str(x) for x in dataset.question_ids],
        query_texts=list(dataset.questions[query_lang]),
        query_index=np.arange(n_q, dtype=np.int64),
        gold=gold,
        excluded=excluded,
        duplicates=duplicates,
        text_id=docs["text_id"],
        pair=list(langs),
        dataset=getattr(dataset, "name", ""),
    )


def _check_args(dataset, scenario, query_lang, langs, construction) -> list[str]:
    if scenario not in SCENARIOS:
        raise ValueError(f"Unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}.")
    if construction not in POOLS:
        raise ValueError(f"Unknown pool construction {construction!r}; choose one of {', '.join(POOLS)}.")
    if isinstance(langs, str):
        raise ValueError(f"langs must be a list of language codes, not the string {langs!r}.")
    langs = [str(lang) for lang in langs]
    if len(set(langs)) != len(langs):
        raise ValueError(f"langs has a repeated language: {langs}.")
    if query_lang not in langs:
        raise ValueError(f"query_lang {query_lang!r} is not one of the pool languages {langs}.")
    if scenario != "mono-same" and len(langs) < 2:
        raise ValueError(f"Scenario {scenario!r} needs at least two languages, got {langs}.")
    missing = [lang for lang in langs if lang not in dataset.passages or lang not in dataset.questions]
    if missing:
        raise ValueError(f"Dataset {getattr(dataset, 'name', '?')!r} has no {missing} (it has {list(dataset.langs)}).")
    return langs


def _pool_langs(scenario: str, query_lang: str, langs: list[str]) -> list[str]:
    if scenario == "mono-same":
        return [query_lang]
    if scenario == "mono-cross":
        return [lang for lang in langs if lang != query_lang]
    return list(langs)


def _docs(dataset, pool_langs: list[str], construction: str) -> dict:
    """Doc lists (ids, lang, passage, texts), the (lang, text) group of each doc, gold doc per question."""
    qp = np.asarray(dataset.question_passage, dtype=np.int64)
    out = {"ids": [], "lang": [], "passage": [], "texts": [], "group": [], "gold": {}}
    group_of: dict[tuple[str, str], int] = {}
    for lang in pool_langs:
        passages = list(dataset.passages[lang])
        first_doc = len(out["ids"])
        if construction == "unique":
            # One doc per distinct text; a repeated passage maps to the first doc with its text.
            doc_of_text: dict[str, int] = {}
            doc_of_passage = np.empty(len(passages), dtype=np.int64)
            for p, text in enumerate(passages):
                if text not in doc_of_text:
                    doc_of_text[text] = len(out["ids"])
                    _add_doc(out, group_of, doc_id(lang, "p", p), lang, p, text)
                doc_of_passage[p] = doc_of_text[text]
            out["gold"][lang] = doc_of_passage[qp]
        else:
            for q, p in enumerate(qp):
                _add_doc(out, group_of, doc_id(lang, "q", q), lang, int(p), passages[p])
            out["gold"][lang] = first_doc + np.arange(len(qp), dtype=np.int64)
    out["group"] = np.array(out["group"], dtype=np.int64)
    out["lang"] = _read_only(np.array(out["lang"], dtype=str))
    out["passage"] = _read_only(np.array(out["passage"], dtype=np.int64))
    out["text_id"] = _read_only(_text_ids(out["texts"]))
    return out


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)  # pools may share it (`build_pool(doc_lists=...)`)
    return array


def _text_ids(texts: list[str]) -> np.ndarray:
    """Each doc's distinct-text index, numbered by first appearance (identity of the string)."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(text, len(ids)) for text in texts], dtype=np.int64)


def _add_doc(out: dict, group_of: dict, ident: str, lang: str, passage: int, text: str) -> None:
    out["ids"].append(ident)
    out["lang"].append(lang)
    out["passage"].append(passage)
    out["texts"].append(text)
    out["group"].append(group_of.setdefault((lang, text), len(group_of)))


def _group_members(groups: np.ndarray) -> list[np.ndarray]:
    """For each group, its docs (ascending)."""
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(groups.max(initial=-1) + 2))
    return [order[bounds[g] : bounds[g + 1]] for g in range(len(bounds) - 1)]


def _duplicates(gold: np.ndarray, groups: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """For each query, the other docs in its golds' (language, text) groups (Q x n_dup, -1 pad)."""
    if all(len(m) == 1 for m in members):  # no repeated texts (the usual unique pool): nothing to do
        return np.full((len(gold), 0), -1, dtype=np.int64)
    # A doc is in exactly one group and each gold is in its own group, so removing the gold
    # itself from its group's members leaves exactly its duplicates.
    copies = [members[g][members[g] != d] for d, g in zip(range(len(groups)), groups)]
    return _pad([np.concatenate([copies[d] for d in row if d >= 0]) for row in gold])


def _pad(rows: list[np.ndarray]) -> np.ndarray:
    """Ragged int rows -> (n, max_len) with -1 padding."""
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), width), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out
