"""Views of per_query.parquet the dashboard shows: the query browser's table and one query's
detail, language preference, inclination rates, and two evaluations paired query by query.

Every function takes and returns plain pandas objects (the run-folder schemas of
docs/ARCHITECTURE.md); document ids are read with `pools.parse_doc_id`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xldiag import metrics, stats
from xldiag.pools import doc_passage, parse_doc_id
from xldiag.views.preference import PREFERENCE_COLUMNS, language_preference  # noqa: F401 - re-exported
from xldiag.vocab import DIAGNOSES, INTERVAL_LEVEL, PIVOT, diagnosis_column, interval_columns, metric, pair_target

QUERY_KEYS = ["dataset", "pair", "scenario", "query_lang", "qid"]  # one query of one evaluation


def gold_rank_matrix(gold_ranks) -> np.ndarray:
    """Ragged per-query gold ranks (a per_query column) → Q x (most golds) floats, NaN-padded:
    the input of xldiag.metrics."""
    rows = [np.asarray(r, dtype=float) for r in gold_ranks]
    out = np.full((len(rows), max((len(r) for r in rows), default=0)), np.nan)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def ndcg_per_query(gold_ranks, k: int) -> np.ndarray:
    """NDCG@k of each query in % (metrics.ndcg_at_k per query); NaN for a query without gold."""
    return 100.0 * metrics.ndcg_at_k(gold_rank_matrix(gold_ranks), k, per_query=True)


def doc_lang(doc_id: str) -> str:
    return parse_doc_id(doc_id)[0]


def doc_text(dataset, doc_id: str) -> str:
    """The passage text of a pool document id ("" when the dataset does not hold it)."""
    try:
        lang, passage = doc_passage(doc_id, dataset.question_passage)
        return dataset.passages[lang][passage]
    except (KeyError, IndexError, ValueError):
        return ""


# --- the query browser ---------------------------------------------------------------------------


def query_table(per_query: pd.DataFrame) -> pd.DataFrame:
    """One flat row per query for browsing: gold ranks as rank_<lang> columns, tie flag, NDCG@1, top-1,
    and the diagnosis of a Multi query (metrics.diagnose; "" elsewhere and in runs written before it)."""
    pq = per_query
    out = pq[["dataset", "pair", "scenario", "query_lang", "qid", "question_index", "passage_index",
              "query_text", "max_r"]].copy()
    langs = sorted({lang for gl in pq["gold_langs"] for lang in gl}, key=lambda x: (x != PIVOT, x))
    for lang in langs:
        out[f"rank_{lang}"] = [next((float(r) for gl_, r in zip(gl, gr) if gl_ == lang), np.nan)
                               for gl, gr in zip(pq["gold_langs"], pq["gold_ranks"])]
    out["tied"] = [bool(np.sum(t) > 0) for t in pq["n_tied"]]
    out["n_tied"] = [int(np.sum(t)) for t in pq["n_tied"]]
    out["ndcg@1"] = ndcg_per_query(pq["gold_ranks"], 1)
    out["top1_lang"] = [doc_lang(t[0]) if len(t) else "" for t in pq["top_doc_ids"]]
    out["diagnosis"] = pq["diagnosis"].astype(str) if "diagnosis" in pq else ""
    return out


def filter_queries(table: pd.DataFrame, scenario: str, query_langs, min_max_r: float = 1.0,
                   tied: str = "any", search: str = "", diagnoses=None) -> pd.DataFrame:
    """Rows of `query_table` in one scenario and these query languages with Max@R ≥ min_max_r;
    `tied`: any / tied / untied; `search`: a case-insensitive piece of the question or its id;
    `diagnoses`: keep only these diagnoses (None or empty: any). Worst Max@R first."""
    view = table[(table["scenario"] == scenario) & table["query_lang"].isin(list(query_langs))
                 & (table["max_r"] >= min_max_r)]
    if tied != "any":
        view = view[view["tied"] == (tied == "tied")]
    if diagnoses:
        view = view[view["diagnosis"].isin(list(diagnoses))]
    if search:
        view = view[view["query_text"].str.contains(search, case=False, regex=False)
                    | view["qid"].str.contains(search, case=False, regex=False)]
    return view.sort_values("max_r", ascending=False, kind="stable")


def query_index(per_query: pd.DataFrame) -> dict:
    """{(pair, scenario, query_lang, qid): row position} and {(pair, qid): [positions]} for fast lookups."""
    keys = per_query[["pair", "scenario", "query_lang", "qid"]].to_numpy(dtype=object).tolist()
    exact, by_qid = {}, {}
    for pos, (pair, scen, q_lang, qid) in enumerate(keys):
        exact.setdefault((pair, scen, q_lang, qid), pos)
        by_qid.setdefault((pair, qid), []).append(pos)
    return {"exact": exact, "by_qid": by_qid}


def _query_row(pq: pd.DataFrame, qid: str, scenario: str, query_lang: str, pair: str | None,
               index: dict | None) -> pd.Series:
    missing = KeyError(f"No query {qid!r} ({scenario}, {query_lang} queries) in this evaluation.")
    if index is not None and pair:
        pos = index["exact"].get((pair, scenario, query_lang, qid))
        if pos is None:
            raise missing
        return pq.iloc[pos]
    mask = (pq["qid"] == qid) & (pq["scenario"] == scenario) & (pq["query_lang"] == query_lang)
    rows = pq[mask & (pq["pair"] == pair)] if pair else pq[mask]
    if rows.empty:
        raise missing
    return rows.iloc[0]


def _references(row: pd.Series, pool_langs: list[str]) -> pd.DataFrame:
    """The query's references: doc_id, lang, rank, n_tied, above_<lang> (unrelated docs above it)."""
    refs = {"doc_id": [str(x) for x in row["gold_doc_ids"]], "lang": [str(x) for x in row["gold_langs"]],
            "rank": [float(r) for r in row["gold_ranks"]], "n_tied": [int(t) for t in row["n_tied"]]}
    for j, lang in enumerate(pool_langs):
        refs[f"above_{lang}"] = [int(a[j]) for a in row["above_by_lang"]]
    return pd.DataFrame(refs)


