"""Plotly figure builders for the dashboard: pure functions from DataFrames to figures.
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
from xldiag.vocab import PIVOT, SCENARIO_LABELS, pair_target

# One colour per language, stable across pages: English first, then a fixed order.
LANG_ORDER = ["en", "zh", "ar", "de", "es", "hi", "vi", "th", "el", "ro", "ru", "tr"]
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f", "#393b79", "#637939"]
# Transitional, for app_pages/6_fine_tune.py only (the training side's page): labels come from vocab.
LAYOUT = dict(margin=dict(l=50, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.15))


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


def _sides(frame: pd.DataFrame) -> np.ndarray:
    return np.where(frame["query_lang"] == PIVOT, "English queries", "Target-language queries")


# --------------------------------------------------------------------------------------------
# Overview


def per_language_figure(summary: pd.DataFrame, scenario: str = "multi",
                        metrics=("max_r", "complete@10"), model_col: str | None = None) -> go.Figure:
    """Max@R and Complete@10 per target language, English vs target-language queries (grouped bars).

    One subplot per metric, x = target language, one trace per query side (and per model when
    `model_col` names a column that tells evaluations apart)."""
    s = summary[summary["scenario"] == scenario].copy()
    if s.empty:
        return _empty("Per language", f"No {SCENARIO_LABELS.get(scenario, scenario)} rows in this evaluation.")
    s["target"] = s["pair"].map(pair_target)
    s["side"] = _sides(s)
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[vocab.metric(m).arrow_label for m in metrics])
    targets = list(dict.fromkeys(s["target"]))
    groups = [(None, s)] if not model_col else list(s.groupby(model_col, sort=False))
    colors = {"English queries": lang_color(PIVOT), "Target-language queries": "#ff7f0e"}
    for gi, (model, block) in enumerate(groups):
        for side, sub in block.groupby("side", sort=True):
            by_t = sub.groupby("target")
            name = side if model is None else f"{model} · {side}"
            for ci, m in enumerate(metrics, start=1):
                vals = by_t[m].mean()
                fig.add_trace(go.Bar(
                    x=targets, y=[vals.get(t, np.nan) for t in targets], name=name, legendgroup=name,
                    showlegend=ci == 1, marker_color=colors[side], marker_pattern_shape=["", "/", "x", "."][gi % 4],
                    text=[f"{vals.get(t, np.nan):.1f}" for t in targets], textposition="outside",
                    hovertemplate=f"{name}<br>%{{x}}: %{{y:.2f}}<extra>{m}</extra>",
                ), row=1, col=ci)
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(barmode="group", title=f"{SCENARIO_LABELS.get(scenario, scenario)}: per language",
                      height=380, **LAYOUT)
    return fig


def multi_vs_cross_figure(summary: pd.DataFrame, metric: str = "complete@10",
                          scenarios=("multi", "mono-cross")) -> go.Figure:
    """The paper's Figure 2: Multi vs conventional CLIR (Mono-Cross), side by side per target language.

    Two subplots (English queries, target-language queries); x = target language; one bar per scenario."""
    s = summary[summary["scenario"].isin(scenarios)].copy()
    if s.empty:
        return _empty("Multi vs Mono-Cross", "This evaluation has neither Multi nor Mono-Cross rows.")
    s["target"] = s["pair"].map(pair_target)
    s["side"] = _sides(s)
    sides = ["English queries", "Target-language queries"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=sides, shared_yaxes=True)
    targets = list(dict.fromkeys(s["target"]))
    colors = {"multi": "#d62728", "mono-cross": "#7f7f7f", "multi-1": "#9467bd", "mono-same": "#2ca02c"}
    for scen in scenarios:
        for ci, side in enumerate(sides, start=1):
            sub = s[(s["scenario"] == scen) & (s["side"] == side)]
            vals = sub.groupby("target")[metric].mean()
            fig.add_trace(go.Bar(
                x=targets, y=[vals.get(t, np.nan) for t in targets], name=SCENARIO_LABELS.get(scen, scen),
                legendgroup=scen, showlegend=ci == 1, marker_color=colors.get(scen),
                hovertemplate=f"{SCENARIO_LABELS.get(scen, scen)}<br>%{{x}}: %{{y:.2f}}<extra>{side}</extra>",
            ), row=1, col=ci)
    fig.update_yaxes(title_text=vocab.metric(metric).arrow_label, row=1, col=1)
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(barmode="group", title=f"Multi vs Mono-Cross — {vocab.metric(metric).arrow_label}",
                      height=380, **LAYOUT)
    return fig


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


def preference_heatmap(pref: pd.DataFrame, pair: str | None = None) -> go.Figure:
    """Mean unrelated documents of each language ranked above each reference.

    Rows: "<q> queries → <r> reference", columns: distractor language, cell: mean count
    (results.language_preference). The colour scale shows whichever language dominates."""
    p = pref if pair is None else pref[pref["pair"] == pair]
    if p.empty:
        return _empty("Language preference", "No Multi-scenario queries in this evaluation.")
    p = p.assign(row=[f"{q} queries → {r} reference" for q, r in zip(p["query_lang"], p["ref_lang"])])
    rows = list(dict.fromkeys(p["row"]))
    cols = sorted(dict.fromkeys(p["distractor_lang"]), key=lambda x: (x != PIVOT, x))
    grid = p.pivot_table(index="row", columns="distractor_lang", values="mean_above", aggfunc="mean")
    z = grid.reindex(index=rows, columns=cols).to_numpy(dtype=float)
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"{c} distractors" for c in cols], y=rows, colorscale="Reds", zmin=0,
        text=np.vectorize(lambda v: "" if np.isnan(v) else f"{v:.2f}")(z), texttemplate="%{text}",
        colorbar=dict(title="mean #<br>above"),
        hovertemplate="%{y}<br>%{x}: %{z:.3f} on average<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Unrelated documents ranked above each reference" + (f" ({pair})" if pair else ""),
                      height=120 + 60 * len(rows), **{**LAYOUT, "legend": {}})
    return fig


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
# Alignment


def softmax_overlay_figure(panels: list[dict], sort_by_english: bool = False) -> go.Figure:
    """The paper's Figure 1 on real data: softmax-over-dimensions of an English/target pair, overlaid.

    `panels`: one dict per model with keys title, p_en, p_tgt (1-D distributions over dimensions),
    lang (target language), cosine, jsd. One subplot per panel, sharing the y axis.
    `sort_by_english` orders the dimensions by the English probability (each panel on its own), so
    the target's deviations from the English curve stand out."""
    if not panels:
        return _empty("Softmax over dimensions", "No pair selected.")
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True,
                        subplot_titles=[f"{p['title']}: cos {p['cosine']:.3f}, JSD {p['jsd']:.2e}" for p in panels])
    for ci, p in enumerate(panels, start=1):
        order = np.argsort(-np.asarray(p["p_en"], dtype=float)) if sort_by_english else np.arange(len(p["p_en"]))
        dims = np.arange(len(order))
        for lang, vals in ((PIVOT, p["p_en"]), (p["lang"], p["p_tgt"])):
            fig.add_trace(go.Scatter(
                x=dims, y=np.asarray(vals, dtype=float)[order], customdata=order, mode="lines", name=lang, legendgroup=lang,
                showlegend=ci == 1, line=dict(color=lang_color(lang), width=1), opacity=0.75,
                hovertemplate=f"{lang} dim %{{customdata}}: %{{y:.3e}}<extra></extra>",
            ), row=1, col=ci)
        fig.update_xaxes(title_text="dimension (by English probability)" if sort_by_english else "dimension",
                         row=1, col=ci)
    fig.update_yaxes(title_text="softmax probability", row=1, col=1)
    fig.update_layout(title="Softmax over dimensions (English vs target)", height=360, **LAYOUT)
    return fig


