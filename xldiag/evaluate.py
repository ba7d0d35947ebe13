"""The evaluation pipeline: dataset → pools → cached embeddings → exact gold ranks → metrics → run folder.

Every unique text is embedded once per model and role (the Encoder's disk cache); English texts
are shared by every language pair and scenario. A run folder holds plain files anyone can open
with pandas: config.json, summary.csv, per_query.parquet and table.md; then views/, what the
dashboard's pages read (xldiag.views), written from the same cached vectors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from xldiag import __version__, metrics
from xldiag.atomic import atomic_path, write_json, write_text
from xldiag.pools import Pool, build_pool, doc_id
from xldiag.ranking import rank_gold
from xldiag.tables import table1_markdown
from xldiag.vocab import (COMPLETE_KS, CONFIG_FILE, PER_QUERY_FILE, PIVOT, POOLS, SCENARIOS, SUMMARY_FILE, TABLE_FILE,
                          TIE_RULES)
from xldiag.truncation import Truncation

RUN_FORMAT_VERSION = 2  # 2: ranks by text identity, several tie rules per run, per-query n_docs

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class EvalSpec:
    """What to evaluate: a model on a dataset's language sets, scenarios and pool rules."""

    model: str = "default"
    dataset: str = "xquad"
    language_sets: tuple[tuple[str, ...], ...] = (("en", "zh"),)
    scenarios: tuple[str, ...] = SCENARIOS
    construction: str = "unique"
    ties: tuple[str, ...] = ("optimistic",)  # one block of summary rows per rule; the first is primary
    limit: int | None = None
    data_dir: str | None = None
    trust_remote_code: bool = False
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        bad = [s for s in self.scenarios if s not in SCENARIOS]
        if bad:
            raise ValueError(f"Unknown scenario(s) {bad}; choose from {list(SCENARIOS)}.")
        if self.construction not in POOLS:
            raise ValueError(f"Unknown pool construction {self.construction!r}; choose from {list(POOLS)}.")
        bad = [t for t in self.ties if t not in TIE_RULES]
        if bad or not self.ties or len(set(self.ties)) != len(self.ties):
            raise ValueError(f"Bad tie rule(s) {list(self.ties)}; choose one or more of {list(TIE_RULES)}.")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be a positive number of questions, got {self.limit}.")
        for langs in self.language_sets:
            if len(set(langs)) != len(langs) or len(langs) < 2:
                raise ValueError(f"A pool needs two or more distinct languages, got {'+'.join(langs)}.")


def parse_ties(ties: str | Iterable[str]) -> tuple[str, ...]:
    """`"optimistic"` or `"optimistic,pessimistic"` (or a list) → a tuple of tie rules."""
    items = ties.split(",") if isinstance(ties, str) else list(ties)
    return tuple(t.strip() for t in items if t.strip())


