"""Fix specs, variant names and the saved form of a fitted fix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xldiag.fixes import (FixSpec, load_fix, parse_fix, parse_fixes, parse_variant, variant_name)
from xldiag.fixes import center, lir, lsar, shift


@pytest.mark.parametrize("text, method, param, label", [
    ("center", "center", None, "center"),
    ("lir", "lir", 1, "lir1"),
    (" LIR:3 ", "lir", 3, "lir3"),
    ("lsar", "lsar", 1, "lsar1"),
    ("lsar:2", "lsar", 2, "lsar2"),
    ("shift", "shift", 1.0, "shift1"),
    ("shift:0.5", "shift", 0.5, "shift0.5"),
    ("shift:-0.25", "shift", -0.25, "shift-0.25"),
    ("lir2", "lir", 2, "lir2"),  # a label reads back too
    ("shift0.5", "shift", 0.5, "shift0.5"),
])
def test_specs_fill_in_the_defaults(text, method, param, label):
    spec = parse_fix(text)
    assert (spec.method, spec.param, spec.label) == (method, param, label)
    assert parse_fix(spec.text) == spec


@pytest.mark.parametrize("text, message", [
    ("foo", "Unknown fix 'foo': use center, lir"),
    ("lir:0", "r must be a positive integer, got 0"),
    ("lir:1.5", "r must be a positive integer, got 1.5"),
    ("lsar:two", "rank must be a number, got 'two'"),
    ("center:1", "The center fix takes no parameter"),
    ("shift:nan", "alpha must be a finite number"),
    ("shift:", "has an empty parameter"),
    ("lsar:-1", "rank must be a positive integer, got -1"),
])
def test_bad_specs_say_what_to_write(text, message):
    with pytest.raises(ValueError, match=message):
        parse_fix(text)


def test_a_sweep_is_one_spec_list():
    specs = parse_fixes("center, lir:1/2, shift:0.25/0.5/1, lir")
    assert [s.label for s in specs] == ["center", "lir1", "lir2", "shift0.25", "shift0.5", "shift1"]
    with pytest.raises(ValueError, match="No fix given"):
        parse_fixes(" , ")


def test_variant_names_read_back():
    assert variant_name("default", "lir", "ntrex") == "default+lir1@ntrex"
    assert variant_name("default", "shift:0.5", "tatoeba") == "default+shift0.5@tatoeba"
    assert variant_name("default", "center", "ntrex") == "default+center@ntrex"
    for model in ["default", "intfloat/multilingual-e5-small", "runs/a+b/final"]:
        for spec in ["center", "lir:2", "lsar:1", "shift:0.5", "shift:-1", "shift:1e-05"]:
            for data in ["ntrex", "mlqa-r", "mine+more.jsonl"]:
                variant = parse_variant(variant_name(model, spec, data))
                assert (variant.model, variant.spec, variant.data) == (model, parse_fix(spec), data)


@pytest.mark.parametrize("name", ["default", "default+lir1", "default+foo@ntrex", "+lir1@ntrex", "default+lir1@"])
def test_what_is_not_a_variant_name(name):
    with pytest.raises(ValueError, match="is not a variant name"):
        parse_variant(name)


def fitted_fixes(planted):
    directions, s = planted
    data = {"en": s + directions[0], "zh": s + 2 * directions[1], "de": s - directions[1]}
    return [center.fit(data), lir.fit(data, r=2), lsar.fit(data, rank=2),
            shift.fit(None, {"zh": (data["en"], data["zh"]), "de": (data["en"], data["de"])}, alpha=0.5)]


def test_a_saved_fix_loads_back_and_applies_the_same(planted, tmp_path):
    _, s = planted
    for fix in fitted_fixes(planted):
        folder = fix.save(tmp_path / fix.spec.label)
        loaded = load_fix(folder)
        assert type(loaded) is type(fix) and loaded.spec == fix.spec and loaded.langs == fix.langs
        assert set(loaded.arrays) == set(fix.arrays) and loaded.n_texts == fix.n_texts
        for lang in fix.langs:
            np.testing.assert_array_equal(loaded.apply(s, lang), fix.apply(s, lang))
        json.dumps(fix.record(arrays=True))  # JSON-serialisable, arrays included
        assert json.loads((folder / "fix.json").read_text())["label"] == fix.spec.label


def test_a_half_written_or_foreign_folder_is_not_a_fix(planted, tmp_path):
    fix = fitted_fixes(planted)[0]
    folder = fix.save(tmp_path / "center")
    (folder / "arrays.npz").unlink()
    assert load_fix(folder) is None
    assert load_fix(tmp_path / "nothing") is None
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "fix.json").write_text('{"format": 99}')
    assert load_fix(tmp_path / "other") is None


def test_a_fix_without_provenance_needs_a_model_for_its_name(planted):
    fix = fitted_fixes(planted)[1]
    assert fix.variant_name("default") == "default+lir2@arrays"
    with pytest.raises(ValueError, match="pass the model name"):
        fix.variant_name()
    assert FixSpec("shift", 1.0).text == "shift:1"
