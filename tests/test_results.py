"""xldiag.results: reading eval run folders, version checks, paired comparisons and tests.

`make_eval` writes a small, hand-made evaluation run folder that follows the run-folder schemas
of docs/ARCHITECTURE.md exactly (test_viz and test_app reuse it)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xldiag import results

# Known per-query ranks for en+zh, 4 questions. multi: (en ref rank, zh ref rank, n_tied en, n_tied zh)
MULTI = {
    "en": [(1, 2, 0, 0), (1, 5, 0, 0), (2, 1, 0, 0), (1, 9, 1, 0)],
    "zh": [(2, 1, 0, 0), (4, 1, 0, 0), (1, 2, 0, 0), (3, 7, 0, 0)],
}
MONO_CROSS = {"en": [1, 2, 1, 3], "zh": [1, 1, 2, 4]}  # rank of the single other-language reference


def _above(q_lang, ranks, langs=("en", "zh")):
    """A consistent above_by_lang: unrelated docs above each gold, split by language.

    For English queries the unrelated docs above are English; for zh queries they are zh
    (an own-language preference for zh, English preference for en)."""
    out = []
    for g, r in enumerate(ranks):
        other_gold_above = 1 if ranks[1 - g] < r else 0
        n = int(r) - 1 - other_gold_above
        out.append([n, 0] if q_lang == "en" else [0, n])
    return out


def make_per_query(model_shift: int = 0, n_questions: int = 4) -> pd.DataFrame:
    rows = []
    for scenario in ("multi", "mono-cross"):
        for q_lang in ("en", "zh"):
            other = "zh" if q_lang == "en" else "en"
            for q in range(n_questions):
                if scenario == "multi":
                    r_en, r_zh, t_en, t_zh = MULTI[q_lang][q]
                    r_zh = r_zh + (model_shift if q == 3 else 0)
                    gold_ids, gold_langs = [f"en:p{q}", f"zh:p{q}"], ["en", "zh"]
                    ranks, tied = [float(r_en), float(r_zh)], [t_en, t_zh]
                    pool_langs = ["en", "zh"]
                    above = _above(q_lang, ranks)
                else:
                    r = MONO_CROSS[q_lang][q]
                    gold_ids, gold_langs, ranks, tied = [f"{other}:p{q}"], [other], [float(r)], [0]
                    pool_langs = [other]
                    above = [[r - 1]]
                # top-3 list: gold docs at their ranks, unrelated docs elsewhere
                top_ids = []
                for pos in range(1, 4):
                    hit = [d for d, rr in zip(gold_ids, ranks) if rr == pos]
                    if hit:
                        top_ids.append(hit[0])
                    else:
                        lang = q_lang if (scenario == "multi") else other
                        top_ids.append(f"{lang}:p{10 + pos}")
                rows.append({
                    "dataset": "xquad", "pair": "en+zh", "scenario": scenario, "query_lang": q_lang,
                    "pool": "unique", "ties": "optimistic", "qid": f"q{q}", "question_index": q,
                    "passage_index": q, "query_text": f"question {q} in {q_lang}",
                    "n_docs": 30 if scenario == "multi" else 15,
                    "gold_doc_ids": gold_ids, "gold_langs": gold_langs, "gold_ranks": ranks,
                    "gold_ranks_optimistic": ranks, "gold_ranks_pessimistic": [r + t for r, t in zip(ranks, tied)],
                    "n_tied": tied,
                    "max_r": float(max(ranks)), "pool_langs": pool_langs, "above_by_lang": above,
                    "top_doc_ids": top_ids, "top_scores": [0.9, 0.8, 0.7],
                })
    return pd.DataFrame(rows)


def make_summary(pq: pd.DataFrame, model: str = "default") -> pd.DataFrame:
    rows = []
    for (pair, q_lang, scen), g in pq.groupby(["pair", "query_lang", "scenario"], sort=False):
        max_r = g["max_r"].to_numpy()
        n_rel = max(len(x) for x in g["gold_ranks"])
        n_docs = 30.0 if scen == "multi" else 15.0
        row = {"dataset": "xquad", "pair": pair, "query_lang": q_lang, "scenario": scen, "pool": "unique",
               "ties": "optimistic", "model": model, "n_queries": len(g), "n_docs": n_docs, "n_rel": n_rel}
        for k in (1, 5, 10, 20, 100):
            row[f"complete@{k}"] = 100.0 * float(np.mean(max_r <= k))
        row["max_r"] = float(max_r.mean())
        row["max_r_norm_table"] = 1 - (row["max_r"] - n_rel) / (n_docs - n_rel)
        row["max_r_norm_per_query"] = float(np.mean(1 - (max_r - n_rel) / (n_docs - n_rel)))
        row["ndcg@1"] = float(np.mean([results._ndcg_row(r, 1) for r in g["gold_ranks"]]))
        row["ndcg@10"] = float(np.mean([results._ndcg_row(r, 10) for r in g["gold_ranks"]]))
        row["mrr"] = float(np.mean([1 / min(r) for r in g["gold_ranks"]]))
        row["recall@10"] = 100.0
        if scen == "multi":
            row.update(english_inclination_rate=0.75 if q_lang == "en" else 0.25,
                       own_language_inclination_rate=0.75,
                       mean_english_distractors=1.0, mean_own_language_distractors=1.0, mean_rank_gap=2.0)
        else:
            row.update(english_inclination_rate=np.nan, own_language_inclination_rate=np.nan,
                       mean_english_distractors=np.nan, mean_own_language_distractors=np.nan, mean_rank_gap=np.nan)
        row["mean_tied"] = float(np.mean([sum(t) for t in g["n_tied"]]))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(results.SUMMARY_COLUMNS))


def make_eval(path: Path, model: str = "default", model_shift: int = 0, created: str = "2025-01-01T00:00:00+00:00",
              format_version=results.FORMAT_VERSION) -> Path:
    """Write a complete, small evaluation run folder at `path`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    pq = make_per_query(model_shift)
    summary = make_summary(pq, model)
    summary.to_csv(path / "summary.csv", index=False)
    pq.to_parquet(path / "per_query.parquet", index=False)
    (path / "table.md").write_text("### multi\n\n| queries | metric | zh | avg |\n|---|---|---|---|\n", encoding="utf-8")
    cfg = {"kind": "evaluation", "xldiag_version": "0.1.0", "model": model, "fingerprint": "abc",
           "dataset": "xquad", "language_sets": ["en+zh"], "scenarios": ["multi", "mono-cross"],
           "pool": "unique", "ties": ["optimistic"], "limit": 4, "seconds": 1.0, "created": created}
    if format_version is not None:
        cfg["format_version"] = format_version
    (path / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return path


@pytest.fixture()
def evals(tmp_path, monkeypatch):
    root = tmp_path / "evals"
    monkeypatch.setenv(results.EVALS_DIR_ENV, str(root))
    monkeypatch.setenv(results.RUNS_DIR_ENV, str(tmp_path / "runs"))
    return root


def test_load_eval_reads_schemas(evals):
    path = make_eval(evals / "base")
    run = results.load_eval(path, per_query=True)
    assert run.model == "default"
    assert run.langs == ["en", "zh"]
    assert run.pairs == ["en+zh"]
    assert len(run.summary) == 4
    assert len(run.per_query) == 16
    assert list(run.per_query["gold_ranks"].iloc[0]) == [1.0, 2.0]


def test_old_and_unknown_formats_get_clear_errors(evals):
    old = make_eval(evals / "old", format_version=None)
    with pytest.raises(results.RunFormatError, match="older xldiag"):
        results.load_eval(old)
    newer = make_eval(evals / "newer", format_version=99)
    with pytest.raises(results.RunFormatError, match="newer than this xldiag"):
        results.load_eval(newer)
    broken = make_eval(evals / "broken")
    pd.read_csv(broken / "summary.csv").drop(columns=["max_r"]).to_csv(broken / "summary.csv", index=False)
    with pytest.raises(results.RunFormatError, match="max_r"):
        results.load_eval(broken)
    running = evals / "running"
    running.mkdir()
    (running / "summary.csv").write_text("dataset\n")
    with pytest.raises(results.RunIncompleteError, match="not finished"):
        results.load_eval(running)
    with pytest.raises(results.RunFolderError):
        results.load_eval(evals / "nope")


def test_list_evaluations_states_and_ids(evals, tmp_path):
    make_eval(evals / "a", created="2025-01-01T00:00:00")
    make_eval(evals / "b", created="2025-02-01T00:00:00")
    make_eval(evals / "old", format_version=None, created="2024-01-01")
    (evals / "half").mkdir()
    (evals / "half" / "summary.csv").write_text("x\n")
    make_eval(tmp_path / "runs" / "r1" / "eval" / "tuned", model=str(tmp_path / "runs" / "r1" / "final"))
    listing = results.list_evaluations()
    by_name = listing.set_index("name")
    assert by_name.loc["a", "state"] == "complete"
    assert by_name.loc["old", "state"] == "invalid" and "older" in by_name.loc["old", "error"]
    assert by_name.loc["half", "state"] == "incomplete"
    assert by_name.loc["r1/tuned", "state"] == "complete"
    assert listing.iloc[0]["name"] == "b"  # newest first
    for ident in listing["id"]:
        assert results.resolve_eval_id(ident) is not None
    assert results.resolve_eval_id("evals:../../etc") is None
    assert results.model_label(str(tmp_path / "runs" / "r1" / "final")) == "r1 · final"


def test_progress_file_marks_a_running_eval(evals):
    folder = evals / "pending"
    results._write_progress(folder, state="running", fraction=0.5, pid=os_getpid(), model="default",
                            dataset="xquad", language_sets=["en+zh"], started="2030-01-01")
    listing = results.list_evaluations()
    row = listing.set_index("name").loc["pending"]
    assert row["state"] == "running" and row["langs"] == ["en", "zh"]
    results._write_progress(folder, pid=2**22 + 12345)  # a pid that does not exist
    assert results.list_evaluations().set_index("name").loc["pending", "state"] == "failed"


def os_getpid():
    import os

    return os.getpid()


def test_query_table_and_detail():
    pq = make_per_query()
    table = results.query_table(pq)
    assert {"rank_en", "rank_zh", "tied", "ndcg@1", "top1_lang"} <= set(table.columns)
    row = table[(table.qid == "q3") & (table.scenario == "multi") & (table.query_lang == "en")].iloc[0]
    assert row["rank_en"] == 1 and row["rank_zh"] == 9 and row["tied"]
    assert row["ndcg@1"] == 100.0  # a reference at rank 1
    other = table[(table.qid == "q0") & (table.scenario == "multi") & (table.query_lang == "zh")].iloc[0]
    assert other["ndcg@1"] == 100.0
    assert results._ndcg_row([2.0, 3.0], 10) == pytest.approx(100 * (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3)))
    assert results._ndcg_row([2.0, 3.0], 1) == 0.0
    detail = results.query_detail(pq, "q1", "multi", "en")
    refs = detail["refs"].set_index("lang")
    assert refs.loc["en", "rank"] == 1 and refs.loc["zh", "rank"] == 5
    assert refs.loc["zh", "above_en"] == 3  # 4 docs above, one of them the English reference
    assert detail["questions"] == {"en": "question 1 in en", "zh": "question 1 in zh"}
    top = detail["top"]
    assert list(top["is_reference"]) == [True, False, False]
    assert list(top["beats"]) == ["", "zh reference", "zh reference"]
    with pytest.raises(KeyError):
        results.query_detail(pq, "nope", "multi", "en")
    index = results.query_index(pq)
    fast = results.query_detail(pq, "q1", "multi", "en", pair="en+zh", index=index)
    assert fast["questions"] == detail["questions"]
    pd.testing.assert_frame_equal(fast["refs"], detail["refs"])
    pd.testing.assert_frame_equal(fast["top"], detail["top"])
    with pytest.raises(KeyError):
        results.query_detail(pq, "nope", "multi", "en", pair="en+zh", index=index)