def parse_language_sets(spec: str | Iterable[str], pivot: str = PIVOT) -> tuple[tuple[str, ...], ...]:
    """`"ar,zh"` → ((en, ar), (en, zh)); an item with `+` is an explicit pool: `de+zh`, `en+de+zh`."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    sets = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        langs = tuple(item.split("+")) if "+" in item else (pivot, item)
        sets.append(langs)
    if not sets:
        raise ValueError("No languages given: pass e.g. --langs ar,zh or --langs de+zh.")
    return tuple(sets)


def evaluate(
    model: str = "default",
    dataset: str = "xquad",
    langs: str | Iterable[str] = "zh",
    scenarios: Iterable[str] = SCENARIOS,
    construction: str = "unique",
    ties: str | Iterable[str] = "optimistic",
    limit: int | None = None,
    out: str | Path | None = None,
    data_dir: str | None = None,
    progress: Progress | None = None,
    encoder=None,
    trust_remote_code: bool = False,
    views: bool = True,
) -> pd.DataFrame:
    """Evaluate `model` on `dataset` and (if `out` is given) write the run folder; returns the summary.

    `ties`: one rule or several (`"optimistic,pessimistic"`: both bounds, as `--paper` reports);
    ranks are computed once and every rule is derived from the same counts. With `out`, the run
    folder is followed by its views (`views=False`: none; `python -m xldiag views DIR` later)."""
    spec = EvalSpec(
        model=str(model),
        dataset=str(dataset),
        language_sets=parse_language_sets(langs),
        scenarios=tuple(scenarios),
        construction=construction,
        ties=parse_ties(ties),
        limit=limit,
        data_dir=str(data_dir) if data_dir else None,
        trust_remote_code=trust_remote_code,
    )
    return run_evaluation(spec, out=out, progress=progress, encoder=encoder, views=views)


def run_evaluation(spec: EvalSpec, out=None, progress: Progress | None = None, encoder=None, views: bool = True,
                   views_progress: Progress | None = None) -> pd.DataFrame:
    """Evaluate `spec`; with `out`, write the run folder and then (`views`) the views the dashboard
    reads (xldiag.views; `views_progress` reports that part, default `progress`)."""
    spec.validate()
    progress = progress or (lambda message, fraction: None)
    started = time.time()
    from xldiag.data import load_dataset
    from xldiag.embeddings import Encoder

    encoder = encoder or Encoder(spec.model, trust_remote_code=spec.trust_remote_code)

    summary_rows, query_frames = [], []
    truncation = Truncation()
    n_sets = len(spec.language_sets)
    for s, langs in enumerate(spec.language_sets):
        # One dataset per language set: sets like MLQA-R are parallel only pairwise, and the
        # embedding cache makes re-encoding shared (English) texts free.
        data = load_dataset(spec.dataset, list(langs), data_dir=spec.data_dir, limit=spec.limit)
        set_progress = _scaled(progress, s / n_sets, 1 / n_sets)
        embeddings = _embed_dataset(encoder, data, langs, set_progress)
        cuts = truncation.measure(encoder, data, langs)
        jobs = [(scenario, q_lang) for scenario in spec.scenarios for q_lang in langs]
        for j, (scenario, query_lang) in enumerate(jobs):
            set_progress(f"Ranking {'+'.join(langs)} {scenario} ({query_lang} queries)", 0.8 + 0.2 * j / len(jobs))
            pool = build_pool(data, scenario, query_lang, list(langs), construction=spec.construction)
            rows, per_query = _evaluate_pool(pool, embeddings, spec, langs)
            summary_rows += [{**row, **cuts.summary_columns(pool)} for row in rows]
            query_frames.append(per_query)
    summary = pd.DataFrame(summary_rows)
    per_query = pd.concat(query_frames, ignore_index=True)
    if out is not None:
        write_run(Path(out), spec, summary, per_query, fingerprint=encoder.fingerprint, seconds=time.time() - started,
                  truncation=truncation.record())
    progress("Done", 1.0)
    if out is not None and views:
        # The run is complete and readable; the pages' views follow (tables and PCA, then UMAP),
        # from the vectors this encoder just cached (xldiag.views).
        from xldiag.views import write_views

        write_views(out, encoder, progress=views_progress or progress, data_dir=spec.data_dir)
    return summary


def _scaled(progress: Progress, start: float, width: float) -> Progress:
    """A progress callback for one part of the work, mapped onto [start, start + width]."""
    return lambda message, fraction: progress(message, start + width * fraction)


def _counted(progress: Progress, message: str) -> Callable[[int, int], None]:
    """An Encoder progress callback `(done, total)` reported as `message` at fraction done / total."""
    return lambda done, total: progress(message, done / max(total, 1))


def _embed_dataset(encoder, data, langs, progress: Progress) -> dict:
    """Embed every passage and question of every language once; returns {(role, lang): matrix}.

    A text the model turns into NaN/inf stops the evaluation with one line naming the model, the
    language, the role and the text's id (question id, or passage id `"{lang}:p{index}"`)."""
    from xldiag.embeddings import NonFiniteEmbeddingError

    embeddings = {}
    tasks = [(role, lang) for lang in langs for role in ("passage", "query")]
    for i, (role, lang) in enumerate(tasks):
        texts = data.passages[lang] if role == "passage" else data.questions[lang]
        message = f"Embedding {len(texts)} {lang} {role}s"
        part = _scaled(progress, 0.8 * i / len(tasks), 0.8 / len(tasks))
        part(message, 0.0)
        try:  # progress per stored shard too: a long encoding can be watched, and stopped between shards
            embeddings[(role, lang)] = encoder.encode(texts, role, progress=_counted(part, message))
        except NonFiniteEmbeddingError as err:
            ids = [data.question_ids[p] if role == "query" else doc_id(lang, "p", p) for p in err.positions]
            more = f" and {len(ids) - 1} more ({', '.join(map(str, ids[1:4]))}{', …' if len(ids) > 4 else ''})" \
                if len(ids) > 1 else ""
            raise ValueError(
                f"Model {err.model!r} returned a non-finite (NaN/inf) or zero embedding for the {lang} {role} "
                f"{ids[0]}{more}; nothing was ranked, and no such vector was cached. Check the model's weights "
                "and dtype (half precision can overflow; float32 is safe)."
            ) from err
    return embeddings


