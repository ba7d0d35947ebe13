"""run.trec / qrels.trec: written as TREC says, and re-scored by independent libraries (ir_measures,
ranx) they give the summary's NDCG@10, MRR and mAP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xldiag import metrics
from xldiag.embeddings import Encoder
from xldiag.evaluate import evaluate
from xldiag.results.queries import gold_rank_matrix
from xldiag.trec import run_entries, topic_id

LIMIT = 120  # 17 XQuAD passages: Multi pools of 34 docs, Mono pools of 17


def test_run_entries_by_hand():
    # A top list is the head of the order "score descending, then doc index" (GoldRanks.top_idx).
    # Query 0: top 3 = docs 4, 2, 7; golds 2 (in the top list) and 9 (outside it, score 0.1).
    # Query 1: top list with a tie (docs 1 and 5 at 0.5: doc index order); golds 8 (0.1) and 6 (0.2,
    # tied with doc 3 of the list but after it by doc index), both outside: 6 before 8 by score.
    # Query 2: a gold in the list and -1 padding.
    top_idx = np.array([[4, 2, 7], [1, 5, 3], [0, 1, 2]])
    top_scores = np.array([[0.9, 0.8, 0.4], [0.5, 0.5, 0.2], [0.3, 0.2, 0.1]], dtype=np.float32)
    gold = np.array([[2, 9], [8, 6], [1, -1]])
    gold_scores = np.array([[0.8, 0.1], [0.1, 0.2], [0.2, np.nan]], dtype=np.float32)
    rows, docs, ranks, scores = run_entries(top_idx, top_scores, gold, gold_scores)
    assert rows.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2]
    assert docs.tolist() == [4, 2, 7, 9, 1, 5, 3, 6, 8, 0, 1, 2]
    assert ranks.tolist() == [1, 2, 3, 4, 1, 2, 3, 4, 5, 1, 2, 3]
    assert scores.tolist() == pytest.approx([0.9, 0.8, 0.4, 0.1, 0.5, 0.5, 0.2, 0.2, 0.1, 0.3, 0.2, 0.1])
    assert topic_id("en+zh", "multi", "zh", "56be") == "en+zh/multi/zh/56be"


@pytest.fixture(scope="module")
def runs(default_model_dir, tmp_path_factory):
    """The same evaluation twice (the second from the embedding cache): run.trec at depth 100 (more
    than any pool here: the files hold the whole ranking) and at depth 3."""
    encoder = Encoder("default", cache_root=tmp_path_factory.mktemp("emb"), show_progress=False)
    out = {}
    for depth in (100, 3):
        folder = tmp_path_factory.mktemp(f"depth{depth}")
        evaluate(model="default", dataset="xquad", langs="zh", scenarios=["multi", "multi-1", "mono-cross"],
                 limit=LIMIT, out=folder, encoder=encoder, trec_depth=depth, bootstrap=0)
        out[depth] = folder
    return out


def read_lines(path) -> list[list[str]]:
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()]


def test_files_follow_the_trec_formats(runs):
    folder = runs[100]
    run, qrels = read_lines(folder / "run.trec"), read_lines(folder / "qrels.trec")
    per_query = pd.read_parquet(folder / "per_query.parquet")
    assert all(len(line) == 6 and line[1] == "Q0" and line[5] == "xldiag" for line in run)
    assert all(len(line) == 4 and line[1] == "0" and line[3] == "1" for line in qrels)
    topics = {line[0] for line in run}
    assert topics == {line[0] for line in qrels} and len(topics) == len(per_query) == 6 * LIMIT
    first = per_query.iloc[0]
    assert topic_id(first.pair, first.scenario, first.query_lang, first.qid) in topics
    assert sorted(line[2] for line in qrels if line[0] == topic_id(first.pair, first.scenario, first.query_lang,
                                                                   first.qid)) == sorted(first.gold_doc_ids)
    # Per topic: ranks 1..n in file order, scores never increasing; the stored top 10 come first.
    lines = [line for line in run if line[0] == topic_id(first.pair, first.scenario, first.query_lang, first.qid)]
    assert [int(line[3]) for line in lines] == list(range(1, len(lines) + 1)) and len(lines) == 34
    scores = [float(line[4]) for line in lines]
    assert scores == sorted(scores, reverse=True)
    assert [line[2] for line in lines[:10]] == list(first.top_doc_ids)
    assert np.allclose(scores[:10], first.top_scores, atol=0)  # float32 values, written in full


def _by_row(values: dict) -> pd.DataFrame:
    """Per-topic values -> their mean per (pair, scenario, query_lang)."""
    frame = pd.DataFrame([(*topic.split("/")[:3], value) for topic, value in values.items()],
                         columns=["pair", "scenario", "query_lang", "value"])
    return frame.groupby(["pair", "scenario", "query_lang"])["value"].mean()


def test_ir_measures_rescores_the_summary_from_the_files(runs):
    import ir_measures
    from ir_measures import AP, RR, nDCG

    folder = runs[100]
    qrels = list(ir_measures.read_trec_qrels(str(folder / "qrels.trec")))
    run = list(ir_measures.read_trec_run(str(folder / "run.trec")))
    summary = pd.read_csv(folder / "summary.csv").set_index(["pair", "scenario", "query_lang"]).sort_index()
    assert (summary["mean_tied"] == 0).all()  # no equal scores: trec_eval's tie order cannot matter
    found = {m: {} for m in (nDCG @ 10, RR, AP)}
    for value in ir_measures.iter_calc(list(found), qrels, run):
        found[value.measure][value.query_id] = value.value
    for measure, column, scale in ((nDCG @ 10, "ndcg@10", 100), (RR, "mrr", 1), (AP, "map", 100)):
        got = scale * _by_row(found[measure]).sort_index()
        assert got.to_numpy() == pytest.approx(summary[column].to_numpy(), abs=1e-9), column


def test_ranx_reads_the_files_too(runs):
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    folder = runs[100]
    qrels, run = Qrels.from_file(str(folder / "qrels.trec"), kind="trec"), Run.from_file(str(folder / "run.trec"),
                                                                                          kind="trec")
    summary = pd.read_csv(folder / "summary.csv")
    weights = summary["n_queries"] / summary["n_queries"].sum()
    assert ranx_evaluate(qrels, run, "ndcg@10") == pytest.approx((summary["ndcg@10"] * weights).sum() / 100, abs=1e-6)


def test_a_shallow_run_file_still_gives_the_cut_measures(runs):
    import ir_measures
    from ir_measures import AP, RR, nDCG

    folder = runs[3]
    per_query = pd.read_parquet(folder / "per_query.parquet")
    run = list(ir_measures.read_trec_run(str(folder / "run.trec")))
    qrels = list(ir_measures.read_trec_qrels(str(folder / "qrels.trec")))
    assert len(run) < 6 * LIMIT * 5  # top 3 plus the golds outside them
    values = {(v.measure, v.query_id): v.value for v in ir_measures.iter_calc([nDCG @ 3, RR @ 3, AP @ 3, RR], qrels, run)}
    topics = [topic_id(p, s, q, i) for p, s, q, i in per_query[["pair", "scenario", "query_lang", "qid"]].to_numpy()]
    ranks = gold_rank_matrix(per_query["gold_ranks"])
    best = np.nanmin(ranks, axis=1)
    np.testing.assert_allclose([values[nDCG @ 3, t] for t in topics], metrics.ndcg_at_k(ranks, 3, per_query=True),
                               atol=1e-9)
    np.testing.assert_allclose([values[RR @ 3, t] for t in topics], np.where(best <= 3, 1 / best, 0.0), atol=1e-9)
    np.testing.assert_allclose([values[AP @ 3, t] for t in topics], metrics.average_precision(ranks, k=3, per_query=True),
                               atol=1e-9)
    # Uncut RR agrees wherever the best gold lies within the depth; below it, the file places the
    # gold right after the top 3, so RR there is at least the true 1 / rank.
    uncut = np.array([values[RR, t] for t in topics])
    assert (best > 3).any()
    np.testing.assert_allclose(uncut[best <= 3], 1 / best[best <= 3], atol=1e-9)
    assert (uncut[best > 3] >= 1 / best[best > 3]).all()


class _Pool:
    """The fields of a Pool that TrecFiles reads."""

    scenario, query_lang, query_ids, doc_ids = "multi", "zh", ["q0", "q1"], ["en:p0", "en:p1", "zh:p0", "zh:p1"]
    gold = np.array([[0, 2], [1, 3]])


class _Ranks:
    top_idx = np.array([[2, 0, 1, 3], [1, 3, 0, 2]])
    top_scores = np.array([[0.9, 0.8, 0.2, 0.1], [0.7, 0.6, 0.5, 0.4]], dtype=np.float32)
    gold_scores = np.array([[0.8, 0.9], [0.7, 0.6]], dtype=np.float32)


def test_trec_files_appear_only_when_finished(tmp_path):
    from xldiag.trec import TrecFiles

    files = TrecFiles(tmp_path, "run.trec", "qrels.trec", depth=2)
    files.add(_Pool(), _Ranks(), "en+zh")
    files.add(_Pool(), _Ranks(), "en+de")
    assert not (tmp_path / "run.trec").exists()  # written beside, renamed at the end
    files.finish()
    run = read_lines(tmp_path / "run.trec")
    assert [line[:4] for line in run[:2]] == [["en+zh/multi/zh/q0", "Q0", "zh:p0", "1"], ["en+zh/multi/zh/q0", "Q0",
                                                                                              "en:p0", "2"]]
    assert len(run) == 8 and run[-1][0] == "en+de/multi/zh/q1"
    assert len(read_lines(tmp_path / "qrels.trec")) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qrels.trec", "run.trec"]
    files.abort()  # after finish: nothing to undo
    assert (tmp_path / "run.trec").exists()


def test_an_aborted_evaluation_leaves_no_trec_file(tmp_path):
    from xldiag.trec import TrecFiles

    files = TrecFiles(tmp_path, "run.trec", "qrels.trec", depth=2)
    files.add(_Pool(), _Ranks(), "en+zh")
    files.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="already finished or aborted"):
        files.add(_Pool(), _Ranks(), "en+zh")


def test_a_failure_while_writing_is_raised_and_cleans_up(tmp_path):
    from xldiag.trec import TrecFiles

    class Broken(_Pool):
        gold = np.array([[0, 9], [1, 3]])  # doc 9 is not in the pool: the writing thread fails

    files = TrecFiles(tmp_path, "run.trec", "qrels.trec", depth=2)
    files.add(_Pool(), _Ranks(), "en+zh")
    files.add(Broken(), _Ranks(), "en+zh")
    with pytest.raises(Exception):
        files.finish()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_evaluation_keeps_no_partial_trec_file(default_model_dir, tmp_path, monkeypatch):
    import xldiag.evaluate as evaluate_module

    real = evaluate_module._add_consistency
    calls = []

    def fail_on_second_scenario(group, found):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("stop here")
        real(group, found)

    monkeypatch.setattr(evaluate_module, "_add_consistency", fail_on_second_scenario)
    encoder = Encoder("default", cache_root=tmp_path / "emb", show_progress=False)
    with pytest.raises(RuntimeError, match="stop here"):
        evaluate(model="default", dataset="xquad", langs="zh", scenarios=["multi", "mono-cross"], limit=20,
                 out=tmp_path / "run", encoder=encoder, trec_depth=5, bootstrap=0)
    left = [p.name for p in (tmp_path / "run").iterdir()] if (tmp_path / "run").exists() else []
    # nothing half-written: no temporary file, no per_query.parquet or TREC file of a failed run
    assert not [name for name in left if name.startswith(".") or name.endswith((".trec", ".parquet"))], left
