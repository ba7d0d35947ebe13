"""The tables a user reads, built in one place from `vocab.METRICS`: the paper's Table 1 (as a
DataFrame, as ranges over tie rules, as Markdown and as LaTeX) and base vs tuned (long form and Markdown).

Table 1 layout: per scenario, rows = query side (English / target) × metric, columns = the
target language of each pair (or the pool's name for non-English pools) and their average.
"""

from __future__ import annotations

import pandas as pd

from xldiag.vocab import HEADLINE_METRICS, PIVOT, SCENARIO_LABELS, SCENARIOS, metric, pair_target

SIDES = ("English", "target")  # query side: English queries, or the other language's


def query_side(query_lang: pd.Series) -> pd.Series:
    """'English' for English queries, 'target' for the others."""
    return query_lang.map(lambda lang: SIDES[0] if lang == PIVOT else SIDES[1])


def table1(summary: pd.DataFrame, metrics=HEADLINE_METRICS, scenario: str | None = None) -> pd.DataFrame:
    """Table 1 as a DataFrame: columns scenario (label), queries, metric, one per target, avg.
    `summary` must hold one tie rule (see `table1_ranges` for several)."""
    frame = summary if scenario is None else summary[summary["scenario"] == scenario]
    frame = frame.assign(queries=query_side(frame["query_lang"]), target=frame["pair"].map(pair_target))
    long = frame.melt(id_vars=["scenario", "queries", "target"], value_vars=list(metrics), var_name="metric")
    table = long.pivot_table(index=["scenario", "queries", "metric"], columns="target", values="value",
                             aggfunc="mean", sort=False)
    table["avg"] = table.mean(axis=1)
    table = table.reset_index()
    order = {"scenario": {s: i for i, s in enumerate(SCENARIOS)}, "metric": {m: i for i, m in enumerate(metrics)}}
    table = table.sort_values(["scenario", "queries", "metric"], key=lambda c: c.map(order.get(c.name, {})).fillna(99)
                              if c.name in order else c, kind="stable")
    table["scenario"] = table["scenario"].map(lambda s: SCENARIO_LABELS.get(s, s))
    table.columns.name = None
    return table.reset_index(drop=True)


def table1_ranges(summary: pd.DataFrame, metrics=HEADLINE_METRICS, scenario: str | None = None) -> pd.DataFrame:
    """`table1` over a summary with several tie rules: each cell is "lo–hi" over the rules (one
    value where they agree), e.g. Max@R "921.31–926.17" for the optimistic and pessimistic bounds."""
    tables = [table1(rows, metrics, scenario) for _, rows in summary.groupby("ties", sort=False)]
    keys = ["scenario", "queries", "metric"]
    stacked = pd.concat(tables, ignore_index=True)
    values = [c for c in tables[0].columns if c not in keys]
    lo = stacked.groupby(keys, sort=False)[values].min()
    hi = stacked.groupby(keys, sort=False)[values].max()
    fmts = [metric(m).fmt for m in lo.index.get_level_values("metric")]
    cells = {c: [_range(a, b, fmt) for a, b, fmt in zip(lo[c], hi[c], fmts)] for c in values}
    return pd.concat([lo.index.to_frame(index=False), pd.DataFrame(cells)], axis=1)


def _range(lo: float, hi: float, fmt: str) -> str:
    a, b = fmt.format(lo), fmt.format(hi)
    return a if a == b else f"{a}–{b}"