def pool_embeddings(pool: Pool, embeddings: dict) -> tuple[np.ndarray, np.ndarray]:
    """(query matrix, one row per distinct pool text) from the per-language matrices; pass the
    second with `doc_text=pool.text_id` to `rank_gold`."""
    queries = embeddings[("query", pool.query_lang)][pool.query_index]
    first = pool.text_first_doc
    texts = np.empty((len(first), queries.shape[1]), dtype=np.float32)
    for lang in pool.langs:
        mask = pool.doc_lang[first] == lang
        texts[mask] = embeddings[("passage", lang)][pool.doc_passage[first[mask]]]
    return queries, texts


def _evaluate_pool(pool: Pool, embeddings: dict, spec: EvalSpec, langs: tuple[str, ...]):
    queries, texts = pool_embeddings(pool, embeddings)
    result = rank_gold(
        queries, texts, pool.gold, excluded=pool.excluded, doc_text=pool.text_id,
        doc_lang_codes=pool.doc_lang_codes, n_langs=len(pool.langs), ties=spec.ties[0],
        related=pool.duplicates,  # a gold's own copies (per-question pools) are not distractors
    )
    pair = "+".join(langs)
    rows = [_summary_row(pool, result.ranks_under(rule), result, spec, pair, rule) for rule in spec.ties]
    return rows, _per_query_frame(pool, result, spec, pair)


def _summary_row(pool: Pool, ranks: np.ndarray, result, spec: EvalSpec, pair: str, ties: str) -> dict:
    """One summary row. Averages skip queries without a gold (NaN). |D| is exact per query (Multi-1
    excludes each query's own gold and its copies, which vary in per-question pools); the summary's
    `n_docs` is its mean, used only by the table form of Max@R_norm."""
    max_ranks = metrics.max_rank(ranks)
    docs_per_query = pool.docs_per_query
    n_docs = float(docs_per_query.mean()) if len(docs_per_query) else float("nan")
    n_rel = pool.n_rel
    row = {
        "dataset": spec.dataset, "pair": pair, "query_lang": pool.query_lang, "scenario": pool.scenario,
        "pool": spec.construction, "ties": ties, "model": spec.model,
        "n_queries": len(pool.query_ids), "n_docs": n_docs, "n_rel": n_rel,
    }
    for k in COMPLETE_KS:
        row[f"complete@{k}"] = metrics.complete_at_k(ranks, k)
    row["max_r"] = metrics.max_r(ranks)
    row["max_r_norm_table"] = metrics.max_r_norm_table(row["max_r"], n_docs, n_rel)
    row["max_r_norm_per_query"] = metrics.max_r_norm_per_query(max_ranks, docs_per_query, n_rel)
    row["ndcg@1"] = metrics.ndcg_at_k(ranks, 1)
    row["ndcg@10"] = metrics.ndcg_at_k(ranks, 10)
    row["mrr"] = metrics.mrr(ranks)
    row["recall@10"] = metrics.recall_at_k(ranks, 10)
    row.update(_preference_columns(pool, ranks, result))
    n_tied = np.where(pool.gold >= 0, result.n_tied, 0).sum(axis=1).astype(float)
    row["mean_tied"] = metrics.mean(n_tied)
    return row


