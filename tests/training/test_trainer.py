"""A whole training run on the tiny BERT: logs, checkpoints, resume, stop, NaN guard, lock, memory
options, bf16, and what the run reports through the job protocol."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from xldiag import jobs, runs
from xldiag.training import NonFiniteLossError, train
from xldiag.training import st_adapter

from training.tiny import TINY_DIM, LossHook, make_triples, metric_lines, tiny_config, weights


def test_run_logs_every_step_and_writes_a_loadable_checkpoint(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    run_dir = train(tiny_config(tiny_model, tmp_path / "run", warmup_ratio=0.4, max_seq_length=16),
                    triples=make_triples(40))
    status = jobs.read_status(run_dir)
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
    before, after = weights(tiny_model), weights(final)
    assert any(not (before[k] == after[k]).all() for k in before)
    tuned = SentenceTransformer(str(final), device="cpu")
    assert tuned.encode(["w1 w2"]).shape == (1, TINY_DIM)
    # trained on 16 tokens, saved with the base model's length so it is evaluated like its base
    assert cfg["resolved"]["max_seq_length"] == 16 and tuned.max_seq_length == 64
    assert manifest["training_max_seq_length"] == 16
    assert jobs.lock_owner(run_dir) is None  # released


def test_the_run_reports_through_the_job_protocol(tiny_model, tmp_path):
    run_dir = train(tiny_config(tiny_model, tmp_path / "run"), triples=make_triples(16))
    status = jobs.read_status(run_dir)
    assert status["kind"] == "training" and status["state"] == "finished" and status["phase"] == "done"
    assert status["fraction"] == 1.0 and status["pid"] == os.getpid() and status["error"] is None
    assert status["checkpoint"] == str(run_dir / "final") and status["world_size"] == 1 and not status["resumed"]
    assert status["train_seconds"] > 0 and status["peak_rss_mb"] >= status["peak_rss_mb_training"] > 0


@pytest.mark.parametrize("mode,present,absent", [
    ("no-jsd", ["nce", "norm_tgt"], ["jsd", "nce_psg", "norm_en"]),
    ("no-nce", ["jsd", "norm_en", "norm_tgt"], ["nce", "nce_psg"]),
    ("nce-psg", ["nce", "nce_psg", "norm_en", "norm_tgt"], ["jsd"]),
])
def test_ablations_log_their_terms(tiny_model, tmp_path, mode, present, absent):
    run_dir = train(tiny_config(tiny_model, tmp_path / mode, loss=mode, save_every=100), triples=make_triples(16))
    metrics = runs.read_metrics(run_dir)
    assert jobs.read_status(run_dir)["state"] == "finished" and len(metrics) == 2
    for column in present:
        assert metrics[column].notna().all()
    for column in absent:
        assert metrics[column].isna().all()


def test_bf16_run_computes_its_losses_in_fp32(tiny_model, tmp_path, monkeypatch):
    """precision bf16 (here on CPU): the encoder's matmuls run in bf16, the similarity matrix in fp32."""
    import torch

    import xldiag.losses.infonce as infonce

    seen = {"linear": set(), "logits": [], "error": []}
    make_embedder, similarity = st_adapter.make_embedder, infonce.similarity_logits

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

    monkeypatch.setattr(st_adapter, "make_embedder", hooked_embedder)
    monkeypatch.setattr(infonce, "similarity_logits", spy)
    run_dir = train(tiny_config(tiny_model, tmp_path / "bf16", precision="bf16", save_every=100, temperature=0.05),
                    triples=make_triples(16))
    assert jobs.read_status(run_dir)["state"] == "finished"
    assert runs.read_config(run_dir)["resolved"]["precision"] == "bf16"
    assert seen["linear"] == {torch.bfloat16}  # the forward did run under bf16 autocast
    assert seen["logits"] == [torch.float32, torch.float32]  # one InfoNCE per step, 2 steps
    assert max(seen["error"]) < 1e-4  # fp32 rounding of cos/τ (|cos/τ| ≤ 20); bf16 would be off by ~0.1


