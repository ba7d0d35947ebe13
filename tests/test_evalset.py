"""xldiag.evalset: several models on one setting as one job — the layout (set.json, one ordinary
run folder per model, a combined summary), one dataset load and one pool build for all models,
progress per model, and what a failure or a stop leaves behind. The CLI test runs the real
default and use-m3 models and checks each member equals a single-model run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_embeddings import CountingModel, counting_encoder

from xldiag import evalset, evaluate, jobs
from xldiag.cli import main as cli_main
from xldiag.results import list_evaluations, load_eval
from xldiag.vocab import EVALS_DIR_ENV

SPEC = evaluate.EvalSpec(dataset="xquad", language_sets=(("en", "de"), ("en", "vi")), scenarios=("multi", "mono-cross"),
                         limit=6)


def test_parse_models_and_member_names(tmp_path):
    assert evalset.parse_models(" default, use-m3 ,") == ["default", "use-m3"]
    with pytest.raises(ValueError, match="listed twice"):
        evalset.parse_models("default,use-m3,default")
    with pytest.raises(ValueError, match="No model"):
        evalset.parse_models(" , ")
    final = tmp_path / "runs" / "demo" / "final"
    step = tmp_path / "runs" / "demo" / "checkpoints" / "step-50"
    other = tmp_path / "my model"
    for folder in (final, step, other):
        folder.mkdir(parents=True)
    names = evalset.member_names(["default", "use-m3", str(final), str(step), str(other),
                                  "intfloat/multilingual-e5-small", "default+lir1@ntrex", "default-lir1-ntrex"])
    assert list(names.values()) == ["default", "use-m3", "demo-final", "demo-step-50", "my-model",
                                    "intfloat-multilingual-e5-small", "default+lir1-ntrex", "default-lir1-ntrex"]
    assert evalset.member_names(["a/b", "a-b"]) == {"a/b": "a-b", "a-b": "a-b-2"}  # unique within the set


def counting_set(tmp_path, monkeypatch, models=("default", "use-m3"), failing: str | None = None):
    """Run a set with fake models (test_embeddings.CountingModel), counting dataset loads and pool builds."""
    import xldiag.data

    loads, pools = [], []
    real_load, real_build = xldiag.data.load_dataset, evaluate.build_pool
    monkeypatch.setattr(xldiag.data, "load_dataset", lambda name, langs, **kw: loads.append(tuple(langs))
                        or real_load(name, langs, **kw))
    monkeypatch.setattr(evaluate, "build_pool", lambda *a, **kw: pools.append((tuple(a[3]), *a[1:3]))
                        or real_build(*a, **kw))
    encoders = {m: counting_encoder(tmp_path / "emb" / m, CountingModel(fail_on_call=1 if m == failing else None))
                for m in models}
    seen = []
    out = tmp_path / "set"
    with jobs.Job(out, "evaluation", **evalset.set_fields(SPEC, list(models))) as job:
        def progress(message, fraction):
            seen.append((message, fraction))
            job.progress(message, fraction)
        summary = evalset.run_evaluation_set(SPEC, models, out, progress=progress, encoders=encoders)
    return out, summary, loads, pools, seen


def test_a_set_loads_each_dataset_and_builds_each_pool_once(tmp_path, monkeypatch, data_dir):
    out, summary, loads, pools, seen = counting_set(tmp_path, monkeypatch)
    assert sorted(loads) == [("en", "de"), ("en", "vi")]  # once per language set, not per model
    assert len(pools) == len(set(pools)) == 2 * 2 * 2  # language sets × scenarios × query languages, once each
    record = json.loads((out / "set.json").read_text())
    assert record["kind"] == "evaluation-set" and record["models"] == ["default", "use-m3"]
    assert [m["folder"] for m in record["members"]] == ["default", "use-m3"]
    assert record["language_sets"] == ["en+de", "en+vi"] and record["limit"] == 6
    members = {m: load_eval(out / m) for m in ("default", "use-m3")}
    combined = pd.read_csv(out / "summary.csv")
    assert list(combined["model"].unique()) == ["default", "use-m3"] and len(combined) == len(summary) == 16
    pd.testing.assert_frame_equal(combined, pd.concat([pd.read_csv(out / m / "summary.csv") for m in members],
                                                      ignore_index=True), check_dtype=False)
    assert members["use-m3"].summary.groupby("pair")["uncovered_langs"].first().to_dict() == {"en+de": "", "en+vi": "vi"}
    assert members["use-m3"].config["coverage"]["uncovered"] == ["vi"]
    assert members["default"].config["coverage"] == {"family": "multilingual-e5", "languages": None, "uncovered": []}
    # progress per model, in order, on one scale
    assert seen[0][0].startswith("model 1/2 (default): ") and seen[-1] == ("Done", 1.0)
    assert any(m.startswith("model 2/2 (use-m3): ") for m, _ in seen)
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] == 1.0
    assert jobs.read_status(out)["state"] == "finished"
    assert all(jobs.read_status(out / m)["state"] == "finished" for m in members)


def test_a_failing_model_keeps_the_finished_ones(tmp_path, monkeypatch, data_dir):
    with pytest.raises(RuntimeError, match="injected model failure"):
        counting_set(tmp_path, monkeypatch, models=("default", "use-m3", "third"), failing="use-m3")
    out = tmp_path / "set"
    assert jobs.read_status(out)["state"] == "failed"
    assert load_eval(out / "default").model == "default"  # nothing computed is lost
    assert set(pd.read_csv(out / "summary.csv")["model"]) == {"default"}
    failed = jobs.read_status(out / "use-m3")
    assert failed["state"] == "failed" and "injected model failure" in failed["error"]
    waiting = jobs.read_status(out / "third")
    assert waiting["state"] == "stopped" and "not evaluated" in waiting["error"]


def test_a_stop_ends_the_set_at_the_member_it_names(tmp_path, monkeypatch, data_dir):
    (tmp_path / "set" / "use-m3").mkdir(parents=True)
    (tmp_path / "set" / "use-m3" / "STOP").write_text("now\n")  # asked for while that member waits
    with pytest.raises(jobs.StopRequested):
        counting_set(tmp_path, monkeypatch)
    out = tmp_path / "set"
    assert jobs.read_status(out)["state"] == "stopped" and jobs.read_status(out / "use-m3")["state"] == "stopped"
    assert jobs.read_status(out / "default")["state"] == "finished" and (out / "default" / "config.json").exists()


def test_cli_eval_of_two_models_equals_two_single_runs(default_model_dir, tmp_path, monkeypatch, capsys):
    """`eval --model default,use-m3`: DIR/<model>/ per model (loadable, listed), a combined
    summary.csv, a note on use-m3's uncovered vi, and each member equal to a single-model run."""
    flags = ["--dataset", "xquad", "--langs", "de,vi", "--limit", "10", "--scenarios", "multi,mono-cross"]
    monkeypatch.setenv(EVALS_DIR_ENV, str(tmp_path))
    assert cli_main(["eval", "--model", "default,use-m3", *flags, "--out", str(tmp_path / "zoo")]) == 0
    printed = capsys.readouterr()
    assert "## default" in printed.out and "## use-m3" in printed.out and "### multi" in printed.out
    assert "note: ⚠ vi is not in use-m3's training languages" in printed.err
    combined = pd.read_csv(tmp_path / "zoo" / "summary.csv")
    assert combined.groupby("model").size().to_dict() == {"default": 8, "use-m3": 8}
    for model in ("default", "use-m3"):
        assert cli_main(["eval", "--model", model, *flags, "--out", str(tmp_path / f"single-{model}")]) == 0
        member, single = load_eval(tmp_path / "zoo" / model), load_eval(tmp_path / f"single-{model}")
        assert member.config["fingerprint"] == single.config["fingerprint"]
        pd.testing.assert_frame_equal(member.summary_all, single.summary_all)
        pd.testing.assert_frame_equal(member.per_query, single.per_query)
    listed = list_evaluations().set_index("id")
    assert {"evals:zoo/default", "evals:zoo/use-m3"} <= set(listed.index) and "evals:zoo" not in listed.index
    assert listed.loc["evals:zoo/use-m3", "state"] == "complete"
    assert cli_main(["eval", "--model", "default,default", *flags, "--out", str(tmp_path / "x")]) == 2
    assert "listed twice" in capsys.readouterr().err
