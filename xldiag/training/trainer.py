"""The training run: one Trainer per run folder, in four stages.

    prepare     data → batches (this rank's share) → model, prompts, optimizer, schedule; on a
                resume the newest checkpoint's weights, optimizer, scheduler and RNG states
    step        tokenise → encoder (bf16 autocast on GPU) → loss in float32 → backward → clip →
                one all-reduce of the logged values → NaN guard → AdamW → schedule
    checkpoint  every `save_every` steps and on a stop: an atomic sentence-transformers folder +
                trainer_state.pt
    finish      final/ (the tuned model, saved with the base model's max_seq_length)

then, on rank 0, the base-vs-tuned evaluation (`training.evaluation`). Per step rank 0 appends one
flushed JSON line to metrics.jsonl. The run is a job (`xldiag.jobs`, kind "training"): rank 0
holds the folder's lock and reports state, phase, step, total_steps, loss and checkpoint in
status.json; a STOP file, SIGTERM or Ctrl-C stops every rank after its current step, with a
checkpoint (a second Ctrl-C interrupts at once). A non-finite loss or gradient norm stops the run
before the update, with state `failed`, leaving the last good checkpoint in place.
"""

from __future__ import annotations

import gc
import json
import math
import shutil
import signal
import sys
import time
import traceback
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from xldiag import jobs, runs
from xldiag.atomic import atomic_dir
from xldiag.data import TriplesWarning, load_triples
from xldiag.losses import NEEDED_INPUTS
from xldiag.training import distributed, st_adapter
from xldiag.training.batching import BatchPlan, TrainingDataError, linear_schedule, plan_batches
from xldiag.training.config import TrainConfig, saved_config
from xldiag.training.evaluation import evaluate_base_and_tuned
from xldiag.vocab import TRAIN_METRICS_FILE

# Per-step values reduced across ranks and logged to metrics.jsonl (None where a mode has no such term).
STEP_VALUES = ("loss", "jsd", "nce", "nce_psg", "norm_en", "norm_tgt")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Failures whose message says all there is to say (bad input, a folder in use or missing): the
# run reports them in one line, without a traceback. Anything else (a torch RuntimeError, a bug)
# also prints its traceback, to stderr / job.log.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError)


class NonFiniteLossError(RuntimeError):
    """A loss or gradient norm was NaN/inf; the update was not applied."""


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far (MB), where the platform reports it."""
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KB on Linux
    except (ImportError, OSError):
        return None


@dataclass
class Clock:
    """Training time summed over resumes: wall seconds and this process's CPU seconds."""

    elapsed_before: float = 0.0
    cpu_before: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    cpu_started: float = field(default_factory=time.process_time)

    def start(self) -> None:
        self.started, self.cpu_started = time.perf_counter(), time.process_time()

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def cpu(self) -> float:
        return self.cpu_before + time.process_time() - self.cpu_started


@dataclass
class Session:
    """What `prepare` builds and every step uses."""

    triples: list
    plan: BatchPlan
    model: object  # the SentenceTransformer
    module: object  # the Embedder, in DDP when distributed
    params: list
    optimizer: object
    scheduler: object
    prompts: tuple[str, str]
    tasks: tuple[str | None, str | None]
    needs: tuple[str, ...]
    use_bf16: bool
    device_type: str
    clip: float
    saved_max_seq_length: int | None
    start_step: int = 0
    clock: Clock = field(default_factory=Clock)
    last_checkpoint: Path | None = None


