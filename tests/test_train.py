"""The training loop: batches, schedule, logs, checkpoints, resume, lock, stop, NaN guard, CLI.

Fast tests use a tiny randomly initialised BERT sentence-transformer built in code
(`make_tiny_model`, also imported by test_losses.py and test_runs.py); one smoke test runs the
real default model for a few triples.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xldiag import runs
from xldiag.train import (
    NonFiniteLossError,
    TrainConfig,
    comparison_markdown,
    comparison_table,
    list_checkpoints,
    lr_lambda_factory,
    make_batches,
    train,
)

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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def tiny_config(tiny_model, out, **kw) -> TrainConfig:
    values = dict(model=str(tiny_model), langs=["de", "zh"], batch_size=8, out=str(out), eval=False,
                  save_every=2, lr=1e-3, threads=1)
    values.update(kw)
    return TrainConfig(**values)


def _weights(model_dir):
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


def _metric_lines(run_dir):
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


class _Hook:
    """Wraps xldiag.train.compute_losses to act at a given call (1-based step)."""

    def __init__(self, monkeypatch, at: int, action):
        import xldiag.train as train_module

        self.calls, self.at, self.action = 0, at, action
        original = train_module.compute_losses

        def wrapped(cfg, out, needs, n):
            self.calls += 1
            losses = original(cfg, out, needs, n)
            if self.calls == self.at:
                self.action(losses)  # acts on the run, or edits `losses` in place
            return losses

        monkeypatch.setattr(train_module, "compute_losses", wrapped)


# ---------------------------------------------------------------------------------------------
# Batches and schedule

def test_batches_are_seeded_and_never_repeat_a_query_or_passage():
    triples = make_triples(50, repeat_queries=True)  # pairs of triples share their English query
    batches = make_batches(triples, 8, seed=42)
    assert batches == make_batches(triples, 8, seed=42)
    assert batches != make_batches(triples, 8, seed=7)
    seen = [i for _, b in batches for i in b]
    assert sorted(seen) == list(range(50))  # every triple once per epoch
    for _, batch in batches:
        queries = [triples[i].query_en for i in batch]
        assert len(set(queries)) == len(queries)
        assert len({triples[i].passage_tgt for i in batch}) == len(batch)
    two = make_batches(triples, 8, seed=42, epochs=2)
    assert {e for e, _ in two} == {0, 1}
    assert [b for e, b in two if e == 0] == [b for _, b in batches]
    assert [b for e, b in two if e == 1] != [b for _, b in batches]  # reshuffled each epoch


def test_linear_schedule_with_warmup():
    f = lr_lambda_factory(total_steps=20, warmup_steps=3)
    factors = [f(s) for s in range(20)]
    assert factors[:4] == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])
    assert all(a >= b for a, b in zip(factors[2:], factors[3:]))
    assert factors[-1] == pytest.approx(1 / 17) and factors[-1] > 0


# ---------------------------------------------------------------------------------------------
# A whole run

def test_run_logs_every_step_and_writes_a_loadable_checkpoint(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    run_dir = train(tiny_config(tiny_model, tmp_path / "run", warmup_ratio=0.4, max_seq_length=16),
                    triples=make_triples(40))
    status = runs.read_status(run_dir)
    assert status["state"] == "finished" and status["step"] == status["total_steps"] == 5
    metrics = runs.read_metrics(run_dir)
    assert list(metrics["step"]) == [1, 2, 3, 4, 5]
    for column in ("epoch", "loss", "jsd", "nce", "lr", "grad_norm", "examples_per_s", "elapsed"):
        assert metrics[column].notna().all(), column
    assert metrics["loss"].to_numpy() == pytest.approx((metrics["jsd"] + metrics["nce"]).to_numpy(), rel=1e-5)
    assert metrics["epoch"].iloc[-1] == 1.0
    assert list(metrics["lr"]) == pytest.approx([5e-4, 1e-3, 1e-3, 2e-3 / 3, 1e-3 / 3])  # 2 warm-up steps
    assert metrics["elapsed"].is_monotonic_increasing
    assert (metrics["norm_en"] > 0).all() and (metrics["norm_tgt"] > 0).all()  # pre-norm ‖z‖, every step
    cfg = runs.read_config(run_dir)
    assert cfg["kind"] == "training" and cfg["config"]["loss"] == "full"
    assert cfg["resolved"]["query_prompt"] == "query: " and cfg["resolved"]["passage_prompt"] == "passage: "
    assert cfg["resolved"]["precision"] == "fp32" and cfg["data"]["n_triples"] == 40
    assert cfg["resolved"]["examples_trained"] == 40 and cfg["resolved"]["examples_not_trained"] == 0
    final = Path(run_dir) / "final"
    manifest = json.loads((final / "xldiag_manifest.json").read_text())
    assert manifest["base_model"] == str(tiny_model) and manifest["complete"]
    assert not (Path(run_dir) / "checkpoints").exists()  # step checkpoints are superseded by final/
    before, after = _weights(Path(tiny_model)), _weights(final)
    assert any(not (before[k] == after[k]).all() for k in before)
    tuned = SentenceTransformer(str(final), device="cpu")
    assert tuned.encode(["w1 w2"]).shape == (1, TINY_DIM)
    # trained on 16 tokens, saved with the base model's length so it is evaluated like its base
    assert cfg["resolved"]["max_seq_length"] == 16 and tuned.max_seq_length == 64
    assert manifest["training_max_seq_length"] == 16
    assert runs.lock_owner(run_dir) is None  # released


@pytest.mark.parametrize("mode,present,absent", [
    ("no-jsd", ["nce", "norm_tgt"], ["jsd", "nce_psg", "norm_en"]),
    ("no-nce", ["jsd", "norm_en", "norm_tgt"], ["nce", "nce_psg"]),
    ("nce-psg", ["nce", "nce_psg", "norm_en", "norm_tgt"], ["jsd"]),
])
def test_ablations_log_their_terms(tiny_model, tmp_path, mode, present, absent):
    run_dir = train(tiny_config(tiny_model, tmp_path / mode, loss=mode, save_every=100), triples=make_triples(16))
    metrics = runs.read_metrics(run_dir)
    assert runs.read_status(run_dir)["state"] == "finished" and len(metrics) == 2
    for column in present:
        assert metrics[column].notna().all()
    for column in absent:
        assert metrics[column].isna().all()


def test_passage_norms_are_the_mean_pre_norm_lengths():
    import torch

    from xldiag.train import passage_norms

    passages = torch.tensor([[3.0, 4.0], [0.0, 1.0], [6.0, 8.0], [0.0, 2.0]])  # p_en rows, then p_tgt rows
    norms = passage_norms({"passages": passages}, ("query", "passage_en", "passage_tgt"), 2)
    assert norms["norm_en"].item() == pytest.approx((5 + 1) / 2) and norms["norm_tgt"].item() == pytest.approx((10 + 2) / 2)
    only_tgt = passage_norms({"passages": passages[:2]}, ("query", "passage_tgt"), 2)
    assert only_tgt["norm_en"] is None and only_tgt["norm_tgt"].item() == pytest.approx(3.0)


def test_bf16_run_computes_its_losses_in_fp32(tiny_model, tmp_path, monkeypatch):
    """precision bf16 (here on CPU): the encoder's matmuls run in bf16, the similarity matrix in fp32."""
    import torch

    import xldiag.losses.infonce as infonce
    import xldiag.train as train_module

    seen = {"linear": set(), "logits": [], "error": []}
    make_embedder, similarity = train_module._make_embedder, infonce.similarity_logits

    def hooked_embedder(model):
        embedder = make_embedder(model)
        first_linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        first_linear.register_forward_hook(lambda mod, args, out: seen["linear"].add(out.dtype))
        return embedder

    def spy(anchors, positives, temperature):
        logits = similarity(anchors, positives, temperature)
        a = torch.nn.functional.normalize(anchors.detach().double(), dim=-1)
        b = torch.nn.functional.normalize(positives.detach().double(), dim=-1)
        seen["logits"].append(logits.dtype)
        seen["error"].append((logits.detach().double() - a @ b.T / temperature).abs().max().item())
        return logits

    monkeypatch.setattr(train_module, "_make_embedder", hooked_embedder)
    monkeypatch.setattr(infonce, "similarity_logits", spy)
    run_dir = train(tiny_config(tiny_model, tmp_path / "bf16", precision="bf16", save_every=100, temperature=0.05),
                    triples=make_triples(16))
    assert runs.read_status(run_dir)["state"] == "finished"
    assert runs.read_config(run_dir)["resolved"]["precision"] == "bf16"
    assert seen["linear"] == {torch.bfloat16}  # the forward did run under bf16 autocast
    assert seen["logits"] == [torch.float32, torch.float32]  # one InfoNCE per step, 2 steps
    assert max(seen["error"]) < 1e-4  # fp32 rounding of cos/τ (|cos/τ| ≤ 20); bf16 would be off by ~0.1


