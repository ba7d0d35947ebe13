"""Fine-tuning for cross-lingual alignment: the seed paper's √JSD + InfoNCE (§4, Appendix C).

    from xldiag.train import TrainConfig, train
    run_dir = train(TrainConfig(model="default", data="mlqa-r", langs=["zh"], limit=512,
                                max_seq_length=128, out="cache/runs/demo"))

The loop is plain PyTorch, one optimizer step per batch:

    tokenise (query prompt for q_en, passage prompt for p_en / p_tgt) → the model's modules up to
    (not including) its final Normalize → loss (xldiag.losses) → backward → clip → AdamW → schedule

Per step it writes one flushed JSON line to metrics.jsonl; it checks a STOP file / SIGTERM after
every step; it saves atomic checkpoints (sentence-transformers folders + trainer_state.pt) every
`save_every` steps and when stopped; `resume=True` continues from the newest checkpoint with the
same batch order (the batches are a pure function of the data, the seed and the batch size) and
the saved optimizer, scheduler and RNG states. A non-finite loss or gradient norm stops the run
before the update, with state `failed`, leaving the last good checkpoint in place.

When `torch.distributed` is initialised — or the environment has WORLD_SIZE > 1, as set by
`torchrun` / `accelerate launch` — the encoder is wrapped in DistributedDataParallel; every rank
takes its own batches of `batch_size` (the global batch is world × batch_size) and rank 0 writes
the run folder.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import math
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from xldiag import __version__
from xldiag import runs
from xldiag.atomic import atomic_dir, write_json, write_text
from xldiag.losses import (DEFAULT_EPS, DEFAULT_JSD_TEMPERATURE, DEFAULT_TEMPERATURE, LOSS_MODES, NEEDED_INPUTS,
                           alignment_loss, check_mode)

FALLBACK_LR = 2e-5
CPU_DEFAULT_MAX_SEQ_LENGTH = 128
TRAINER_STATE = "trainer_state.pt"
CHECKPOINT_INFO = "xldiag_manifest.json"  # read by xldiag.models.family_of (base_model → family)
JSD_ON = ("pre-norm", "post-norm")
# Per-step values reduced across ranks and logged to metrics.jsonl (None where a mode has no such term).
STEP_VALUES = ("loss", "jsd", "nce", "nce_psg", "norm_en", "norm_tgt")
PRECISIONS = ("auto", "fp32", "bf16")


class RunExistsError(FileExistsError, RuntimeError):
    """The run folder already holds a run (pass --resume, or choose another folder)."""


class NonFiniteLossError(RuntimeError):
    """A loss or gradient norm was NaN/inf; the update was not applied."""


class TrainingDataError(ValueError):
    """The training data cannot be used (too few usable triples); the message carries the report."""


# Failures whose message says all there is to say (bad input, a folder in use or missing): the
# run reports them in one line, without a traceback. Anything else (a torch RuntimeError, a bug)
# also prints its traceback, to stderr / train.log.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError)


class StopRequested(Exception):
    """A STOP file or SIGTERM/SIGINT asked the run to end after the current step."""


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved as config.json["config"] in the run folder.

    `None` means "resolved at start" (recorded in config.json["resolved"]): lr from the model
    family, precision (bf16 on CUDA, fp32 on CPU), max_seq_length (128 on CPU, the model's own on
    GPU), eval_langs (the trained languages).
    """

    model: str = "default"
    data: str = "mlqa-r"
    langs: list[str] = field(default_factory=lambda: ["zh"])
    loss: str = "full"
    out: str | None = None
    max_seq_length: int | None = None
    limit: int | None = None
    epochs: int = 1
    lr: float | None = None
    batch_size: int = 32
    warmup_ratio: float = 0.15
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.99
    max_grad_norm: float = 1.0
    seed: int = 42
    temperature: float = DEFAULT_TEMPERATURE
    jsd_eps: float = DEFAULT_EPS
    jsd_temperature: float = DEFAULT_JSD_TEMPERATURE
    jsd_on: str = "pre-norm"
    lambda_jsd: float = 1.0
    lambda_nce: float = 1.0
    precision: str = "auto"
    device: str | None = None
    gradient_checkpointing: bool | None = None  # None: on for CPU runs longer than 128 tokens
    freeze_embeddings: bool = False
    save_every: int = 50
    keep_checkpoints: int = 1
    query_prompt: str | None = None
    passage_prompt: str | None = None
    eval: bool = True
    eval_dataset: str = "xquad"
    eval_langs: list[str] | None = None
    eval_scenarios: list[str] = field(default_factory=lambda: ["multi"])
    eval_limit: int | None = None
    eval_pool: str = "unique"
    eval_ties: str = "optimistic"
    data_dir: str | None = None
    trust_remote_code: bool = False
    threads: int | None = None

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"Unknown training option(s): {', '.join(unknown)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        check_mode(self.loss)
        if not self.langs:
            raise ValueError("No training languages: pass e.g. --langs zh,ar.")
        if self.jsd_on not in JSD_ON:
            raise ValueError(f"--jsd-on must be one of {', '.join(JSD_ON)}, got {self.jsd_on!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}.")
        for name in ("batch_size", "epochs", "save_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}.")
        if self.batch_size < 2:
            raise ValueError("--batch-size must be at least 2 (InfoNCE needs in-batch negatives).")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup ratio must be in [0, 1), got {self.warmup_ratio}.")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"--lr must be positive, got {self.lr}.")
        if self.temperature <= 0:
            raise ValueError(f"--temperature must be positive, got {self.temperature}.")
        if self.jsd_temperature <= 0:
            raise ValueError(f"--jsd-temperature must be positive, got {self.jsd_temperature}.")
        if self.max_seq_length is not None and self.max_seq_length < 4:
            raise ValueError(f"--max-seq-length must be at least 4, got {self.max_seq_length}.")

    def default_name(self) -> str:
        model = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(self.model.rstrip("/")).name)[-40:]
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{model}-{'-'.join(self.langs)}-{self.loss}"

    def resolve_out(self) -> Path:
        """The run folder (absolute): `out`, else `<cache>/runs/<time>-<model>-<langs>-<loss>`."""
        path = Path(self.out) if self.out else runs.runs_root() / self.default_name()
        return path.expanduser().resolve()