def cos_jsd_scatter(frame: pd.DataFrame) -> go.Figure:
    """Cosine vs JSD for every parallel pair (alignment.alignment_frame), coloured by language,
    one subplot per model so base and tuned compare on the same axes."""
    if frame.empty:
        return _empty("Cosine vs JSD", "No parallel pairs.")
    models = list(dict.fromkeys(frame["model"]))
    fig = make_subplots(rows=1, cols=len(models), shared_yaxes=True, shared_xaxes=True, subplot_titles=models)
    for ci, model in enumerate(models, start=1):
        for lang, sub in frame[frame["model"] == model].groupby("lang", sort=False):
            fig.add_trace(go.Scatter(
                x=sub["cosine"], y=sub["jsd"], mode="markers", name=f"en–{lang}", legendgroup=lang,
                showlegend=ci == 1, marker=dict(color=lang_color(lang), size=6, opacity=0.7),
                customdata=sub["index"], hovertemplate="pair %{customdata}<br>cos %{x:.3f}<br>JSD %{y:.2e}"
                "<extra>" + f"en–{lang}" + "</extra>",
            ), row=1, col=ci)
        fig.update_xaxes(title_text="cosine", row=1, col=ci)
    fig.update_yaxes(title_text="JSD", row=1, col=1)
    fig.update_layout(title="Cosine vs JSD over all parallel pairs", height=380, **LAYOUT)
    return fig