def _preference_columns(pool: Pool, ranks: np.ndarray, result) -> dict:
    """Language preference, only where a pool mixes languages and keeps both golds (Multi)."""
    empty = {
        "english_inclination_rate": np.nan, "own_language_inclination_rate": np.nan,
        "mean_english_distractors": np.nan, "mean_own_language_distractors": np.nan, "mean_rank_gap": np.nan,
    }
    if pool.scenario != "multi" or len(pool.langs) < 2:
        return empty
    return metrics.language_preference(
        ranks, result.above_by_lang, pool.gold_langs, pool.langs, pool.query_lang, english=PIVOT,
    )


def _per_query_frame(pool: Pool, result, spec: EvalSpec, pair: str) -> pd.DataFrame:
    """One row per query; list columns hold one entry per gold (padding dropped). `gold_ranks`
    follow the primary tie rule; the optimistic and pessimistic bounds are kept beside them."""
    doc_ids = np.asarray(pool.doc_ids, dtype=object)
    valid = pool.gold >= 0
    n = len(pool.query_ids)
    top_ok = result.top_idx >= 0
    gold_ids = doc_ids[np.maximum(pool.gold, 0)]
    top_ids = doc_ids[np.maximum(result.top_idx, 0)]
    columns = {
        "dataset": [spec.dataset] * n, "pair": [pair] * n, "scenario": [pool.scenario] * n,
        "query_lang": [pool.query_lang] * n, "pool": [spec.construction] * n, "ties": [spec.ties[0]] * n,
        "qid": list(pool.query_ids),
        "question_index": np.asarray(pool.query_index, dtype=np.int64),
        "passage_index": pool.doc_passage[pool.gold[:, 0]].astype(np.int64),
        "query_text": list(pool.query_texts),
        "n_docs": pool.docs_per_query.astype(np.int64),
        "gold_doc_ids": _ragged(gold_ids, valid),
        "gold_langs": [pool.gold_langs] * n,
        "gold_ranks": _ragged(result.ranks.astype(float), valid),
        "gold_ranks_optimistic": _ragged(result.ranks_under("optimistic"), valid),
        "gold_ranks_pessimistic": _ragged(result.ranks_under("pessimistic"), valid),
        "n_tied": _ragged(result.n_tied.astype(int), valid),
        "max_r": metrics.max_rank(result.ranks),
        "pool_langs": [list(pool.langs)] * n,
        "above_by_lang": _ragged(result.above_by_lang.astype(int), valid),
        "top_doc_ids": _ragged(top_ids, top_ok),
        "top_scores": _ragged(result.top_scores.astype(float), top_ok),
    }
    return pd.DataFrame(columns)


def _ragged(values: np.ndarray, keep: np.ndarray) -> list[list]:
    """Row-wise `values[i][keep[i]]` as plain Python lists (for Parquet list columns)."""
    if keep.all():
        return values.tolist()
    return [row[mask].tolist() for row, mask in zip(values, keep)]


def write_run(out: Path, spec: EvalSpec, summary: pd.DataFrame, per_query: pd.DataFrame,
              fingerprint: str, seconds: float, truncation: dict | None = None) -> None:
    """Write the run folder; each file atomically, config.json last (it marks a complete run)."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / SUMMARY_FILE) as tmp:
        summary.to_csv(tmp, index=False)
    with atomic_path(out / PER_QUERY_FILE) as tmp:
        per_query.to_parquet(tmp, index=False)
    write_text(out / TABLE_FILE, table1_markdown(summary))
    write_json(out / CONFIG_FILE, {
        "kind": "evaluation",
        "format_version": RUN_FORMAT_VERSION,
        "xldiag_version": __version__,
        "model": spec.model,
        "fingerprint": fingerprint,
        "dataset": spec.dataset,
        "language_sets": ["+".join(langs) for langs in spec.language_sets],
        "scenarios": list(spec.scenarios),
        "pool": spec.construction,
        "ties": list(spec.ties),
        "limit": spec.limit,
        "truncation": truncation,  # texts cut at the model's max length (xldiag.truncation)
        "seconds": round(seconds, 2),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