# ---------------------------------------------------------------------------------------------
# Run folder helpers

def write_run_config(run_dir: Path, cfg: TrainConfig, resolved: dict | None = None, data: dict | None = None) -> None:
    previous = runs.read_config(run_dir)
    record = {
        "kind": "training",
        "format_version": 1,
        "xldiag_version": __version__,
        "created": previous.get("created") or runs.now(),
        "config": cfg.to_dict(),
        "resolved": resolved if resolved is not None else previous.get("resolved"),
        "data": data if data is not None else previous.get("data"),
    }
    write_json(Path(run_dir) / runs.CONFIG_FILE, record)


def check_fresh_run_dir(run_dir: Path) -> None:
    """Refuse to start a new run in a folder that already holds one (use --resume)."""
    run_dir = Path(run_dir)
    used = [name for name in (runs.METRICS_FILE, "checkpoints", "final") if (run_dir / name).exists()]
    if used:
        state = runs.read_status(run_dir).get("state", "unknown")
        raise RunExistsError(
            f"Run folder {run_dir} already holds a run (state: {state}; has {', '.join(used)}). "
            "Pass --resume to continue it, or choose another --out."
        )


def load_config_file(path: str | os.PathLike) -> TrainConfig:
    """A TrainConfig from a run folder's config.json (or a plain JSON object of fields)."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return TrainConfig.from_dict(raw.get("config", raw) if raw.get("kind") == "training" else raw)


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (those with a trainer state), oldest first."""
    found = []
    for path in (Path(run_dir) / "checkpoints").glob("step-*"):
        match = re.fullmatch(r"step-(\d+)", path.name)
        if match and (path / TRAINER_STATE).exists():
            found.append((int(match.group(1)), path))
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# Batches

def _batch_keys(triple) -> tuple[str, str, str]:
    return ("q:" + triple.query_en.strip(), "e:" + triple.passage_en.strip(), "t:" + triple.passage_tgt.strip())


def make_batches(triples, batch_size: int, seed: int, epochs: int = 1) -> list[tuple[int, list[int]]]:
    """[(epoch, [triple indices])] — shuffled with `seed` (one permutation per epoch) and filled
    greedily so that no batch holds the same English query, English passage or target passage
    twice (a repeat would be a false negative for InfoNCE). A triple that clashes waits for a later
    batch of the same epoch; so an epoch's last batches can be smaller. Batches of one are dropped.
    """
    import torch

    keys = [_batch_keys(t) for t in triples]
    batches = []
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed(int(seed) * 1000 + epoch)
        remaining = torch.randperm(len(triples), generator=generator).tolist()
        while remaining:
            batch, seen, leftover = [], set(), []
            for i in remaining:
                if len(batch) < batch_size and not any(k in seen for k in keys[i]):
                    batch.append(i)
                    seen.update(keys[i])
                else:
                    leftover.append(i)
            if len(batch) >= 2:
                batches.append((epoch, batch))
            elif not leftover:
                break
            remaining = leftover
    return batches


def batches_fingerprint(triples, batches) -> str:
    digest = hashlib.sha1()
    for triple in triples:
        digest.update(f"{triple.lang}\t{triple.id}\n".encode())
    digest.update(json.dumps(batches).encode())
    return digest.hexdigest()[:16]


def lr_lambda_factory(total_steps: int, warmup_steps: int):
    """Linear warm-up then linear decay: step s (0-based) trains at lr·(s+1)/W during the W warm-up
    steps, then at lr·(T−s)/(T−W) — so no step has lr 0 and the last has lr/(T−W)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


# ---------------------------------------------------------------------------------------------
# The model side

def _family(name: str):
    try:
        from xldiag.models import family_of
    except ImportError:
        return None
    try:
        return family_of(name)
    except Exception:  # an unknown model has no family: fall back to the model's own prompts
        return None


def load_sentence_transformer(name_or_path: str, device: str, trust_remote_code: bool = False):
    """The model through xldiag.models.load_model (fp32 master weights), else sentence-transformers."""
    try:
        from xldiag.models import load_model
    except ImportError:
        load_model = None
    if load_model is not None:
        return load_model(name_or_path, device=device, trust_remote_code=trust_remote_code)
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(name_or_path), device=device, trust_remote_code=trust_remote_code)


def prompt_overrides(cfg: TrainConfig) -> dict[str, str]:
    """The config's explicit prompts ({"query": ..., "passage": ...}, only those set)."""
    return {role: value for role, value in (("query", cfg.query_prompt), ("passage", cfg.passage_prompt))
            if value is not None}


def training_family(cfg: TrainConfig, model=None):
    """The model family with the config's prompt overrides — the same ModelFamily evaluation uses
    (`family_of`); a model whose family cannot be resolved gets its own query/passage prompts."""
    from xldiag.models.registry import GENERIC

    family = _family(cfg.model)
    if family is None:
        own = getattr(model, "prompts", None) or {}
        family = GENERIC.with_prompts({"query": own.get("query", ""),
                                       "passage": own.get("passage", own.get("document", ""))})
    return family.with_prompts(prompt_overrides(cfg))


