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

from xldiag.viz import PALETTE, lang_color
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
