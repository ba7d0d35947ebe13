"""xldiag.results.selection: choosing among listed evaluations, on a real listing of hand-made
folders and a training run with its base/tuned evaluations."""

from __future__ import annotations

import pandas as pd
import pytest
from eval_folders import make_eval

from xldiag.results import listing, selection
from xldiag.vocab import EVALS_DIR_ENV, RUNS_DIR_ENV


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    evals, runs = tmp_path / "evals", tmp_path / "runs"
    monkeypatch.setenv(EVALS_DIR_ENV, str(evals))
    monkeypatch.setenv(RUNS_DIR_ENV, str(runs))
    final = runs / "r1" / "final"
    final.mkdir(parents=True)
    make_eval(runs / "r1" / "eval" / "base", model="default", created="2025-03-01T00:00:01")
    make_eval(runs / "r1" / "eval" / "tuned", model=str(final), model_shift=-1, created="2025-03-01T00:00:02")
    make_eval(evals / "default-zh", model="default", created="2025-04-01T00:00:00")
    make_eval(evals / "other-zh", model="other/model", created="2025-04-02T00:00:00")
    make_eval(evals / "old", model="default", format_version=None, created="2025-05-01T00:00:00")
    runs_frame = pd.DataFrame({"run_dir": [str(runs / "r1"), str(runs / "r2")], "model": ["default", "default"]})
    return {"evals": listing.list_evaluations(), "runs": runs_frame, "final": str(final)}


def test_choices_and_matching(workspace):
    evals = workspace["evals"]
    ids, labels = selection.choices(evals)
    assert ids == ["evals:other-zh", "evals:default-zh", "runs:r1/eval/tuned", "runs:r1/eval/base"]
    assert labels["evals:default-zh"].startswith("default-zh — default, xquad zh")
    assert selection.choices(evals, state="invalid")[0] == ["evals:old"]
    assert selection.choices(evals, dataset="belebele") == ([], {})
    assert selection.choices(evals.iloc[0:0]) == ([], {})
    found = selection.matching(evals, "default", "xquad", "unique", "optimistic", "en+zh")
    assert list(found["id"]) == ["evals:old", "evals:default-zh", "runs:r1/eval/base"]
    assert selection.preferred(found) == "evals:default-zh"  # the newest complete one
    assert selection.matching(evals, "default", "xquad", "unique", "pessimistic", "en+zh").empty
    assert selection.preferred(found.iloc[0:1]) == "evals:old" and selection.preferred(found.iloc[0:0]) is None


def test_partners(workspace):
    runs, final = workspace["runs"], workspace["final"]
    assert selection.checkpoint_models(runs) == [final]  # r2 has no final checkpoint
    assert selection.partner_model(final, runs) == "default"
    assert selection.partner_model("default", runs) == final
    assert selection.partner_model("other/model", runs) is None
    evals = workspace["evals"]
    # the tuned side: the newest evaluation of the base model with the same setting, as base
    assert selection.partner_evaluation(evals, "runs:r1/eval/tuned", runs) == ("evals:default-zh", "runs:r1/eval/tuned")
    # the base side finds the tuned evaluation of the same setting
    assert selection.partner_evaluation(evals, "evals:default-zh", runs) == ("evals:default-zh", "runs:r1/eval/tuned")
    assert selection.partner_evaluation(evals, "evals:other-zh", runs) is None
    assert selection.partner_evaluation(evals, "evals:missing", runs) is None


def test_comparison_defaults(workspace):
    evals, runs = workspace["evals"], workspace["runs"]
    ids, _ = selection.choices(evals)
    assert selection.comparison_defaults(ids, evals, "evals:default-zh", runs) == ("evals:default-zh",
                                                                                    "runs:r1/eval/tuned")
    # no partner: the training run's pair; without one, the two newest (older as base)
    assert selection.comparison_defaults(ids, evals, "evals:other-zh", runs) == ("runs:r1/eval/base",
                                                                                  "runs:r1/eval/tuned")
    plain = ["evals:other-zh", "evals:default-zh"]
    assert selection.comparison_defaults(plain, evals, None, runs) == ("evals:default-zh", "evals:other-zh")