def test_language_preference_shows_what_the_data_says():
    pq = make_per_query()
    pref = results.language_preference(pq)
    cell = pref.set_index(["query_lang", "ref_lang", "distractor_lang"])["mean_above"]
    # en queries: zh reference ranks (2,5,1,9) → unrelated en docs above: 0,3,0,7 → mean 2.5
    assert cell[("en", "zh", "en")] == pytest.approx(2.5)
    assert cell[("en", "zh", "zh")] == 0
    # zh queries: English reference ranks (2,4,1,3), zh (1,1,2,7) → zh distractors above: 0,2,0,2 → 1
    assert cell[("zh", "en", "zh")] == pytest.approx(1.0)
    verdict = results.preference_verdict(pref)
    assert any("zh queries" in v and "own language" in v for v in verdict)
    assert any("en queries" in v and "English" in v for v in verdict)


def test_table1_layout():
    summary = make_summary(make_per_query())
    table = results.table1(summary)
    assert list(table.columns) == ["scenario", "queries", "metric", "zh", "avg"]
    assert table["scenario"].iloc[0] == "Multi"
    cell = table[(table.scenario == "Multi") & (table.queries == "English") & (table.metric == "max_r")]
    assert cell["zh"].iloc[0] == pytest.approx(np.mean([2, 5, 2, 9]))