def test_resume_after_a_crash_reproduces_the_uninterrupted_run(tiny_model, tmp_path, monkeypatch):
    triples = make_triples(48)
    reference = train(tiny_config(tiny_model, tmp_path / "ref"), triples=triples)

    def crash(losses):
        raise RuntimeError("simulated crash")

    hook = LossHook(monkeypatch, at=4, action=crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(tiny_config(tiny_model, tmp_path / "run"), triples=triples)
    run_dir = tmp_path / "run"
    status = jobs.read_status(run_dir)
    assert status["state"] == "failed" and "simulated crash" in status["error"]
    assert [s for s, _ in runs.list_checkpoints(run_dir)] == [2]  # keep_checkpoints=1
    assert len(metric_lines(run_dir)) == 3
    # a fresh start in a used folder is refused, and leaves the folder's status as it was
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_config(tiny_model, run_dir), triples=triples)
    assert jobs.read_status(run_dir)["error"] == status["error"]
    # --resume continues from step 2 and redoes step 3
    hook.at = -1
    train(tiny_config(tiny_model, run_dir), triples=triples, resume=True)
    status = jobs.read_status(run_dir)
    assert status["state"] == "finished" and status["resumed"] and status["error"] is None
    ref_lines, lines = metric_lines(reference), metric_lines(run_dir)
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(ref_lines, lines):
        for key in ("loss", "jsd", "nce", "lr", "grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), (a["step"], key)
    ref_w, w = weights(Path(reference) / "final"), weights(run_dir / "final")
    for key in ref_w:
        assert (ref_w[key] - w[key]).abs().max() < 1e-6, key


def test_stop_file_ends_cleanly_and_resume_finishes(tiny_model, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    LossHook(monkeypatch, at=3, action=lambda losses: jobs.request_stop(run_dir))
    train(tiny_config(tiny_model, run_dir, save_every=100), triples=make_triples(48))
    status = jobs.read_status(run_dir)
    assert status["state"] == "stopped" and status["step"] == 3 and status["stop_reason"] == "stop file"
    assert status["phase"] == "training"  # a stopped run keeps the phase it stopped in
    assert [s for s, _ in runs.list_checkpoints(run_dir)] == [3]  # saved on stop
    train(tiny_config(tiny_model, run_dir), triples=make_triples(48), resume=True)
    status = jobs.read_status(run_dir)
    assert status["state"] == "finished" and status["stop_reason"] is None
    assert [r["step"] for r in metric_lines(run_dir)] == [1, 2, 3, 4, 5, 6]


def test_sigterm_stops_after_the_current_step(tiny_model, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    LossHook(monkeypatch, at=2, action=lambda losses: os.kill(os.getpid(), signal.SIGTERM))
    train(tiny_config(tiny_model, run_dir, save_every=100), triples=make_triples(48))
    status = jobs.read_status(run_dir)
    assert status["state"] == "stopped" and status["step"] == 2 and status["stop_reason"] == "SIGTERM"
    assert [s for s, _ in runs.list_checkpoints(run_dir)] == [2]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored


def test_nan_loss_fails_and_keeps_the_last_good_checkpoint(tiny_model, tmp_path, monkeypatch):
    import torch

    run_dir = tmp_path / "run"

    def poison(losses):
        losses["loss"] = losses["loss"] * torch.tensor(float("nan"))

    LossHook(monkeypatch, at=4, action=poison)
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 4"):
        train(tiny_config(tiny_model, run_dir), triples=make_triples(48))
    status = jobs.read_status(run_dir)
    assert status["state"] == "failed" and "non-finite" in status["error"] and "step-2" in status["error"]
    assert [s for s, _ in runs.list_checkpoints(run_dir)] == [2]
    assert len(metric_lines(run_dir)) == 3  # the bad step is not logged as a success
    assert not (run_dir / "final").exists()


def test_a_folder_in_use_is_refused_and_a_stale_lock_is_taken_over(tiny_model, tmp_path):
    run_dir = tmp_path / "run"
    with jobs.Lock(run_dir):
        with pytest.raises(jobs.JobLockedError, match=f"in use by PID {os.getpid()}"):
            train(tiny_config(tiny_model, run_dir), triples=make_triples(16))
    assert not (run_dir / "metrics.jsonl").exists() and not (run_dir / "status.json").exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run_dir / "lock").write_text(json.dumps({"pid": dead.pid, "host": "x", "started": "then"}))
    messages = []
    train(tiny_config(tiny_model, run_dir), triples=make_triples(16), log=messages.append)
    assert any(f"stale lock left by PID {dead.pid}" in m for m in messages)
    assert jobs.read_status(run_dir)["state"] == "finished"


def test_frozen_embeddings_and_gradient_checkpointing(tiny_model, tmp_path):
    run_dir = train(tiny_config(tiny_model, tmp_path / "run", freeze_embeddings=True, gradient_checkpointing=True),
                    triples=make_triples(16))
    before, after = weights(tiny_model), weights(Path(run_dir) / "final")
    key = next(k for k in before if "word_embeddings" in k)
    assert (before[key] == after[key]).all()
    assert any(not (before[k] == after[k]).all() for k in before if k != key)
    resolved = runs.read_config(run_dir)["resolved"]
    assert resolved["frozen_embedding_parameters"] == before[key].numel() and resolved["gradient_checkpointing"]


def test_gradient_checkpointing_is_automatic_for_long_cpu_runs(tiny_model, tmp_path, monkeypatch):
    run_dir = train(tiny_config(tiny_model, tmp_path / "short", max_seq_length=16), triples=make_triples(16))
    assert runs.read_config(run_dir)["resolved"]["gradient_checkpointing"] is False
    monkeypatch.setattr(st_adapter, "CPU_DEFAULT_MAX_SEQ_LENGTH", 8)  # pretend 16 tokens is long
    run_dir = train(tiny_config(tiny_model, tmp_path / "long", max_seq_length=16), triples=make_triples(16))
    assert runs.read_config(run_dir)["resolved"]["gradient_checkpointing"] is True


def test_stop_during_evaluation_then_resume_only_evaluates(tiny_model, tmp_path, monkeypatch):
    from xldiag.training import evaluation

    from training.test_evaluation import summary

    run_dir = tmp_path / "run"
    calls = []

    def fake_evaluate(model, out, progress=None, **kw):
        calls.append(model)
        if len(calls) == 2:  # while the tuned model is being evaluated
            jobs.request_stop(run_dir, send_signal=False)
        progress("Embedding", 0.5)
        return summary(4.0, 80.0) if model == str(tiny_model) else summary(3.0, 90.0)

    monkeypatch.setattr(evaluation, "evaluate", fake_evaluate)
    train(tiny_config(tiny_model, run_dir, eval=True), triples=make_triples(16))
    status = jobs.read_status(run_dir)
    assert status["state"] == "stopped" and status["phase"] == "evaluating tuned"
    assert calls == [str(tiny_model), str(run_dir / "final")]
    train(tiny_config(tiny_model, run_dir), triples=make_triples(16), resume=True)
    assert jobs.read_status(run_dir)["state"] == "finished"
    assert len(calls) == 4 and len(metric_lines(run_dir)) == 2  # no step was redone
    table = runs.read_comparison(run_dir)
    assert set(table["metric"]) >= {"max_r", "complete@10"} and table["improved"].all() is not None
    assert "| English | Max@R ↓ | 4.00 | 3.00 |" in (run_dir / "comparison.md").read_text()