def test_resume_after_a_crash_reproduces_the_uninterrupted_run(tiny_model, tmp_path, monkeypatch):
    triples = make_triples(48)
    reference = train(tiny_config(tiny_model, tmp_path / "ref"), triples=triples)

    def crash(losses):
        raise RuntimeError("simulated crash")

    hook = _Hook(monkeypatch, at=4, action=crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(tiny_config(tiny_model, tmp_path / "run"), triples=triples)
    run_dir = tmp_path / "run"
    status = runs.read_status(run_dir)
    assert status["state"] == "failed" and "simulated crash" in status["error"]
    assert [s for s, _ in list_checkpoints(run_dir)] == [2]  # keep_checkpoints=1
    assert len(_metric_lines(run_dir)) == 3
    # a fresh start in a used folder is refused; --resume continues from step 2 and redoes step 3
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_config(tiny_model, run_dir), triples=triples)
    hook.at = -1
    train(tiny_config(tiny_model, run_dir), triples=triples, resume=True)
    assert runs.read_status(run_dir)["state"] == "finished"
    ref_lines, lines = _metric_lines(reference), _metric_lines(run_dir)
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(ref_lines, lines):
        for key in ("loss", "jsd", "nce", "lr", "grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), (a["step"], key)
    ref_w, w = _weights(Path(reference) / "final"), _weights(run_dir / "final")
    for key in ref_w:
        assert (ref_w[key] - w[key]).abs().max() < 1e-6, key


def test_stop_file_ends_cleanly_and_resume_finishes(tiny_model, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _Hook(monkeypatch, at=3, action=lambda losses: runs.request_stop(run_dir))
    train(tiny_config(tiny_model, run_dir, save_every=100), triples=make_triples(48))
    status = runs.read_status(run_dir)
    assert status["state"] == "stopped" and status["step"] == 3
    assert [s for s, _ in list_checkpoints(run_dir)] == [3]  # saved on stop
    train(tiny_config(tiny_model, run_dir), triples=make_triples(48), resume=True)
    assert runs.read_status(run_dir)["state"] == "finished"
    assert [r["step"] for r in _metric_lines(run_dir)] == [1, 2, 3, 4, 5, 6]


def test_sigterm_stops_after_the_current_step(tiny_model, tmp_path, monkeypatch):
    import signal

    run_dir = tmp_path / "run"
    _Hook(monkeypatch, at=2, action=lambda losses: os.kill(os.getpid(), signal.SIGTERM))
    train(tiny_config(tiny_model, run_dir, save_every=100), triples=make_triples(48))
    status = runs.read_status(run_dir)
    assert status["state"] == "stopped" and status["step"] == 2 and status["stop_reason"] == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored


def test_nan_loss_fails_and_keeps_the_last_good_checkpoint(tiny_model, tmp_path, monkeypatch):
    import torch

    run_dir = tmp_path / "run"

    def poison(losses):
        losses["loss"] = losses["loss"] * torch.tensor(float("nan"))

    _Hook(monkeypatch, at=4, action=poison)
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 4"):
        train(tiny_config(tiny_model, run_dir), triples=make_triples(48))
    status = runs.read_status(run_dir)
    assert status["state"] == "failed" and "non-finite" in status["error"] and "step-2" in status["error"]
    assert [s for s, _ in list_checkpoints(run_dir)] == [2]
    assert len(_metric_lines(run_dir)) == 3  # the bad step is not logged as a success
    assert not (run_dir / "final").exists()


def test_a_folder_in_use_is_refused_and_a_stale_lock_is_taken_over(tiny_model, tmp_path):
    run_dir = tmp_path / "run"
    with runs.RunLock(run_dir):
        with pytest.raises(runs.RunLockedError, match=f"in use by PID {os.getpid()}"):
            train(tiny_config(tiny_model, run_dir), triples=make_triples(16))
    assert not (run_dir / "metrics.jsonl").exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run_dir / "lock").write_text(json.dumps({"pid": dead.pid, "host": "x", "started": "then"}))
    messages = []
    train(tiny_config(tiny_model, run_dir), triples=make_triples(16), log=messages.append)
    assert any(f"stale lock left by PID {dead.pid}" in m for m in messages)
    assert runs.read_status(run_dir)["state"] == "finished"


def test_frozen_embeddings_and_gradient_checkpointing(tiny_model, tmp_path):
    run_dir = train(tiny_config(tiny_model, tmp_path / "run", freeze_embeddings=True, gradient_checkpointing=True),
                    triples=make_triples(16))
    before, after = _weights(Path(tiny_model)), _weights(Path(run_dir) / "final")
    key = next(k for k in before if "word_embeddings" in k)
    assert (before[key] == after[key]).all()
    assert any(not (before[k] == after[k]).all() for k in before if k != key)
    resolved = runs.read_config(run_dir)["resolved"]
    assert resolved["frozen_embedding_parameters"] == before[key].numel() and resolved["gradient_checkpointing"]


def test_gradient_checkpointing_is_automatic_for_long_cpu_runs(tiny_model, tmp_path, monkeypatch):
    import xldiag.train as train_module

    run_dir = train(tiny_config(tiny_model, tmp_path / "short", max_seq_length=16), triples=make_triples(16))
    assert runs.read_config(run_dir)["resolved"]["gradient_checkpointing"] is False
    monkeypatch.setattr(train_module, "CPU_DEFAULT_MAX_SEQ_LENGTH", 8)  # pretend 16 tokens is long
    run_dir = train(tiny_config(tiny_model, tmp_path / "long", max_seq_length=16), triples=make_triples(16))
    assert runs.read_config(run_dir)["resolved"]["gradient_checkpointing"] is True


def test_single_process_ddp_path(tiny_model, tmp_path):
    """torch.distributed initialised (gloo, world size 1): DDP wrapping, all-reduce, gathered RNG."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rdzv'}", rank=0, world_size=1)
    try:
        run_dir = train(tiny_config(tiny_model, tmp_path / "run"), triples=make_triples(40))
    finally:
        dist.destroy_process_group()
    assert runs.read_status(run_dir)["state"] == "finished"
    assert runs.read_config(run_dir)["resolved"]["world_size"] == 1
    assert len(_metric_lines(run_dir)) == 5


# ---------------------------------------------------------------------------------------------
# Comparison, CLI, the real default model

def _summary(max_r, complete):
    import pandas as pd

    return pd.DataFrame([
        {"dataset": "xquad", "pair": "en+zh", "query_lang": q, "scenario": "multi", "max_r": m, "complete@10": c,
         "max_r_norm_table": 90.0, "ndcg@1": 50.0, "mrr": 0.5}
        for q, m, c in (("en", max_r, complete), ("zh", max_r + 1, complete - 5))])


def test_comparison_layout():
    table = comparison_table(_summary(4.0, 80.0), _summary(3.0, 85.0))
    row = table[(table.query_lang == "en") & (table.metric == "max_r")].iloc[0]
    assert (row.base, row.tuned, row.delta, row.improved) == (4.0, 3.0, -1.0, True)
    assert table[table.metric == "complete@10"]["improved"].all()
    md = comparison_markdown(table, TrainConfig(langs=["zh"]))
    assert "| queries | metric | en+zh Base | en+zh Ours | avg Base | avg Ours |" in md
    assert "| English | Max@R ↓ | 4.00 | 3.00 | 4.00 | 3.00 |" in md
    assert "| target | Complete@10 ↑ | 75.00 | 80.00 | 75.00 | 80.00 |" in md


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
    assert len(_metric_lines(out)) == 3
    assert "finished" in capsys.readouterr().err
    assert main(["train", "--model", str(tiny_model), "--data", str(data), "--out", str(out)]) == 2  # in use
    assert "already holds a run" in capsys.readouterr().err
    assert main(["runs", "status", str(out)]) == 0
    assert '"state": "finished"' in capsys.readouterr().out


def test_default_model_smoke_with_evaluation(tmp_path, default_model_dir, data_dir):
    """The real default model on MLQA-R: 8 triples, 32 tokens, then base vs tuned on 20 XQuAD questions."""
    pytest.importorskip("xldiag.embeddings")
    cfg = TrainConfig(model="default", data="mlqa-r", langs=["zh"], limit=8, max_seq_length=32, batch_size=4,
                      out=str(tmp_path / "run"), eval_limit=20, threads=2)
    run_dir = train(cfg)
    status = runs.read_status(run_dir)
    assert status["state"] == "finished", status
    resolved = runs.read_config(run_dir)["resolved"]
    assert resolved["lr"] == 2e-5 and resolved["query_prompt"] == "query: " and resolved["max_seq_length"] == 32
    metrics = runs.read_metrics(run_dir)
    assert len(metrics) == 2 and all(math.isfinite(v) for v in metrics["loss"])
    table = runs.read_comparison(run_dir)
    assert set(table["query_lang"]) == {"en", "zh"} and set(table["pair"]) == {"en+zh"}
    assert "en+zh Base | en+zh Ours" in (Path(run_dir) / "comparison.md").read_text()


def test_stop_during_evaluation_then_resume_only_evaluates(tiny_model, tmp_path, monkeypatch):
    import xldiag.evaluate

    run_dir = tmp_path / "run"
    calls = []

    def fake_evaluate(model, out, progress=None, **kw):
        calls.append(model)
        if len(calls) == 2:  # while the tuned model is being evaluated
            runs.request_stop(run_dir, send_signal=False)
        progress("Embedding", 0.5)
        return _summary(4.0, 80.0) if model == str(tiny_model) else _summary(3.0, 90.0)

    monkeypatch.setattr(xldiag.evaluate, "evaluate", fake_evaluate)
    train(tiny_config(tiny_model, run_dir, eval=True), triples=make_triples(16))
    status = runs.read_status(run_dir)
    assert status["state"] == "stopped" and status["phase"].startswith("evaluating")
    assert calls == [str(tiny_model), str(run_dir / "final")]
    train(tiny_config(tiny_model, run_dir), triples=make_triples(16), resume=True)
    assert runs.read_status(run_dir)["state"] == "finished"
    assert len(calls) == 4 and len(_metric_lines(run_dir)) == 2  # no step was redone
    table = runs.read_comparison(run_dir)
    assert set(table["metric"]) >= {"max_r", "complete@10"} and table["improved"].all() is not None
    assert "| English | Max@R ↓ | 4.00 | 3.00 |" in (run_dir / "comparison.md").read_text()


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
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "HF_HUB_OFFLINE": "1"}
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
