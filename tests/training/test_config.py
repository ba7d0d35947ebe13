"""TrainConfig: its checks, reading it back from a run folder, where a run goes, and no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from xldiag import runs
from xldiag.training import TrainConfig, load_config_file, saved_config


def test_unknown_options_are_named():
    with pytest.raises(ValueError, match="Unknown training option.*: bogus, colour"):
        TrainConfig.from_dict({"model": "default", "colour": 1, "bogus": 2})
    assert TrainConfig.from_dict({"langs": ["ar"]}).langs == ["ar"]


@pytest.mark.parametrize("values,message", [
    ({"loss": "nope"}, "Unknown loss 'nope'"),
    ({"langs": []}, "No training languages"),
    ({"jsd_on": "middle"}, "--jsd-on must be one of pre-norm, post-norm, got 'middle'"),
    ({"precision": "fp8"}, "--precision must be one of auto, fp32, bf16"),
    ({"epochs": 0}, "epochs must be at least 1, got 0"),
    ({"batch_size": 1}, "--batch-size must be at least 2 .*in-batch negatives"),
    ({"warmup_ratio": 1.0}, r"warmup ratio must be in \[0, 1\)"),
    ({"lr": 0.0}, "--lr must be positive, got 0.0"),
    ({"temperature": -1.0}, "--temperature must be positive"),
    ({"jsd_temperature": 0.0}, "--jsd-temperature must be positive"),
    ({"max_seq_length": 2}, "--max-seq-length must be at least 4, got 2"),
])
def test_validate_names_the_bad_option(values, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**values).validate()


def test_the_defaults_are_valid_and_the_papers():
    cfg = TrainConfig()
    cfg.validate()
    assert (cfg.epochs, cfg.batch_size, cfg.warmup_ratio, cfg.weight_decay) == (1, 32, 0.15, 0.01)
    assert (cfg.adam_beta1, cfg.adam_beta2, cfg.seed, cfg.temperature, cfg.lr) == (0.9, 0.99, 42, 1.0, None)


def test_a_config_is_read_back_from_a_run_folder_or_a_plain_file(tmp_path):
    cfg = TrainConfig(model="m", langs=["zh", "ar"], loss="no-jsd", lr=3e-5)
    runs.write_config(tmp_path, cfg.to_dict(), resolved={"lr": 3e-5})
    assert load_config_file(tmp_path / "config.json") == cfg
    assert saved_config(tmp_path) == cfg and saved_config(tmp_path / "none") is None
    (tmp_path / "plain.json").write_text(json.dumps({"model": "x", "epochs": 2}))
    assert load_config_file(tmp_path / "plain.json") == TrainConfig(model="x", epochs=2)


def test_a_run_goes_under_the_runs_root_with_a_descriptive_name(tmp_path, monkeypatch):
    monkeypatch.setenv("XLDIAG_RUNS_DIR", str(tmp_path / "myruns"))
    out = TrainConfig(model="intfloat/multilingual-e5-small", langs=["zh", "ar"], loss="no-jsd").resolve_out()
    assert out.parent == (tmp_path / "myruns").resolve()
    assert out.name.endswith("-multilingual-e5-small-zh-ar-no-jsd")
    assert TrainConfig(model="a b/c?d", out=str(tmp_path / "x")).resolve_out() == (tmp_path / "x").resolve()
    assert TrainConfig(model="/models/my model v2/").default_name().endswith("-my-model-v2-zh-full")


def test_configuring_and_launching_do_not_load_torch():
    """The CLI, pages and launchers build and check configurations; torch loads only to train."""
    code = ("import sys, xldiag.training, xldiag.commands.train_cmd, xldiag.commands.runs_cmd; "
            "xldiag.training.TrainConfig().validate(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
