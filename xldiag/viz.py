"""Plotly figure builders for the dashboard's charts behind a tab or an expander: pure functions from
DataFrames to figures (the charts a page opens on are Vega-Lite: xldiag.vega, which says why).
Labels of languages, scenarios and metrics come from xldiag.vocab.

Each builder takes plain pandas/numpy inputs in the run-folder schemas (docs/ARCHITECTURE.md) or
the frames built by xldiag.results / xldiag.alignment, and returns a `plotly.graph_objects.Figure`.
No Streamlit here; every builder is unit-tested on small hand-made inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xldiag import vocab
from xldiag.vocab import PIVOT, SCENARIO_LABELS

# One colour per language, stable across pages: English first, then a fixed order.
LANG_ORDER = ["en", "zh", "ar", "de", "es", "hi", "vi", "th", "el", "ro", "ru", "tr"]
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f", "#393b79", "#637939"]
LAYOUT = dict(margin=dict(l=50, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.15))


# max_r_scatter's markers (hover text, outlines, sizes): WebGL above this many. XQuAD en+zh Multi has
# ~1,400; drawn as SVG they took 580-780 ms in headless Chromium on 2 loaded cores, with WebGL 370-500 ms
SCATTER_WEBGL_MARKERS = 1_000


def _scatter_type(n_points: int, above: int):
    """go.Scattergl for more than `above` points (thousands of SVG points are slow to draw), else go.Scatter."""
    return go.Scattergl if n_points > above else go.Scatter


def lang_color(lang: str) -> str:
    """The colour of a language (unknown languages get a stable colour from their name)."""
    if lang in LANG_ORDER:
        return PALETTE[LANG_ORDER.index(lang) % len(PALETTE)]
    return PALETTE[sum(map(ord, str(lang))) % len(PALETTE)]


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False, **LAYOUT)
    return fig


def query_sides(frame: pd.DataFrame) -> np.ndarray:
    """Each row's query side: "English queries" or "Target-language queries"."""
    return np.where(frame["query_lang"] == PIVOT, "English queries", "Target-language queries")


# --------------------------------------------------------------------------------------------
# Overview


def figure2(frame: pd.DataFrame, metric: str = "max_r") -> go.Figure:
    """The paper's Figure 2 for any set of models: per model (one row of subplots) and scenario
    (Mono-Cross = conventional CLIR, then Multi), `metric` per target language with English and
    with target-language queries side by side, the gap between them written above each pair of
    bars ("Δ +3.1" = target − English), a ⚠ on targets the model was not trained on.

    `frame`: results.figure2_frame (model, target, scenario, english, target_queries, gap,
    uncovered). Each scenario (column) has one y axis for every model, so models compare at a
    glance; CLIR's small ranks keep their own scale beside Multi's. The scale is set by the targets
    the models were trained on: an uncovered target's bar that would dwarf the others (use-m3 on vi)
    is cut at the top of the axis and labelled with its value and "↑" (its hover and the numbers
    table keep the value)."""
    if frame.empty:
        return _empty("Figure 2", "No Multi or Mono-Cross rows of English pairs to show.")
    models = list(dict.fromkeys(frame["model"]))
    scenarios = list(dict.fromkeys(frame["scenario"]))
    info = vocab.metric(metric)
    titles = [f"{model} — {_scenario_title(scen)}" for model in models for scen in scenarios]
    fig = make_subplots(rows=len(models), cols=len(scenarios), shared_yaxes="columns", subplot_titles=titles,
                        vertical_spacing=min(0.12, 0.35 / max(1, len(models) - 1)) if len(models) > 1 else 0.1)
    for ci, scen in enumerate(scenarios, start=1):
        top = _figure2_top(frame[frame["scenario"] == scen])
        for ri, model in enumerate(models, start=1):
            block = frame[(frame["model"] == model) & (frame["scenario"] == scen)]
            _figure2_panel(fig, block, ri, ci, show_legend=ri == 1 and ci == 1, top=top)
            fig.update_yaxes(range=[0, top * FIGURE2_HEADROOM], row=ri, col=ci)
    for ri in range(1, len(models) + 1):
        fig.update_yaxes(title_text=info.arrow_label, row=ri, col=1)
    fig.update_layout(barmode="group", title=f"{info.arrow_label} by query language, CLIR beside Multi (Δ = target "
                      "queries − English queries)", height=160 + 300 * len(models),
                      **{**LAYOUT, "margin": {**LAYOUT["margin"], "t": 90}})
    return fig


