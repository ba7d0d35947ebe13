"""Vega-Lite specs for the charts a dashboard page opens on: pure functions from DataFrames to
spec dicts that `st.vega_lite_chart(spec=...)` draws. Every other chart is Plotly (xldiag.viz).

Why two chart libraries (issue 12): Streamlit loads Plotly's 4.7 MB bundle, and runs it again, in
every new browser tab that shows a Plotly chart. A one-chart app opened in a new tab took 2.50 s
with a Plotly chart, 1.25 s with a Vega-Lite chart and 1.01 s with none (headless Chromium, medians
of 9; 2.19 / 1.00 / 0.66 s with a persistent browser profile), so a page that opens on a Plotly
chart could not be shown in under 3 s in a new tab on this machine. The charts a page opens on are
therefore Vega-Lite (its code is ~0.8 MB and loads in ~0.25 s); charts behind a tab, an expander or
a button stay Plotly, whose code then loads only when the user asks for them.

Conventions: each builder returns a complete spec (`$schema`, title, the data as named `datasets`
of DataFrames, which Streamlit sends as Arrow) and never mutates its inputs; colours of languages
are xldiag.viz's; labels come from xldiag.vocab. Tests validate every spec against the Vega-Lite
JSON schema and read the values it draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xldiag import vocab
from xldiag.viz import PALETTE, lang_color, query_sides
from xldiag.vocab import PIVOT, SCENARIO_LABELS, pair_target

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
NUMBER = ".2f"


def _spec(name: str, title: str, datasets: dict[str, pd.DataFrame], **body) -> dict:
    """A top-level spec: schema, `name` (the builder's: tests and pages tell charts apart by it), title,
    named datasets, the rest."""
    return {"$schema": SCHEMA, "name": name, "title": {"text": title, "anchor": "start"}, "datasets": datasets, **body}


def empty(name: str, title: str, message: str) -> dict:
    """A chart that only says why there is nothing to draw (the page keeps its layout)."""
    return _spec(name, title, {"message": pd.DataFrame({"text": [message]})}, data={"name": "message"},
                 mark={"type": "text", "fontSize": 13, "color": "#666"}, encoding={"text": {"field": "text"}},
                 height=80, width="container")


def _panel_field(field: str, order: list[str]) -> dict:
    """The field a faceted chart makes one panel per value of, in `order`, each headed by its value
    (in full: no label limit)."""
    return {"field": field, "type": "nominal", "sort": order, "title": None,
            "header": {"labelFontSize": 13, "labelLimit": 0}}


def lang_scale(langs) -> dict:
    """A colour scale giving each language xldiag.viz's colour, English first."""
    ordered = sorted(dict.fromkeys(langs), key=lambda x: (x != PIVOT, x))
    return {"domain": ordered, "range": [lang_color(x) for x in ordered]}


# --------------------------------------------------------------------------------------------
# Overview

SIDE_COLORS = {"English queries": lang_color(PIVOT), "Target-language queries": "#ff7f0e"}
SCENARIO_COLORS = {"multi": "#d62728", "mono-cross": "#7f7f7f", "multi-1": "#9467bd", "mono-same": "#2ca02c"}
# Two panels side by side fit half of the wide layout (~560 px) at this width; with more bars than
# BARS_SIDE_BY_SIDE a panel they are stacked, each as wide as the column
PANEL_WIDTH, STACKED_WIDTH, PANEL_HEIGHT = 210, 470, 260
BARS_SIDE_BY_SIDE = 12


def bar_means(rows: pd.DataFrame, keys: list[str], metric: str) -> pd.DataFrame:
    """One bar per distinct `keys`: the mean of `metric` over its rows ("value") and the means of its
    bootstrap interval's ends ("lo", "hi"; NaN when the summary has no intervals: older runs, or
    --bootstrap 0), in order of first appearance; "top" = the higher of value and hi (the label's place)."""
    lo_col, hi_col = vocab.interval_columns(metric)
    ends = [c for c in (lo_col, hi_col) if c in rows]
    out = rows.groupby(keys, sort=False)[[metric, *ends]].mean().reset_index()
    out = out.rename(columns={metric: "value", lo_col: "lo", hi_col: "hi"})
    for end in ("lo", "hi"):
        if end not in out:
            out[end] = np.nan
    out["top"] = np.fmax(out["value"], out["hi"])
    return out


def _grouped_bars(name: str, title: str, bars: pd.DataFrame, panels: list[str], series: list[str], color: dict,
                  shared_y: str | None, opacity: dict | None = None) -> dict:
    """Grouped bars in one panel per `panels` value: x = target language, one bar per `series` value
    side by side, coloured by `color`; 95 % interval whiskers where `bars` has "lo"/"hi"; each bar
    labelled with its value; panels side by side, or stacked when they hold more than
    BARS_SIDE_BY_SIDE bars each. `shared_y`: the title of one y scale shared by the panels; None:
    each panel has its own (different metrics)."""
    targets = list(dict.fromkeys(bars["target"]))
    side_by_side = len(targets) * len(series) <= BARS_SIDE_BY_SIDE
    tooltip = [{"field": "series", "title": "bars"}, {"field": "target", "title": "target language"},
               {"field": "value", "format": NUMBER, "title": "mean"},
               {"field": "lo", "format": NUMBER, "title": "95 % CI from"}, {"field": "hi", "format": NUMBER, "title": "to"}]
    y = {"type": "quantitative", "title": shared_y, "scale": {"zero": True}}
    bar_encoding = {"y": {"field": "value", **y}, "color": color, "tooltip": tooltip}
    if opacity:
        bar_encoding["opacity"] = opacity
    layer = [{"mark": "bar", "encoding": bar_encoding},
             {"transform": [{"filter": "isValid(datum.lo) && isValid(datum.hi)"}],
              "mark": {"type": "rule", "color": "#333"},
              "encoding": {"y": {"field": "lo", **y}, "y2": {"field": "hi"}}},
             {"mark": {"type": "text", "baseline": "bottom", "dy": -3, "fontSize": 10},
              "encoding": {"y": {"field": "top", **y}, "text": {"field": "value", "format": ".1f"}}}]
    return _spec(name, title, {"bars": bars}, data={"name": "bars"},
                 facet=_panel_field("panel", panels),
                 columns=len(panels) if side_by_side else 1,
                 spec={"width": PANEL_WIDTH if side_by_side else STACKED_WIDTH, "height": PANEL_HEIGHT,
                       "encoding": {"x": {"field": "target", "type": "nominal", "sort": targets, "title": None,
                                          "axis": {"labelAngle": 0}},
                                    "xOffset": {"field": "series", "type": "nominal", "sort": series}},
                       "layer": layer},
                 resolve={"scale": {"y": "shared" if shared_y else "independent"}},
                 config={"legend": {"orient": "bottom", "title": None}})


def per_language_bars(summary: pd.DataFrame, scenario: str = "multi",
                        metrics=("max_r", "complete@10"), model_col: str | None = None) -> dict:
    """Max@R and Complete@10 per target language, English vs target-language queries (grouped bars).

    One panel per metric (its own y scale), x = target language, one bar per query side (and per
    model, told apart by opacity, when `model_col` names a column that tells evaluations apart);
    whiskers: the 95 % bootstrap intervals where the summary has them (`bar_means`)."""
    title = f"{SCENARIO_LABELS.get(scenario, scenario)}: per language"
    s = summary[summary["scenario"] == scenario]
    if s.empty:
        return empty("per_language_bars", "Per language",
                     f"No {SCENARIO_LABELS.get(scenario, scenario)} rows in this evaluation.")
    s = s.assign(target=s["pair"].map(pair_target), side=query_sides(s), model=s[model_col] if model_col else "")
    keys = ["model", "side", "target"]
    bars = pd.concat([bar_means(s, keys, m).assign(panel=vocab.metric(m).arrow_label) for m in metrics],
                     ignore_index=True)
    bars["series"] = np.where(bars["model"] == "", bars["side"], bars["model"] + " · " + bars["side"])
    models = list(dict.fromkeys(bars["model"]))
    color = {"field": "side", "type": "nominal", "title": None,
             "scale": {"domain": list(SIDE_COLORS), "range": list(SIDE_COLORS.values())}}
    opacity = ({"field": "model", "type": "nominal", "title": "model", "sort": models,
                "scale": {"domain": models, "range": list(np.linspace(1.0, 0.45, len(models)).round(2))}}
               if len(models) > 1 else None)
    series = [f"{m} · {side}" if m else side for m in models for side in SIDE_COLORS]
    return _grouped_bars("per_language_bars", title, bars, [vocab.metric(m).arrow_label for m in metrics],
                         series, color, None, opacity)


def multi_vs_cross_bars(summary: pd.DataFrame, metric: str = "complete@10",
                          scenarios=("multi", "mono-cross")) -> dict:
    """The paper's Figure 2 in brief: Multi vs conventional CLIR (Mono-Cross) per target language.

    Two panels (English queries, target-language queries) on one y scale; x = target language; one
    bar per scenario; whiskers: the 95 % bootstrap intervals where the summary has them."""
    label = vocab.metric(metric).arrow_label
    s = summary[summary["scenario"].isin(scenarios)]
    if s.empty:
        return empty("multi_vs_cross_bars", "Multi vs Mono-Cross",
                     "This evaluation has neither Multi nor Mono-Cross rows.")
    s = s.assign(target=s["pair"].map(pair_target), panel=query_sides(s))
    bars = bar_means(s, ["scenario", "panel", "target"], metric)
    bars["series"] = bars["scenario"].map(lambda x: SCENARIO_LABELS.get(x, x))
    names = [SCENARIO_LABELS.get(x, x) for x in scenarios]
    color = {"field": "series", "type": "nominal", "title": None,
             "scale": {"domain": names, "range": [SCENARIO_COLORS.get(x, "#1f77b4") for x in scenarios]}}
    return _grouped_bars("multi_vs_cross_bars", f"Multi vs Mono-Cross — {label}", bars,
                         list(SIDE_COLORS), names, color, label)



# --------------------------------------------------------------------------------------------
# Language preference


def distractor_grid(rows: pd.DataFrame, value: str) -> tuple[list[str], list[str], np.ndarray]:
    """`rows` ("row", "distractor_lang", `value`) as a grid: row labels in order of appearance,
    distractor languages English first, the mean `value` per cell (NaN where none)."""
    labels = list(dict.fromkeys(rows["row"]))
    cols = sorted(dict.fromkeys(rows["distractor_lang"]), key=lambda x: (x != PIVOT, x))
    grid = rows.pivot_table(index="row", columns="distractor_lang", values=value, aggfunc="mean")
    return labels, cols, grid.reindex(index=labels, columns=cols).to_numpy(dtype=float)


def _top(z: np.ndarray, at_least: float) -> float:
    """The largest cell of a grid, or `at_least` if that is larger (or the grid has no value)."""
    return max(at_least, float(np.nanmax(z))) if np.isfinite(z).any() else at_least


def _distractor_heatmap(name: str, grid: tuple[list[str], list[str], np.ndarray], title: str, color: dict,
                        white_text: str, hover: str, hover_format: str, row_height: int) -> dict:
    """A heatmap of a `distractor_grid`: reference rows × distractor languages, each cell labelled
    with its value to two decimals (no cell where there is no value); `color` the colour encoding's
    title and scale, `white_text` a Vega expression of `datum.value` for the cells dark enough to
    take white text, `hover` the value's name in the tooltip."""
    labels, cols, z = grid
    columns = [f"{c} distractors" for c in cols]
    cells = pd.DataFrame({"row": np.repeat(labels, len(cols)), "column": columns * len(labels),
                          "value": z.ravel()}).dropna(subset=["value"])
    tooltip = [{"field": "row", "title": "reference"}, {"field": "column", "title": "distractors"},
               {"field": "value", "format": hover_format, "title": hover}]
    return _spec(name, title, {"cells": cells}, data={"name": "cells"}, width="container",
                 height=row_height * len(labels),
                 encoding={"x": {"field": "column", "type": "nominal", "sort": columns, "title": None,
                                 "axis": {"labelAngle": 0, "orient": "top"}},
                           "y": {"field": "row", "type": "nominal", "sort": labels, "title": None,
                                 "axis": {"labelLimit": 320}}},
                 layer=[{"mark": "rect", "encoding": {"color": {"field": "value", "type": "quantitative", **color,
                                                                "legend": {"gradientLength": max(50, row_height * len(labels) - 50)}},
                                                      "tooltip": tooltip}},
                        {"mark": {"type": "text", "fontSize": 13},
                         "encoding": {"text": {"field": "value", "format": NUMBER}, "tooltip": tooltip,
                                      "color": {"condition": {"test": white_text, "value": "white"},
                                                "value": "black"}}}])


def preference_heatmap(pref: pd.DataFrame, pair: str | None = None) -> dict:
    """Mean unrelated documents of each language ranked above each reference.

    Rows: "<q> queries → <r> reference", columns: distractor language, cell: mean count
    (results.language_preference). The colour scale shows whichever language dominates."""
    title = "Unrelated documents ranked above each reference" + (f" ({pair})" if pair else "")
    p = pref if pair is None or pref.empty else pref[pref["pair"] == pair]
    if p.empty:
        return empty("preference_heatmap", title, "No Multi-scenario queries in this evaluation.")
    p = p.assign(row=[f"{q} queries → {r} reference" for q, r in zip(p["query_lang"], p["ref_lang"])])
    grid = distractor_grid(p, "mean_above")
    return _distractor_heatmap("preference_heatmap", grid, title,
                               {"title": ["mean #", "above"], "scale": {"scheme": "reds", "domainMin": 0}},
                               f"datum.value > {0.6 * _top(grid[2], 0.0):.6g}", "on average", ".3f", 48)


def distractor_share_heatmap(rows: pd.DataFrame, pair: str | None = None) -> dict:
    """The distractor language share: rows "<q> queries → <r> reference", columns the distractor
    language, cell = (share of the distractors above that reference in that language) / (the
    language's share of the pool); 1.0 = in proportion (white), above 1 red, below blue; the scale
    runs from 0 to 2 (a two-language pool's maximum) or to the largest cell if larger.
    `rows` is results.distractor_share."""
    title = "Distractor language share (1 = in proportion to the pool)" + (f" ({pair})" if pair else "")
    p = rows if pair is None or rows.empty else rows[rows["pair"] == pair]
    if p.empty:
        return empty("distractor_share_heatmap", title, "No distractor shares in this evaluation (Multi pools of a "
                                                        "run written with issue 11's measures).")
    grid = distractor_grid(p, "share")
    top = _top(grid[2], 2.0)
    return _distractor_heatmap("distractor_share_heatmap", grid, title,
                               {"title": ["share /", "pool share"],
                                "scale": {"scheme": "redblue", "reverse": True, "domain": [0, top], "domainMid": 1.0}},
                               f"datum.value < 0.3 || datum.value > {1 + 0.6 * (top - 1):.6g}",
                               "× their share of the pool", ".3f", 40)


# --------------------------------------------------------------------------------------------
# Alignment


PANELS_WIDTH = 1_000  # pixels of a row of panels: a wide page's main column is ~1,040 px at 1,500 px
PANEL_GAP = 20  # Vega-Lite's default spacing between facet cells
Y_AXIS = 70  # pixels of the first panel's y axis (labels like 0.0025 and the axis title)


def _panel_width(n_panels: int) -> int:
    """The plotting width of each of `n_panels` side-by-side panels filling PANELS_WIDTH (Streamlit
    draws facet charts at their own width, never the column's)."""
    return (PANELS_WIDTH - Y_AXIS - PANEL_GAP * (n_panels - 1)) // max(n_panels, 1)


def _columns(field: str, order: list[str]) -> dict:
    """A facet into one column per value of `field`, in `order`, headed by the value."""
    return {"column": _panel_field(field, order)}


def softmax_curves(title: str, panel: dict, sort_by_english: bool) -> pd.DataFrame:
    """One panel's curves, long: panel, lang, position (the x: the dimension, or its rank by English
    probability), dim (the dimension), p (its softmax probability), English first."""
    p_en = np.asarray(panel["p_en"], dtype=float)
    order = np.argsort(-p_en, kind="stable") if sort_by_english else np.arange(len(p_en))
    return pd.concat([pd.DataFrame({"panel": title, "lang": lang, "position": np.arange(len(order)), "dim": order,
                                    "p": np.asarray(vals, dtype=float)[order]})
                      for lang, vals in ((PIVOT, p_en), (panel["lang"], panel["p_tgt"]))], ignore_index=True)


def softmax_overlay(panels: list[dict], sort_by_english: bool = False) -> dict:
    """The paper's Figure 1 on real data: softmax-over-dimensions of an English/target pair, overlaid.

    `panels`: one dict per model with keys title, p_en, p_tgt (1-D distributions over dimensions),
    lang (target language), cosine, jsd. One panel per model, headed "<title>: cos <.3f>, JSD <.2e>",
    sharing the y axis; the tooltip of the point nearest the pointer gives its language, dimension
    and probability. `sort_by_english` orders the dimensions by the English probability (each panel
    on its own), so the target's deviations from the English curve stand out."""
    title = "Softmax over dimensions (English vs target)"
    if not panels:
        return empty("softmax_overlay", title, "No pair selected.")
    heads = [f"{p['title']}: cos {p['cosine']:.3f}, JSD {p['jsd']:.2e}" for p in panels]
    curves = pd.concat([softmax_curves(h, p, sort_by_english) for h, p in zip(heads, panels)], ignore_index=True)
    tooltip = [{"field": "lang", "title": "language"}, {"field": "dim", "title": "dimension"},
               {"field": "p", "format": ".3e", "title": "probability"}]
    nearest = {"name": "softmax_hover", "select": {"type": "point", "on": "pointerover", "nearest": True,
                                                   "clear": "pointerout"}}
    panel = {"width": _panel_width(len(panels)), "height": 260,
             "encoding": {"x": {"field": "position", "type": "quantitative", "scale": {"nice": False},
                                "title": "dimension (by English probability)" if sort_by_english else "dimension"},
                          "y": {"field": "p", "type": "quantitative", "scale": {"zero": False},
                                "title": "softmax probability"},
                          "color": {"field": "lang", "type": "nominal", "scale": lang_scale(curves["lang"]),
                                    "title": None, "legend": {"orient": "top"}}},
             "layer": [{"mark": {"type": "line", "strokeWidth": 1, "opacity": 0.75}},
                       {"params": [nearest], "mark": {"type": "circle", "size": 40},
                        "encoding": {"opacity": {"condition": {"param": "softmax_hover", "empty": False, "value": 1},
                                                 "value": 0},
                                     "tooltip": tooltip}}]}
    return _spec("softmax_overlay", title, {"curves": curves}, data={"name": "curves"}, facet=_columns("panel", heads),
                 spec=panel, resolve={"scale": {"x": "independent"}})


def cos_jsd_scatter(frame: pd.DataFrame) -> dict:
    """Cosine vs JSD for every parallel pair (`frame`: model, lang, index, cosine, jsd, as
    alignment.alignment_frame or the views' alignment table), coloured by language (legend
    "en–<lang>"), one panel per model on shared axes so base and tuned compare; the tooltip gives
    the pair's index, target language, cosine (.3f) and JSD (.2e)."""
    title = "Cosine vs JSD over all parallel pairs"
    if frame.empty:
        return empty("cos_jsd_scatter", title, "No parallel pairs.")
    pairs = frame[["model", "lang", "index", "cosine", "jsd"]].reset_index(drop=True)
    models = list(dict.fromkeys(pairs["model"]))
    tooltip = [{"field": "index", "title": "pair"}, {"field": "lang", "title": "target language"},
               {"field": "cosine", "format": ".3f", "title": "cos"}, {"field": "jsd", "format": ".2e", "title": "JSD"}]
    panel = {"width": _panel_width(len(models)), "height": 300, "mark": {"type": "circle", "size": 30, "opacity": 0.7},
             "encoding": {"x": {"field": "cosine", "type": "quantitative", "scale": {"zero": False}, "title": "cosine"},
                          "y": {"field": "jsd", "type": "quantitative", "scale": {"zero": False}, "title": "JSD"},
                          "color": {"field": "lang", "type": "nominal", "scale": lang_scale(pairs["lang"]), "title": None,
                                    "legend": {"orient": "top", "labelExpr": f"'{PIVOT}–' + datum.label"}},
                          "tooltip": tooltip}}
    return _spec("cos_jsd_scatter", title, {"pairs": pairs}, data={"name": "pairs"}, facet=_columns("model", models),
                 spec=panel)



# --------------------------------------------------------------------------------------------
# Embedding map

# A five-pointed star for the highlighted query (a Vega symbol path, within [-1, 1] on both axes)
STAR = ("M0,-1L0.235,-0.324L0.951,-0.309L0.38,0.124L0.588,0.809L0,0.38L-0.588,0.809L-0.38,0.124L-0.951,-0.309"
        "L-0.235,-0.324Z")
MAP_HEIGHT = 540  # one model: the whole chart's (Streamlit fits title, plot and legend in it)
MAP_PANEL_WIDTH, MAP_PANEL_HEIGHT = 500, 440  # each plot's, models side by side
PARALLEL_COLOR = "#787878"
_MAP_AXIS = {"labels": False, "ticks": False, "title": None, "domain": False, "grid": False}


def _label_align(x: float, xs: pd.Series) -> str:
    """Where a label goes beside a point at `x`: ending at it in the right third of the map, starting
    at it in the left third (so it stays inside the plot), centred between."""
    lo, hi = float(xs.min()), float(xs.max())
    third = (hi - lo) / 3
    return "right" if x > hi - third else "left" if x < lo + third else "center"


def parallel_lines(points: pd.DataFrame) -> pd.DataFrame:
    """The segments joining the parallel documents of each passage: passage, x, y → x2, y2, from each
    document to the next of the same passage (in the order of `points`; a passage in n languages
    gives n - 1 segments, one alone none), sorted by passage. Drawn as `rule` marks: one item per
    segment, where a `line` per passage (`detail`) made Vega group the data 10,000 times for a
    20,000-document map. Vectorised: such a map takes milliseconds."""
    order = np.argsort(points["passage"].to_numpy(), kind="stable")
    passage = points["passage"].to_numpy()[order]
    x, y = points["x"].to_numpy(float)[order], points["y"].to_numpy(float)[order]
    joined = passage[1:] == passage[:-1]  # row i and i + 1 are documents of one passage
    return pd.DataFrame({"passage": passage[:-1][joined], "x": x[:-1][joined], "y": y[:-1][joined],
                         "x2": x[1:][joined], "y2": y[1:][joined]})


def _labels(**mark) -> list[dict]:
    """Text layers of the `label` field: a white halo under the black text, so a label stays readable
    over points, lines and other labels."""
    text = {"type": "text", "fontSize": 12, "fontWeight": "bold", **mark}
    encoding = {"text": {"field": "label"}}
    return [{"mark": {**text, "stroke": "white", "strokeWidth": 4, "strokeJoin": "round"}, "encoding": encoding},
            {"mark": text, "encoding": encoding}]


def _map_panel(sub: pd.DataFrame, highlight: dict | None, join_parallel: bool, color: dict,
               key: int) -> tuple[dict, dict[str, pd.DataFrame]]:
    """One model's map: its layers (grey parallel lines, the documents, the ringed references and
    the query's star, each with its label) and their datasets, named `<what>_<key>`."""
    text = sub["text"] if "text" in sub else sub["doc_id"]
    docs = pd.DataFrame({"x": sub["x"].to_numpy(float), "y": sub["y"].to_numpy(float), "lang": sub["lang"].to_numpy(),
                         "doc_id": sub["doc_id"].to_numpy(), "text": text.astype(str).str[:80].to_numpy()})
    datasets = {f"docs_{key}": docs}
    layers = []
    if join_parallel:
        datasets[f"lines_{key}"] = parallel_lines(sub)
        layers.append({"data": {"name": f"lines_{key}"},
                       "mark": {"type": "rule", "color": PARALLEL_COLOR, "opacity": 0.35, "strokeWidth": 1},
                       "encoding": {"x2": {"field": "x2"}, "y2": {"field": "y2"}}})
    layers.append({"data": {"name": f"docs_{key}"}, "mark": {"type": "circle", "size": 36, "opacity": 0.75},
                   "encoding": {"color": {"field": "lang", "type": "nominal", **color},
                                "tooltip": [{"field": "doc_id", "title": "document"}, {"field": "text"}]}})
    if highlight:
        refs = sub[sub["doc_id"].isin(highlight.get("refs", []))]
        datasets[f"refs_{key}"] = pd.DataFrame({"x": refs["x"].to_numpy(float), "y": refs["y"].to_numpy(float),
                                                "label": refs["doc_id"].to_numpy()})
        layers.append({"data": {"name": f"refs_{key}"}, "layer": [
            {"mark": {"type": "point", "size": 330, "filled": False, "stroke": "black", "strokeWidth": 3,
                      "opacity": 1}}, *_labels(dy=-18)]})
        if highlight.get("query") is not None:
            qx, qy, qlabel = highlight["query"]
            datasets[f"query_{key}"] = pd.DataFrame({"x": [float(qx)], "y": [float(qy)], "label": [qlabel]})
            layers.append({"data": {"name": f"query_{key}"}, "layer": [
                {"mark": {"type": "point", "shape": STAR, "size": 500, "filled": True, "fill": "gold",
                          "stroke": "black", "strokeWidth": 1.5, "opacity": 1},
                 "encoding": {"tooltip": [{"field": "label", "title": "query"}]}},
                *_labels(dy=22, align=_label_align(float(qx), sub["x"]))]})
    scale = {"zero": False}
    panel = {"encoding": {"x": {"field": "x", "type": "quantitative", "scale": scale, "axis": _MAP_AXIS},
                          "y": {"field": "y", "type": "quantitative", "scale": scale, "axis": _MAP_AXIS}},
             "layer": layers}
    return panel, datasets


def embedding_map(points: pd.DataFrame, highlight: dict | None = None, title: str = "Embedding map",
                  join_parallel: bool = True) -> dict:
    """2-D maps of pool embeddings, one panel per model (side by side, each on its own axes, without
    tick labels: only positions within a panel mean something), documents coloured by language with
    their id and first 80 characters on hover, grey lines joining the parallel documents of each
    passage (`join_parallel`).

    `points`: model, x, y, lang, doc_id, passage (parallel documents share it), text (optional).
    `highlight`: {model: {"query": (x, y, label), "refs": [doc_id, ...]}} draws that model's query
    as a gold star labelled `label` and rings its references, labelled with their ids."""
    if points.empty:
        return empty("embedding_map", title, "Nothing to project.")
    models = list(dict.fromkeys(points["model"]))
    color = {"scale": lang_scale(points["lang"]), "title": "language", "legend": {"orient": "bottom"}}
    panels, datasets = [], {}
    for key, model in enumerate(models):
        panel, data = _map_panel(points[points["model"] == model], (highlight or {}).get(model), join_parallel,
                                 color, key)
        panels.append(panel)
        datasets.update(data)
    notes = ["grey lines join the parallel documents of a passage"] if join_parallel else []
    if any((highlight or {}).get(m) for m in models):
        notes.append("★ the query; ringed: its references")
    if len(models) == 1:
        spec = _spec("embedding_map", title, datasets, **panels[0], width="container", height=MAP_HEIGHT)
    else:
        spec = _spec("embedding_map", title, datasets,
                     hconcat=[{"title": model, "width": MAP_PANEL_WIDTH, "height": MAP_PANEL_HEIGHT, **panel}
                              for model, panel in zip(models, panels)],
                     resolve={"scale": {"x": "independent", "y": "independent", "color": "shared"}})
    subtitle = ([models[0]] if len(models) == 1 else []) + (["; ".join(notes)] if notes else [])
    if subtitle:
        spec["title"]["subtitle"] = " — ".join(subtitle)
    return spec


# --------------------------------------------------------------------------------------------
# Fine-tune


TRAINING_CURVES = (("loss", "loss"), ("jsd", "JSD"), ("nce", "InfoNCE"), ("lr", "learning rate"))
CURVE_WIDTH, CURVE_HEIGHT = 440, 160
NORMS_HEIGHT = 360  # the whole chart's (Streamlit fits title, plot and legend in it)
STEP_AXIS = {"format": "d", "tickMinStep": 1}  # steps are whole numbers
NORM_CURVES = (("norm_en", "English passages ‖z‖"), ("norm_tgt", "target passages ‖z‖"))
SQRT_JSD = "√JSD"


def rolling_mean(values: pd.Series, smooth: int) -> pd.Series:
    """The mean of each value and the `smooth` - 1 before it (fewer at the start: the first is itself)."""
    return values.astype(float).rolling(smooth, min_periods=1).mean()


def _curve_panel(i: int, col: str, label: str, smooth: int, bottom: bool, top: float) -> dict:
    """One panel of `training_curves`: the raw line of `col` (faded under its rolling mean when
    smoothed), transparent points that carry the hover, its own y axis (`top`: the largest value)."""
    colour = PALETTE[i]
    smoothed = smooth > 1 and col != "lr"
    y = {"type": "quantitative", "title": None, "scale": {"zero": False}}
    if col == "lr":  # a schedule: from 0, so warm-up and decay read as fractions of the peak (and 15% above it)
        y = {**y, "scale": {"domain": [0, top * 1.15 if top > 0 else 1]}, "axis": {"format": ".1e"}}
    tooltip = [{"field": "step"}, {"field": col, "title": label, "format": ".4g"}]
    layers = [{"mark": {"type": "line", "color": colour, "strokeWidth": 1, "opacity": 0.5 if smoothed else 1.0},
               "encoding": {"y": {"field": col, **y}}}]
    if smoothed:
        layers.append({"mark": {"type": "line", "color": colour, "strokeWidth": 2.5},
                       "encoding": {"y": {"field": f"{col}_mean", **y}}})
        tooltip.append({"field": f"{col}_mean", "title": f"mean of {smooth}", "format": ".4g"})
    layers.append({"mark": {"type": "point", "opacity": 0, "size": 60},
                   "encoding": {"y": {"field": f"{col}_mean" if smoothed else col, **y}, "tooltip": tooltip}})
    return {"title": label, "width": CURVE_WIDTH, "height": CURVE_HEIGHT,
            "encoding": {"x": {"field": "step", "type": "quantitative", "title": "step" if bottom else None,
                               "axis": STEP_AXIS}},
            "layer": layers}


def training_curves(metrics: pd.DataFrame, smooth: int = 1) -> dict:
    """Loss, JSD, InfoNCE and learning rate against step (metrics.jsonl as a DataFrame), 2×2 panels
    on one step axis, each its own y axis and colour; the title names the last step.

    `smooth` > 1 fades each raw line and draws over it the rolling mean over `smooth` steps
    (`rolling_mean`), except for the learning rate (a schedule, not a noisy measure), whose axis
    starts at 0 with scientific ticks. No step logged yet: a chart that says so."""
    if metrics is None or metrics.empty or "step" not in metrics:
        return empty("training_curves", "Training curves", "No steps logged yet.")
    curves = [(i, col, label) for i, (col, label) in enumerate(TRAINING_CURVES) if col in metrics]
    steps = pd.DataFrame({"step": metrics["step"].to_numpy()})
    for _, col, _ in curves:
        steps[col] = metrics[col].to_numpy(float)
        if smooth > 1 and col != "lr":
            steps[f"{col}_mean"] = rolling_mean(metrics[col], smooth).to_numpy()
    panels = [_curve_panel(i, col, label, smooth, bottom=n >= len(curves) - 2,
                           top=float(np.nan_to_num(steps[col].max()))) for n, (i, col, label) in enumerate(curves)]
    spec = _spec("training_curves", f"Training curves — step {int(metrics['step'].max())}", {"steps": steps},
                 data={"name": "steps"}, concat=panels, columns=2,
                 resolve={"scale": {"x": "shared", "y": "independent"}})
    if smooth > 1:
        spec["title"]["subtitle"] = f"faded: each step; bold: the mean of the last {smooth} steps"
    return spec


def has_passage_norms(metrics: pd.DataFrame) -> bool:
    """Whether a metrics frame holds any logged pre-norm passage norm (runs before they were logged do not)."""
    return metrics is not None and any(c in metrics and metrics[c].notna().any() for c, _ in NORM_CURVES)


def passage_norms(metrics: pd.DataFrame, smooth: int = 1) -> dict:
    """Mean pre-normalisation ‖z‖ of the English and the target passages per step (left axis) with
    the √JSD term (right axis, its own scale, dotted), from metrics.jsonl as a DataFrame.

    The pre-norm √JSD can fall just because ‖z‖ shrinks (softmax of a short vector is nearly
    uniform); this chart shows whether a falling JSD came with falling norms. `smooth` > 1 draws
    rolling means over that many steps (`rolling_mean`) instead of the raw values."""
    if not has_passage_norms(metrics) or "step" not in metrics:
        return empty("passage_norms", "Passage norms",
                     "No pre-norm ‖z‖ logged (a run from before they were logged, or no step yet).")
    curve = (lambda col: rolling_mean(metrics[col], smooth)) if smooth > 1 else (lambda col: metrics[col].astype(float))
    step = metrics["step"].to_numpy()
    norms = pd.concat([pd.DataFrame({"step": step, "series": label, "value": curve(col).to_numpy()})
                       for col, label in NORM_CURVES if col in metrics and metrics[col].notna().any()],
                      ignore_index=True)
    datasets = {"norms": norms}
    series = {label: colour for (_, label), colour in zip(NORM_CURVES, (lang_color(PIVOT), PALETTE[1]))
              if label in set(norms["series"])}
    if "jsd" in metrics and metrics["jsd"].notna().any():
        datasets["jsd"] = pd.DataFrame({"step": step, "series": SQRT_JSD, "value": curve("jsd").to_numpy()})
        series[SQRT_JSD] = PALETTE[2]
    look = {"color": {"field": "series", "type": "nominal", "title": None, "legend": {"orient": "bottom"},
                      "scale": {"domain": list(series), "range": list(series.values())}},
            "strokeDash": {"field": "series", "type": "nominal", "title": None,
                           "scale": {"domain": list(series), "range": [[2, 2] if s == SQRT_JSD else [1, 0]
                                                                        for s in series]}}}
    tooltip = [{"field": "step"}, {"field": "series", "title": "curve"}, {"field": "value", "format": ".4g"}]

    def layer(data: str, width: float, axis: dict) -> dict:
        y = {"field": "value", "type": "quantitative", "scale": {"zero": False}, **axis}
        return {"data": {"name": data}, "encoding": {"y": y},
                "layer": [{"mark": {"type": "line", "strokeWidth": width}, "encoding": look},
                          {"mark": {"type": "point", "opacity": 0, "size": 60}, "encoding": {"tooltip": tooltip}}]}

    layers = [layer("norms", 2, {"title": "mean pre-norm ‖z‖"})]
    if "jsd" in datasets:
        layers.append(layer("jsd", 1.5, {"title": SQRT_JSD,
                                         "axis": {"format": ".4f", "orient": "right", "grid": False}}))
    title = "Pre-normalisation passage norms vs √JSD" + (f" (mean of {smooth} steps)" if smooth > 1 else "")
    return _spec("passage_norms", title, datasets, width="container", height=NORMS_HEIGHT,
                 encoding={"x": {"field": "step", "type": "quantitative", "title": "step", "axis": STEP_AXIS}},
                 layer=layers,
                 resolve={"scale": {"y": "independent"}})


# --------------------------------------------------------------------------------------------
# Fixes

KIND_COLORS = {"fix": "#1f77b4", "fine-tune": "#d62728", "base": "#7f7f7f"}


def _point_name(fix, model) -> str:
    """A point's label: the fix (lir1), else a checkpoint's last two folders (demo/final)."""
    if isinstance(fix, str) and fix:
        return fix
    parts = str(model).rstrip("/").split("/")
    return "/".join(parts[-2:])


def fix_tradeoff_scatter(tradeoff: pd.DataFrame) -> dict:
    """The fix lab's trade-off: one labelled point per variant or checkpoint (`tables.fix_tradeoff`),
    x = change in Mono-Same NDCG@1 (the cost in monolingual ranking), y = gain in Multi Complete@10,
    both against the base model in points; the base is the cross at the origin, on dotted axes. Up
    and to the right is better on both; up and to the left buys cross-lingual retrieval with
    monolingual quality."""
    name, title = "fix_tradeoff_scatter", "Trade-off: gain in Multi Complete@10 vs change in Mono-Same NDCG@1 (against the base)"
    rows = tradeoff.dropna(subset=["delta_c10", "delta_mono_ndcg1"]) if not tradeoff.empty else tradeoff
    if rows.empty:
        return empty(name, title, "No variant or checkpoint beside the base model on the same pools yet (the "
                                  "trade-off needs Multi and Mono-Same rows).")
    points = pd.DataFrame({"x": rows["delta_mono_ndcg1"].astype(float), "y": rows["delta_c10"].astype(float),
                           "kind": rows["kind"], "model": rows["model"].astype(str),
                           "label": [_point_name(f, m) for f, m in zip(rows["fix"], rows["model"])]})
    points = pd.concat([points, pd.DataFrame({"x": [0.0], "y": [0.0], "kind": ["base"], "model": ["base"],
                                              "label": ["base"]})], ignore_index=True)
    kinds = list(dict.fromkeys(points["kind"]))
    x = {"field": "x", "type": "quantitative", "title": "Δ Mono-Same NDCG@1 (points; left = monolingual cost)"}
    y = {"field": "y", "type": "quantitative", "title": "Δ Multi Complete@10 (points)"}
    tooltip = [{"field": "model"}, {"field": "y", "format": "+.1f", "title": "Δ Multi C@10"},
               {"field": "x", "format": "+.1f", "title": "Δ Mono-Same NDCG@1"}]
    color = {"field": "kind", "type": "nominal", "title": None,
             "scale": {"domain": kinds, "range": [KIND_COLORS.get(k, "#9467bd") for k in kinds]}}
    zero = {"mark": {"type": "rule", "strokeDash": [3, 3], "color": "#999"}, "data": {"values": [{"at": 0}]}}
    return _spec(name, title, {"points": points}, width="container", height=420,
                 layer=[{**zero, "encoding": {"y": {**y, "field": "at"}}}, {**zero, "encoding": {"x": {**x, "field": "at"}}},
                        {"data": {"name": "points"}, "mark": {"type": "point", "filled": True, "size": 120},
                         "encoding": {"x": x, "y": y, "color": color, "tooltip": tooltip,
                                      "shape": {"condition": {"test": "datum.kind === 'base'", "value": "cross"},
                                                "value": "circle"}}},
                        {"data": {"name": "points"}, "mark": {"type": "text", "dy": -12, "fontSize": 12},
                         "encoding": {"x": x, "y": y, "text": {"field": "label"}}}],
                 config={"legend": {"orient": "bottom"}})
