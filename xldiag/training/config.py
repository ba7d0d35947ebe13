"""TrainConfig: every option a training run depends on, its checks, and reading it back from a
run folder. Plain Python (no torch), so the CLI, a page or a launcher can build and check a
configuration cheaply.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from xldiag import runs
from xldiag.losses import DEFAULT_EPS, DEFAULT_JSD_TEMPERATURE, DEFAULT_TEMPERATURE, check_mode
from xldiag.models import require_trainable

JSD_ON = ("pre-norm", "post-norm")
PRECISIONS = ("auto", "fp32", "bf16")
CPU_DEFAULT_MAX_SEQ_LENGTH = 128  # max_seq_length on CPU when none is given (and the gradient-checkpointing threshold)


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
        """Raise ValueError naming the first bad option (as its command-line flag); a model training
        cannot handle (use-m3) first, before anything is loaded or created."""
        require_trainable(self.model)
        check_mode(self.loss)
        if not self.langs:
            raise ValueError("No training languages: pass e.g. --langs zh,ar.")
        _check_choice("--jsd-on", self.jsd_on, JSD_ON)
        _check_choice("--precision", self.precision, PRECISIONS)
        for name in ("batch_size", "epochs", "save_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}.")
        if self.batch_size < 2:
            raise ValueError("--batch-size must be at least 2 (InfoNCE needs in-batch negatives).")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup ratio must be in [0, 1), got {self.warmup_ratio}.")
        for flag, value in (("--lr", self.lr), ("--temperature", self.temperature),
                            ("--jsd-temperature", self.jsd_temperature)):
            if value is not None and value <= 0:
                raise ValueError(f"{flag} must be positive, got {value}.")
        if self.max_seq_length is not None and self.max_seq_length < 4:
            raise ValueError(f"--max-seq-length must be at least 4, got {self.max_seq_length}.")

    def default_name(self) -> str:
        """`<time>-<model>-<langs>-<loss>`, e.g. 20250301-120000-multilingual-e5-small-zh-ar-full."""
        model = runs.safe_name(Path(self.model.rstrip("/")).name, limit=40)
        return f"{time.strftime('%Y%m%d-%H%M%S')}-{model}-{'-'.join(self.langs)}-{self.loss}"

    def resolve_out(self) -> Path:
        """The run folder (absolute): `out`, else `<runs root>/<default_name()>`."""
        path = Path(self.out) if self.out else runs.runs_root() / self.default_name()
        return path.expanduser().resolve()


def _check_choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{flag} must be one of {', '.join(choices)}, got {value!r}.")


def load_config_file(path: str | os.PathLike) -> TrainConfig:
    """A TrainConfig from a run folder's config.json (or a plain JSON object of fields)."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return TrainConfig.from_dict(raw.get("config", raw) if raw.get("kind") == runs.KIND else raw)


def saved_config(run_dir: str | os.PathLike) -> TrainConfig | None:
    """The configuration saved in a run folder (what a resume continues with), or None."""
    saved = runs.read_config(run_dir).get("config")
    return TrainConfig.from_dict(saved) if saved else None