FIGURE2_HEADROOM = 1.22  # the axis reaches 1.22 × the tallest bar: room for its value and its Δ


def _figure2_top(block: pd.DataFrame) -> float:
    """The tallest bar a scenario's axis must show: over the covered targets (all when none is)."""
    covered = block[~block["uncovered"].astype(bool)] if (~block["uncovered"].astype(bool)).any() else block
    values = covered[["english", "target_queries"]].to_numpy(dtype=float)
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    return top if top > 0 else 1.0


def _scenario_title(scenario: str) -> str:
    label = SCENARIO_LABELS.get(scenario, scenario)
    return f"{label} (CLIR)" if scenario == "mono-cross" else label


def _figure2_panel(fig: go.Figure, block: pd.DataFrame, row: int, col: int, show_legend: bool, top: float) -> None:
    """One model × scenario: two bars per target and the gap annotated above them."""
    labels = [f"{t} ⚠" if flag else str(t) for t, flag in zip(block["target"], block["uncovered"])]
    cap = top * 1.08  # taller bars (uncovered targets only) are drawn to here, marked "↑"
    sides = (("English queries", "english", lang_color(PIVOT)), ("target-language queries", "target_queries", "#ff7f0e"))
    for name, column, colour in sides:
        values = block[column].astype(float).tolist()
        fig.add_trace(go.Bar(x=labels, y=[min(v, cap) for v in values], customdata=values, name=name,
                             legendgroup=name, showlegend=show_legend, marker_color=colour,
                             text=[f"{v:.1f}" + (" ↑" if v > cap else "") for v in values], textposition="outside",
                             hovertemplate=f"{name}<br>%{{x}}: %{{customdata:.2f}}<extra></extra>"), row=row, col=col)
    for label, high, gap in zip(labels, block[["english", "target_queries"]].max(axis=1), block["gap"]):
        if not np.isnan(gap):
            fig.add_annotation(x=label, y=min(float(high), cap) + 0.13 * top, text=f"Δ {gap:+.1f}", showarrow=False,
                               font=dict(size=11, color="#444"), row=row, col=col)


# --------------------------------------------------------------------------------------------
# Queries


def topk_figure(top: pd.DataFrame, refs: pd.DataFrame | None = None, title: str = "Top-k") -> go.Figure:
    """The ranked list for one query: a horizontal bar per document (score), coloured by language.

    `top` has rank, doc_id, lang, score, is_reference (results.query_detail). References are drawn
    with a black outline and a ★; `refs` (doc_id, lang, rank) adds references outside the top-k as
    markers at their rank."""
    if top.empty:
        return _empty(title, "No ranked documents stored for this query.")
    # Built as plain dicts and validated once: this figure is redrawn on every query selection.
    ranks = top["rank"].tolist()
    doc_ids = top["doc_id"].tolist()
    is_ref = [bool(r) for r in top["is_reference"].tolist()]
    scores = [float(x) for x in top["score"].tolist()]
    langs = top["lang"].tolist()
    labels = [f"{r}. {d}" + (" ★" if ref else "") for r, d, ref in zip(ranks, doc_ids, is_ref)]
    traces = []
    for lang in dict.fromkeys(langs):
        idx = [i for i, l_ in enumerate(langs) if l_ == lang]
        traces.append(dict(
            type="bar", orientation="h", name=lang, y=[labels[i] for i in idx], x=[scores[i] for i in idx],
            marker=dict(color=lang_color(lang), line=dict(color=["black" if is_ref[i] else "rgba(0,0,0,0)" for i in idx],
                                                          width=[3 if is_ref[i] else 0 for i in idx])),
            text=[f"{scores[i]:.3f}" for i in idx], textposition="inside",
            hovertemplate="%{y}<br>score %{x:.4f}<extra>" + lang + "</extra>",
        ))
    lo, hi = min(scores), max(scores)
    pad = max(1e-3, (hi - lo) * 0.5)
    missing = refs[~refs["doc_id"].isin(doc_ids)] if refs is not None else pd.DataFrame()
    note = "; ".join(f"{r.lang} reference {r.doc_id} at rank {r.rank:g}" for r in missing.itertuples())
    layout = dict(
        title=dict(text=title + (f" — outside the list: {note}" if note else "")), barmode="overlay",
        height=max(260, 32 * len(labels) + 120),
        xaxis=dict(range=[lo - pad, hi + pad * 0.2], title=dict(text="cosine score")),
        yaxis=dict(categoryorder="array", categoryarray=list(reversed(labels))), **LAYOUT,
    )
    return go.Figure(data=traces, layout=layout)


