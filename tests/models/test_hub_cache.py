"""Hub names keep working offline, from the local Hugging Face cache: the embedded default model's
files laid out as a hub snapshot (models--org--name/snapshots/<revision>/, refs/main, no xldiag
manifest — as a download leaves them) under a temporary hub cache load by their hub name, get the
e5 family from the name, an identity that names the revision, the same embeddings as the folder
they came from, and evaluate beside `default` in an evaluation set (`eval --model default,org/name`)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from xldiag.cli import main as cli_main
from xldiag.data import load_dataset
from xldiag.embeddings import Encoder
from xldiag.models import ModelLoadError, family_of, load_model, model_identity
from xldiag.models.loading import local_model_dir
from xldiag.vocab import MANIFEST_FILE

HUB_NAME = "xldiag-test/multilingual-e5-small"
REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, default_model_dir):
    """A hub cache holding HUB_NAME: each file of the converted default a symlink (as the hub's blobs)."""
    from huggingface_hub import constants

    root = tmp_path / "hub"
    repo = root / f"models--{HUB_NAME.replace('/', '--')}"
    snapshot = repo / "snapshots" / REVISION
    for source in default_model_dir.rglob("*"):
        if source.is_file() and source.name != MANIFEST_FILE:
            target = snapshot / source.relative_to(default_model_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(source, target)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return snapshot


def test_a_cached_hub_name_resolves_without_loading(hub_cache):
    assert local_model_dir(HUB_NAME) == hub_cache
    assert model_identity(HUB_NAME)["revision"] == REVISION
    assert family_of(HUB_NAME).name == "multilingual-e5"  # from the name: prompts "query: " / "passage: "
    assert local_model_dir("xldiag-test/not-cached") is None
    with pytest.raises(ModelLoadError, match="offline mode"):
        load_model("xldiag-test/not-cached", device="cpu")


def test_a_cached_hub_name_encodes_like_its_folder(hub_cache, default_model_dir, data_dir, tmp_path):
    texts = [*load_dataset("xquad", ["en", "zh"], data_dir=str(data_dir), limit=3).questions["zh"]]
    by_name = Encoder(HUB_NAME, cache_root=tmp_path / "emb", show_progress=False)
    by_folder = Encoder(str(default_model_dir), cache_root=tmp_path / "emb", show_progress=False)
    assert by_name.fingerprint != by_folder.fingerprint  # separate caches: the name is part of the identity
    a, b = by_name.encode(texts, "query"), by_folder.encode(texts, "query")
    assert np.min(np.sum(a * b, axis=1)) >= 0.9999


def test_a_hub_name_is_a_member_of_an_evaluation_set(hub_cache, data_dir, tmp_path):
    out = tmp_path / "set"
    assert cli_main(["eval", "--model", f"default,{HUB_NAME}", "--dataset", "xquad", "--langs", "zh",
                     "--scenarios", "multi", "--limit", "4", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    member = out / "xldiag-test-multilingual-e5-small"
    config = json.loads((member / "config.json").read_text())
    assert config["model"] == HUB_NAME and config["coverage"]["family"] == "multilingual-e5"
    summary = pd.read_csv(out / "summary.csv")
    assert list(dict.fromkeys(summary["model"])) == ["default", HUB_NAME]
    assert set(summary.loc[summary["model"] == HUB_NAME, "n_queries"]) == {4}
