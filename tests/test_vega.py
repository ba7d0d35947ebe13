"""Vega-Lite specs (xldiag.vega): every spec is valid against the Vega-Lite JSON schema Streamlit's
frontend compiles (v6), and draws the values it should, on small known inputs."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import altair
import jsonschema
import numpy as np
import pandas as pd
import pytest
from eval_folders import make_distractor_share, make_per_query, make_summary

from xldiag import alignment, results, runs, vega


@functools.cache
def _validator():
    schema = json.loads((Path(altair.__file__).parent / "vegalite" / "v6" / "schema" / "vega-lite-schema.json").read_text())
    return jsonschema.Draft7Validator(schema)


def as_json(spec: dict) -> dict:
    """The spec as the browser gets it: named datasets as lists of records (NaN as null)."""
    out = {k: v for k, v in spec.items() if k != "datasets"}
    out["datasets"] = {name: json.loads(frame.to_json(orient="records")) for name, frame in spec["datasets"].items()}
    return json.loads(json.dumps(out))


def valid(spec: dict) -> dict:
    """Assert `spec` is a valid Vega-Lite v6 spec whose named data all exist; returns it as JSON."""
    assert spec["$schema"] == vega.SCHEMA
    doc = as_json(spec)
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]
    used = {m for m in _names(doc) if m}
    assert used <= set(doc["datasets"]), used - set(doc["datasets"])
    return doc


def _names(node):
    """Every `data: {"name": ...}` in a spec."""
    if isinstance(node, dict):
        if isinstance(node.get("data"), dict) and "name" in node["data"]:
            yield node["data"]["name"]
        for v in node.values():
            yield from _names(v)
    elif isinstance(node, list):
        for v in node:
            yield from _names(v)


def test_the_validator_rejects_a_broken_spec():
    spec = vega.empty("nothing", "t", "nothing")
    valid(spec)
    with pytest.raises(AssertionError):
        valid({**spec, "mark": {"type": "no-such-mark"}})
    with pytest.raises(AssertionError):
        valid({**spec, "data": {"name": "missing"}})


def test_lang_scale_uses_the_plotly_colours_english_first():
    scale = vega.lang_scale(["zh", "en", "ar", "zh"])
    assert scale["domain"] == ["en", "ar", "zh"]
    assert scale["range"] == [vega.lang_color("en"), vega.lang_color("ar"), vega.lang_color("zh")]


# --------------------------------------------------------------------------------------------
# Overview


@pytest.fixture(scope="module")
def summary():
    s = make_summary(make_per_query())
    # a second target language with known values, to check grouping by language
    de = s.assign(pair="en+de", query_lang=s["query_lang"].replace({"zh": "de"}), max_r=s["max_r"] * 2)
    return pd.concat([s, de], ignore_index=True)


def _bars(doc: dict, **where) -> dict:
    """{target: value} of the bars matching `where` (e.g. panel="Max@R ↓", series="English queries")."""
    return {b["target"]: b["value"] for b in doc["datasets"]["bars"] if all(b[k] == v for k, v in where.items())}


def test_per_language_bars_bars_panels_and_labels(summary):
    doc = valid(vega.per_language_bars(summary))
    # English queries, Multi, zh: Max@R = mean(2, 5, 2, 9) = 4.5; de doubled
    assert _bars(doc, panel="Max@R ↓", series="English queries") == pytest.approx({"zh": 4.5, "de": 9.0})
    # Complete@10 for target-language queries (max ranks 2, 4, 2, 7: all ≤ 10)
    assert _bars(doc, panel="Complete@10 ↑", series="Target-language queries") == {"zh": 100.0, "de": 100.0}
    assert doc["facet"]["sort"] == ["Max@R ↓", "Complete@10 ↑"]  # labels from vocab
    assert doc["spec"]["encoding"]["x"]["sort"] == ["zh", "de"]
    assert doc["columns"] == 2  # 2 targets × 2 sides: the panels side by side
    assert doc["resolve"]["scale"]["y"] == "independent"  # two metrics: two scales
    assert doc["title"]["text"] == "Multi: per language"
    assert "opacity" not in doc["spec"]["layer"][0]["encoding"]  # one model


def test_per_language_bars_two_models_and_empty_scenario(summary):
    both = pd.concat([summary.assign(model_label="m1"), summary.assign(model_label="m2", max_r=summary["max_r"] + 1)])
    doc = valid(vega.per_language_bars(both, model_col="model_label"))
    assert _bars(doc, panel="Max@R ↓", series="m2 · English queries") == pytest.approx({"zh": 5.5, "de": 10.0})
    assert doc["spec"]["layer"][0]["encoding"]["opacity"]["scale"]["domain"] == ["m1", "m2"]
    assert doc["spec"]["encoding"]["xOffset"]["sort"] == ["m1 · English queries", "m1 · Target-language queries",
                                                          "m2 · English queries", "m2 · Target-language queries"]
    assert doc["columns"] == 2  # 2 targets × 4 bars: side by side
    seven = pd.concat([summary[summary["pair"] == "en+zh"].assign(pair=f"en+{t}", query_lang=lambda f, t=t: f[
        "query_lang"].replace({"zh": t})) for t in ("zh", "ar", "de", "el", "es", "hi", "th")], ignore_index=True)
    stacked = valid(vega.per_language_bars(seven))
    assert stacked["columns"] == 1 and stacked["spec"]["width"] == vega.STACKED_WIDTH  # 7 × 2 bars a panel
    assert stacked["spec"]["encoding"]["x"]["sort"] == ["zh", "ar", "de", "el", "es", "hi", "th"]
    empty = valid(vega.per_language_bars(summary, scenario="multi-1"))
    assert "No Multi-1 rows" in empty["datasets"]["message"][0]["text"]


def test_per_language_bars_interval_whiskers():
    s = make_summary(make_per_query())
    doc = valid(vega.per_language_bars(s))
    en = [b for b in doc["datasets"]["bars"] if b["series"] == "English queries" and b["panel"] == "Max@R ↓"][0]
    assert (en["value"], en["lo"], en["hi"], en["top"]) == pytest.approx((4.5, 2.0, 9.0, 9.0))  # the fixture's [2, 9]
    whiskers = doc["spec"]["layer"][1]
    assert whiskers["mark"]["type"] == "rule" and whiskers["encoding"]["y2"] == {"field": "hi"}
    plain = valid(vega.per_language_bars(s.drop(columns=["max_r_lo", "max_r_hi"])))
    en = [b for b in plain["datasets"]["bars"] if b["series"] == "English queries" and b["panel"] == "Max@R ↓"][0]
    assert en["lo"] is None and en["hi"] is None and en["top"] == 4.5  # no whisker: filtered by isValid


def test_bar_means_are_the_means_of_value_and_interval_ends():
    rows = pd.DataFrame({"k": ["a", "a", "b"], "m": [1.0, 3.0, 5.0], "m_lo": [0.0, 2.0, 4.0], "m_hi": [2.0, 6.0, 5.5]})
    out = vega.bar_means(rows, ["k"], "m")
    assert out.to_dict("list") == {"k": ["a", "b"], "value": [2.0, 5.0], "lo": [1.0, 4.0], "hi": [4.0, 5.5],
                                   "top": [4.0, 5.5]}


def test_multi_vs_cross_bars_panels_and_values(summary):
    doc = valid(vega.multi_vs_cross_bars(summary, metric="max_r"))
    assert _bars(doc, panel="English queries", series="Multi")["zh"] == pytest.approx(4.5)
    assert _bars(doc, panel="English queries", series="Mono-Cross")["zh"] == pytest.approx(np.mean([1, 2, 1, 3]))
    assert _bars(doc, panel="Target-language queries", series="Mono-Cross")["zh"] == pytest.approx(np.mean([1, 1, 2, 4]))
    assert doc["facet"]["sort"] == ["English queries", "Target-language queries"]
    assert doc["resolve"]["scale"]["y"] == "shared" and doc["spec"]["layer"][0]["encoding"]["y"]["title"] == "Max@R ↓"
    assert doc["title"]["text"] == "Multi vs Mono-Cross — Max@R ↓"
    assert doc["spec"]["layer"][0]["encoding"]["color"]["scale"]["domain"] == ["Multi", "Mono-Cross"]
    empty = valid(vega.multi_vs_cross_bars(summary[summary["scenario"] == "mono-same"]))
    assert "neither Multi nor Mono-Cross" in empty["datasets"]["message"][0]["text"]



# --------------------------------------------------------------------------------------------
# Language preference


def test_preference_heatmap_cells():
    pref = results.language_preference(make_per_query())
    doc = valid(vega.preference_heatmap(pref, pair="en+zh"))
    assert doc["encoding"]["x"]["sort"] == ["en distractors", "zh distractors"]
    assert doc["encoding"]["y"]["sort"] == ["en queries → en reference", "en queries → zh reference",
                                            "zh queries → en reference", "zh queries → zh reference"]
    cells = {(c["row"], c["column"]): c["value"] for c in doc["datasets"]["cells"]}
    assert cells[("en queries → zh reference", "en distractors")] == pytest.approx(2.5)
    assert cells[("en queries → zh reference", "zh distractors")] == 0
    assert cells[("zh queries → en reference", "zh distractors")] == pytest.approx(1.0)
    assert doc["layer"][1]["encoding"]["text"] == {"field": "value", "format": ".2f"}  # "2.50" on the cell
    assert "No Multi-scenario" in valid(vega.preference_heatmap(pref.iloc[:0]))["datasets"]["message"][0]["text"]


def test_distractor_share_heatmap_cells():
    rows = results.distractor_share(make_distractor_share(make_per_query()), "en+zh")
    doc = valid(vega.distractor_share_heatmap(rows, "en+zh"))
    cells = {(c["row"], c["column"]): c["value"] for c in doc["datasets"]["cells"]}
    assert {k: v for k, v in cells.items() if "any reference" in k[0]} == {
        ("en queries → any reference", "en distractors"): 2.0, ("en queries → any reference", "zh distractors"): 0.0,
        ("zh queries → any reference", "en distractors"): 0.0, ("zh queries → any reference", "zh distractors"): 2.0}
    assert cells[("zh queries → en reference", "zh distractors")] == 2.0
    _, _, z = vega.distractor_grid(rows, "share")
    assert len(cells) == np.isfinite(z).sum() == 10  # a reference with no distractor above it: no cell
    assert doc["encoding"]["x"]["sort"] == ["en distractors", "zh distractors"]  # English first
    rect = doc["layer"][0]["encoding"]["color"]["scale"]
    assert rect["domainMid"] == 1.0 and rect["domain"] == [0, 2.0]  # 1 = in proportion: the scale's middle
    assert doc["title"]["text"].endswith("(en+zh)")


def test_distractor_share_heatmap_scale_grows_with_the_largest_cell_and_skips_empty_cells():
    rows = pd.DataFrame({"pair": "en+zh", "row": ["a", "a", "b"], "distractor_lang": ["en", "zh", "en"],
                         "share": [3.5, 0.2, 1.0]})
    doc = valid(vega.distractor_share_heatmap(rows))
    assert doc["layer"][0]["encoding"]["color"]["scale"]["domain"] == [0, 3.5]
    assert len(doc["datasets"]["cells"]) == 3  # b × zh has no value: no cell, no "nan" label
    assert doc["encoding"]["y"]["sort"] == ["a", "b"]


def test_distractor_share_heatmap_without_rows_says_why():
    doc = valid(vega.distractor_share_heatmap(pd.DataFrame(columns=["pair", "row", "distractor_lang", "share"]), "en+zh"))
    assert "No distractor shares" in doc["datasets"]["message"][0]["text"]


# --------------------------------------------------------------------------------------------
# Alignment


def _panel(title: str, p_en, p_tgt, cosine: float, jsd: float, lang: str = "zh") -> dict:
    return {"title": title, "p_en": np.asarray(p_en), "p_tgt": np.asarray(p_tgt), "lang": lang, "cosine": cosine, "jsd": jsd}


def _curve(doc: dict, panel: str, lang: str) -> tuple[list, list, list]:
    """(position, dim, p) of one drawn curve, in the order of position."""
    rows = sorted((r for r in doc["datasets"]["curves"] if r["panel"] == panel and r["lang"] == lang),
                  key=lambda r: r["position"])
    return [r["position"] for r in rows], [r["dim"] for r in rows], [r["p"] for r in rows]


def test_softmax_overlay_draws_one_panel_per_model_headed_by_cos_and_jsd():
    panels = [_panel("tuned", [0.1, 0.5, 0.4], [0.2, 0.3, 0.5], 0.91234, 0.000123),
              _panel("base", [0.25, 0.25, 0.5], [0.6, 0.3, 0.1], 0.5, 0.02)]
    doc = valid(vega.softmax_overlay(panels))
    heads = ["tuned: cos 0.912, JSD 1.23e-04", "base: cos 0.500, JSD 2.00e-02"]
    assert doc["name"] == "softmax_overlay"
    assert doc["facet"]["column"]["field"] == "panel" and doc["facet"]["column"]["sort"] == heads
    assert _curve(doc, heads[0], "en") == ([0, 1, 2], [0, 1, 2], [0.1, 0.5, 0.4])  # in dimension order
    assert _curve(doc, heads[0], "zh") == ([0, 1, 2], [0, 1, 2], [0.2, 0.3, 0.5])
    assert _curve(doc, heads[1], "zh")[2] == [0.6, 0.3, 0.1]
    assert len(doc["datasets"]["curves"]) == 12
    assert doc["resolve"] == {"scale": {"x": "independent"}}  # the y axis is shared (Vega-Lite's default)
    enc = doc["spec"]["encoding"]
    assert (enc["x"]["field"], enc["x"]["title"], enc["y"]["field"]) == ("position", "dimension", "p")
    assert enc["color"]["scale"] == {"domain": ["en", "zh"], "range": [vega.lang_color("en"), vega.lang_color("zh")]}
    points = doc["spec"]["layer"][1]
    assert points["encoding"]["tooltip"] == [{"field": "lang", "title": "language"},
                                             {"field": "dim", "title": "dimension"},
                                             {"field": "p", "format": ".3e", "title": "probability"}]
    assert points["params"][0]["select"]["nearest"] is True  # the tooltip of the point nearest the pointer


def test_softmax_overlay_sorted_by_english_keeps_each_dimension_with_its_values():
    panels = [_panel("tuned", [0.1, 0.5, 0.4], [0.2, 0.3, 0.5], 0.9, 0.001),
              _panel("base", [0.25, 0.25, 0.5], [0.6, 0.3, 0.1], 0.5, 0.02)]
    doc = valid(vega.softmax_overlay(panels, sort_by_english=True))
    tuned, base = doc["facet"]["column"]["sort"]
    # each panel on its own: dimensions by decreasing English probability, the target's value stays with its dimension
    assert _curve(doc, tuned, "en") == ([0, 1, 2], [1, 2, 0], [0.5, 0.4, 0.1])
    assert _curve(doc, tuned, "zh") == ([0, 1, 2], [1, 2, 0], [0.3, 0.5, 0.2])
    assert _curve(doc, base, "en") == ([0, 1, 2], [2, 0, 1], [0.5, 0.25, 0.25])  # ties keep dimension order
    assert _curve(doc, base, "zh")[1:] == ([2, 0, 1], [0.1, 0.6, 0.3])
    assert doc["spec"]["encoding"]["x"]["title"] == "dimension (by English probability)"


def test_softmax_overlay_of_real_vectors_and_nothing_selected():
    rng = np.random.default_rng(0)
    en = rng.normal(size=(1, 8))
    zh = en + rng.normal(scale=0.1, size=en.shape)
    cos, jsd = alignment.cosine(en, zh)[0], alignment.jsd(alignment.softmax_dims(en), alignment.softmax_dims(zh))[0]
    panel = _panel("default", alignment.softmax_dims(en)[0], alignment.softmax_dims(zh)[0], cos, jsd)
    doc = valid(vega.softmax_overlay([panel]))
    [head] = doc["facet"]["column"]["sort"]
    assert head == f"default: cos {cos:.3f}, JSD {jsd:.2e}"
    for lang in ("en", "zh"):
        assert sum(_curve(doc, head, lang)[2]) == pytest.approx(1.0)
    assert doc["spec"]["width"] == vega.PANELS_WIDTH - vega.Y_AXIS  # one panel takes the whole row
    assert "No pair selected" in valid(vega.softmax_overlay([]))["datasets"]["message"][0]["text"]


def test_panels_fit_the_row():
    for n in range(1, 5):
        assert n * vega._panel_width(n) + (n - 1) * vega.PANEL_GAP + vega.Y_AXIS <= vega.PANELS_WIDTH
        assert vega._panel_width(n) > 200


def test_cos_jsd_scatter_one_panel_per_model_on_shared_axes():
    rng = np.random.default_rng(0)
    en = rng.normal(size=(5, 8))
    zh = en + rng.normal(scale=0.1, size=en.shape)
    frame = alignment.alignment_frame({"base": {"en": en, "zh": rng.normal(size=en.shape), "ar": en},
                                       "tuned": {"en": en, "zh": zh}})
    frame = frame.assign(en_text="some text")  # the page's frame carries more columns than are drawn
    doc = valid(vega.cos_jsd_scatter(frame))
    assert doc["name"] == "cos_jsd_scatter"
    assert doc["facet"]["column"]["field"] == "model" and doc["facet"]["column"]["sort"] == ["base", "tuned"]
    assert "resolve" not in doc  # shared x and y axes across the panels
    drawn = pd.DataFrame(doc["datasets"]["pairs"])
    assert list(drawn.columns) == ["model", "lang", "index", "cosine", "jsd"]
    pd.testing.assert_frame_equal(drawn, frame[list(drawn.columns)].reset_index(drop=True), check_dtype=False)
    tuned = drawn[drawn["model"] == "tuned"]
    assert tuned["cosine"].tolist() == pytest.approx(alignment.cosine(en, zh).tolist())
    enc = doc["spec"]["encoding"]
    assert (enc["x"]["field"], enc["y"]["field"]) == ("cosine", "jsd")
    assert enc["color"]["scale"]["domain"] == ["ar", "zh"]
    assert enc["color"]["scale"]["range"] == [vega.lang_color("ar"), vega.lang_color("zh")]
    assert enc["color"]["legend"]["labelExpr"] == "'en–' + datum.label"  # legend entries "en–ar", "en–zh"
    assert enc["tooltip"] == [{"field": "index", "title": "pair"}, {"field": "lang", "title": "target language"},
                              {"field": "cosine", "format": ".3f", "title": "cos"},
                              {"field": "jsd", "format": ".2e", "title": "JSD"}]
    assert "No parallel pairs" in valid(vega.cos_jsd_scatter(frame.iloc[:0]))["datasets"]["message"][0]["text"]



# --------------------------------------------------------------------------------------------
# Embedding map


def _layers(node) -> list[dict]:
    """The unit views of a (layered) view, depth first, each with the data it inherits."""
    out = []
    for layer in node.get("layer", []):
        layer = {**layer, "data": layer.get("data", node.get("data"))}
        out += _layers(layer) if "layer" in layer else [layer]
    return out


def _of(panel: dict, data: str) -> list[dict]:
    return [layer for layer in _layers(panel) if layer["data"] == {"name": data}]


def _map_points() -> pd.DataFrame:
    """Two models' maps of five documents: passages 0 and 1 in English and Chinese (rows not in passage
    order), passage 2 in English only; one text longer than 80 characters."""
    base = pd.DataFrame({"x": [2.0, 0, 1, 9, 3], "y": [0.0, 0, 1, 9, 1], "lang": ["en", "en", "zh", "en", "zh"],
                         "doc_id": ["en:p1", "en:p0", "zh:p0", "en:p2", "zh:p1"], "passage": [1, 0, 0, 2, 1],
                         "text": ["a" * 100, "b", "c", "d", "e"]})
    tuned = base.assign(x=base["x"] + 10, y=-base["y"])
    return pd.concat([base.assign(model="base"), tuned.assign(model="tuned")], ignore_index=True)


def test_parallel_lines_join_exactly_the_passages_with_several_documents():
    lines = vega.parallel_lines(_map_points().query("model == 'base'"))
    assert lines.to_dict("list") == {"passage": [0, 1], "x": [0.0, 2.0], "y": [0.0, 0.0], "x2": [1.0, 3.0],
                                     "y2": [1.0, 1.0]}  # en:p0 → zh:p0, en:p1 → zh:p1; en:p2 alone: none
    # against a loop over passages on a random map: each document to the next of its passage
    rng = np.random.default_rng(0)
    points = pd.DataFrame({"passage": rng.integers(0, 40, 200), "x": rng.normal(size=200), "y": rng.normal(size=200)})
    lines = vega.parallel_lines(points)
    expected = [(passage, *a, *b) for passage, rows in points.groupby("passage")
                for a, b in zip(rows[["x", "y"]].to_numpy().tolist(), rows[["x", "y"]].to_numpy().tolist()[1:])]
    assert list(lines.itertuples(index=False, name=None)) == expected
    assert len(lines) == len(points) - points["passage"].nunique()
    assert vega.parallel_lines(points.iloc[:1]).empty and vega.parallel_lines(points.iloc[:0]).empty


def test_embedding_map_two_panels_lines_and_highlight():
    points = _map_points()
    highlight = {"base": {"query": (0.5, 0.5, "q0 (en)"), "refs": ["en:p0", "zh:p0"]}}
    doc = valid(vega.embedding_map(points, highlight, title="PCA of the en+zh pool"))
    assert doc["name"] == "embedding_map" and doc["title"]["text"] == "PCA of the en+zh pool"
    assert "★ the query" in doc["title"]["subtitle"] and "grey lines" in doc["title"]["subtitle"]
    base, tuned = doc["hconcat"]
    assert [base["title"], tuned["title"]] == ["base", "tuned"]
    data = doc["datasets"]
    assert sorted(data) == ["docs_0", "docs_1", "lines_0", "lines_1", "query_0", "refs_0"]  # tuned: no highlight
    # both panels' documents, as given; hover: the id and the first 80 characters
    assert [(d["x"], d["y"], d["doc_id"]) for d in data["docs_0"]] == [
        (2, 0, "en:p1"), (0, 0, "en:p0"), (1, 1, "zh:p0"), (9, 9, "en:p2"), (3, 1, "zh:p1")]
    assert [d["x"] for d in data["docs_1"]] == [12, 10, 11, 19, 13]
    assert [d["y"] for d in data["docs_1"]] == [0, 0, -1, -9, -1]
    assert data["docs_0"][0]["text"] == "a" * 80 and data["docs_0"][1]["text"] == "b"
    (dots,) = _of(base, "docs_0")
    assert dots["encoding"]["color"]["field"] == "lang"
    assert dots["encoding"]["color"]["scale"] == {"domain": ["en", "zh"], "range": [vega.lang_color("en"),
                                                                                   vega.lang_color("zh")]}
    assert [t["field"] for t in dots["encoding"]["tooltip"]] == ["doc_id", "text"]
    # grey lines through passages 0 and 1, not the English-only passage 2
    (lines,) = _of(base, "lines_0")
    assert lines["mark"]["type"] == "rule" and lines["encoding"]["x2"] == {"field": "x2"}
    assert [(d["passage"], d["x"], d["x2"]) for d in data["lines_0"]] == [(0, 0, 1), (1, 2, 3)]
    # the references ringed and labelled, the query a labelled star, in the base panel only
    assert [(d["label"], d["x"], d["y"]) for d in data["refs_0"]] == [("en:p0", 0, 0), ("zh:p0", 1, 1)]
    ring, halo, ref_label = _of(base, "refs_0")
    assert ring["mark"]["filled"] is False and ring["mark"]["stroke"] == "black"
    assert halo["mark"]["stroke"] == "white" and ref_label["mark"]["type"] == "text"
    assert ref_label["encoding"]["text"]["field"] == "label" and "stroke" not in ref_label["mark"]
    assert data["query_0"] == [{"x": 0.5, "y": 0.5, "label": "q0 (en)"}]
    star, _, query_label = _of(base, "query_0")
    assert star["mark"]["shape"] == vega.STAR and star["mark"]["fill"] == "gold"
    assert query_label["encoding"]["text"]["field"] == "label"
    assert query_label["mark"]["align"] == "left"  # x = 0.5 in the left third of the panel (0 to 9)
    assert not _of(tuned, "refs_1") and not _of(tuned, "query_1")
    # positions only: no tick labels, each panel its own axes
    assert base["encoding"]["x"]["axis"]["labels"] is False and base["encoding"]["y"]["axis"]["labels"] is False
    assert doc["resolve"]["scale"]["x"] == "independent"


def test_embedding_map_of_one_model_fills_the_width_and_names_the_model():
    points = _map_points().query("model == 'base'")
    doc = valid(vega.embedding_map(points, join_parallel=False))
    assert doc["width"] == "container" and "hconcat" not in doc
    assert doc["title"]["subtitle"] == "base"  # no lines drawn, no query: nothing more to explain
    assert sorted(doc["datasets"]) == ["docs_0"] and [layer["mark"]["type"] for layer in _layers(doc)] == ["circle"]
    assert valid(vega.embedding_map(points.iloc[:0]))["datasets"]["message"][0]["text"] == "Nothing to project."


# --------------------------------------------------------------------------------------------
# Fine-tune


METRICS = pd.DataFrame({"step": [1, 2, 3], "epoch": [0, 0, 0], "loss": [3.0, 2.0, 1.5], "jsd": [0.1, 0.05, 0.02],
                        "nce": [2.9, 1.95, 1.48], "lr": [1e-5, 2e-5, 3e-5], "grad_norm": [1, 1, 1]})


def test_training_curves_four_panels_on_one_step_axis():
    doc = valid(vega.training_curves(METRICS))
    assert doc["name"] == "training_curves" and doc["title"]["text"] == "Training curves — step 3"
    assert doc["columns"] == 2 and [p["title"] for p in doc["concat"]] == ["loss", "JSD", "InfoNCE", "learning rate"]
    assert doc["resolve"]["scale"] == {"x": "shared", "y": "independent"}
    steps = pd.DataFrame(doc["datasets"]["steps"])
    assert list(steps.columns) == ["step", "loss", "jsd", "nce", "lr"]  # unsmoothed: no means
    assert steps["loss"].tolist() == [3.0, 2.0, 1.5] and steps["lr"].tolist() == [1e-5, 2e-5, 3e-5]
    loss, _, _, lr = doc["concat"]
    assert [layer["encoding"]["y"]["field"] for layer in loss["layer"]] == ["loss", "loss"]  # the line, the hover
    assert loss["layer"][0]["mark"]["opacity"] == 1.0
    # the learning rate from 0, in scientific notation; the others fit their values
    assert lr["layer"][0]["encoding"]["y"]["scale"]["domain"] == [0, pytest.approx(3.45e-5)]
    assert lr["layer"][0]["encoding"]["y"]["axis"]["format"] == ".1e"
    assert loss["layer"][0]["encoding"]["y"]["scale"] == {"zero": False}
    assert [p["encoding"]["x"]["title"] for p in doc["concat"]] == [None, None, "step", "step"]


def test_training_curves_smoothed_fade_the_raw_lines_under_rolling_means():
    doc = valid(vega.training_curves(METRICS, smooth=2))
    steps = pd.DataFrame(doc["datasets"]["steps"])
    assert steps["loss_mean"].tolist() == pytest.approx([3.0, 2.5, 1.75])
    assert steps["jsd_mean"].tolist() == pytest.approx([0.1, 0.075, 0.035])
    assert steps["nce_mean"].tolist() == pytest.approx([2.9, 2.425, 1.715])
    assert "lr_mean" not in steps  # a schedule: drawn as it is
    loss, _, _, lr = doc["concat"]
    raw, mean, hover = loss["layer"]
    assert (raw["mark"]["opacity"], raw["encoding"]["y"]["field"]) == (0.5, "loss")
    assert (mean["mark"]["strokeWidth"], mean["encoding"]["y"]["field"]) == (2.5, "loss_mean")
    assert [t["field"] for t in hover["encoding"]["tooltip"]] == ["step", "loss", "loss_mean"]
    assert [layer["encoding"]["y"]["field"] for layer in lr["layer"]] == ["lr", "lr"]
    assert lr["layer"][0]["mark"]["opacity"] == 1.0  # nothing drawn over it: not faded
    assert "mean of the last 2 steps" in doc["title"]["subtitle"]


def test_training_curves_before_the_first_step_say_so():
    for metrics in (pd.DataFrame(), None, METRICS.drop(columns="step")):
        doc = valid(vega.training_curves(metrics))
        assert doc["datasets"]["message"][0]["text"] == "No steps logged yet."


@pytest.fixture(scope="module")
def logged_run(tiny_model, tmp_path_factory):
    """A two-step run of the tiny model: its metrics.jsonl as the training loop writes it."""
    from training.tiny import make_triples, tiny_config

    from xldiag.training import train

    out = tmp_path_factory.mktemp("vega") / "run"
    return train(tiny_config(tiny_model, out, save_every=100), triples=make_triples(16))


def test_passage_norms_from_a_run(logged_run):
    metrics = runs.read_metrics(logged_run)
    assert vega.has_passage_norms(metrics) and len(metrics) == 2
    doc = valid(vega.passage_norms(metrics))
    norms = pd.DataFrame(doc["datasets"]["norms"])
    assert norms.groupby("series")["value"].apply(list).to_dict() == {
        "English passages ‖z‖": pytest.approx(list(metrics["norm_en"])),
        "target passages ‖z‖": pytest.approx(list(metrics["norm_tgt"]))}
    assert [d["value"] for d in doc["datasets"]["jsd"]] == pytest.approx(list(metrics["jsd"]))
    # √JSD on its own axis, on the right: ‖z‖ and √JSD differ by orders of magnitude
    assert doc["resolve"]["scale"]["y"] == "independent"
    left, right = doc["layer"]
    assert left["data"] == {"name": "norms"} and right["data"] == {"name": "jsd"}
    assert right["encoding"]["y"]["axis"]["orient"] == "right" and right["encoding"]["y"]["title"] == "√JSD"
    smooth = valid(vega.passage_norms(metrics, smooth=2))
    en = [d["value"] for d in smooth["datasets"]["norms"] if d["series"] == "English passages ‖z‖"]
    first, second = metrics["norm_en"]
    assert en == pytest.approx([first, (first + second) / 2])
    assert smooth["title"]["text"].endswith("(mean of 2 steps)")
    # a run from before the norms were logged: no chart on the page, and this one says why
    old = metrics.drop(columns=["norm_en", "norm_tgt"])
    assert not vega.has_passage_norms(old) and not vega.has_passage_norms(pd.DataFrame())
    assert "No pre-norm ‖z‖ logged" in valid(vega.passage_norms(old))["datasets"]["message"][0]["text"]


def test_passage_norms_legend_colours_and_dots():
    metrics = METRICS.assign(norm_en=[4.0, 3.0, 2.0], norm_tgt=[None, None, None])  # target norms never logged
    doc = valid(vega.passage_norms(metrics))
    assert sorted(set(d["series"] for d in doc["datasets"]["norms"])) == ["English passages ‖z‖"]
    colour = doc["layer"][0]["layer"][0]["encoding"]["color"]["scale"]
    assert colour == {"domain": ["English passages ‖z‖", "√JSD"],
                      "range": [vega.lang_color("en"), vega.PALETTE[2]]}
    dash = doc["layer"][1]["layer"][0]["encoding"]["strokeDash"]["scale"]
    assert dash == {"domain": ["English passages ‖z‖", "√JSD"], "range": [[1, 0], [2, 2]]}  # √JSD dotted
    no_jsd = valid(vega.passage_norms(metrics.drop(columns="jsd")))
    assert sorted(no_jsd["datasets"]) == ["norms"] and len(no_jsd["layer"]) == 1


# --------------------------------------------------------------------------------------------
# Fixes


def test_fix_tradeoff_scatter_one_point_per_variant():
    trade = pd.DataFrame({"model": ["default+center@ntrex", "default+lir2@ntrex", "/runs/demo/final"],
                          "kind": ["fix", "fix", "fine-tune"], "fix": ["center", "lir2", ""],
                          "delta_c10": [55.0, 50.0, 25.0], "delta_mono_ndcg1": [-5.0, -6.0, 1.0]})
    doc = valid(vega.fix_tradeoff_scatter(trade))
    points = {p["label"]: (p["kind"], p["x"], p["y"]) for p in doc["datasets"]["points"]}
    assert points == {"center": ("fix", -5.0, 55.0), "lir2": ("fix", -6.0, 50.0),
                      "demo/final": ("fine-tune", 1.0, 25.0), "base": ("base", 0.0, 0.0)}
    dots = doc["layer"][2]["encoding"]
    assert "Mono-Same" in dots["x"]["title"] and "Complete@10" in dots["y"]["title"]
    assert dots["color"]["scale"]["domain"] == ["fix", "fine-tune", "base"]
    assert [layer["mark"]["type"] for layer in doc["layer"]] == ["rule", "rule", "point", "text"]
    empty = valid(vega.fix_tradeoff_scatter(trade.assign(delta_c10=np.nan)))
    assert "No variant" in empty["datasets"]["message"][0]["text"]

