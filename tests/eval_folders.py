"""Small, hand-made evaluation run folders that follow the run-folder schemas of
docs/ARCHITECTURE.md exactly: known per-query ranks for en+zh, 4 questions, Multi and Mono-Cross.

Used by the tests of xldiag.results, xldiag.viz and the dashboard (`make_eval` writes a folder).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from xldiag.results import FORMAT_VERSION, SUMMARY_COLUMNS
from xldiag.vocab import DIAGNOSES, diagnosis_column


def ndcg_by_hand(ranks, k: int) -> float:
    """NDCG@k of one query in %, written out: DCG over the golds in the top k / the ideal DCG."""
    ranks = [float(r) for r in ranks]
    dcg = sum(1.0 / math.log2(1.0 + r) for r in ranks if r <= k)
    idcg = sum(1.0 / math.log2(1.0 + i) for i in range(1, min(len(ranks), k) + 1))
    return 100.0 * dcg / idcg


# Known per-query ranks for en+zh, 4 questions. multi: (en ref rank, zh ref rank, n_tied en, n_tied zh)
MULTI = {
    "en": [(1, 2, 0, 0), (1, 5, 0, 0), (2, 1, 0, 0), (1, 9, 1, 0)],
    "zh": [(2, 1, 0, 0), (4, 1, 0, 0), (1, 2, 0, 0), (3, 7, 0, 0)],
}
MONO_CROSS = {"en": [1, 2, 1, 3], "zh": [1, 1, 2, 4]}  # rank of the single other-language reference
# The diagnosis of each multi query (xldiag.metrics.diagnose's rules, worked by hand from MULTI and _above;
# |R| = 2): en q1, q3 and zh q1 have only query-language docs above the other-language reference and
# none above their own (language-miss); zh q3 has 5 zh docs above its zh reference (semantic-miss).
DIAGNOSIS = {"en": ["pass", "language-miss", "pass", "language-miss"],
             "zh": ["pass", "language-miss", "pass", "semantic-miss"]}


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
                    "diagnosis": DIAGNOSIS[q_lang][q] if scenario == "multi" else "",
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
        row["ndcg@1"] = float(np.mean([ndcg_by_hand(r, 1) for r in g["gold_ranks"]]))
        row["ndcg@10"] = float(np.mean([ndcg_by_hand(r, 10) for r in g["gold_ranks"]]))
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
        row.update(_intervals(max_r))
        labels = g["diagnosis"].tolist()
        row.update({diagnosis_column(d): 100.0 * labels.count(d) / len(labels) if scen == "multi" else np.nan
                    for d in DIAGNOSES})
        rows.append(row)
    extra = [c for c in rows[0] if c not in SUMMARY_COLUMNS]
    return pd.DataFrame(rows, columns=[*SUMMARY_COLUMNS, *extra])


def _intervals(max_r: np.ndarray) -> dict:
    """Max@R and Complete@10 intervals: the plain min and max over the queries (a stand-in with the
    interval's shape; real runs hold the bootstrap's)."""
    complete = 100.0 * (max_r <= 10)
    return {"max_r_lo": float(max_r.min()), "max_r_hi": float(max_r.max()),
            "complete@10_lo": float(complete.min()), "complete@10_hi": float(complete.max())}


def make_distractor_share(pq: pd.DataFrame) -> pd.DataFrame:
    """distractor_share.csv of the multi rows, counted from above_by_lang (every doc language has 15
    docs of the 30 in the pool, so share = (A_l / A) / (15 / 30))."""
    rows = []
    for q_lang, g in pq[pq["scenario"] == "multi"].groupby("query_lang", sort=False):
        above = np.array(g["above_by_lang"].tolist(), dtype=float)  # Q x gold x lang
        for gold, picked in (("all", above), ("en", above[:, :1]), ("zh", above[:, 1:])):
            total = picked.sum()
            for j, lang in enumerate(("en", "zh")):
                count = picked[:, :, j].sum()
                rows.append({"dataset": "xquad", "pair": "en+zh", "scenario": "multi", "query_lang": q_lang,
                             "gold_lang": gold, "distractor_lang": lang, "distractors": int(count), "n_docs": 15,
                             "share": (count / total) / 0.5 if total else np.nan})
    return pd.DataFrame(rows)


def retarget(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The en+zh frame as en+<target>: every "zh" language (pair, query, gold, pool, doc ids) renamed."""
    def lang(value):
        if isinstance(value, str):
            return value.replace("zh", target)
        return [lang(v) for v in value]

    columns = [c for c in ("pair", "query_lang", "gold_doc_ids", "gold_langs", "pool_langs", "top_doc_ids")
               if c in frame]
    return frame.assign(**{c: frame[c].map(lang) for c in columns})


def make_eval(path: Path, model: str = "default", model_shift: int = 0, created: str = "2025-01-01T00:00:00+00:00",
              format_version=FORMAT_VERSION, targets=("zh",)) -> Path:
    """Write a complete, small evaluation run folder at `path` (the en+zh rows copied for each of
    `targets`)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    base = make_per_query(model_shift)
    pq = pd.concat([retarget(base, t) for t in targets], ignore_index=True)
    summary = pd.concat([retarget(make_summary(base, model), t) for t in targets], ignore_index=True)
    summary.to_csv(path / "summary.csv", index=False)
    pq.to_parquet(path / "per_query.parquet", index=False)
    make_distractor_share(pq).to_csv(path / "distractor_share.csv", index=False)
    (path / "table.md").write_text("### multi\n\n| queries | metric | zh | avg |\n|---|---|---|---|\n", encoding="utf-8")
    cfg = {"kind": "evaluation", "xldiag_version": "0.1.0", "model": model, "fingerprint": "abc",
           "dataset": "xquad", "language_sets": [f"en+{t}" for t in targets], "scenarios": ["multi", "mono-cross"],
           "pool": "unique", "ties": ["optimistic"], "limit": 4, "seconds": 1.0, "created": created}
    if format_version is not None:
        cfg["format_version"] = format_version
    (path / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return path