# --------------------------------------------------------------------------------------------
# Embedding map


def embedding_map_figure(points: pd.DataFrame, highlight: dict | None = None, title: str = "Embedding map",
                         join_parallel: bool = True) -> go.Figure:
    """2-D maps of pool embeddings, one subplot per model, coloured by language.

    `points`: model, x, y, lang, doc_id, passage (parallel documents share `passage`), text.
    `highlight`: {model: {"query": (x, y, label), "refs": [doc_id, ...]}} draws the query as a star
    and rings its references. Parallel documents are joined by grey lines."""
    if points.empty:
        return _empty(title, "Nothing to project.")
    models = list(dict.fromkeys(points["model"]))
    fig = make_subplots(rows=1, cols=len(models), subplot_titles=models, horizontal_spacing=0.04)
    highlight = highlight or {}
    for ci, model in enumerate(models, start=1):
        sub = points[points["model"] == model]
        if join_parallel:
            xs, ys = [], []
            for _, grp in sub.groupby("passage", sort=False):
                if len(grp) < 2:
                    continue
                xs += list(grp["x"]) + [None]
                ys += list(grp["y"]) + [None]
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="rgba(120,120,120,0.35)", width=1),
                                       name="parallel", legendgroup="parallel", showlegend=ci == 1,
                                       hoverinfo="skip"), row=1, col=ci)
        for lang, grp in sub.groupby("lang", sort=False):
            fig.add_trace(go.Scatter(
                x=grp["x"], y=grp["y"], mode="markers", name=lang, legendgroup=lang, showlegend=ci == 1,
                marker=dict(color=lang_color(lang), size=6, opacity=0.75),
                customdata=np.stack([grp["doc_id"], grp.get("text", grp["doc_id"]).astype(str).str[:80]], axis=1),
                hovertemplate="%{customdata[0]}<br>%{customdata[1]}<extra></extra>",
            ), row=1, col=ci)
        h = highlight.get(model)
        if h:
            refs = sub[sub["doc_id"].isin(h.get("refs", []))]
            fig.add_trace(go.Scatter(
                x=refs["x"], y=refs["y"], mode="markers+text", name="references", legendgroup="refs",
                showlegend=ci == 1, text=refs["doc_id"], textposition="top center",
                marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color="black", width=3)),
            ), row=1, col=ci)
            if h.get("query") is not None:
                qx, qy, qlabel = h["query"]
                fig.add_trace(go.Scatter(
                    x=[qx], y=[qy], mode="markers+text", name="query", legendgroup="query", showlegend=ci == 1,
                    text=[qlabel], textposition="bottom center",
                    marker=dict(symbol="star", size=18, color="gold", line=dict(color="black", width=1.5)),
                ), row=1, col=ci)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(title=title, height=520, **LAYOUT)
    return fig


# --------------------------------------------------------------------------------------------
# Fine-tune


TRAINING_CURVES = (("loss", "loss"), ("jsd", "JSD"), ("nce", "InfoNCE"), ("lr", "learning rate"))