def test_other_models(workspace):
    evals = workspace["evals"]
    ids, _ = selection.choices(evals)
    chosen = selection.other_models(evals, ids, "evals:default-zh", "unique", "optimistic")
    assert chosen == ["evals:default-zh", "evals:other-zh", "runs:r1/eval/tuned"]
    assert selection.other_models(evals, ids, "evals:default-zh", "unique", "average") == ["evals:default-zh"]


def test_model_choices_offer_the_embedded_models_first(workspace):
    choices = selection.model_choices(workspace["evals"], [workspace["final"]], current="x/y")
    assert choices[:2] == ["default", "use-m3"]  # use-m3 before it was ever evaluated
    assert choices == ["default", "use-m3", "other/model", workspace["final"], "x/y"]
    assert selection.model_choices(workspace["evals"].iloc[0:0], []) == ["default", "use-m3"]


def test_comparable_prefers_the_same_limit_and_languages(workspace, tmp_path):
    evals_dir = tmp_path / "evals"
    make_eval(evals_dir / "use-zh-vi", model="use-m3", targets=("zh", "vi"), created="2025-06-02T00:00:00")
    make_eval(evals_dir / "use-zh", model="use-m3", created="2025-06-01T00:00:00")
    make_eval(evals_dir / "use-ar", model="use-m3", targets=("ar",), created="2025-06-03T00:00:00")
    evals = listing.list_evaluations()
    assert selection.comparable(evals, "use-m3", "xquad", "unique", "optimistic", like="evals:default-zh") \
        == "evals:use-zh"  # the same language sets beat more of them and newer ones
    assert selection.comparable(evals, "use-m3", "xquad", "unique", "optimistic") == "evals:use-ar"  # no reference: newest
    assert selection.comparable(evals, "use-m3", "xquad", "per-question", "optimistic") is None
    assert selection.comparable(evals, "nobody", "xquad", "unique", "optimistic") is None


def test_trainable_models_name_why_not():
    ok, refused = selection.trainable_models(["default", "use-m3", "intfloat/multilingual-e5-small",
                                              "default+lir1@ntrex"])
    assert ok == ["default", "intfloat/multilingual-e5-small"]
    assert list(refused) == ["use-m3", "default+lir1@ntrex"] and "cannot be fine-tuned" in refused["use-m3"]
    assert "fine-tune its base model (default)" in refused["default+lir1@ntrex"]


def test_fix_lab_evals_finds_the_base_its_variants_and_its_checkpoints_on_the_same_pools(workspace, tmp_path):
    evals_dir = tmp_path / "evals"
    make_eval(evals_dir / "center-zh", model="default+center@ntrex", created="2025-03-05T00:00:00")
    make_eval(evals_dir / "lir-zh-ar", model="default+lir1@ntrex", targets=("zh", "ar"))  # other language sets
    make_eval(evals_dir / "other-center", model="other/model+center@ntrex")  # a variant of another model
    evals = listing.list_evaluations()
    found = selection.fix_lab_evals(evals, workspace["runs"], "default", "xquad", "unique", "optimistic",
                                    like="evals:default-zh")
    assert found == {"default": "evals:default-zh", "default+center@ntrex": "evals:center-zh",
                     workspace["final"]: "runs:r1/eval/tuned"}
    # a variant in the sidebar stands for its base; no evaluation of the setting: nothing
    assert selection.fix_lab_evals(evals, workspace["runs"], "default+center@ntrex", "xquad", "unique",
                                   "optimistic") == found
    assert selection.fix_lab_evals(evals, workspace["runs"], "default", "xquad", "unique", "pessimistic") == {}