def _top_list(row: pd.Series, refs: pd.DataFrame) -> pd.DataFrame:
    """The stored top-k: rank, doc_id, score, lang, is_reference, and which references each beats."""
    top_ids = [str(x) for x in row["top_doc_ids"]]
    ranks = list(range(1, len(top_ids) + 1))
    is_ref = [d in set(refs["doc_id"]) for d in top_ids]
    beats = ["" if ref else ", ".join(f"{lang} reference" for lang, r in zip(refs["lang"], refs["rank"]) if rank < r)
             for rank, ref in zip(ranks, is_ref)]
    return pd.DataFrame({"rank": np.asarray(ranks, dtype=np.int64), "doc_id": top_ids,
                         "score": [float(x) for x in row["top_scores"]], "lang": [doc_lang(d) for d in top_ids],
                         "is_reference": is_ref, "beats": beats})


def query_detail(per_query: pd.DataFrame, qid: str, scenario: str, query_lang: str, pair: str | None = None,
                 index: dict | None = None) -> dict:
    """Everything the Queries page shows for one query: {row, refs, top, questions, pool_langs};
    `questions`: the same question in each query language of the pair. KeyError when absent.

    `index` (query_index of the same frame) makes the lookup O(1) on large evaluations."""
    row = _query_row(per_query, qid, scenario, query_lang, pair, index)
    pool_langs = [str(x) for x in row["pool_langs"]]
    refs = _references(row, pool_langs)
    if index is not None:
        others = per_query.iloc[index["by_qid"].get((row["pair"], qid), [])]
    else:
        others = per_query[(per_query["qid"] == qid) & (per_query["pair"] == row["pair"])]
    questions = dict(zip(others["query_lang"].tolist(), others["query_text"].tolist()))
    return {"row": row, "refs": refs, "top": _top_list(row, refs), "questions": questions, "pool_langs": pool_langs}


