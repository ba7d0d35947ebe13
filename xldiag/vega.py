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

from xldiag.viz import lang_color
from xldiag.vocab import PIVOT

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


def lang_scale(langs) -> dict:
    """A colour scale giving each language xldiag.viz's colour, English first."""
    ordered = sorted(dict.fromkeys(langs), key=lambda x: (x != PIVOT, x))
    return {"domain": ordered, "range": [lang_color(x) for x in ordered]}


# --------------------------------------------------------------------------------------------
# Overview



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
                           "y": {"field": "row", "type": "nominal", "sort": labels, "title": None}},
                 layer=[{"mark": "rect", "encoding": {"color": {"field": "value", "type": "quantitative", **color},
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
    return {"column": {"field": field, "type": "nominal", "sort": order, "title": None,
                       "header": {"labelFontSize": 13, "labelLimit": 0}}}


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



# --------------------------------------------------------------------------------------------
# Fine-tune