def resolve_prompts(cfg: TrainConfig, model) -> tuple[str, str]:
    """(query prompt, passage prompt): the exact prefixes evaluation's `model.encode(...,
    **family.encode_kwargs(role, model.prompts))` applies (`ModelFamily.inputs`) — an explicit
    family prompt or config override, a task family's model prompt named after its task (jina v3's
    retrieval.query / retrieval.passage), or the model's default prompt."""
    family = training_family(cfg, model)
    return family.inputs("query", model)[0], family.inputs("passage", model)[0]


def resolve_tasks(cfg: TrainConfig, model=None) -> tuple[str | None, str | None]:
    """(query task, passage task) for families whose modules take `task=` (jina-embeddings-v3)."""
    family = training_family(cfg, model)
    return family.inputs("query", model)[1], family.inputs("passage", model)[1]


def resolve_lr(cfg: TrainConfig) -> tuple[float, str]:
    if cfg.lr is not None:
        return float(cfg.lr), "--lr"
    family = _family(cfg.model)
    lr = getattr(family, "lr", None)
    if lr:
        return float(lr), f"family {getattr(family, 'name', '?')}"
    return FALLBACK_LR, "fallback (unknown family)"


def _trailing_normalize(model) -> bool:
    from sentence_transformers.sentence_transformer.modules import Normalize

    children = list(model.children())
    return bool(children) and isinstance(children[-1], Normalize)


def _hf_model(model):
    hf = getattr(model, "transformers_model", None)
    if hf is None:
        first = model[0]
        hf = getattr(first, "auto_model", None) or getattr(first, "model", None)
    return hf


def device_type_of(device) -> str:
    return "cuda" if str(device).startswith("cuda") else "cpu"


def enable_checkpointing(model) -> None:
    """Activation (gradient) checkpointing on the transformer, non-reentrant (DDP-safe)."""
    hf = _hf_model(model)
    kwargs = {"use_reentrant": False}
    if hf is not None and hasattr(hf, "activation_checkpointing_enable"):
        hf.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    elif hf is not None and hasattr(hf, "gradient_checkpointing_enable"):
        hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def freeze_word_embeddings(model) -> int:
    """Freeze the word-embedding matrix (most of a multilingual model's parameters); returns its size."""
    hf = _hf_model(model)
    if hf is None or not hasattr(hf, "get_input_embeddings"):
        raise ValueError("--freeze-embeddings: this model has no Hugging Face input-embedding matrix.")
    weight = hf.get_input_embeddings().weight
    weight.requires_grad_(False)
    return weight.numel()


def _make_embedder(model):
    import torch

    class Embedder(torch.nn.Module):
        """Runs the sentence-transformers modules except a final Normalize; returns, per input
        group, the pooled vector before normalisation (InfoNCE normalises; the JSD takes it raw or
        normalised). One forward call per step embeds every group, so DDP sees one forward."""

        def __init__(self, st_model):
            super().__init__()
            self.st = st_model
            children = list(st_model.children())
            self.n_body = len(children) - (1 if _trailing_normalize(st_model) else 0)

        def forward(self, groups: dict):
            out = {}
            body = list(self.st.children())[: self.n_body]
            for name, features in groups.items():
                task = features.pop("_task", None)
                for module in body:
                    if task is not None and "task" in getattr(module, "forward_kwargs", ()):
                        features = module(features, task=task)
                    else:
                        features = module(features)
                out[name] = features["sentence_embedding"]
            return out

    return Embedder(model)


def tokenize(model, texts: list[str], prompt: str, device, task: str | None = None) -> dict:
    kwargs = {"task": task} if task else {}
    features = model.preprocess(texts, prompt=prompt or None, **kwargs)
    features = {k: (v.to(device, non_blocking=True) if hasattr(v, "to") else v) for k, v in features.items()}
    if task:
        features["_task"] = task
    return features


def batch_features(model, batch, needs, query_prompt: str, passage_prompt: str, device,
                   tasks: tuple[str | None, str | None] = (None, None)) -> dict:
    """Tokenised inputs for one batch: "query" (q_en) and "passages" (p_en then p_tgt, one call)."""
    groups = {}
    if "query" in needs:
        groups["query"] = tokenize(model, [t.query_en for t in batch], query_prompt, device, tasks[0])
    passages = []
    if "passage_en" in needs:
        passages += [t.passage_en for t in batch]
    if "passage_tgt" in needs:
        passages += [t.passage_tgt for t in batch]
    groups["passages"] = tokenize(model, passages, passage_prompt, device, tasks[1])
    return groups


def split_embeddings(out: dict, needs, n: int, jsd_on: str) -> tuple:
    """(query, passage_en, passage_tgt) from an Embedder output; None where not needed."""
    import torch.nn.functional as F

    query = out.get("query")
    passages = out["passages"]
    passage_en = passage_tgt = None
    if "passage_en" in needs:
        passage_en, passages = passages[:n], passages[n:]
    if "passage_tgt" in needs:
        passage_tgt = passages[:n]
    if jsd_on == "post-norm":
        passage_en = F.normalize(passage_en.float(), dim=-1) if passage_en is not None else None
        passage_tgt = F.normalize(passage_tgt.float(), dim=-1) if passage_tgt is not None else None
    return query, passage_en, passage_tgt


def passage_norms(out: dict, needs, n: int) -> dict:
    """{"norm_en", "norm_tgt"}: the batch's mean pre-normalisation ‖z‖ of the English and the
    target passages (float32, detached; None where the loss does not embed them).

    Logged every step because the pre-norm √JSD has a shortcut: softmax of a short vector is
    nearly uniform, so the JSD also falls when the encoder merely shrinks ‖z‖."""
    import torch

    passages = out["passages"].detach()
    norms = {"norm_en": None, "norm_tgt": None}
    with torch.autocast(device_type=passages.device.type, enabled=False):
        if "passage_en" in needs:
            norms["norm_en"], passages = passages[:n].float().norm(dim=-1).mean(), passages[n:]
        if "passage_tgt" in needs:
            norms["norm_tgt"] = passages[:n].float().norm(dim=-1).mean()
    return norms