class Trainer:
    """One training run in one run folder (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, triples=None, resume: bool = False,
                 clear_stop: bool = True, log=None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.triples = triples
        self.resume = resume
        self.clear_stop = clear_stop
        self._log = log or (lambda message: print(f"[xldiag train] {message}", file=sys.stderr, flush=True))
        self.ranks = distributed.Ranks()
        self.job: jobs.Job | None = None  # rank 0's: the lock and status.json
        self.stop: jobs.StopSignals | None = None
        self.summary: dict = {}  # train_seconds, peak_rss_mb_training (for the last log line)

    @property
    def main(self) -> bool:
        return self.ranks.main

    def log(self, message: str) -> None:
        if self.main:
            self._log(message)

    def report(self, throttle: bool = False, **fields) -> None:
        """Status fields (rank 0 writes status.json; `throttle`: at most every jobs.PROGRESS_EVERY s)."""
        if self.job is not None:
            self.job.update(throttle=throttle, **fields)

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> Path:
        import torch

        self.ranks = distributed.setup(self.cfg.device)
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        try:
            with self._as_job():
                self._stages()
        except jobs.StopRequested as stop:
            self.log(f"stopped ({stop}); resume with: python -m xldiag train --out {self.run_dir} --resume")
        except BaseException as err:
            if not isinstance(err, (NonFiniteLossError, KeyboardInterrupt, jobs.JobLockedError, *USER_ERRORS)):
                traceback.print_exc(file=sys.stderr)  # an unexpected failure during the run
            raise
        finally:
            self.ranks.close()
        return self.run_dir

    def _as_job(self):
        """Rank 0: a jobs.Job (lock, the one fresh/resume check, status.json); every rank: the stop
        signals (STOP file, SIGTERM, Ctrl-C), checked after each step."""
        notice = "stopping after the current step"
        if not self.main:
            self.stop = jobs.StopSignals(self.run_dir, STOP_SIGNALS, notice)
            return self.stop
        fields = {"phase": "starting", "world_size": self.ranks.world, "resumed": bool(self.resume),
                  "stop_reason": None}
        if not self.resume:
            fields.update(step=0, total_steps=None, loss=None, checkpoint=None)
        self.job = jobs.Job(self.run_dir, runs.KIND, check=lambda: runs.check_run_dir(self.run_dir, self.resume),
                            clear_stop=self.clear_stop, stop_signals=STOP_SIGNALS, notice=notice, **fields)
        self.stop = self.job.stop
        return self.job

    def _stages(self) -> None:
        if self.job is not None and self.job.lock.took_over:
            self.log(f"took over a stale lock left by PID {self.job.lock.took_over.get('pid')}")
        if self.main and not self.resume:
            runs.write_config(self.run_dir, self.cfg.to_dict())
        self._train()
        if self.cfg.eval and self.main:
            self.stop.immediate = True  # evaluating: nothing to save, its outputs are written atomically
            self.stop.check()
            self.report(phase="evaluating")
            evaluate_base_and_tuned(self.cfg, self.run_dir, self._eval_progress, self.log)
        self.report(phase="done", peak_rss_mb=peak_rss_mb())
        self.log(f"finished: {self.run_dir} (training {self.summary.get('train_seconds')} s, peak RSS "
                 f"{self.summary.get('peak_rss_mb_training')} MB in training, {peak_rss_mb()} MB overall)")

    def _eval_progress(self, phase: str, message: str, fraction: float) -> None:
        self.job.progress(message, fraction, phase=phase)

    def _train(self) -> None:
        if self._already_trained():
            return
        self.stop.check()
        session = self.prepare()
        step = session.start_step
        self.report(phase="training", step=step, total_steps=session.plan.total_steps)
        session.clock.start()
        with open(self.run_dir / TRAIN_METRICS_FILE, "a", encoding="utf-8") if self.main else nullcontext() as metrics:
            while step < session.plan.total_steps:
                values = self.step(session, step)
                step += 1
                self._record(metrics, session, step, values)
                if values["stop"] or (step % self.cfg.save_every == 0 and step < session.plan.total_steps):
                    session.last_checkpoint = self.checkpoint(session, step)
                if values["stop"]:
                    raise jobs.StopRequested(self.stop.reason or "stop requested on another rank")
        self.finish(session, step)
        del session
        _free_memory()

    def _already_trained(self) -> bool:
        """A resume of a run whose final/ is complete: only the evaluation is left."""
        info = st_adapter.read_manifest(self.run_dir / runs.FINAL_DIR) if self.resume else {}
        if not info.get("complete"):
            return False
        self.log("training already complete; going on to the evaluation")
        self.report(step=info["step"], total_steps=info["step"], checkpoint=str(self.run_dir / runs.FINAL_DIR))
        return True

    # -- prepare --------------------------------------------------------------------------------
    def prepare(self) -> Session:
        """Data, batches, model, optimizer and schedule; on a resume, the checkpoint's state."""
        import torch

        cfg = self.cfg
        self.report(phase="loading data")
        triples, data_info = self._load_data()
        plan = plan_batches(triples, cfg.batch_size, cfg.seed, cfg.epochs, self.ranks.world, self.ranks.rank,
                            source=cfg.data)
        self._log_data(data_info, plan)
        checkpoint = self._resume_checkpoint()
        self.report(phase="loading model", total_steps=plan.total_steps)
        torch.manual_seed(cfg.seed)
        model, saved_max_seq_length, memory = self._load_model(checkpoint)
        lr, lr_source = st_adapter.resolve_lr(cfg)
        optimizer, scheduler, warmup_steps = self._optimizer(model, lr, plan.total_steps)
        session = self._session(triples, plan, model, saved_max_seq_length, checkpoint, optimizer, scheduler)
        resolved = self._resolved(session, lr=lr, lr_source=lr_source, warmup_steps=warmup_steps, **memory)
        self._restore(session, checkpoint)
        if self.main:
            runs.write_config(self.run_dir, cfg.to_dict(), resolved=resolved, data=data_info)
            runs.truncate_metrics(self.run_dir, session.start_step)
        self.log(f"{data_info['n_triples']} triples {data_info['by_lang']}, {plan.total_steps} steps of "
                 f"{cfg.batch_size}×{self.ranks.world}, lr {lr:g} ({lr_source}), {resolved['precision']} on "
                 f"{self.ranks.device}, max_seq_length {model.max_seq_length}, loss {cfg.loss}")
        return session

    def _load_data(self) -> tuple[list, dict]:
        """The triples (given, or loaded from `cfg.data`) and their report for config.json."""
        cfg = self.cfg
        if self.triples is not None:
            triples, report = list(self.triples), getattr(self.triples, "report", None)
        else:
            with warnings.catch_warnings():
                # The report (bad rows with their lines) is logged and named in any error: the
                # warning would only repeat it as two more lines on stderr.
                warnings.simplefilter("ignore", TriplesWarning)
                triples = load_triples(cfg.data, cfg.langs, data_dir=cfg.data_dir, limit=cfg.limit)
            report = getattr(triples, "report", None)
        if cfg.limit is not None:
            triples = triples[: cfg.limit]
        if len(triples) < 2:
            detail = report.summary() if hasattr(report, "summary") else f"from {cfg.data}"
            raise TrainingDataError(f"need at least 2 training triples, got {len(triples)}: {detail}")
        by_lang: dict[str, int] = {}
        for t in triples:
            by_lang[t.lang] = by_lang.get(t.lang, 0) + 1
        info = {"source": cfg.data, "n_triples": len(triples), "by_lang": by_lang}
        if report is not None and hasattr(report, "summary"):
            info.update(report=report.summary(), n_bad=getattr(report, "n_bad", None))
        return triples, info

    def _log_data(self, data_info: dict, plan: BatchPlan) -> None:
        if data_info.get("report"):
            self.log(data_info["report"])
        if plan.examples_not_trained:
            self.log(f"{plan.examples_not_trained} triple(s) × epoch not trained on: a batch of one, or batches "
                     f"left over after sharing among {self.ranks.world} process(es)")

    def _resume_checkpoint(self) -> Path | None:
        found = runs.list_checkpoints(self.run_dir) if self.resume else []
        return found[-1][1] if found else None

    def _load_model(self, checkpoint: Path | None) -> tuple[object, int | None, dict]:
        """The model (from the checkpoint on a resume) at its training length, with the memory
        options applied; also the base model's own max_seq_length (saved checkpoints keep it)."""
        cfg, device = self.cfg, self.ranks.device
        model = st_adapter.load_sentence_transformer(str(checkpoint or cfg.model), device, cfg.trust_remote_code)
        model.to(device)
        saved_max_seq_length = model.max_seq_length
        if checkpoint is not None:
            saved = st_adapter.read_manifest(checkpoint)
            saved_max_seq_length = saved.get("saved_max_seq_length", saved_max_seq_length)
        model.max_seq_length = st_adapter.training_max_seq_length(cfg, model, device)
        frozen = st_adapter.freeze_word_embeddings(model) if cfg.freeze_embeddings else 0
        checkpointing = st_adapter.wants_checkpointing(cfg, model, device)
        if checkpointing:
            st_adapter.enable_checkpointing(model)
        model.train()
        return model, saved_max_seq_length, {"frozen": frozen, "checkpointing": checkpointing}

    def _optimizer(self, model, lr: float, total_steps: int) -> tuple[object, object, int]:
        """AdamW, the linear schedule, and the number of warm-up steps."""
        import torch

        cfg = self.cfg
        optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=lr,
                                      betas=(cfg.adam_beta1, cfg.adam_beta2))
        warmup_steps = math.ceil(cfg.warmup_ratio * total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(total_steps, warmup_steps))
        return optimizer, scheduler, warmup_steps

    def _session(self, triples, plan: BatchPlan, model, saved_max_seq_length, checkpoint, optimizer,
                 scheduler) -> Session:
        import torch

        cfg, device = self.cfg, self.ranks.device
        prompts, tasks = st_adapter.resolve_prompts(cfg, model), st_adapter.resolve_tasks(cfg, model)
        if checkpoint is not None:  # the prompts the run started with
            saved = runs.read_config(self.run_dir).get("resolved") or {}
            prompts = (saved.get("query_prompt", prompts[0]), saved.get("passage_prompt", prompts[1]))
        device_type = st_adapter.device_type_of(device)
        use_bf16 = cfg.precision == "bf16" or (
            cfg.precision == "auto" and device_type == "cuda" and torch.cuda.is_bf16_supported())
        return Session(
            triples=triples, plan=plan, model=model, optimizer=optimizer, scheduler=scheduler,
            module=self.ranks.wrap(st_adapter.make_embedder(model), device_type),
            params=[p for p in model.parameters() if p.requires_grad], prompts=prompts, tasks=tasks,
            needs=NEEDED_INPUTS[cfg.loss], use_bf16=use_bf16, device_type=device_type,
            clip=cfg.max_grad_norm if cfg.max_grad_norm and cfg.max_grad_norm > 0 else float("inf"),
            saved_max_seq_length=saved_max_seq_length)

    def _resolved(self, s: Session, lr: float, lr_source: str, warmup_steps: int, frozen: int,
                  checkpointing: bool) -> dict:
        """config.json["resolved"]: what the options resolved to at start."""
        import torch

        cfg, plan = self.cfg, s.plan
        return {
            "lr": lr, "lr_source": lr_source, "device": str(self.ranks.device),
            "precision": "bf16" if s.use_bf16 else "fp32", "max_seq_length": s.model.max_seq_length,
            "query_prompt": s.prompts[0], "passage_prompt": s.prompts[1], "query_task": s.tasks[0],
            "passage_task": s.tasks[1], "eval_langs": cfg.eval_langs or list(cfg.langs),
            "total_steps": plan.total_steps, "steps_per_epoch": plan.steps_per_epoch, "warmup_steps": warmup_steps,
            "world_size": self.ranks.world, "global_batch_size": cfg.batch_size * self.ranks.world,
            "n_batches": len(plan.batches), "examples_trained": plan.examples_trained,
            "examples_not_trained": plan.examples_not_trained, "trainable_parameters": sum(p.numel() for p in s.params),
            "frozen_embedding_parameters": frozen, "jsd_on": cfg.jsd_on,
            "normalize_module": st_adapter.trailing_normalize(s.model), "gradient_checkpointing": bool(checkpointing),
            "batches_fingerprint": plan.fingerprint, "torch": torch.__version__,
        }

    def _restore(self, s: Session, checkpoint: Path | None) -> None:
        """Optimizer, scheduler, RNG state, step and clock from a checkpoint (same batches only)."""
        import torch

        if checkpoint is None:
            if self.resume:
                self.log("no checkpoint yet: starting from the beginning")
            return
        state = torch.load(checkpoint / runs.TRAINER_STATE, map_location="cpu", weights_only=False)
        if state.get("batches_fingerprint") != s.plan.fingerprint:
            raise RuntimeError(
                f"Cannot resume {self.run_dir}: the data or batch order changed since {checkpoint.name} "
                "(different triples, seed, batch size or number of processes).")
        s.optimizer.load_state_dict(state["optimizer"])
        s.scheduler.load_state_dict(state["scheduler"])
        rng = state["rng"]
        distributed.set_rng_state(rng[self.ranks.rank] if isinstance(rng, list) else rng)
        s.start_step = state["step"]
        s.clock = Clock(elapsed_before=state.get("elapsed", 0.0), cpu_before=state.get("cpu_time", 0.0))
        s.last_checkpoint = checkpoint
        self.log(f"resuming from {checkpoint.name} (step {s.start_step}/{s.plan.total_steps})")

    # -- step -----------------------------------------------------------------------------------
    def step(self, s: Session, step: int) -> dict:
        """One optimizer step on this rank's batch `step` (0-based). Returns the step's values
        averaged over the ranks (STEP_VALUES, None where the mode has no such term; grad_norm),
        whether any rank was asked to stop, and the lr, batch size and seconds of the step."""
        import torch

        started = time.perf_counter()
        batch = [s.triples[i] for i in s.plan.mine[step][1]]
        lr = s.scheduler.get_last_lr()[0]
        features = st_adapter.batch_features(s.model, batch, s.needs, s.prompts[0], s.prompts[1], self.ranks.device,
                                             s.tasks)
        # Only the encoder runs under autocast; the losses are computed in float32 after it
        # (and the loss functions switch autocast off themselves).
        with torch.autocast(device_type=s.device_type, dtype=torch.bfloat16, enabled=s.use_bf16):
            out = s.module(features)
        terms = st_adapter.compute_losses(self.cfg, out, s.needs, len(batch))
        s.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(s.params, s.clip)
        values = self._reduce(terms, grad_norm)
        self._check_finite(values, step + 1, s.last_checkpoint)
        s.optimizer.step()
        s.scheduler.step()
        return {**values, "lr": lr, "n": len(batch), "seconds": time.perf_counter() - started}

    def _reduce(self, terms: dict, grad_norm) -> dict:
        """The step's values and this rank's stop request, reduced across ranks in one all-reduce
        and read back in the step's one host sync."""
        import torch

        zero = terms["loss"].detach().new_zeros(())
        parts = [terms[k].detach() if terms[k] is not None else zero for k in STEP_VALUES]
        stop = zero + (1.0 if self.stop.requested() else 0.0)
        reduced = self.ranks.reduce_step(torch.stack(parts + [grad_norm.detach().to(zero.device).float(), stop]))
        values = dict(zip(STEP_VALUES + ("grad_norm", "stop"), reduced.tolist()))
        values.update({k: None for k in STEP_VALUES if terms[k] is None}, stop=values["stop"] > 0)
        return values

    @staticmethod
    def _check_finite(values: dict, step: int, last_checkpoint: Path | None) -> None:
        """Raise NonFiniteLossError (before the update) when a loss term or the gradient norm is NaN/inf."""
        checked = [values[k] for k in ("loss", "jsd", "nce", "nce_psg", "grad_norm") if values[k] is not None]
        if all(math.isfinite(v) for v in checked):
            return
        kept = f"; last good checkpoint: {last_checkpoint}" if last_checkpoint else "; no checkpoint was saved yet"
        raise NonFiniteLossError(
            f"non-finite loss at step {step} (loss={values['loss']}, jsd={values['jsd']}, nce={values['nce']}, "
            f"grad_norm={values['grad_norm']}); the update was not applied{kept}")

    def _record(self, metrics, s: Session, step: int, values: dict) -> None:
        """One flushed line in metrics.jsonl (rank 0), and the step in status.json (throttled)."""
        if metrics is None:
            return
        world, total = self.ranks.world, s.plan.total_steps
        record = {
            "step": step, "epoch": round(step / s.plan.steps_per_epoch, 4),
            **{k: values[k] for k in STEP_VALUES}, "lr": values["lr"], "grad_norm": values["grad_norm"],
            "examples_per_s": round(values["n"] * world / values["seconds"], 3),
            "elapsed": round(s.clock.elapsed(), 6), "cpu_time": round(s.clock.cpu(), 6),
            "batch_size": values["n"] * world,
        }
        metrics.write(json.dumps(record) + "\n")
        metrics.flush()
        self.report(throttle=True, step=step, loss=values["loss"], fraction=step / total,
                    message=f"step {step}/{total}")

    # -- checkpoint and finish ------------------------------------------------------------------
    def checkpoint(self, s: Session, step: int) -> Path:
        """checkpoints/step-N: the model folder + trainer_state.pt (every rank's RNG state)."""
        import torch

        rng = self.ranks.gather(distributed.rng_state())
        path = runs.checkpoint_dir(self.run_dir, step)
        if self.main:
            self.report(phase="checkpointing")
            info = self._manifest(s, step, complete=False)
            state = {"step": step, "total_steps": s.plan.total_steps, "optimizer": s.optimizer.state_dict(),
                     "scheduler": s.scheduler.state_dict(), "rng": rng, "elapsed": s.clock.elapsed(),
                     "cpu_time": s.clock.cpu(), "batches_fingerprint": s.plan.fingerprint}
            with atomic_dir(path) as tmp:
                st_adapter.save_model(s.model, tmp, info, s.prompts, s.saved_max_seq_length)
                torch.save(state, tmp / runs.TRAINER_STATE)
            for _, old in runs.list_checkpoints(self.run_dir)[: -self.cfg.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
            self.report(phase="training", checkpoint=str(path), step=step)
            self.log(f"checkpoint {path.name}")
        self.ranks.barrier()
        return path

    def finish(self, s: Session, step: int) -> None:
        """final/ (the tuned model); the step checkpoints it supersedes are removed."""
        self.summary = {"peak_rss_mb_training": peak_rss_mb(), "train_seconds": round(s.clock.elapsed(), 3)}
        self.report(phase="saving", step=step, **self.summary)
        if self.main:
            final_dir = self.run_dir / runs.FINAL_DIR
            info = self._manifest(s, step, complete=True, elapsed=round(s.clock.elapsed(), 3))
            with atomic_dir(final_dir) as tmp:
                st_adapter.save_model(s.model, tmp, info, s.prompts, s.saved_max_seq_length)
            for _, path in runs.list_checkpoints(self.run_dir):
                shutil.rmtree(path, ignore_errors=True)  # superseded by final/
            try:
                (self.run_dir / runs.CHECKPOINTS_DIR).rmdir()
            except OSError:
                pass  # not empty: something else lives there; leave it
            self.report(checkpoint=str(final_dir), step=step)
        self.ranks.barrier()

    def _manifest(self, s: Session, step: int, complete: bool, **fields) -> dict:
        return st_adapter.manifest(self.cfg, step=step, total_steps=s.plan.total_steps, complete=complete,
                                   saved_max_seq_length=s.saved_max_seq_length,
                                   training_max_seq_length=s.model.max_seq_length, **fields)


def param_groups(model, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices, none on biases and norm weights (1-D tensors)."""
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def train(cfg: TrainConfig, triples=None, resume: bool = False, clear_stop: bool = True, log=None) -> Path:
    """Run (or with `resume=True` continue) a training run; returns its folder.

    `triples`: optional in-memory list of Triple (else `cfg.data` is loaded). On resume the
    configuration saved in the run folder is used. Raises jobs.JobLockedError when the folder is
    in use, NonFiniteLossError on a NaN/inf loss; a stop request returns normally (state `stopped`).
    """
    run_dir = cfg.resolve_out()
    if resume:
        cfg = saved_config(run_dir) or cfg
    cfg.out = str(run_dir)
    cfg.validate()
    return Trainer(cfg, run_dir, triples=triples, resume=resume, clear_stop=clear_stop, log=log).run()
