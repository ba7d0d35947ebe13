"""Test helpers for training: a tiny randomly initialised BERT sentence-transformer built in code,
synthetic triples over its vocabulary, and small run configurations.

The `tiny_model` fixture (tests/conftest.py) builds the model once per session; tests/test_losses.py,
test_prompts.py, test_alignment.py, test_runs.py and bench/train_bench.py use these helpers too.
"""

from __future__ import annotations

import json
from pathlib import Path

from xldiag.training import TrainConfig

WORDS = [f"w{i}" for i in range(120)]
TINY_DIM = 32


def make_tiny_model(path: Path, dim: int = TINY_DIM, seed: int = 0) -> Path:
    """A 2-layer BERT with a WordLevel vocabulary, mean pooling and Normalize, saved at `path`."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    path = Path(path)
    if (path / "modules.json").exists():
        return path
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {w: i for i, w in enumerate(specials + ["query", "passage", ":"] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=64)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=dim, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=2 * dim, max_position_embeddings=64)
    hf_dir = path.parent / f".{path.name}-hf"
    BertModel(config).save_pretrained(hf_dir)
    fast.save_pretrained(hf_dir)
    model = SentenceTransformer(
        modules=[Transformer(str(hf_dir), max_seq_length=64), Pooling(dim, "mean"), Normalize()],
        prompts={"query": "query: ", "document": "passage: "}, device="cpu")
    model.save(str(path), create_model_card=False)
    return path


def make_triples(n: int, langs=("de", "zh"), seed: int = 0, repeat_queries: bool = False):
    """Synthetic triples over the tiny vocabulary; the target passage shares words with p_en."""
    import random

    from xldiag.data import Triple

    rng = random.Random(seed)
    out = []
    for i in range(n):
        lang = langs[i % len(langs)]
        words = rng.sample(WORDS, 8)
        query = " ".join(words[:3]) if not repeat_queries else " ".join(WORDS[(i // 2) * 3:(i // 2) * 3 + 3])
        passage_en = " ".join(words)
        passage_tgt = " ".join(rng.sample(words, 6) + rng.sample(WORDS, 2))
        out.append(Triple(str(i), lang, query, passage_en, passage_tgt))
    return out


def tiny_config(tiny_model, out, **kw) -> TrainConfig:
    """A run of the tiny model: batch 8, lr 1e-3, a checkpoint every 2 steps, no evaluation."""
    values = dict(model=str(tiny_model), langs=["de", "zh"], batch_size=8, out=str(out), eval=False,
                  save_every=2, lr=1e-3, threads=1)
    values.update(kw)
    return TrainConfig(**values)


def weights(model_dir) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


def metric_lines(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


class LossHook:
    """Wraps st_adapter.compute_losses (what each step calls) to act at a given call (1-based step)."""

    def __init__(self, monkeypatch, at: int, action):
        from xldiag.training import st_adapter

        self.calls, self.at, self.action = 0, at, action
        original = st_adapter.compute_losses

        def wrapped(cfg, out, needs, n):
            self.calls += 1
            losses = original(cfg, out, needs, n)
            if self.calls == self.at:
                self.action(losses)  # acts on the run, or edits `losses` in place
            return losses

        monkeypatch.setattr(st_adapter, "compute_losses", wrapped)

def family_stand_in(path: Path, prompts: dict, default_prompt_name: str | None) -> Path:
    """The tiny BERT saved at `path` with the given sentence-transformers prompts."""
    make_tiny_model(path)
    config_file = path / "config_sentence_transformers.json"
    config = json.loads(config_file.read_text())
    config["prompts"], config["default_prompt_name"] = prompts, default_prompt_name
    config_file.write_text(json.dumps(config))
    return path