def compute_losses(cfg: TrainConfig, out: dict, needs, n: int) -> dict:
    """The batch loss (xldiag.losses.alignment_loss) from the Embedder output, computed in float32
    (the loss functions switch autocast off), plus the passages' pre-norm ‖z‖ (`passage_norms`)."""
    query, passage_en, passage_tgt = split_embeddings(out, needs, n, cfg.jsd_on)
    losses = alignment_loss(cfg.loss, query, passage_en, passage_tgt, temperature=cfg.temperature,
                            jsd_eps=cfg.jsd_eps, jsd_temperature=cfg.jsd_temperature,
                            lambda_jsd=cfg.lambda_jsd, lambda_nce=cfg.lambda_nce)
    return {**losses, **passage_norms(out, needs, n)}


def param_groups(model, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices, none on biases and norm weights (1-D tensors)."""
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# ---------------------------------------------------------------------------------------------
# Distributed

def _dist_setup(device: str | None):
    """(rank, world, local_rank, device, initialised_here); initialises the process group from
    torchrun's / accelerate's environment when WORLD_SIZE > 1 and nobody has yet."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    initialised_here = False
    if world > 1 and dist.is_available() and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and device != "cpu" else "gloo"
        dist.init_process_group(backend=backend)
        initialised_here = True
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        if torch.cuda.is_available() and device != "cpu":
            torch.cuda.set_device(local_rank)
            device = f"cuda:{local_rank}"
        return rank, world, local_rank, device or "cpu", initialised_here
    from xldiag import config as settings

    return 0, 1, 0, settings.device(device), False


# ---------------------------------------------------------------------------------------------
# Checkpoints

def _rng_state() -> dict:
    import random

    import torch

    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import random

    import torch

    torch.set_rng_state(state["torch"])
    if "python" in state:
        random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far (MB), where the platform reports it."""
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KB on Linux
    except (ImportError, OSError):
        return None


def manifest(cfg: TrainConfig, **fields) -> dict:
    """xldiag_manifest.json of a checkpoint: its base model (so `family_of` finds the family and
    its prompts) and how it was trained."""
    family = _family(cfg.model)
    record = {"base_model": cfg.model, "trained_by": "xldiag.train", "loss": cfg.loss, "data": cfg.data,
              "langs": list(cfg.langs), "temperature": cfg.temperature, "jsd_temperature": cfg.jsd_temperature,
              "jsd_on": cfg.jsd_on, "created": runs.now(), **fields}
    if prompt_overrides(cfg):  # family_of(checkpoint) applies them, so it is evaluated as it was trained
        record["prompts"] = prompt_overrides(cfg)
    try:
        from xldiag.models import FAMILIES

        if family is not None and family.name in FAMILIES:
            record["family"] = family.name
    except ImportError:
        pass
    return record


def _save_model(model, path: Path, info: dict, prompts: tuple[str, str], max_seq_length: int | None = None) -> None:
    """Save a sentence-transformers folder + manifest. `max_seq_length`: the base model's own, so
    the tuned model is evaluated like its base (training truncation is a training choice only)."""
    query_prompt, passage_prompt = prompts
    training_length = model.max_seq_length
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    extra = {k: v for k, v in {"query": query_prompt, "passage": passage_prompt, "document": passage_prompt}.items() if v}
    try:
        model.prompts = {**(getattr(model, "prompts", None) or {}), **extra}
    except Exception:
        pass
    try:
        model.save(str(path), create_model_card=False)
    finally:
        model.max_seq_length = training_length
    write_json(path / CHECKPOINT_INFO, info)


# ---------------------------------------------------------------------------------------------
# The run

class _Stopper:
    """STOP file + SIGTERM/SIGINT → stop after the current step (a second SIGINT interrupts)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.reason: str | None = None
        self.previous = {}
        self.immediate = False  # True after training: a signal stops at once

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.reason is not None:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name
        if self.immediate:  # evaluating: nothing to save, its outputs are written atomically
            raise StopRequested(self.reason)
        print(f"[xldiag train] {self.reason}: stopping after the current step", file=sys.stderr, flush=True)

    def requested(self) -> str | None:
        if self.reason is None and runs.stop_requested(self.run_dir):
            self.reason = "stop file"
        return self.reason


class Trainer:
    """One training run in one run folder (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, triples=None, resume: bool = False,
                 clear_stop: bool = True, log=None):
        self.cfg = cfg
        self.clear_stop = clear_stop
        self.run_dir = run_dir
        self.triples = triples
        self.resume = resume
        self._log = log or (lambda message: print(f"[xldiag train] {message}", file=sys.stderr, flush=True))
        self.rank, self.world, self.local_rank, self.device = 0, 1, 0, "cpu"
        self.distributed = False  # torch.distributed initialised: DDP, all-reduce, rank 0 writes
        self.status: dict = {}
        self._status_written = 0.0

    # -- status ---------------------------------------------------------------------------------
    @property
    def main(self) -> bool:
        return self.rank == 0

    def log(self, message: str) -> None:
        if self.main:
            self._log(message)

    def set_status(self, force: bool = True, **fields) -> None:
        self.status.update(fields)
        if not self.main:
            return
        if force or time.monotonic() - self._status_written > 2.0:
            runs.write_status(self.run_dir, self.status)
            self._status_written = time.monotonic()

    # -- setup ----------------------------------------------------------------------------------
    def load_data(self):
        if self.triples is not None:
            triples = list(self.triples)
            report = getattr(self.triples, "report", None)
        else:
            from xldiag.data import TriplesWarning, load_triples

            with warnings.catch_warnings():
                # The report (bad rows with their lines) is logged below and named in any error:
                # the warning would only repeat it as two more lines on stderr.
                warnings.simplefilter("ignore", TriplesWarning)
                triples = load_triples(self.cfg.data, self.cfg.langs, data_dir=self.cfg.data_dir, limit=self.cfg.limit)
            report = getattr(triples, "report", None)
        if self.cfg.limit is not None:
            triples = triples[: self.cfg.limit]
        if len(triples) < 2:
            detail = report.summary() if hasattr(report, "summary") else f"from {self.cfg.data}"
            raise TrainingDataError(f"need at least 2 training triples, got {len(triples)}: {detail}")
        by_lang: dict[str, int] = {}
        for t in triples:
            by_lang[t.lang] = by_lang.get(t.lang, 0) + 1
        info = {"source": self.cfg.data, "n_triples": len(triples), "by_lang": by_lang}
        if report is not None and hasattr(report, "summary"):
            info["report"] = report.summary()
            info["n_bad"] = getattr(report, "n_bad", None)
        return triples, info

    def run(self) -> Path:
        import torch

        cfg = self.cfg
        self.rank, self.world, self.local_rank, self.device, owns_group = _dist_setup(cfg.device)
        import torch.distributed

        self.distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        lock = runs.RunLock(self.run_dir) if self.main else None
        stopper = _Stopper(self.run_dir)
        if lock is not None:
            lock.acquire()
            if lock.took_over:
                self.log(f"took over a stale lock left by PID {lock.took_over.get('pid')}")
            if self.clear_stop:
                runs.clear_stop(self.run_dir)  # an old request must not stop a new launch
        try:
            if self.main:
                if self.resume:
                    if not (self.run_dir / runs.CONFIG_FILE).exists():
                        raise FileNotFoundError(f"Nothing to resume in {self.run_dir}: no {runs.CONFIG_FILE}.")
                else:
                    check_fresh_run_dir(self.run_dir)
                    write_run_config(self.run_dir, cfg)
            previous = (runs._read_json(self.run_dir / runs.STATUS_FILE) or {}) if self.resume else {}
            self.status = {
                "state": "running", "phase": "starting", "error": None, "pid": os.getpid(),
                "proc_start": runs._proc_start_time(os.getpid()), "host": socket.gethostname(),
                "run_dir": str(self.run_dir), "started": runs.now(), "finished": None,
                "step": previous.get("step", 0), "total_steps": previous.get("total_steps"),
                "loss": previous.get("loss"), "checkpoint": previous.get("checkpoint"),
                "world_size": self.world, "resumed": bool(self.resume),
            }
            self.set_status()
            stopper.install()
            self._train(stopper)
            if cfg.eval and self.main:
                stopper.immediate = True
                if stopper.requested():
                    raise StopRequested(stopper.reason)
                self.set_status(phase="evaluating")
                self._evaluate(stopper)
            self.set_status(state="finished", phase="done", finished=runs.now(), peak_rss_mb=peak_rss_mb())
            self.log(f"finished: {self.run_dir} (training {self.status.get('train_seconds')} s, "
                     f"peak RSS {self.status.get('peak_rss_mb_training')} MB in training, {peak_rss_mb()} MB overall)")
        except StopRequested as stop:
            self.set_status(state="stopped", error=None, finished=runs.now(), stop_reason=str(stop))  # phase: where
            self.log(f"stopped ({stop}); resume with: python -m xldiag train --out {self.run_dir} --resume")
        except BaseException as err:
            message = f"{type(err).__name__}: {err}"
            if isinstance(err, KeyboardInterrupt):
                message = "interrupted (KeyboardInterrupt)"
            if self.status:
                self.set_status(state="failed", error=message, finished=runs.now())
            if self.status.get("state") == "failed" and not isinstance(err, (NonFiniteLossError, KeyboardInterrupt,
                                                                              *USER_ERRORS)):
                traceback.print_exc(file=sys.stderr)  # an unexpected failure during the run
            raise
        finally:
            stopper.uninstall()
            if lock is not None:
                lock.release()
            if owns_group:
                torch.distributed.destroy_process_group()
        return self.run_dir

    # -- training -------------------------------------------------------------------------------
    def _train(self, stopper: _Stopper) -> None:
        import torch

        cfg = self.cfg
        final_dir = self.run_dir / "final"
        if self.resume and (final_dir / CHECKPOINT_INFO).exists():
            info = json.loads((final_dir / CHECKPOINT_INFO).read_text())
            if info.get("complete"):
                self.log("training already complete; going on to the evaluation")
                self.set_status(step=info["step"], total_steps=info["step"], checkpoint=str(final_dir))
                return
        if stopper.requested():
            raise StopRequested(stopper.reason)

        self.set_status(phase="loading data")
        triples, data_info = self.load_data()
        batches = make_batches(triples, cfg.batch_size, cfg.seed, cfg.epochs)
        steps_per_epoch = max(1, sum(1 for e, _ in batches if e == 0) // self.world)
        total_steps = len(batches) // self.world
        if not batches:
            raise TrainingDataError(
                f"no batch of 2 or more triples can be formed from the {len(triples)} triples of {cfg.data}: a batch "
                "never holds the same English query, English passage or target passage twice, and these repeat them")
        if total_steps < 1:
            raise ValueError(f"{len(batches)} batches cannot be shared among {self.world} processes.")
        my_batches = [batches[s * self.world + self.rank] for s in range(total_steps)]
        fingerprint = batches_fingerprint(triples, batches)
        used = sum(len(b) for _, b in batches[: total_steps * self.world])
        unused = len(triples) * cfg.epochs - used  # batches of one, and leftovers no rank could share
        if data_info.get("report"):
            self.log(data_info["report"])
        if unused:
            self.log(f"{unused} triple(s) × epoch not trained on: a batch of one, or batches left over "
                     f"after sharing among {self.world} process(es)")

        checkpoint = None
        if self.resume:
            found = list_checkpoints(self.run_dir)
            checkpoint = found[-1][1] if found else None

        self.set_status(phase="loading model", total_steps=total_steps)
        torch.manual_seed(cfg.seed)
        source = str(checkpoint) if checkpoint is not None else cfg.model
        model = load_sentence_transformer(source, self.device, cfg.trust_remote_code)
        model.to(self.device)
        self.saved_max_seq_length = model.max_seq_length
        if checkpoint is not None:
            info = json.loads((checkpoint / CHECKPOINT_INFO).read_text())
            self.saved_max_seq_length = info.get("saved_max_seq_length", self.saved_max_seq_length)
        if cfg.max_seq_length is not None:
            model.max_seq_length = cfg.max_seq_length
        elif str(self.device).startswith("cpu") and (model.max_seq_length or 10**9) > CPU_DEFAULT_MAX_SEQ_LENGTH:
            model.max_seq_length = CPU_DEFAULT_MAX_SEQ_LENGTH
        prompts = resolve_prompts(cfg, model)
        tasks = resolve_tasks(cfg, model)
        if checkpoint is not None:
            saved = runs.read_config(self.run_dir).get("resolved") or {}
            prompts = (saved.get("query_prompt", prompts[0]), saved.get("passage_prompt", prompts[1]))
        lr, lr_source = resolve_lr(cfg)
        frozen = freeze_word_embeddings(model) if cfg.freeze_embeddings else 0
        checkpointing = cfg.gradient_checkpointing
        if checkpointing is None:  # auto: activations dominate CPU memory beyond 128 tokens
            checkpointing = device_type_of(self.device) == "cpu" and (model.max_seq_length or 0) > CPU_DEFAULT_MAX_SEQ_LENGTH
        if checkpointing:
            enable_checkpointing(model)
        model.train()
        use_bf16 = cfg.precision == "bf16" or (
            cfg.precision == "auto" and str(self.device).startswith("cuda") and torch.cuda.is_bf16_supported())
        device_type = device_type_of(self.device)

        embedder = _make_embedder(model)
        module = embedder
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.local_rank] if device_type == "cuda" else None
            # static_graph: the graph is the same every step, and some weights never get a
            # gradient (e.g. BERT's unused pooler) — DDP handles both without a per-step search.
            module = DistributedDataParallel(embedder, device_ids=ids, static_graph=True)

        params = [p for p in model.parameters() if p.requires_grad]
        n_trainable = sum(p.numel() for p in params)
        optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=lr,
                                      betas=(cfg.adam_beta1, cfg.adam_beta2))
        warmup_steps = math.ceil(cfg.warmup_ratio * total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda_factory(total_steps, warmup_steps))

        resolved = {
            "lr": lr, "lr_source": lr_source, "device": str(self.device), "precision": "bf16" if use_bf16 else "fp32",
            "max_seq_length": model.max_seq_length, "query_prompt": prompts[0], "passage_prompt": prompts[1],
            "query_task": tasks[0], "passage_task": tasks[1],
            "eval_langs": cfg.eval_langs or list(cfg.langs), "total_steps": total_steps,
            "steps_per_epoch": steps_per_epoch, "warmup_steps": warmup_steps, "world_size": self.world,
            "global_batch_size": cfg.batch_size * self.world, "n_batches": len(batches),
            "examples_trained": used, "examples_not_trained": unused,
            "trainable_parameters": n_trainable, "frozen_embedding_parameters": frozen,
            "jsd_on": cfg.jsd_on, "normalize_module": _trailing_normalize(model),
            "gradient_checkpointing": bool(checkpointing),
            "batches_fingerprint": fingerprint, "torch": torch.__version__,
        }
        start_step, elapsed_before, cpu_before = 0, 0.0, 0.0
        if checkpoint is not None:
            state = torch.load(checkpoint / TRAINER_STATE, map_location="cpu", weights_only=False)
            if state.get("batches_fingerprint") != fingerprint:
                raise RuntimeError(
                    f"Cannot resume {self.run_dir}: the data or batch order changed since {checkpoint.name} "
                    "(different triples, seed, batch size or number of processes)."
                )
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            _set_rng_state(state["rng"][self.rank] if isinstance(state["rng"], list) else state["rng"])
            start_step, elapsed_before = state["step"], state.get("elapsed", 0.0)
            cpu_before = state.get("cpu_time", 0.0)
            self.log(f"resuming from {checkpoint.name} (step {start_step}/{total_steps})")
        elif self.resume:
            self.log("no checkpoint yet: starting from the beginning")
        if self.main:
            write_run_config(self.run_dir, cfg, resolved=resolved, data=data_info)
            self._truncate_metrics(start_step)
        self.log(f"{data_info['n_triples']} triples {data_info['by_lang']}, {total_steps} steps of "
                 f"{cfg.batch_size}×{self.world}, lr {lr:g} ({lr_source}), {resolved['precision']} on {self.device}, "
                 f"max_seq_length {model.max_seq_length}, loss {cfg.loss}")

        needs = NEEDED_INPUTS[cfg.loss]
        dist = None
        if self.distributed:
            import torch.distributed as dist
        clip = cfg.max_grad_norm if cfg.max_grad_norm and cfg.max_grad_norm > 0 else float("inf")
        metrics_file = open(self.run_dir / runs.METRICS_FILE, "a", encoding="utf-8") if self.main else None
        self.set_status(phase="training", step=start_step, total_steps=total_steps)
        last_saved = checkpoint
        started, cpu_started = time.perf_counter(), time.process_time()
        step = start_step
        try:
            while step < total_steps:
                t0 = time.perf_counter()
                epoch, indices = my_batches[step]
                batch = [triples[i] for i in indices]
                lr_now = scheduler.get_last_lr()[0]
                features = batch_features(model, batch, needs, prompts[0], prompts[1], self.device, tasks)
                # Only the encoder runs under autocast; the losses are computed in float32 after it
                # (and the loss functions switch autocast off themselves).
                with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=use_bf16):
                    out = module(features)
                losses = compute_losses(cfg, out, needs, len(batch))
                loss = losses["loss"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
                zero = loss.detach().new_zeros(())
                parts = [loss.detach()] + [losses[k].detach() if losses[k] is not None else zero
                                           for k in STEP_VALUES[1:]]
                flags = torch.stack(parts + [grad_norm.detach().to(zero.device).float(),
                                             zero + (1.0 if stopper.requested() else 0.0)])
                if dist is not None:
                    dist.all_reduce(flags)  # sums: losses → mean below; any rank's stop → stop
                    flags[:-1] /= self.world
                values = dict(zip(STEP_VALUES + ("grad_norm", "stop"), flags.tolist()))  # the step's one host sync
                if not all(math.isfinite(values[k]) for k in ("loss", "jsd", "nce", "nce_psg", "grad_norm")):
                    kept = f"; last good checkpoint: {last_saved}" if last_saved else "; no checkpoint was saved yet"
                    raise NonFiniteLossError(
                        f"non-finite loss at step {step + 1} (loss={values['loss']}, jsd={values['jsd']}, "
                        f"nce={values['nce']}, grad_norm={values['grad_norm']}); the update was not applied{kept}")
                optimizer.step()
                scheduler.step()
                step += 1
                now_t = time.perf_counter()
                if metrics_file is not None:
                    record = {
                        "step": step, "epoch": round(step / steps_per_epoch, 4), "loss": values["loss"],
                        **{k: values[k] if losses[k] is not None else None for k in STEP_VALUES[1:]},
                        "lr": lr_now, "grad_norm": values["grad_norm"],
                        "examples_per_s": round(len(batch) * self.world / (now_t - t0), 3),
                        "elapsed": round(elapsed_before + now_t - started, 6),
                        "cpu_time": round(cpu_before + time.process_time() - cpu_started, 6),
                        "batch_size": len(batch) * self.world,
                    }
                    metrics_file.write(json.dumps(record) + "\n")
                    metrics_file.flush()
                    self.set_status(force=False, step=step, loss=values["loss"])
                stop = values["stop"] > 0
                if stop or (step % cfg.save_every == 0 and step < total_steps):
                    last_saved = self._checkpoint(model, optimizer, scheduler, step, total_steps, fingerprint,
                                                  elapsed_before + time.perf_counter() - started, prompts,
                                                  cpu_before + time.process_time() - cpu_started)
                if stop:
                    raise StopRequested(stopper.reason or "stop requested on another rank")
        finally:
            if metrics_file is not None:
                metrics_file.close()
        self.set_status(phase="saving", step=step, loss=self.status.get("loss"), peak_rss_mb_training=peak_rss_mb(),
                        train_seconds=round(elapsed_before + time.perf_counter() - started, 3))
        if self.main:
            info = manifest(cfg, step=step, total_steps=total_steps, complete=True,
                            saved_max_seq_length=self.saved_max_seq_length,
                            training_max_seq_length=model.max_seq_length,
                            elapsed=round(elapsed_before + time.perf_counter() - started, 3))
            with atomic_dir(final_dir) as tmp:
                _save_model(model, tmp, info, prompts, self.saved_max_seq_length)
            for _, path in list_checkpoints(self.run_dir):
                shutil.rmtree(path, ignore_errors=True)  # superseded by final/
            try:
                (self.run_dir / "checkpoints").rmdir()
            except OSError:
                pass
            self.set_status(checkpoint=str(final_dir), step=step)
        if dist is not None:
            dist.barrier()
        del module, embedder, model, optimizer, scheduler
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _truncate_metrics(self, step: int) -> None:
        """Drop metric lines after the checkpoint we resume from (those steps are redone)."""
        path = self.run_dir / runs.METRICS_FILE
        if not path.exists():
            return
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        keep = []
        for line in lines:
            try:
                if line.endswith("\n") and json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except ValueError:
                continue
        if len(keep) != len(lines):
            write_text(path, "".join(keep))

    def _checkpoint(self, model, optimizer, scheduler, step, total_steps, fingerprint, elapsed, prompts, cpu_time=0.0):
        import torch
        import torch.distributed as dist

        rng = _rng_state()
        if self.distributed:
            gathered = [None] * self.world
            dist.all_gather_object(gathered, rng)
            rng = gathered
        path = self.run_dir / "checkpoints" / f"step-{step}"
        if self.main:
            self.set_status(phase="checkpointing")
            info = manifest(self.cfg, step=step, total_steps=total_steps, complete=False,
                            saved_max_seq_length=self.saved_max_seq_length,
                            training_max_seq_length=model.max_seq_length)
            with atomic_dir(path) as tmp:
                _save_model(model, tmp, info, prompts, self.saved_max_seq_length)
                torch.save({"step": step, "total_steps": total_steps, "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "rng": rng, "elapsed": elapsed, "cpu_time": cpu_time,
                            "batches_fingerprint": fingerprint}, tmp / TRAINER_STATE)
            for _, old in list_checkpoints(self.run_dir)[: -self.cfg.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
            self.set_status(phase="training", checkpoint=str(path), step=step)
            self.log(f"checkpoint {path.name}")
        if self.distributed:
            dist.barrier()
        return path

    # -- evaluation -----------------------------------------------------------------------------
    def _evaluate(self, stopper: _Stopper) -> None:
        from xldiag.evaluate import evaluate

        cfg = self.cfg
        langs = list(cfg.eval_langs or cfg.langs)
        common = dict(dataset=cfg.eval_dataset, langs=langs, scenarios=list(cfg.eval_scenarios),
                      construction=cfg.eval_pool, ties=cfg.eval_ties, limit=cfg.eval_limit,
                      data_dir=cfg.data_dir)
        summaries = {}
        encoders = {}
        if prompt_overrides(cfg):  # the base model with the prompts training used (final/ records them)
            from xldiag.embeddings import Encoder

            encoders["base"] = Encoder(cfg.model, prompts=prompt_overrides(cfg), trust_remote_code=cfg.trust_remote_code)
        for name, model in (("base", cfg.model), ("tuned", str(self.run_dir / "final"))):
            out = self.run_dir / "eval" / name
            self.set_status(phase=f"evaluating {name}")
            self.log(f"evaluating the {name} model on {cfg.eval_dataset} {','.join(langs)} ({','.join(cfg.eval_scenarios)})")

            def progress(message, fraction, name=name):
                if stopper.requested():
                    raise StopRequested(stopper.reason)
                self.set_status(force=False, eval_progress=f"{name}: {message} ({fraction:.0%})")

            extra = {"encoder": encoders[name]} if name in encoders else {}
            summaries[name] = evaluate(model=model, out=out, trust_remote_code=cfg.trust_remote_code,
                                       progress=progress, **common, **extra)
        table = comparison_table(summaries["base"], summaries["tuned"])
        from xldiag.atomic import atomic_path

        with atomic_path(self.run_dir / "comparison.csv") as tmp:
            table.to_csv(tmp, index=False)
        write_text(self.run_dir / "comparison.md", comparison_markdown(table, cfg))
        self.log("wrote comparison.md / comparison.csv")


# ---------------------------------------------------------------------------------------------
# Base vs tuned

COMPARISON_METRICS = (  # column, label, higher is better, format
    ("max_r", "Max@R ↓", False, "{:.2f}"),
    ("complete@10", "Complete@10 ↑", True, "{:.2f}"),
    ("max_r_norm_table", "Max@R_norm ↑", True, "{:.2f}"),
    ("ndcg@1", "NDCG@1 ↑", True, "{:.2f}"),
    ("mrr", "MRR ↑", True, "{:.3f}"),
)


def comparison_table(base, tuned):
    """Long table: dataset, pair, query_lang, scenario, metric, base, tuned, delta, improved."""
    import pandas as pd

    keys = ["dataset", "pair", "query_lang", "scenario"]
    merged = base.merge(tuned, on=keys, suffixes=("_base", "_tuned"))
    rows = []
    for _, row in merged.iterrows():
        for column, _, higher, _ in COMPARISON_METRICS:
            if f"{column}_base" not in row:
                continue
            b, t = float(row[f"{column}_base"]), float(row[f"{column}_tuned"])
            rows.append({**{k: row[k] for k in keys}, "metric": column, "base": b, "tuned": t,
                         "delta": t - b, "improved": (t > b) if higher else (t < b)})
    return pd.DataFrame(rows, columns=keys + ["metric", "base", "tuned", "delta", "improved"])


def comparison_markdown(table, cfg: TrainConfig | None = None) -> str:
    """The paper's Base/Ours layout: per scenario, rows = query side × metric, Base | Ours per pair."""
    lines = []
    if cfg is not None:
        lines += [f"# {cfg.model} + {cfg.loss} on {cfg.data} ({','.join(cfg.langs)}) — base vs tuned", ""]
    labels = {c: (label, fmt) for c, label, _, fmt in COMPARISON_METRICS}
    for scenario, block in table.groupby("scenario", sort=False):
        pairs = list(dict.fromkeys(block["pair"]))
        header = "| queries | metric | " + " | ".join(f"{p} Base | {p} Ours" for p in pairs) + " | avg Base | avg Ours |"
        lines += [f"### {block['dataset'].iloc[0]} — {scenario}", "", header,
                  "|---|---|" + "---|" * (2 * len(pairs) + 2)]
        for side in ("English", "target"):
            rows = block[(block["query_lang"] == "en") == (side == "English")]
            if rows.empty:
                continue
            for metric in dict.fromkeys(rows["metric"]):
                label, fmt = labels[metric]
                sub = rows[rows["metric"] == metric].groupby("pair", sort=False)[["base", "tuned"]].mean()
                cells = []
                for p in pairs:
                    cells += [fmt.format(sub.loc[p, "base"]), fmt.format(sub.loc[p, "tuned"])] if p in sub.index else ["–", "–"]
                cells += [fmt.format(sub["base"].mean()), fmt.format(sub["tuned"].mean())]
                lines.append(f"| {side} | {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def train(cfg: TrainConfig, triples=None, resume: bool = False, clear_stop: bool = True, log=None) -> Path:
    """Run (or with `resume=True` continue) a training run; returns its folder.

    `triples`: optional in-memory list of Triple (else `cfg.data` is loaded). On resume the
    configuration saved in the run folder is used. Raises RunLockedError when the folder is in
    use, NonFiniteLossError on a NaN/inf loss; a stop request returns normally (state `stopped`).
    """
    run_dir = cfg.resolve_out()
    if resume and (run_dir / runs.CONFIG_FILE).exists():
        saved = runs.read_config(run_dir).get("config")
        if saved:
            cfg = TrainConfig.from_dict(saved)
    cfg.out = str(run_dir)
    cfg.validate()
    return Trainer(cfg, run_dir, triples=triples, resume=resume, clear_stop=clear_stop, log=log).run()
