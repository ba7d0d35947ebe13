"""The sentence-transformers side: the family (learning rate, manifest) without fallbacks, the
passages' pre-norm norms, the embedder's split, and saving a model folder."""

from __future__ import annotations

import json

import pytest

from xldiag.training import TrainConfig
from xldiag.training import st_adapter


def test_the_learning_rate_comes_from_the_option_or_the_family(tiny_model):
    assert st_adapter.resolve_lr(TrainConfig(lr=3e-5)) == (3e-5, "--lr")
    assert st_adapter.resolve_lr(TrainConfig(model="default")) == (2e-5, "family multilingual-e5")
    assert st_adapter.resolve_lr(TrainConfig(model="BAAI/bge-m3")) == (4e-6, "family bge-m3")
    # an unknown model (the tiny BERT) is the generic family: the paper's 2e-5
    assert st_adapter.resolve_lr(TrainConfig(model=str(tiny_model))) == (2e-5, "family generic")


def test_a_broken_family_lookup_is_an_error_not_a_default(monkeypatch):
    def broken(name):
        raise ImportError("cannot import name 'FAMILIES'")

    monkeypatch.setattr(st_adapter, "family_of", broken)
    with pytest.raises(ImportError, match="FAMILIES"):
        st_adapter.resolve_lr(TrainConfig(model="default"))
    with pytest.raises(ImportError):
        st_adapter.manifest(TrainConfig(model="default"))


def test_the_manifest_names_the_base_model_its_family_and_prompt_overrides(tiny_model):
    info = st_adapter.manifest(TrainConfig(model="default", jsd_temperature=0.5), step=3)
    assert info["base_model"] == "default" and info["family"] == "multilingual-e5" and info["step"] == 3
    assert info["trained_by"] == "xldiag.train" and info["jsd_temperature"] == 0.5 and "prompts" not in info
    unknown = st_adapter.manifest(TrainConfig(model=str(tiny_model), query_prompt="w1 "))
    assert "family" not in unknown and unknown["prompts"] == {"query": "w1 "}


def test_passage_norms_are_the_mean_pre_norm_lengths():
    import torch

    passages = torch.tensor([[3.0, 4.0], [0.0, 1.0], [6.0, 8.0], [0.0, 2.0]])  # p_en rows, then p_tgt rows
    norms = st_adapter.passage_norms({"passages": passages}, ("query", "passage_en", "passage_tgt"), 2)
    assert norms["norm_en"].item() == pytest.approx((5 + 1) / 2)
    assert norms["norm_tgt"].item() == pytest.approx((10 + 2) / 2)
    only_tgt = st_adapter.passage_norms({"passages": passages[:2]}, ("query", "passage_tgt"), 2)
    assert only_tgt["norm_en"] is None and only_tgt["norm_tgt"].item() == pytest.approx(3.0)


def test_split_embeddings_hand_computed():
    import torch

    out = {"query": torch.tensor([[1.0, 0.0]]), "passages": torch.tensor([[3.0, 4.0], [0.0, 2.0]])}
    query, en, tgt = st_adapter.split_embeddings(out, ("query", "passage_en", "passage_tgt"), 1, "pre-norm")
    assert query.tolist() == [[1.0, 0.0]] and en.tolist() == [[3.0, 4.0]] and tgt.tolist() == [[0.0, 2.0]]
    _, en, tgt = st_adapter.split_embeddings(out, ("query", "passage_en", "passage_tgt"), 1, "post-norm")
    assert en[0].tolist() == pytest.approx([0.6, 0.8]) and tgt[0].tolist() == pytest.approx([0.0, 1.0])
    _, en, tgt = st_adapter.split_embeddings({"passages": out["passages"][1:]}, ("query", "passage_tgt"), 1, "pre-norm")
    assert en is None and tgt.tolist() == [[0.0, 2.0]]


def test_lengths_and_checkpointing_follow_the_device(tiny_model):
    model = st_adapter.load_sentence_transformer(str(tiny_model), "cpu")
    assert model.max_seq_length == 64
    assert st_adapter.training_max_seq_length(TrainConfig(), model, "cpu") == 64  # shorter than the CPU default
    assert st_adapter.training_max_seq_length(TrainConfig(max_seq_length=16), model, "cpu") == 16
    model.max_seq_length = 512
    assert st_adapter.training_max_seq_length(TrainConfig(), model, "cpu") == 128
    assert st_adapter.training_max_seq_length(TrainConfig(), model, "cuda:0") == 512
    assert st_adapter.wants_checkpointing(TrainConfig(), model, "cpu")  # 512 tokens on CPU
    assert not st_adapter.wants_checkpointing(TrainConfig(), model, "cuda")
    assert not st_adapter.wants_checkpointing(TrainConfig(gradient_checkpointing=False), model, "cpu")


def test_a_saved_model_keeps_the_base_length_and_the_training_prompts(tiny_model, tmp_path):
    model = st_adapter.load_sentence_transformer(str(tiny_model), "cpu")
    model.max_seq_length = 16  # the training length
    st_adapter.save_model(model, tmp_path / "saved", {"base_model": "x"}, ("w1 ", "w2 "), max_seq_length=64)
    assert model.max_seq_length == 16  # the model in training keeps its length
    assert st_adapter.load_sentence_transformer(str(tmp_path / "saved"), "cpu").max_seq_length == 64
    prompts = json.loads((tmp_path / "saved" / "config_sentence_transformers.json").read_text())["prompts"]
    assert (prompts["query"], prompts["passage"], prompts["document"]) == ("w1 ", "w2 ", "w2 ")
    assert st_adapter.read_manifest(tmp_path / "saved") == {"base_model": "x"}
