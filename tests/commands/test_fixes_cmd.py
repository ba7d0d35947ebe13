"""`eval --fix` and `python -m xldiag fixes` on real data: XQuAD (first questions), the default
model, fixes estimated on the first NTREX lines (written as a parallel JSONL file, so estimating
takes seconds, not the minutes all of NTREX takes)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from xldiag.cli import main as cli_main
from xldiag.data import load_dataset
from xldiag.data.corpora import load_corpus
from xldiag.embeddings import Encoder
from xldiag.fixes import fit_named
from xldiag.pools import parse_doc_id
from xldiag.views import views_dir
from xldiag.vocab import ALIGNMENT_VECTORS_FILE

LIMIT = 12  # XQuAD questions


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, data_dir):
    """The first 24 NTREX lines in English and Chinese as a parallel JSONL file (no Arabic)."""
    english, chinese = load_corpus("ntrex", ["zh"], data_dir, limit=24).sides["zh"]
    path = tmp_path_factory.mktemp("corpus") / "ntrex24.jsonl"
    lines = [{"id": f"l{i}", "passages": {"en": e, "zh": z}, "questions": {"en": f"Line {i}?", "zh": f"第{i}行？"}}
             for i, (e, z) in enumerate(zip(english, chinese))]  # a JSONL dataset needs questions; fixes read passages
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path


def test_eval_fix_names_the_variant_records_the_fit_and_ranks_corrected_vectors(default_model_dir, corpus,
                                                                                 tmp_path, capsys):
    out = tmp_path / "center"
    assert cli_main(["eval", "--model", "default", "--fix", "center", "--fix-data", str(corpus), "--langs", "zh",
                     "--scenarios", "multi,mono-same", "--limit", str(LIMIT), "--out", str(out)]) == 0
    name = f"default+center@{corpus}"
    assert capsys.readouterr().out.startswith(f"## {name}\n\n### multi")
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == name
    fix = config["fix"]
    assert (fix["variant"], fix["model"], fix["fix"], fix["data"]) == (name, "default", "center", str(corpus))
    assert fix["n_texts"] == {"en+zh": {"en": 24, "zh": 24}} and fix["fit_seconds"] >= 0
    roles = fix["sets"]["en+zh"]["roles"]
    assert roles["query"]["provenance"]["role"] == "query" and roles["passage"]["provenance"]["role"] == "passage"
    assert roles["passage"]["n_texts"] == {"en": 24, "zh": 24} and roles["passage"]["arrays"] == {"mean.en": [384],
                                                                                                 "mean.zh": [384]}
    assert set(pd.read_csv(out / "summary.csv")["model"]) == {name}

    # Every score the run ranked by is the cosine of the corrected vectors (estimate from the fix cache).
    encoder = Encoder("default")
    data = load_dataset("xquad", ["en", "zh"], limit=LIMIT)
    variant = fit_named(name, encoder, ["en", "zh"])
    assert variant.cached
    pq = pd.read_parquet(out / "per_query.parquet")
    rows = pq[(pq["scenario"] == "multi") & (pq["query_lang"] == "zh")].head(3)
    for _, row in rows.iterrows():
        query = variant.apply(encoder.encode([row["query_text"]], "query"), "zh", "query")[0]
        lang, _, index = parse_doc_id(row["top_doc_ids"][0])
        passage = variant.apply(encoder.encode([data.passages[lang][index]], "passage"), lang, "passage")[0]
        assert float(query @ passage) == pytest.approx(row["top_scores"][0], abs=1e-4)
    plain = encoder.encode([rows.iloc[0]["query_text"]], "query")[0]
    assert float(plain @ query) < 0.99  # the correction moved the vectors

    # The views (Alignment, map) show the vectors the variant ranked with, not its base model's.
    stored = np.load(views_dir(out) / ALIGNMENT_VECTORS_FILE.format(pair="en+zh", role="query", lang="zh"))
    corrected = variant.apply(encoder.encode(data.questions["zh"][:2], "query"), "zh", "query")
    assert np.allclose(stored[:2], corrected, atol=1e-5)
    assert not np.allclose(stored[:2], encoder.encode(data.questions["zh"][:2], "query"), atol=1e-3)


def test_eval_fix_refuses_a_language_the_fix_was_not_estimated_on(default_model_dir, corpus, tmp_path, capsys):
    code = cli_main(["eval", "--model", "default", "--fix", "lir", "--fix-data", str(corpus), "--langs", "ar",
                     "--scenarios", "multi", "--limit", "4", "--out", str(tmp_path / "ar")])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # after the progress bars of the XQuAD texts embedded first
    assert code == 2 and last.startswith("error: ") and "Traceback" not in err
    assert "'ar'" in last and "cannot be estimated for en, ar" in last


@pytest.mark.parametrize("argv,message", [
    (["--fix-data", "ntrex"], "give --fix too"),
    (["--fix", "bogus"], "Unknown fix"),
    (["--fix", "lir:0"], "positive integer"),
    (["--fix", "center", "--fix-data", "nowhere.jsonl"], "unknown estimation data"),
    (["--model", "default+center@ntrex", "--fix", "lir"], "already a fix variant"),
    (["--model", "default+center@nowhere"], "unknown estimation data"),
])
def test_eval_fix_flags_reject_bad_input_in_one_line(tmp_path, capsys, argv, message):
    assert cli_main(["eval", "--langs", "zh", "--out", str(tmp_path / "bad"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()  # refused before the folder became a job


def test_fixes_command_end_to_end_and_nothing_recomputed(default_model_dir, tiny_model, corpus, tmp_path, capsys):
    out = tmp_path / "lab"
    argv = ["fixes", "--model", "default", "--dataset", "xquad", "--langs", "zh", "--limit", str(LIMIT),
            "--fixes", "center,shift:0.5/1", "--fix-data", str(corpus), "--checkpoint", str(tiny_model),
            "--out", str(out)]
    assert cli_main(argv) == 0
    printed = capsys.readouterr()
    models = ["default", *(f"default+{label}@{corpus}" for label in ("center", "shift0.5", "shift1")), str(tiny_model)]
    table = pd.read_csv(out / "fixes.csv")
    assert table["model"].tolist() == models and set(table["pair"]) == {"en+zh"}
    assert table["kind"].tolist() == ["base", "fix", "fix", "fix", "fine-tune"]
    assert table.loc[0, "delta_c10"] == 0 and table[["multi_c10_en", "mono_same_ndcg1", "multi1_ndcg1"]].notna().all().all()
    assert (table.loc[1:3, "fit_seconds"] >= 0).all()
    md = (out / "fixes.md").read_text()
    assert md in printed.out and f"default+shift0.5@{corpus}" in md
    members = json.loads((out / "set.json").read_text())["members"]
    assert [m["model"] for m in members] == models
    shift1 = out / members[3]["folder"]
    assert json.loads((shift1 / "config.json").read_text())["fix"]["param"] == 1.0
    # shift 0.5 and 1 share one estimate: the same fitted V, applied with another alpha
    half = json.loads((out / members[2]["folder"] / "config.json").read_text())["fix"]["sets"]["en+zh"]
    full = json.loads((shift1 / "config.json").read_text())["fix"]["sets"]["en+zh"]
    assert half["roles"]["query"]["summary"] == full["roles"]["query"]["summary"]
    # the same command again keeps every finished member: no run folder is written again
    stamps = {m["folder"]: (out / m["folder"] / "config.json").stat().st_mtime_ns for m in members}
    assert cli_main(argv) == 0
    assert "kept" in capsys.readouterr().err
    assert {m["folder"]: (out / m["folder"] / "config.json").stat().st_mtime_ns for m in members} == stamps
    assert np.allclose(pd.read_csv(out / "fixes.csv")["multi_max_r_tgt"], table["multi_max_r_tgt"])


def test_fixes_command_refuses_bad_input(tmp_path, capsys):
    assert cli_main(["fixes", "--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert cli_main(["fixes", "--model", "default+lir1@ntrex", "--out", str(tmp_path / "x")]) == 2
    assert "already a fix variant" in capsys.readouterr().err
    assert cli_main(["fixes", "--fixes", "center,nope", "--out", str(tmp_path / "x")]) == 2
    assert "Unknown fix" in capsys.readouterr().err


def test_train_refuses_a_fix_variant_in_one_line(tmp_path, capsys):
    assert cli_main(["train", "--model", "default+lir1@ntrex", "--data", "mlqa-r", "--langs", "zh",
                     "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "fine-tune" in err and "(default)" in err and not (tmp_path / "run").exists()
