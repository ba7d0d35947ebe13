"""An evaluation's rankings as TREC files, so that trec_eval, ir_measures and ranx re-score our pools.

run.trec — per pool and query, the top `depth` docs and every gold outside them, one line each:

    <topic> Q0 <doc id> <rank> <score> xldiag

- topic = `{pair}/{scenario}/{query_lang}/{qid}` (unique across the pools of a run; `topic_id`);
- doc id = the pool's doc id (`en:p12`, per-question pools `en:q40`);
- score = the float32 score in its shortest round-trip decimal form: equal scores print equal and
  the order of different float32 scores is kept when a reader parses them as float64;
- rank = 1, 2, ... by score, equal scores by doc index (the order of `GoldRanks.top_idx`).
  trec_eval (and ir_measures / ranx through it) ignore this column and break equal scores by doc
  id themselves, so a gold tied with another doc may be placed differently from our tie rule.

qrels.trec — every gold: `<topic> 0 <doc id> 1`.

What re-scoring gives: every measure that looks at the top `depth` only (NDCG@k, P@k, R@k, RR@k,
AP@k for k <= depth) equals ours exactly (untied scores). Uncut RR and AP see a gold ranked below
the depth at its place in the file (right after the top `depth`) instead of its true rank, so they
agree with ours on every query whose golds all lie within the depth. The file holds each query's
golds either way, so its qrels and run always cover the same topics.

Written with pyarrow's CSV writer (C++) on a background thread, pool by pool while the evaluation
ranks the next ones (`TrecFiles`): the full XQuAD table (10 languages) at depth 100 is about 9.6
million lines, 700 MB, and writing it on the evaluation's own thread cost about as much as the rest
of a warm evaluation (bench/measures_bench.py; `--trec-depth 0` skips the files).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xldiag.atomic import BackgroundFiles

RUN_TAG = "xldiag"
DEFAULT_DEPTH = 100


def topic_id(pair: str, scenario: str, query_lang: str, qid: str) -> str:
    """A query's topic id in the TREC files, unique across the pools of one run."""
    return f"{pair}/{scenario}/{query_lang}/{qid}"


def run_entries(top_idx, top_scores, gold, gold_scores) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The lines of one pool as flat arrays (query row, doc, rank, score): per query its top list
    and the golds not in it, ordered by score (highest first), equal scores by doc index.

    `top_idx` is already in that order (`GoldRanks.top_idx`, -1 padding last) and holds the first
    docs of the whole order, so a gold outside it comes after it; when the list is not full it
    holds every doc, golds included. Only each row's few missing golds need sorting."""
    top_idx, gold = np.asarray(top_idx), np.asarray(gold)
    gold_scores = np.asarray(gold_scores, dtype=np.float32)
    in_top = ((gold[:, :, None] == top_idx[:, None, :]) & (gold[:, :, None] >= 0)).any(axis=2)
    missing = np.where(in_top, -1, gold)
    key = np.where(missing >= 0, -gold_scores.astype(np.float64), np.inf)  # absent entries last
    order = np.lexsort((np.where(missing >= 0, missing, np.iinfo(np.int64).max), key), axis=1)
    docs = np.concatenate([top_idx, np.take_along_axis(missing, order, 1)], axis=1)
    scores = np.concatenate([np.asarray(top_scores, dtype=np.float32), np.take_along_axis(gold_scores, order, 1)],
                            axis=1)
    valid = docs >= 0
    ranks = np.cumsum(valid, axis=1)
    rows = np.broadcast_to(np.arange(len(docs))[:, None], docs.shape)
    return rows[valid], docs[valid], ranks[valid], scores[valid]


class TrecFiles:
    """Writes one evaluation's run.trec and qrels.trec while it goes on.

    `add` hands each ranked pool to a background thread (`atomic.BackgroundFiles`) that builds its
    lines and appends them to both files (pyarrow's C++ formatting and the disk writes overlap the
    ranking of the next pools); `finish` waits for it and renames both files into place (each
    atomically), `abort` drops the partial files. A failure in the thread is raised by the next
    `add` or by `finish`."""

    def __init__(self, folder: Path, run_name: str, qrels_name: str, depth: int = DEFAULT_DEPTH):
        self.depth = depth
        self._targets = (Path(folder) / run_name, Path(folder) / qrels_name)
        self._files = BackgroundFiles("trec")
        self._writers: list = []

    def add(self, pool, result, pair: str) -> None:
        """One pool's lines: `result` a GoldRanks ranked with top_k >= depth."""
        if result.top_idx.shape[1] < self.depth:
            raise ValueError(f"run.trec at depth {self.depth} needs rank_gold(top_k >= {self.depth}).")
        self._files.submit(self._write_pool, pool, result, pair)

    def finish(self) -> None:
        """Wait for the lines, then put both files in place."""
        self._files.finish()

    def abort(self) -> None:
        """Stop and remove the partial files (nothing else of the run is touched)."""
        self._files.abort()

    def _write_pool(self, pool, result, pair: str) -> None:
        import pyarrow as pa
        import pyarrow.csv as csv

        topics = pa.array([topic_id(pair, pool.scenario, pool.query_lang, q) for q in pool.query_ids])
        doc_ids = pa.array(list(pool.doc_ids))
        rows, docs, ranks, scores = run_entries(result.top_idx[:, :self.depth], result.top_scores[:, :self.depth],
                                                pool.gold, result.gold_scores)
        q, g = np.nonzero(pool.gold >= 0)
        tables = (_table(pa, topics, rows, "Q0", doc_ids, docs, ranks.astype(np.int32), scores, RUN_TAG),
                  _table(pa, topics, q, "0", doc_ids, pool.gold[q, g], np.ones(len(q), np.int32)))
        if not self._writers:  # space-separated, no header, no quoting
            options = csv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none")
            self._writers = [self._files.open(target, lambda tmp, schema=table.schema:
                                              csv.CSVWriter(str(tmp), schema, write_options=options))
                             for target, table in zip(self._targets, tables)]
        for writer, table in zip(self._writers, tables):
            writer.write_table(table)


def _table(pa, topics, rows, constant: str, doc_ids, docs, *rest):
    """A pyarrow table of lines: topic, a constant, doc id, then `rest` (arrays, or a trailing
    constant string). Topic and doc ids are dictionary columns: one string per pool, not per line."""
    n = len(rows)
    columns = [pa.DictionaryArray.from_arrays(pa.array(np.asarray(rows, dtype=np.int32)), topics),
               _constant(pa, constant, n),
               pa.DictionaryArray.from_arrays(pa.array(np.asarray(docs, dtype=np.int32)), doc_ids)]
    columns += [_constant(pa, item, n) if isinstance(item, str) else pa.array(item) for item in rest]
    return pa.table(columns, names=[f"c{i}" for i in range(len(columns))])


def _constant(pa, text: str, n: int):
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int8)), pa.array([text]))