# --- language preference -------------------------------------------------------------------------

# The heatmap cells are computed where an evaluation writes its views (xldiag.views.preference).


def distractor_share(frame: pd.DataFrame, pair: str | None = None, scenario: str = "multi") -> pd.DataFrame:
    """Rows of distractor_share.csv for one scenario (and pair), with a `row` label per query
    language and reference ("zh queries → en reference", "… → any reference" for every gold pooled)."""
    rows = frame[(frame["scenario"] == scenario) & ((frame["pair"] == pair) if pair else True)]
    label = [f"{q} queries → {'any' if g == 'all' else g} reference" for q, g in zip(rows["query_lang"], rows["gold_lang"])]
    return rows.assign(row=label)


def diagnosis_shares(summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Long form of the Multi rows' diagnosis columns: model, pair, target, query_lang, diagnosis,
    share (% of the queries). Runs written before the diagnosis give no rows."""
    frames = []
    for label, summary in summaries.items():
        multi = summary[summary["scenario"] == "multi"]
        for name in DIAGNOSES:
            if diagnosis_column(name) in multi:
                frames.append(multi[["pair", "query_lang"]].assign(
                    model=label, target=multi["pair"].map(pair_target), diagnosis=name,
                    share=multi[diagnosis_column(name)]))
    columns = ["model", "pair", "target", "query_lang", "diagnosis", "share"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def measure_table(summary: pd.DataFrame, columns, scenario: str = "multi") -> pd.DataFrame:
    """Summary columns of one scenario as text, one row per measure (its vocab label) and one column
    per pair and query language ("en+zh · zh queries"; the pair left out when there is one): each
    value in its metric's format, followed by its bootstrap interval "[lo, hi]" where the summary has
    one; a p-value that underflowed to 0 reads "< 1e-300". Columns the run lacks are left out."""
    rows = summary[summary["scenario"] == scenario]
    one_pair = rows["pair"].nunique() == 1
    out = {}
    for _, row in rows.iterrows():
        name = f"{row['query_lang']} queries" if one_pair else f"{row['pair']} · {row['query_lang']} queries"
        out[name] = [_cell(row, column) for column in columns if column in rows]
    index = [metric(column).arrow_label for column in columns if column in rows]
    return pd.DataFrame(out, index=pd.Index(index, name="measure")).reset_index()


def _cell(row: pd.Series, column: str) -> str:
    value, m = row[column], metric(column)
    if pd.isna(value):
        return "–"
    if column.endswith("_p") and value == 0:
        return "< 1e-300"
    lo, hi = interval_columns(column)
    if lo in row and hi in row and pd.notna(row[lo]) and pd.notna(row[hi]):
        return f"{m.format(value)} [{m.format(row[lo])}, {m.format(row[hi])}]"
    return m.format(value)


def preference_verdict(pref: pd.DataFrame) -> list[str]:
    """Plain sentences saying which language's distractors dominate, from the data (no assumption)."""
    lines = []
    for (pair, q_lang), block in pref.groupby(["pair", "query_lang"], sort=False):
        by_lang = block.groupby("distractor_lang")["mean_above"].mean()
        if by_lang.empty:
            continue
        if by_lang.max() <= 0:
            lines.append(f"{pair}, {q_lang} queries: no unrelated document outranks a reference.")
            continue
        top = by_lang.idxmax()
        who = ("English" if top == PIVOT else top) + (" (the query's own language)" if top == q_lang else "")
        detail = ", ".join(f"{lang} {v:.2f}" for lang, v in by_lang.items())
        lines.append(f"{pair}, {q_lang} queries: distractors in {who} outrank the references most "
                     f"(mean per reference: {detail}).")
    return lines


INCLINATION_COLUMNS = ["model", "pair", "target", "query_lang", "english_inclination_rate",
                       "own_language_inclination_rate"]


def inclination_rates(summaries: dict[str, pd.DataFrame], scenario: str = "multi") -> pd.DataFrame:
    """English- and own-language-inclination rates per model label, target language and query language."""
    frames = [summary[summary["scenario"] == scenario].assign(
        model=label, target=lambda s: s["pair"].map(pair_target))[INCLINATION_COLUMNS]
        for label, summary in summaries.items()]
    if not frames:
        return pd.DataFrame(columns=INCLINATION_COLUMNS)
    return pd.concat(frames, ignore_index=True)


# --- two evaluations, query by query -------------------------------------------------------------


PAIRED_INPUT_COLUMNS = [*QUERY_KEYS, "query_text", "max_r", "gold_ranks"]  # what paired_queries reads


def paired_queries(base: pd.DataFrame, tuned: pd.DataFrame) -> pd.DataFrame:
    """Join two per-query frames (PAIRED_INPUT_COLUMNS suffice) on QUERY_KEYS.

    Columns: the keys, query_text, max_r_base, max_r_tuned, ndcg@1_base, ndcg@1_tuned, delta_max_r
    (tuned − base; negative = better), log2_ratio (log2 tuned/base)."""
    a = base[QUERY_KEYS + ["query_text", "max_r"]].assign(**{"ndcg@1": ndcg_per_query(base["gold_ranks"], 1)})
    b = tuned[QUERY_KEYS + ["max_r"]].assign(**{"ndcg@1": ndcg_per_query(tuned["gold_ranks"], 1)})
    merged = a.merge(b, on=QUERY_KEYS, suffixes=("_base", "_tuned"))
    merged["delta_max_r"] = merged["max_r_tuned"] - merged["max_r_base"]
    merged["log2_ratio"] = np.log2(merged["max_r_tuned"] / merged["max_r_base"])
    return merged


# The per-query metrics Compare tests: label, paired_queries column, compared on a log2 scale.
PAIRED_METRICS = (("Max@R (log2)", "max_r", True), ("NDCG@1", "ndcg@1", False))


def paired_tests(paired: pd.DataFrame, method: str = "wilcoxon", n_resamples: int = stats.DEFAULT_RESAMPLES,
                 seed: int = 0, permutations: int = 4999) -> pd.DataFrame:
    """For all queries and each query language: per PAIRED_METRICS, the paired test of tuned − base
    (`stats.paired_test`: n, changed, mean Δ, p-value) and beside it the paired bootstrap
    interval of mean Δ (`stats.paired_bootstrap_interval`, seeded; ci_lo, ci_hi)."""
    rows = []
    for query_lang, sub in [("all", paired), *paired.groupby("query_lang", sort=False)]:
        for label, column, log in PAIRED_METRICS:
            a, b = sub[f"{column}_base"].to_numpy(float), sub[f"{column}_tuned"].to_numpy(float)
            a, b = (np.log2(a), np.log2(b)) if log else (a, b)
            found = stats.paired_test(a, b, method=method,
                                      **({"n_resamples": permutations} if method == "permutation" else {}))
            lo, hi = stats.paired_bootstrap_interval(a, b, n_resamples, seed, INTERVAL_LEVEL) if len(a) else (np.nan,) * 2
            rows.append({"queries": query_lang, "metric": label, "n": found["n"], "changed": found["n_nonzero"],
                         "mean Δ": found["mean_diff"], "ci_lo": lo, "ci_hi": hi, "p-value": found["p_value"]})
    return pd.DataFrame(rows)


def most_changed(paired: pd.DataFrame, n: int = 10, direction: str = "improved") -> pd.DataFrame:
    """The queries whose Max@R improved (fell) or degraded (rose) most, by log2 ratio then by rank change."""
    if direction == "improved":
        frame = paired[paired["delta_max_r"] < 0].sort_values(["log2_ratio", "delta_max_r"], ascending=[True, True])
    elif direction == "degraded":
        frame = paired[paired["delta_max_r"] > 0].sort_values(["log2_ratio", "delta_max_r"], ascending=[False, False])
    else:
        raise ValueError(f"direction must be 'improved' or 'degraded', got {direction!r}.")
    return frame.head(n).reset_index(drop=True)