def training_curves_figure(metrics: pd.DataFrame, smooth: int = 1) -> go.Figure:
    """Loss, JSD, NCE and learning rate against step (metrics.jsonl as a DataFrame), 2×2 subplots.

    `smooth` > 1 adds a rolling mean over that many steps."""
    fig = make_subplots(rows=2, cols=2, subplot_titles=[t for _, t in TRAINING_CURVES], shared_xaxes=True)
    if metrics is None or metrics.empty or "step" not in metrics:
        fig.update_layout(title="Training curves — no steps logged yet", height=460, **LAYOUT)
        return fig
    for i, (col, label) in enumerate(TRAINING_CURVES):
        r, c = divmod(i, 2)
        if col not in metrics:
            continue
        y = metrics[col].astype(float)
        fig.add_trace(go.Scatter(x=metrics["step"], y=y, mode="lines", name=label, showlegend=False,
                                 line=dict(color=PALETTE[i], width=1), opacity=0.5 if smooth > 1 else 1.0),
                      row=r + 1, col=c + 1)
        if smooth > 1 and col != "lr":
            fig.add_trace(go.Scatter(x=metrics["step"], y=y.rolling(smooth, min_periods=1).mean(), mode="lines",
                                     name=f"{label} (mean of {smooth})", showlegend=False,
                                     line=dict(color=PALETTE[i], width=2.5)), row=r + 1, col=c + 1)
    if "lr" in metrics and metrics["lr"].notna().any():
        top = float(metrics["lr"].max())
        fig.update_yaxes(range=[0, top * 1.15 if top > 0 else 1], tickformat=".1e", row=2, col=2)
    fig.update_xaxes(title_text="step", row=2)
    fig.update_layout(title=f"Training curves — step {int(metrics['step'].max())}", height=460, **LAYOUT)
    return fig


NORM_CURVES = (("norm_en", "English passages ‖z‖"), ("norm_tgt", "target passages ‖z‖"))


def has_passage_norms(metrics: pd.DataFrame) -> bool:
    """Whether a metrics frame holds any logged pre-norm passage norm (runs before they were logged do not)."""
    return metrics is not None and any(c in metrics and metrics[c].notna().any() for c, _ in NORM_CURVES)


def passage_norms_figure(metrics: pd.DataFrame, smooth: int = 1) -> go.Figure:
    """Mean pre-normalisation ‖z‖ of the English and the target passages per step (left axis) with
    the √JSD term (right axis, dotted), from metrics.jsonl as a DataFrame.

    The pre-norm √JSD can fall just because ‖z‖ shrinks (softmax of a short vector is nearly
    uniform); this figure shows whether a falling JSD came with falling norms. `smooth` > 1 plots
    rolling means over that many steps instead of the raw values."""
    if not has_passage_norms(metrics) or "step" not in metrics:
        return _empty("Passage norms", "No pre-norm ‖z‖ logged (a run from before they were logged, or no step yet).")
    fig = make_subplots(specs=[[{"secondary_y": True}]])

    def curve(col):
        y = metrics[col].astype(float)
        return y.rolling(smooth, min_periods=1).mean() if smooth > 1 else y

    for (col, label), colour in zip(NORM_CURVES, (lang_color(PIVOT), PALETTE[1])):
        if col in metrics and metrics[col].notna().any():
            fig.add_trace(go.Scatter(x=metrics["step"], y=curve(col), mode="lines", name=label,
                                     line=dict(color=colour, width=2)), secondary_y=False)
    if "jsd" in metrics and metrics["jsd"].notna().any():
        fig.add_trace(go.Scatter(x=metrics["step"], y=curve("jsd"), mode="lines", name="√JSD",
                                 line=dict(color=PALETTE[2], width=1.5, dash="dot")), secondary_y=True)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="mean pre-norm ‖z‖", secondary_y=False)
    fig.update_yaxes(title_text="√JSD", secondary_y=True, showgrid=False, tickformat=".4f")
    suffix = f" (mean of {smooth} steps)" if smooth > 1 else ""
    fig.update_layout(title=f"Pre-normalisation passage norms vs √JSD{suffix}", height=360,
                      **{**LAYOUT, "legend": dict(orientation="h", y=-0.3)})
    return fig


# --------------------------------------------------------------------------------------------
# Compare


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
    for (scen, lang), sub in paired.groupby(["scenario", "query_lang"], sort=False):
        # identical (base, tuned) points are drawn once, sized by how many queries share them
        pts = sub.groupby(["max_r_base", "max_r_tuned"], sort=False).agg(
            n=("qid", "size"), qids=("qid", lambda q: ", ".join(list(q)[:5]) + (" …" if len(q) > 5 else ""))
        ).reset_index()
        fig.add_trace(go.Scatter(
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