def rank_distribution_figure(per_query: pd.DataFrame, scenario: str = "multi") -> go.Figure:
    """Histogram of per-query Max@R (log x), one trace per query language."""
    pq = per_query[per_query["scenario"] == scenario]
    if pq.empty:
        return _empty("Max@R distribution", "No queries for this scenario.")
    fig = go.Figure()
    for lang, sub in pq.groupby("query_lang", sort=False):
        fig.add_trace(go.Histogram(x=np.log10(sub["max_r"].astype(float)), name=f"{lang} queries",
                                   marker_color=lang_color(lang), opacity=0.7, nbinsx=30))
    fig.update_layout(barmode="overlay", title=f"Max@R per query ({SCENARIO_LABELS.get(scenario, scenario)})",
                      xaxis_title="log10 Max@R", yaxis_title="queries", height=300, **LAYOUT)
    return fig


# --------------------------------------------------------------------------------------------
# Language preference


def distractor_language_heatmap(frame: pd.DataFrame) -> go.Figure:
    """Model × (query language, reference language): which language the unrelated documents ranked
    above a reference are in. Rows: "<model> · <target>" (⚠: not a training language); columns: the four (query side, reference
    side) cells, English queries first; cell text: the share of those distractors in the query's
    own language (%) and their mean number per query; colour: that share minus the pool's share
    (percentage points; red = the query's language dominates, blue = the other language, white =
    in proportion to the pool).

    `frame`: results.distractor_languages (model, target, query_side, ref_side, cell, own_share,
    pool_share, mean_above)."""
    if frame.empty:
        return _empty("Distractor languages", "No Multi-scenario queries of English pairs to show.")
    flags = frame["uncovered"] if "uncovered" in frame else [False] * len(frame)
    f = frame.assign(row=[f"{m} · {t}{' ⚠' if u else ''}" for m, t, u in zip(frame["model"], frame["target"], flags)])
    rows = list(dict.fromkeys(f["row"]))
    cells = f.drop_duplicates("cell")
    cols = [c for _, c in sorted(((q != "English", q != r), c)
                                 for q, r, c in zip(cells["query_side"], cells["ref_side"], cells["cell"]))]
    share = f.pivot_table(index="row", columns="cell", values="own_share", aggfunc="mean").reindex(index=rows, columns=cols)
    excess = share - f.pivot_table(index="row", columns="cell", values="pool_share", aggfunc="mean").reindex(
        index=rows, columns=cols)
    mean = f.pivot_table(index="row", columns="cell", values="mean_above", aggfunc="mean").reindex(index=rows, columns=cols)
    text = [["" if np.isnan(v) else f"{v:.0f}%<br><sub>{m:.1f}/query</sub>" for v, m in zip(sr, mr)]
            for sr, mr in zip(share.to_numpy(dtype=float), mean.to_numpy(dtype=float))]
    fig = go.Figure(go.Heatmap(
        z=excess.to_numpy(dtype=float), x=[c.replace(" → ", " →<br>") for c in cols], y=rows, text=text,
        texttemplate="%{text}", colorscale="RdBu_r", zmid=0, zmin=-50, zmax=50,
        customdata=share.to_numpy(dtype=float),
        colorbar=dict(title="query language's<br>share − pool's<br>(points)"),
        hovertemplate="%{y}<br>%{x}<br>%{customdata:.1f}% of the distractors in the query's language<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    models = [row.rsplit(" · ", 1)[0] for row in rows]  # "<model> · <target>"
    for k in range(1, len(rows)):  # a white rule between models' blocks of rows
        if models[k] != models[k - 1]:
            fig.add_shape(type="line", xref="paper", x0=0, x1=1, y0=k - 0.5, y1=k - 0.5,
                          line=dict(color="white", width=4))
    fig.update_layout(title="Distractors ranked above each reference: % in the query's own language",
                      height=max(320, 160 + 34 * len(rows)), **{**LAYOUT, "legend": {}})
    return fig


DIAGNOSIS_COLORS = {"semantic-miss": "#7f7f7f", "language-miss": "#d62728", "mixed": "#ff7f0e",
                    "no-distractor": "#bcbd22"}


def diagnosis_figure(shares: pd.DataFrame) -> go.Figure:
    """Why Multi queries fail: per query side, x = target language (x model when there are several),
    stacked bars of the failure diagnoses in % of the queries (the gap to 100 = passing queries).
    `shares` is results.diagnosis_shares (model, target, query_lang, diagnosis, share)."""
    failing = shares[shares["diagnosis"] != "pass"] if not shares.empty else shares
    if failing.empty or failing["share"].isna().all():
        return _empty("Why queries fail", "No per-query diagnosis in this evaluation (Multi rows of a run "
                      "written with issue 11's measures).")
    f = failing.assign(side=query_sides(failing), model=failing["model"].map(_short_labels(failing["model"])))
    sides = [s for s in ("English queries", "Target-language queries") if s in set(f["side"])]
    fig = make_subplots(rows=1, cols=len(sides), subplot_titles=sides, shared_yaxes=True)
    models = list(dict.fromkeys(f["model"]))
    for ci, side in enumerate(sides, start=1):
        block = f[f["side"] == side].groupby(["target", "model", "diagnosis"], sort=False)["share"].mean()
        keys = list(dict.fromkeys((t, m) for t, m, _ in block.index))
        x = [[t for t, _ in keys], [m for _, m in keys]] if len(models) > 1 else [t for t, _ in keys]
        for label, color in DIAGNOSIS_COLORS.items():
            y = [block.get((t, m, label), np.nan) for t, m in keys]
            fig.add_trace(go.Bar(x=x, y=y, name=label, legendgroup=label, showlegend=ci == 1, marker_color=color,
                                 hovertemplate=f"{label}<br>%{{x}}: %{{y:.1f}} %<extra>{side}</extra>"),
                          row=1, col=ci)
    fig.update_yaxes(title_text="% of queries", row=1, col=1)
    fig.update_xaxes(tickangle=0)
    fig.update_layout(barmode="stack", title="Why Multi queries fail (per-query diagnosis)", height=400,
                      **{**LAYOUT, "legend": dict(orientation="v", x=1.01, y=1.0),
                         "margin": dict(l=50, r=130, t=70, b=40)})
    return fig


def _short_labels(labels: pd.Series) -> dict:
    """Model labels short enough for an axis: "demo-tau1 · final (evals:stats-tuned)" -> "demo-tau1 · final"
    (the evaluation id dropped) unless two labels would then read the same."""
    full = list(dict.fromkeys(labels))
    short = {label: label.split(" (")[0] for label in full}
    return short if len(set(short.values())) == len(full) else {label: label for label in full}


def inclination_figure(rates: pd.DataFrame) -> go.Figure:
    """English- and own-language-inclination rates per target language and model (grouped bars).

    Two subplots (one per rate); x = target language; one trace per (model, query side)."""
    if rates.empty:
        return _empty("Inclination rates", "No Multi-scenario summaries to show.")
    r = rates.copy()
    r["side"] = np.where(r["query_lang"] == PIVOT, "en queries", "target queries")
    metrics = ["english_inclination_rate", "own_language_inclination_rate"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["English-inclination rate", "Own-language-inclination rate"],
                        shared_yaxes=True)
    targets = list(dict.fromkeys(r["target"]))
    models = list(dict.fromkeys(r["model"]))
    for mi, model in enumerate(models):
        for side, sub in r[r["model"] == model].groupby("side", sort=False):
            name = f"{model} · {side}"
            for ci, m in enumerate(metrics, start=1):
                vals = sub.groupby("target")[m].mean()
                fig.add_trace(go.Bar(
                    x=targets, y=[vals.get(t, np.nan) for t in targets], name=name, legendgroup=name,
                    showlegend=ci == 1, marker_color=PALETTE[mi % len(PALETTE)],
                    marker_pattern_shape="" if side == "target queries" else "/",
                    hovertemplate=f"{name}<br>%{{x}}: %{{y:.3f}}<extra>{m}</extra>",
                ), row=1, col=ci)
    fig.update_layout(barmode="group", title="Inclination rates (Multi)", height=380, **LAYOUT)
    return fig


# --------------------------------------------------------------------------------------------
# Compare


def _merged_points(sub: pd.DataFrame, named: int = 5) -> pd.DataFrame:
    """Identical (max_r_base, max_r_tuned) points drawn once: one row per distinct point, in order of
    first appearance, with n (queries sharing it) and qids (the first `named` ids, " …" for more).
    One pass over the rows (a groupby with a Python aggregate took ~0.1 s per 1,000 points)."""
    sub = sub.dropna(subset=["max_r_base", "max_r_tuned"])  # as groupby's keys: a NaN is no point
    groups: dict[tuple, list] = {}
    for point, qid in zip(zip(sub["max_r_base"].tolist(), sub["max_r_tuned"].tolist()), sub["qid"].tolist()):
        groups.setdefault(point, []).append(qid)
    points = list(groups)
    return pd.DataFrame({"max_r_base": [p[0] for p in points], "max_r_tuned": [p[1] for p in points],
                         "n": [len(q) for q in groups.values()],
                         "qids": [", ".join(q[:named]) + (" …" if len(q) > named else "") for q in groups.values()]})


def max_r_scatter(paired: pd.DataFrame, labels=("base", "tuned")) -> go.Figure:
    """Log-log scatter of per-query Max@R, base (x) vs tuned (y), coloured by query language.

    Points below the diagonal improved. `paired` is results.paired_queries."""
    if paired.empty:
        return _empty("Max@R per query", "The two evaluations share no queries.")
    fig = go.Figure()
    lo = float(min(paired["max_r_base"].min(), paired["max_r_tuned"].min()))
    hi = float(max(paired["max_r_base"].max(), paired["max_r_tuned"].max()))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="no change",
                             line=dict(color="grey", dash="dash"), hoverinfo="skip"))
    # identical (base, tuned) points are drawn once, sized by how many queries share them
    groups = [(scen, lang, _merged_points(sub)) for (scen, lang), sub in paired.groupby(["scenario", "query_lang"], sort=False)]
    scatter = _scatter_type(sum(len(pts) for *_, pts in groups), SCATTER_WEBGL_MARKERS)
    for scen, lang, pts in groups:
        fig.add_trace(scatter(
            x=pts["max_r_base"], y=pts["max_r_tuned"], mode="markers",
            name=f"{SCENARIO_LABELS.get(scen, scen)} · {lang} queries",
            marker=dict(color=lang_color(lang), size=6 + 4 * np.sqrt(pts["n"] - 1), opacity=0.6,
                        symbol="circle" if scen == "multi" else "diamond", line=dict(width=0.5, color="white")),
            customdata=np.stack([pts["n"], pts["qids"]], axis=1),
            hovertemplate=labels[0] + " %{x:g} → " + labels[1] + " %{y:g}<br>%{customdata[0]} queries: "
            "%{customdata[1]}<extra></extra>",
        ))
    fig.update_xaxes(type="log", title_text=f"Max@R — {labels[0]}")
    fig.update_yaxes(type="log", title_text=f"Max@R — {labels[1]}")
    n_better = int((paired["max_r_tuned"] < paired["max_r_base"]).sum())
    n_worse = int((paired["max_r_tuned"] > paired["max_r_base"]).sum())
    fig.update_layout(title=f"Max@R per query: {n_better} improved, {n_worse} degraded, "
                            f"{len(paired) - n_better - n_worse} unchanged", height=460, **LAYOUT)
    return fig