def table1_blocks(summary: pd.DataFrame) -> list[dict]:
    """Table 1 as formatted cells, one block per scenario (what table.md and table.tex print):
    {"scenario", "size" (|D| and |R|), "columns" (pair names, then "avg"), "rows": [(queries, metric,
    cells)]}; a cell is the metric's format, a range "lo–hi" over several tie rules, or "–" (none)."""
    ranges = summary["ties"].nunique() > 1
    # One table for every scenario (a pivot costs the same for one or all), split by scenario:
    # a scenario's block keeps the columns it has values in, as `table1(block)` alone would
    whole = table1_ranges(summary) if ranges else _formatted(table1(summary))
    blocks = []
    for scenario, block in summary.groupby("scenario", sort=False):
        table = _columns_with_values(whole[whole["scenario"] == SCENARIO_LABELS.get(scenario, scenario)])
        targets = [c for c in table.columns if c not in ("scenario", "queries", "metric")]
        rows = [(row["queries"], row["metric"],
                 [row[t] if isinstance(row[t], str) and row[t] != "nan" else "–" for t in targets])
                for _, row in table.iterrows()]
        blocks.append({"scenario": scenario, "size": _pool_size(block), "columns": _pair_names(block, targets),
                       "rows": rows})
    return blocks


def _columns_with_values(table: pd.DataFrame) -> pd.DataFrame:
    """The table without the target columns that hold no value in it ("nan" or missing)."""
    empty = [c for c in table.columns if c not in ("scenario", "queries", "metric", "avg")
             and table[c].map(lambda v: not isinstance(v, str) or v == "nan").all()]
    return table.drop(columns=empty)


def _ranges_note(summary: pd.DataFrame) -> str:
    rules = list(dict.fromkeys(summary["ties"]))
    if len(rules) < 2:
        return ""
    return (f"Each cell: the range over the tie rules {', '.join(rules)} (the paper does not say how it "
            "broke ties).")


