"""`python -m xldiag eval`: the run folder, the paper's setting, one-line errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from xldiag.cli import main as cli_main
from xldiag.data import load_dataset
from xldiag.embeddings import Encoder


def test_cli_eval_writes_the_run_folder(default_model_dir, tmp_path, capsys):
    out = tmp_path / "cli-run"
    code = cli_main(["eval", "--model", "default", "--dataset", "xquad", "--langs", "de",
                     "--scenarios", "multi,mono-cross", "--limit", "10", "--out", str(out)])
    assert code == 0
    assert "### multi" in capsys.readouterr().out
    assert len(pd.read_csv(out / "summary.csv")) == 4


@pytest.mark.parametrize("argv,message", [
    (["--scenarios", "multi,bogus"], "Unknown scenario"),
    (["--langs", "xx"], "xx"),
    (["--limit", "0"], "positive"),
])
def test_cli_eval_rejects_bad_input_with_a_clear_message(tmp_path, capsys, argv, message):
    base = ["eval", "--dataset", "xquad", "--langs", "de", "--out", str(tmp_path / "bad")]
    assert cli_main(base + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_cli_paper_flag_writes_both_tie_bounds(default_model_dir, tmp_path, capsys):
    out = tmp_path / "paper"
    assert cli_main(["eval", "--paper", "--dataset", "xquad", "--langs", "de", "--scenarios", "multi",
                     "--limit", "10", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["pool"] == "per-question" and config["ties"] == ["optimistic", "pessimistic"]
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary.ties) == ["optimistic", "optimistic", "pessimistic", "pessimistic"]
    table = (out / "table.md").read_text()
    assert "range over the tie rules" in table and "|D| = 20" in table and "–" in table
    assert cli_main(["eval", "--paper", "--pool", "unique", "--langs", "de", "--out", str(tmp_path / "x")]) == 2
    assert "--paper uses the per-question pool" in capsys.readouterr().err


def test_cli_eval_names_the_question_with_a_nan_embedding(default_model_dir, tmp_path, capsys, monkeypatch):
    """Through `python -m xldiag eval`: one `error:` line with the model, language and question id."""
    from test_embeddings import CountingModel

    from xldiag import embeddings

    data = load_dataset("xquad", ["en", "de"], limit=10)
    position = data.questions["de"].index(data.questions["de"][4])
    broken = {data.questions["de"][4]: np.inf}

    class TmpEncoder(Encoder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, cache_root=tmp_path / "emb", show_progress=False, **kwargs)

    monkeypatch.setattr(embeddings, "Encoder", TmpEncoder)
    monkeypatch.setattr(embeddings, "load_model", lambda *args, **kwargs: CountingModel(broken=broken))
    code = cli_main(["eval", "--model", "default", "--dataset", "xquad", "--langs", "de", "--limit", "10",
                     "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    line = [x for x in err.splitlines() if x.startswith("error: ")]
    assert len(line) == 1 and "'default'" in line[0]
    assert f"de query {data.question_ids[position]}" in line[0]