def test_paired_comparison_and_tests():
    base = make_per_query(model_shift=0)
    tuned = make_per_query(model_shift=0)
    # tuned: improve q1 (en, multi) and degrade q2 (zh, mono-cross)
    i = tuned.index[(tuned.qid == "q1") & (tuned.scenario == "multi") & (tuned.query_lang == "en")][0]
    tuned.at[i, "gold_ranks"] = [1.0, 2.0]
    tuned.at[i, "max_r"] = 2.0
    j = tuned.index[(tuned.qid == "q2") & (tuned.scenario == "mono-cross") & (tuned.query_lang == "zh")][0]
    tuned.at[j, "gold_ranks"] = [8.0]
    tuned.at[j, "max_r"] = 8.0
    paired = results.paired_queries(base, tuned)
    assert len(paired) == 16
    improved = results.most_changed(paired, direction="improved")
    degraded = results.most_changed(paired, direction="degraded")
    assert list(improved["qid"]) == ["q1"] and improved["max_r_base"][0] == 5 and improved["max_r_tuned"][0] == 2
    assert list(degraded["qid"]) == ["q2"] and degraded["delta_max_r"][0] == 6

    a = np.array([5.0, 3, 8, 2, 9, 4, 7, 6])
    b = np.array([3.0, 1, 5, 2, 4, 4, 2, 1])
    w = results.wilcoxon_test(a, b)
    ref = stats.wilcoxon(b, a)
    assert w["p_value"] == pytest.approx(ref.pvalue) and w["n"] == 8 and w["n_nonzero"] == 6
    p = results.permutation_test(a, b, n_resamples=4000, seed=1)
    # exact two-sided sign-flip p-value over the 2^8 sign patterns
    d = b - a
    signs = np.array(np.meshgrid(*[[-1, 1]] * 8)).reshape(8, -1).T
    exact = np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-9)
    assert p["p_value"] == pytest.approx(exact, abs=0.02)
    assert results.permutation_test(a, a)["p_value"] == 1.0
    assert results.paired_test(a, b, "wilcoxon", log=True)["p_value"] < 0.05
    with pytest.raises(ValueError):
        results.paired_test(a, b, "t-test")


def test_compare_table():
    s1 = make_summary(make_per_query(0))
    s2 = make_summary(make_per_query(-1))
    table = results.compare_table(s1, s2)
    row = table[(table.scenario == "Multi") & (table.query_lang == "en") & (table.metric == "max_r")].iloc[0]
    assert row["Base"] == pytest.approx(4.5) and row["Ours"] == pytest.approx(4.25)
    assert row["change"] == pytest.approx(-0.25)


def test_eval_name_is_stable_and_safe():
    name = results.eval_name("/x/runs/r1/final", "xquad", ["zh", "de"], "unique", "optimistic", 30)
    assert name == "final__xquad__zh-de__unique__optimistic__n30"
    assert "/" not in results.eval_name("intfloat/multilingual-e5-small", "xquad", ["zh"], "unique", "average", None)
