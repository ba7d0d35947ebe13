"""Several models side by side: the frames behind the paper's Figure 2 and the model ×
(query language, reference language) matrix of distractor languages, and the sentences that say
what they show. Plain pandas in and out (the run-folder schemas); the figures are xldiag.viz's.

Both views read English pairs only (en+X: "English queries" against "target queries"); pools of
other language sets have no such sides and are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xldiag.results.coverage import COLUMN as UNCOVERED
from xldiag.vocab import PIVOT, SCENARIO_LABELS, metric as metric_info

FIGURE2_SCENARIOS = ("mono-cross", "multi")  # conventional CLIR beside the mixed-language pool
FIGURE2_COLUMNS = ["model", "target", "pair", "scenario", "english", "target_queries", "gap", "uncovered"]
SIDES = ("English", "target")
# the four (query side, reference side) cells of the distractor matrix, in reading order
CELLS = (("English", "English"), ("English", "target"), ("target", "target"), ("target", "English"))
DISTRACTOR_COLUMNS = ["model", "pair", "target", "uncovered", "query_lang", "ref_lang", "query_side", "ref_side",
                      "cell", "n_queries", "distractors", "own_language", "own_share", "pool_share", "mean_above"]
CLEAR = 10.0  # percentage points from the pool's share before a sentence calls it a preference


def english_target(pair: str) -> str | None:
    """The target language of an English pair ("en+zh" → "zh"); None for any other language set."""
    langs = str(pair).split("+")
    return next((lang for lang in langs if lang != PIVOT), None) if len(langs) == 2 and PIVOT in langs else None


def cell_label(query_side: str, ref_side: str) -> str:
    """"English queries → target reference" (the matrix's column names)."""
    return f"{query_side} queries → {ref_side} reference"


# --- Figure 2 ------------------------------------------------------------------------------------


def figure2_frame(summaries: dict[str, pd.DataFrame], metric: str = "max_r",
                  scenarios=FIGURE2_SCENARIOS) -> pd.DataFrame:
    """One row per (model, target language, scenario): `metric` with English queries, with
    target-language queries, their gap (target − English; the paper's "performance disparity by
    query language") and whether the model was not trained on the target (`uncovered`).

    `summaries`: {model label: summary rows of one tie rule}. Models, targets and scenarios keep
    their order (models as given, targets as first met, scenarios as `scenarios`)."""
    rows = []
    for label, summary in summaries.items():
        s = summary.assign(target=summary["pair"].map(english_target))
        for pair in dict.fromkeys(s.loc[s["target"].notna(), "pair"]):
            for scenario in scenarios:
                block = s[(s["pair"] == pair) & (s["scenario"] == scenario)]
                if not block.empty:
                    rows.append(_figure2_row(label, pair, scenario, block, metric))
    return pd.DataFrame(rows, columns=FIGURE2_COLUMNS)


def _figure2_row(label: str, pair: str, scenario: str, block: pd.DataFrame, metric: str) -> dict:
    target = english_target(pair)
    by_lang = block.groupby("query_lang")[metric].mean()
    missing = str(block[UNCOVERED].iloc[0]) if UNCOVERED in block else ""
    english, other = by_lang.get(PIVOT, np.nan), by_lang.get(target, np.nan)
    return {"model": label, "target": target, "pair": pair, "scenario": scenario, "english": english,
            "target_queries": other, "gap": other - english, "uncovered": target in missing.split(",")}


def figure2_lines(frame: pd.DataFrame, metric: str = "max_r") -> list[str]:
    """What Figure 2 shows, per model and scenario: the mean and the widest gap between query
    languages, and how far the targets spread (the paper's "instability among target languages").
    The mean and the spread are over the targets the model was trained on (all when none is); an
    uncovered target is named, and flagged when it has the widest gap."""
    info = metric_info(metric)
    lines = []
    for (model, scenario), block in frame.groupby(["model", "scenario"], sort=False):
        gaps = block.dropna(subset=["gap"])
        if gaps.empty:
            continue
        covered = gaps[~gaps["uncovered"]] if (~gaps["uncovered"]).any() else gaps
        mean_gap = float(covered["gap"].mean())
        widest = gaps.loc[gaps["gap"].abs().idxmax()]
        worse = "worse" if (mean_gap > 0) != info.higher_is_better else "better"
        size = f"{worse} than English ones by {abs(mean_gap):.2f} {info.label} on average" if round(mean_gap, 2) \
            else f"on a par with English ones ({info.label}, on average)"
        spread = ", ".join(f"{side} queries {covered[col].min():.2f}–{covered[col].max():.2f}"
                           for side, col in (("English", "english"), ("target", "target_queries")))
        left_out = sorted(set(gaps["target"]) - set(covered["target"]))
        note = f" ({', '.join(left_out)} ⚠ left out of the mean and the spread: not among its training languages)" \
            if left_out else ""
        flag = " ⚠" if widest["uncovered"] else ""
        lines.append(f"{model}, {SCENARIO_LABELS.get(scenario, scenario)}: target-language queries are {size}, the "
                     f"widest gap {widest['target']}{flag} {widest['gap']:+.2f}; across target languages {spread}{note}.")
    return lines


# --- distractor languages ------------------------------------------------------------------------


def distractor_languages(per_queries: dict[str, pd.DataFrame], scenario: str = "multi",
                         uncovered: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Per (model, English pair, query language, reference language): the unrelated documents ranked
    above that reference, summed over the queries (`distractors`), how many of them are in the
    query's language (`own_language`), their share in % (`own_share`; NaN without distractors)
    and the query language's share of the pool (`pool_share`: 100 / pool languages — every Multi
    pool of a parallel dataset holds the same documents in each of its languages). own_share above
    pool_share: the model ranks documents in the query's language above the reference more often
    than their number explains.

    `per_queries`: {model label: per_query.parquet frame}; `uncovered`: {model label: languages it
    was not trained on} (EvalRun.uncovered) sets the `uncovered` column of their targets."""
    frames = [_distractor_rows(label, pq[pq["scenario"] == scenario], (uncovered or {}).get(label, []))
              for label, pq in per_queries.items()]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=DISTRACTOR_COLUMNS)
    return pd.concat(frames, ignore_index=True)[DISTRACTOR_COLUMNS]


def _distractor_rows(label: str, pq: pd.DataFrame, uncovered: list[str]) -> pd.DataFrame:
    records = []
    for pair, q_lang, gold_langs, above, pool_langs in zip(pq["pair"], pq["query_lang"], pq["gold_langs"],
                                                             pq["above_by_lang"], pq["pool_langs"]):
        if english_target(pair) is None:
            continue
        pool_langs = [str(lang) for lang in pool_langs]
        own = pool_langs.index(q_lang) if q_lang in pool_langs else None
        for ref_lang, counts in zip(gold_langs, above):
            counts = np.asarray(counts, dtype=float)
            records.append((pair, q_lang, str(ref_lang), counts.sum(), counts[own] if own is not None else np.nan,
                            100.0 / len(pool_langs)))
    if not records:
        return pd.DataFrame()
    raw = pd.DataFrame(records, columns=["pair", "query_lang", "ref_lang", "above", "own", "pool_share"])
    frame = raw.groupby(["pair", "query_lang", "ref_lang"], sort=False).agg(
        n_queries=("above", "size"), distractors=("above", "sum"), own_language=("own", "sum"),
        pool_share=("pool_share", "mean")).reset_index()
    frame["model"] = label
    frame["target"] = frame["pair"].map(english_target)
    frame["uncovered"] = frame["target"].isin(list(uncovered))
    frame["query_side"] = np.where(frame["query_lang"] == PIVOT, SIDES[0], SIDES[1])
    frame["ref_side"] = np.where(frame["ref_lang"] == PIVOT, SIDES[0], SIDES[1])
    frame["cell"] = [cell_label(q, r) for q, r in zip(frame["query_side"], frame["ref_side"])]
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["own_share"] = np.where(frame["distractors"] > 0, 100.0 * frame["own_language"] / frame["distractors"],
                                      np.nan)
    frame["mean_above"] = frame["distractors"] / frame["n_queries"]
    return frame


def preference_lines(frame: pd.DataFrame) -> list[str]:
    """One sentence per model from `distractor_languages`: for English and for target-language
    queries, the share of the distractors in the query's own language (within each pair over both
    references, then the mean over the pairs, so a pair with many distractors does not outweigh
    the others; pairs the model was not trained on are left out and named), against the pool's
    share — and what that means, from the numbers alone."""
    lines = []
    for model, block in frame.groupby("model", sort=False):
        left_out = sorted(set(block.loc[block["uncovered"], "target"])) if block["uncovered"].any() else []
        kept = block[~block["uncovered"]] if len(left_out) < block["target"].nunique() else block
        shares = {side: _mean_pair_share(kept[kept["query_side"] == side]) for side in SIDES}
        pool = float(block["pool_share"].mean())
        numbers = "; ".join(f"{side} queries {shares[side]:.0f} %" for side in SIDES if not np.isnan(shares[side]))
        if not numbers:
            lines.append(f"{model}: no unrelated document is ranked above any reference, so there is no language "
                         "preference to measure.")
            continue
        note = f"; {', '.join(left_out)} left out: not among its training languages" if left_out else ""
        lines.append(f"{model} {_verdict(shares[SIDES[0]], shares[SIDES[1]], pool)}: of the unrelated documents "
                     f"ranked above a reference, the share in the query's own language is {numbers} (the pool "
                     f"holds {pool:.0f} % in each language{note}).")
    return lines


def _mean_pair_share(block: pd.DataFrame) -> float:
    """The mean over pairs of each pair's own-language share (both references pooled); NaN if none."""
    per_pair = [_pooled_share(rows) for _, rows in block.groupby("pair", sort=False)]
    per_pair = [share for share in per_pair if not np.isnan(share)]
    return float(np.mean(per_pair)) if per_pair else float("nan")


def _pooled_share(block: pd.DataFrame) -> float:
    total = float(block["distractors"].sum())
    return 100.0 * float(block["own_language"].sum()) / total if total > 0 else float("nan")


def _verdict(english: float, target: float, pool: float) -> str:
    """Words for the two query sides' own-language shares against the pool's share: a side leans
    when its share is more than CLEAR points from the pool's."""
    def lean(share):
        return 0 if np.isnan(share) or abs(share - pool) <= CLEAR else (1 if share > pool else -1)

    words = {(1, 1): "prefers the query's own language", (1, -1): "prefers English documents",
             (-1, 1): "prefers target-language documents",
             (-1, -1): "prefers documents in the other language than the query's",
             (0, 0): "shows no clear preference by language",
             (1, 0): "prefers English documents with English queries only",
             (-1, 0): "prefers target-language documents with English queries only",
             (0, 1): "prefers the query's own language with target-language queries only",
             (0, -1): "prefers English documents with target-language queries only"}
    return words[(lean(english), lean(target))]
