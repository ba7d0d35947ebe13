"""`python -m xldiag train`: options from flags and config files, bad data in one line, --detach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xldiag import jobs, runs

from training.tiny import make_triples, metric_lines

ROOT = Path(__file__).resolve().parent.parent.parent


def test_cli_trains_from_a_jsonl_file(tiny_model, tmp_path, capsys):
    from xldiag.cli import main
    from xldiag.data import write_triples_jsonl

    data = write_triples_jsonl(make_triples(24), tmp_path / "triples.jsonl")
    out = tmp_path / "run"
    rc = main(["train", "--model", str(tiny_model), "--data", str(data), "--langs", "de,zh", "--out", str(out),
               "--batch-size", "8", "--lr", "1e-3", "--no-eval", "--temperature", "0.1", "--threads", "1"])
    assert rc == 0
    cfg = runs.read_config(out)["config"]
    assert cfg["temperature"] == 0.1 and cfg["batch_size"] == 8 and cfg["eval"] is False
    assert len(metric_lines(out)) == 3
    assert "finished" in capsys.readouterr().err
    assert main(["train", "--model", str(tiny_model), "--data", str(data), "--out", str(out)]) == 2  # in use
    assert "already holds a run" in capsys.readouterr().err
    assert main(["runs", "status", str(out)]) == 0
    assert '"state": "finished"' in capsys.readouterr().out


def test_flags_given_override_a_config_file(tmp_path):
    from xldiag.cli import build_parser
    from xldiag.commands.train_cmd import build_config

    (tmp_path / "c.json").write_text(json.dumps({"kind": "training", "config": {"model": "m", "lr": 1e-4, "seed": 7}}))
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "c.json"), "--seed", "9"])
    cfg = build_config(args)
    assert (cfg.model, cfg.lr, cfg.seed, cfg.batch_size) == ("m", 1e-4, 9, 32)  # flags not given keep the file's


def test_detach_starts_the_run_in_the_background(tiny_model, tmp_path, capsys):
    from xldiag.cli import main
    from xldiag.data import write_triples_jsonl

    data = write_triples_jsonl(make_triples(16), tmp_path / "triples.jsonl")
    out = tmp_path / "run"
    assert main(["train", "--model", str(tiny_model), "--data", str(data), "--langs", "de,zh", "--out", str(out),
                 "--batch-size", "8", "--no-eval", "--threads", "1", "--detach"]) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == str(out.resolve()) and "job.log" in printed.err
    status = jobs.wait(out, timeout=240)
    assert status["state"] == "finished", jobs.tail_log(out)
    assert len(metric_lines(out)) == 2


GOOD_ROW = {"query_en": "w1 w2", "passage_en": "w1 w2 w3", "passage_tgt": "w4 w5", "lang": "zh"}


@pytest.mark.parametrize("lines,expected", [
    ([], ["is empty"]),
    ([GOOD_ROW, "not json {", {**GOOD_ROW, "query_en": "w6", "passage_en": "w7", "passage_tgt": "w8"}],
     None),  # two good rows: it trains (checked below)
    ([GOOD_ROW, {**GOOD_ROW, "id": "b"}], ["no batch of 2 or more triples", "repeat"]),
    ([GOOD_ROW, "not json {", {k: v for k, v in GOOD_ROW.items() if k != "passage_tgt"}],
     ["need at least 2 training triples, got 1", "1 triples loaded from 3 rows", "2 bad rows skipped",
      "line 2: invalid JSON", "line 3: missing field 'passage_tgt'"]),
    (["[1, 2]", "not json {"] + [{k: v for k, v in GOOD_ROW.items() if k != "passage_tgt"}] * 6,
     ["no triples for zh", "8 rows, 8 bad rows skipped", "line 1: expected a JSON object", "line 2: invalid JSON",
      "line 3: missing field 'passage_tgt'", "... 3 more"]),
])
def test_bad_training_files_fail_in_one_line_without_a_traceback(tiny_model, tmp_path, lines, expected):
    """`train --data FILE.jsonl`: an empty file or malformed rows → one `error:` line on stderr naming the
    file, the bad line numbers and how many rows were skipped; never a traceback or a warning."""
    data = tmp_path / "triples.jsonl"
    data.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "xldiag", "train", "--model", str(tiny_model), "--data", str(data), "--langs", "zh",
         "--out", str(tmp_path / "run"), "--no-eval", "--batch-size", "2", "--threads", "1"],
        capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    if expected is None:  # two good rows and a bad one: the run goes on and its log names the skipped line
        assert proc.returncode == 0, proc.stderr
        assert "(1 bad rows skipped" in proc.stderr and "line 2: invalid JSON" in proc.stderr
        return
    assert proc.returncode == 2
    lines_out = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines_out) == 1 and lines_out[0].startswith("error: "), proc.stderr
    assert str(data) in lines_out[0]
    for part in expected:
        assert part in lines_out[0], (part, lines_out[0])


@pytest.mark.parametrize("extra", [[], ["--detach"]])
def test_train_refuses_use_m3_before_creating_anything(tmp_path, capsys, extra):
    """use-m3 has no PyTorch parameters: one `error:` line with the reason, no run folder."""
    from xldiag.cli import main

    out = tmp_path / "runs" / "use"
    assert main(["train", "--model", "use-m3", "--langs", "zh", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: use-m3") and "cannot be fine-tuned" in lines[0]
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


def test_the_library_refuses_use_m3_too(tmp_path):
    from xldiag.models import ModelNotTrainableError
    from xldiag.training import TrainConfig, launch, train

    for start in (launch, train):
        with pytest.raises(ModelNotTrainableError, match="numpy forward pass"):
            start(TrainConfig(model="use-m3", langs=["zh"], out=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()