def table1_markdown(summary: pd.DataFrame, blocks: list[dict] | None = None) -> str:
    """Table 1 as Markdown (table.md): per scenario a header with |D| and |R|; with several tie
    rules each cell is the range over them, lowest value first. `blocks`: `table1_blocks(summary)`
    when the caller has them already."""
    note = _ranges_note(summary)
    lines = [note, ""] if note else []
    for block in blocks if blocks is not None else table1_blocks(summary):
        columns = block["columns"]
        lines += [f"### {block['scenario']} ({block['size']})", "",
                  "| queries | metric | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
        for queries, column, cells in block["rows"]:
            lines.append(f"| {queries} | {metric(column).arrow_label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def table1_latex(summary: pd.DataFrame, blocks: list[dict] | None = None) -> str:
    """Table 1 as LaTeX (table.tex, needs \\usepackage{booktabs}): one tabular, a block per
    scenario under its name with |D| and |R|, columns = the pairs and their average. Ranges over
    tie rules read "lo--hi" (an en dash in LaTeX); "--" alone marks a cell without a value."""
    blocks = blocks if blocks is not None else table1_blocks(summary)
    columns = list(dict.fromkeys(c for block in blocks for c in block["columns"]))
    columns = [c for c in columns if c != "avg"] + ["avg"]
    lines = ["% Table 1 written by xldiag (tables.table1_latex); needs \\usepackage{booktabs}."]
    note = _ranges_note(summary)
    lines += [f"% {note}"] if note else []
    lines += ["\\begin{tabular}{ll" + "r" * len(columns) + "}", "\\toprule",
              "Queries & Metric & " + " & ".join(_tex(c) for c in columns) + " \\\\"]
    for block in blocks:
        label = SCENARIO_LABELS.get(block["scenario"], block["scenario"])
        size = block["size"].replace("|D|", "$|D|$").replace("|R|", "$|R|$")
        lines += ["\\midrule", f"\\multicolumn{{{2 + len(columns)}}}{{l}}{{\\textit{{{_tex(label)}}} ({size})}} \\\\"]
        for queries, column, cells in block["rows"]:
            by_column = dict(zip(block["columns"], cells))
            row = [by_column.get(c, "–") for c in columns]
            lines.append(f"{queries} & {_tex_metric(column)} & " + " & ".join(_tex(c) for c in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)


def _tex(text: str) -> str:
    """Plain text as LaTeX: the special characters escaped, "–" (ranges, empty cells) as "--"."""
    out = str(text)
    for char in "&%$#_{}":
        out = out.replace(char, "\\" + char)
    return out.replace("–", "--").replace("−", "$-$")


def _tex_metric(column: str) -> str:
    m = metric(column)
    if m.neutral is not None:
        return _tex(m.arrow_label)
    return f"{_tex(m.label)} $\\{'uparrow' if m.higher_is_better else 'downarrow'}$"


def _formatted(table: pd.DataFrame) -> pd.DataFrame:
    """Numbers as strings in each row's metric format (NaN stays 'nan')."""
    out = table.copy()
    for column in out.columns.drop(["scenario", "queries", "metric"]):
        out[column] = [metric(m).format(v) for m, v in zip(out["metric"], out[column])]
    return out


def _pair_names(block: pd.DataFrame, targets: list[str]) -> list[str]:
    """Column headers: the pair's full name (en+zh) where the target names one pair, else as is."""
    by_target = {pair_target(p): p for p in block["pair"]}
    return [by_target.get(t, t) for t in targets]


def _pool_size(block: pd.DataFrame) -> str:
    """|D| and |R| of a scenario's pools, e.g. "|D| = 2380, |R| = 2"."""
    sizes = sorted({f"{d:g}" for d in block["n_docs"].round(2)})
    return f"|D| = {' / '.join(sizes)}, |R| = {'/'.join(str(r) for r in sorted(set(block['n_rel'])))}"


# --- base vs tuned -------------------------------------------------------------------------------

COMPARISON_KEYS = ["dataset", "pair", "query_lang", "scenario"]


def comparison(base: pd.DataFrame, tuned: pd.DataFrame, metrics=HEADLINE_METRICS) -> pd.DataFrame:
    """Long table, one row per (dataset, pair, query_lang, scenario, metric): base, tuned, delta
    (tuned − base) and improved (in the metric's better direction). One tie rule per summary."""
    merged = base.merge(tuned, on=COMPARISON_KEYS, suffixes=("_base", "_tuned"))
    rows = []
    for _, row in merged.iterrows():
        for column in metrics:
            if f"{column}_base" not in row:
                continue
            b, t = float(row[f"{column}_base"]), float(row[f"{column}_tuned"])
            better = t > b if metric(column).higher_is_better else t < b
            rows.append({**{k: row[k] for k in COMPARISON_KEYS}, "metric": column, "base": b, "tuned": t,
                         "delta": t - b, "improved": better})
    return pd.DataFrame(rows, columns=COMPARISON_KEYS + ["metric", "base", "tuned", "delta", "improved"])


def comparison_markdown(table: pd.DataFrame, title: str | None = None) -> str:
    """The paper's Base/Ours layout: per scenario, rows = query side × metric, Base | Ours per pair."""
    lines = [f"# {title}", ""] if title else []
    for scenario, block in table.groupby("scenario", sort=False):
        pairs = list(dict.fromkeys(block["pair"]))
        header = "| queries | metric | " + " | ".join(f"{p} Base | {p} Ours" for p in pairs) + " | avg Base | avg Ours |"
        lines += [f"### {block['dataset'].iloc[0]} — {scenario}", "", header,
                  "|---|---|" + "---|" * (2 * len(pairs) + 2)]
        for side in SIDES:
            rows = block[query_side(block["query_lang"]) == side]
            for column in dict.fromkeys(rows["metric"]):
                lines.append(_comparison_line(side, column, rows[rows["metric"] == column], pairs))
        lines.append("")
    return "\n".join(lines)


def _comparison_line(side: str, column: str, rows: pd.DataFrame, pairs: list[str]) -> str:
    m = metric(column)
    means = rows.groupby("pair", sort=False)[["base", "tuned"]].mean()
    cells = []
    for p in pairs:
        cells += [m.format(means.loc[p, "base"]), m.format(means.loc[p, "tuned"])] if p in means.index else ["–", "–"]
    cells += [m.format(means["base"].mean()), m.format(means["tuned"].mean())]
    return f"| {side} | {m.arrow_label} | " + " | ".join(cells) + " |"


# --- the fix lab: base, fixes and fine-tuned checkpoints on the same pools -----------------------

# (column, label, summary column, scenario, query side); side "both" = the mean over the pair's two query languages
FIX_COLUMNS = (
    ("multi_max_r_en", "Multi Max@R ↓ en-q", "max_r", "multi", SIDES[0]),
    ("multi_max_r_tgt", "Multi Max@R ↓ X-q", "max_r", "multi", SIDES[1]),
    ("multi_c10_en", "Multi C@10 ↑ en-q", "complete@10", "multi", SIDES[0]),
    ("multi_c10_tgt", "Multi C@10 ↑ X-q", "complete@10", "multi", SIDES[1]),
    ("multi1_ndcg1", "Multi-1 NDCG@1 ↑", "ndcg@1", "multi-1", "both"),
    ("mono_same_ndcg1", "Mono-Same NDCG@1 ↑ (cost)", "ndcg@1", "mono-same", "both"),
    ("own_incl_en", "own-lang incl. ↓ en-q", "own_language_inclination_rate", "multi", SIDES[0]),
    ("own_incl_tgt", "own-lang incl. ↓ X-q", "own_language_inclination_rate", "multi", SIDES[1]),
)
FIX_DELTAS = (("delta_c10", "Δ Multi C@10"), ("delta_mono_ndcg1", "Δ Mono-Same NDCG@1"))
FIX_KINDS = ("base", "fix", "fine-tune")


def fixes_table(summaries, fits=None, base: str | None = None) -> pd.DataFrame:
    """The fix lab's table: one row per (pair, model) of `summaries` ({model: summary frame}, the
    same pools for every model; the first tie rule of each), with `FIX_COLUMNS`, the kind (base /
    fix / fine-tune), and against the base model of the same pair: Δ Multi C@10 (the mean over both
    query languages, percentage points) and Δ Mono-Same NDCG@1 (what the gain costs in monolingual
    ranking). `fits` ({model: {"fit_seconds", "encode_seconds"}}, optionally with `by_pair`: the
    same per pair) gives each model's fitting (or training) time; `base` defaults to the model the first fix variant corrects."""
    from xldiag.fixes.registry import base_model, variant_or_none

    fits = fits or {}
    models = list(summaries)
    base = base or next((base_model(m) for m in models if variant_or_none(m) is not None), models[0] if models else None)
    rows = []
    for model, summary in summaries.items():
        summary = summary[summary["ties"] == summary["ties"].iloc[0]] if len(summary) else summary
        variant = variant_or_none(model)
        kind = "fix" if variant is not None else "base" if model == base else "fine-tune"
        for pair, block in summary.groupby("pair", sort=False):
            row = {"pair": pair, "model": model, "kind": kind, "fix": variant.spec.label if variant else "",
                   "data": variant.data if variant else ""}
            row.update({key: _fix_cell(block, column, scenario, side) for key, _, column, scenario, side in FIX_COLUMNS})
            fit = fits.get(model) or {}
            fit = (fit.get("by_pair") or {}).get(pair, fit)  # a fix is fitted per language set
            row["fit_seconds"] = fit.get("fit_seconds", float("nan"))
            row["encode_seconds"] = fit.get("encode_seconds", float("nan"))
            rows.append(row)
    table = pd.DataFrame(rows, columns=["pair", "model", "kind", "fix", "data", *(c[0] for c in FIX_COLUMNS),
                                        "fit_seconds", "encode_seconds"])
    return _with_deltas(table, base)


def _fix_cell(block: pd.DataFrame, column: str, scenario: str, side: str) -> float:
    rows = block[block["scenario"] == scenario]
    if side != "both":
        rows = rows[query_side(rows["query_lang"]) == side]
    return float(rows[column].mean()) if len(rows) and column in rows else float("nan")


def _with_deltas(table: pd.DataFrame, base: str | None) -> pd.DataFrame:
    """Δ columns against the base model's row of the same pair (NaN where the base is missing)."""
    c10 = table[["multi_c10_en", "multi_c10_tgt"]].mean(axis=1)
    reference = table[table["model"] == base].set_index("pair")
    base_c10 = reference[["multi_c10_en", "multi_c10_tgt"]].mean(axis=1)
    table["delta_c10"] = c10 - table["pair"].map(base_c10)
    table["delta_mono_ndcg1"] = table["mono_same_ndcg1"] - table["pair"].map(reference["mono_same_ndcg1"])
    return table.sort_values(["pair", "kind", "fix"], key=_fix_order(table), kind="stable").reset_index(drop=True)


def _fix_order(table: pd.DataFrame):
    """Sort keys: pairs as first seen, kinds base → fix → fine-tune, fixes by method then parameter."""
    from xldiag.fixes.registry import METHODS, parse_fix

    pairs = {p: i for i, p in enumerate(dict.fromkeys(table["pair"]))}
    kinds = {kind: i for i, kind in enumerate(FIX_KINDS)}
    methods = {name: i for i, name in enumerate(METHODS)}

    def fix_key(label: str) -> tuple:
        spec = parse_fix(label) if label else None
        return (methods[spec.method], spec.param or 0) if spec else (-1, 0)

    def key(column: pd.Series) -> pd.Series:
        if column.name == "pair":
            return column.map(pairs)
        if column.name == "kind":
            return column.map(kinds)
        return column.map(lambda label: fix_key(label)[0] * 1e6 + fix_key(label)[1])
    return key


def fix_tradeoff(table: pd.DataFrame) -> pd.DataFrame:
    """One row per model other than the base: its Δ Multi C@10 and Δ Mono-Same NDCG@1 averaged over
    the pairs of `fixes_table` (what the trade-off scatter plots), with its kind and fix."""
    others = table[table["kind"] != "base"]
    if others.empty:
        return pd.DataFrame(columns=["model", "kind", "fix", "delta_c10", "delta_mono_ndcg1", "pairs"])
    return (others.groupby("model", sort=False)
            .agg(kind=("kind", "first"), fix=("fix", "first"), delta_c10=("delta_c10", "mean"),
                 delta_mono_ndcg1=("delta_mono_ndcg1", "mean"), pairs=("pair", lambda p: ",".join(p)))
            .reset_index())


def fixes_markdown(table: pd.DataFrame, title: str | None = None) -> str:
    """`fixes_table` as Markdown: one row per pair and model, metrics in their formats, Δ signed."""
    labels = [label for _, label, *_ in FIX_COLUMNS] + [label for _, label in FIX_DELTAS] + ["fit s"]
    lines = ([f"# {title}", ""] if title else []) + ["| pair | model | " + " | ".join(labels) + " |",
                                                    "|---|---|" + "---|" * len(labels)]
    for _, row in table.iterrows():
        cells = [metric(column).format(row[key]) for key, _, column, *_ in FIX_COLUMNS]
        cells += ["–" if pd.isna(row[key]) else f"{row[key]:+.1f}" for key, _ in FIX_DELTAS]
        cells.append("–" if pd.isna(row["fit_seconds"]) else f"{row['fit_seconds']:.2f}")
        lines.append(f"| {row['pair']} | {row['model']} | " + " | ".join(c.replace("nan", "–") for c in cells) + " |")
    lines += ["", "X-q: queries in the pair's other language. C@10 = Complete@10 (%); NDCG@1 in %; Multi-1 and "
              "Mono-Same averaged over both query languages. Δ: against the base model on the same pair (points). "
              "fit s: seconds to fit a fix (its estimation texts' embedding not included), or to train a checkpoint."]
    return "\n".join(lines) + "\n"
