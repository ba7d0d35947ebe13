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
from eval_folders import make_distractor_share, make_per_query

from xldiag import results, runs, vega


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
