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

from xldiag import results, vega


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



# --------------------------------------------------------------------------------------------
# Fine-tune
