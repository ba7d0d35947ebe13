"""Training run folders: their layout, config.json, the fresh-or-resume check, checkpoints, the
live metrics, the base-vs-tuned comparison, and listing.

A run folder (`cache/runs/NAME/` by default; $XLDIAG_RUNS_DIR moves the root) is plain files anyone
can read while the run goes on:

    config.json      {"kind": "training", "config": TrainConfig fields, "resolved": {...}, "data": {...}}
    metrics.jsonl    one JSON line per optimizer step (step, epoch, loss, jsd, nce, nce_psg, norm_en,
                     norm_tgt, lr, grad_norm, examples_per_s, elapsed, cpu_time, batch_size), flushed
                     after every line
    checkpoints/step-N/   sentence-transformers folders + trainer_state.pt (for --resume)
    final/           the tuned model (a sentence-transformers folder)
    eval/base/, eval/tuned/, comparison.csv, comparison.md   the automatic evaluation
    status.json, job.log, lock, STOP    the job protocol (`xldiag.jobs`): state and progress, the
                     output of a detached run, the owner's lock, a stop request

This module knows the layout and nothing of how a run trains: it takes and returns plain dicts
(`xldiag.training` writes the folders; the dashboard and `python -m xldiag runs` read them).
Status, stop requests, the lock and detached launch are `xldiag.jobs`, as for every job.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from xldiag import __version__, jobs
from xldiag import config as settings
from xldiag.atomic import write_json, write_text
from xldiag.vocab import CONFIG_FILE, RUNS_DIR_ENV, STATUS_FILE, TRAIN_METRICS_FILE

KIND = "training"  # config.json["kind"] and status.json["kind"] of a run folder
FORMAT_VERSION = 1
CHECKPOINTS_DIR = "checkpoints"
FINAL_DIR = "final"
EVAL_DIR = "eval"
TRAINER_STATE = "trainer_state.pt"  # in a step checkpoint: optimizer, scheduler, RNG states, step
COMPARISON_CSV = "comparison.csv"
COMPARISON_MD = "comparison.md"
METRIC_COLUMNS = ["step", "epoch", "loss", "jsd", "nce", "nce_psg", "norm_en", "norm_tgt", "lr", "grad_norm",
                  "examples_per_s", "elapsed", "cpu_time"]
LIST_COLUMNS = ["name", "run_dir", "state", "phase", "model", "data", "langs", "loss_mode", "step",
                "total_steps", "loss", "error", "created", "updated", "has_comparison"]


class RunExistsError(FileExistsError, RuntimeError):
    """The run folder already holds a run (pass --resume, or choose another folder)."""


def runs_root() -> Path:
    """Where run folders go by default: $XLDIAG_RUNS_DIR, else `<cache>/runs`."""
    raw = os.environ.get(RUNS_DIR_ENV)
    return Path(raw).expanduser().resolve() if raw else settings.cache_dir() / "runs"


def safe_name(text: str, limit: int = 80) -> str:
    """`text` as a folder name (its last `limit` characters): every run of characters other than
    letters, digits, '.', '_' and '-' becomes one '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text))[-limit:]


# --- config.json ---------------------------------------------------------------------------------


def read_config(run_dir: str | os.PathLike) -> dict:
    """The run's config.json ({} when missing)."""
    return jobs.read_json(Path(run_dir) / CONFIG_FILE) or {}


def write_config(run_dir: str | os.PathLike, config: dict, resolved: dict | None = None,
                 data: dict | None = None) -> None:
    """Write config.json: the options (`config`), what they resolved to at start (`resolved`) and
    the training data's report (`data`); those two and `created` are kept from the file when not
    given (a resume rewrites the config without losing them)."""
    previous = read_config(run_dir)
    write_json(Path(run_dir) / CONFIG_FILE, {
        "kind": KIND, "format_version": FORMAT_VERSION, "xldiag_version": __version__,
        "created": previous.get("created") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": dict(config),
        "resolved": resolved if resolved is not None else previous.get("resolved"),
        "data": data if data is not None else previous.get("data"),
    })


def check_run_dir(run_dir: str | os.PathLike, resume: bool) -> None:
    """The one check before a run starts in `run_dir`: a resume needs a config.json there; a new
    run needs a folder without a run (no metrics, checkpoints or final model). Raises
    FileNotFoundError / RunExistsError saying what to do."""
    run_dir = Path(run_dir)
    if resume:
        if not (run_dir / CONFIG_FILE).exists():
            raise FileNotFoundError(f"Nothing to resume in {run_dir}: no {CONFIG_FILE}.")
        return
    used = [name for name in (TRAIN_METRICS_FILE, CHECKPOINTS_DIR, FINAL_DIR) if (run_dir / name).exists()]
    if used:
        state = jobs.read_status(run_dir).get("state", "unknown")
        raise RunExistsError(
            f"Run folder {run_dir} already holds a run (state: {state}; has {', '.join(used)}). "
            "Pass --resume to continue it, or choose another --out."
        )


# --- checkpoints ---------------------------------------------------------------------------------


def checkpoint_dir(run_dir: str | os.PathLike, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / f"step-{step}"


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete step checkpoints (those with a trainer state), oldest first."""
    found = []
    for path in (Path(run_dir) / CHECKPOINTS_DIR).glob("step-*"):
        match = re.fullmatch(r"step-(\d+)", path.name)
        if match and (path / TRAINER_STATE).exists():
            found.append((int(match.group(1)), path))
    return sorted(found)


# --- metrics.jsonl -------------------------------------------------------------------------------


def read_metrics(run_dir: str | os.PathLike) -> pd.DataFrame:
    """metrics.jsonl as a DataFrame (one row per step); a half-written last line is ignored."""
    rows = []
    try:
        with open(Path(run_dir) / TRAIN_METRICS_FILE, encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # being written right now
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    frame = pd.DataFrame(rows)
    for column in METRIC_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype="float64")
    extra = [c for c in frame.columns if c not in METRIC_COLUMNS]
    return frame[METRIC_COLUMNS + extra]


def truncate_metrics(run_dir: str | os.PathLike, step: int) -> None:
    """Drop the metric lines after `step` (and any broken line): a resume redoes those steps."""
    path = Path(run_dir) / TRAIN_METRICS_FILE
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


# --- the comparison and the listing --------------------------------------------------------------


def read_comparison(run_dir: str | os.PathLike) -> pd.DataFrame | None:
    """comparison.csv (base vs tuned, one row per pair × query language × scenario × metric)."""
    path = Path(run_dir) / COMPARISON_CSV
    return pd.read_csv(path) if path.exists() else None


def is_run_dir(path: str | os.PathLike) -> bool:
    """A training run folder: config.json of kind training, or a training job's status.json."""
    path = Path(path)
    return read_config(path).get("kind") == KIND or (jobs.read_json(path / STATUS_FILE) or {}).get("kind") == KIND


def list_runs(root: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per training run folder under `root` (default `runs_root()`), newest first."""
    root = Path(root) if root is not None else runs_root()
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    rows = [_run_row(path) for path in folders if is_run_dir(path)]
    frame = pd.DataFrame(rows, columns=LIST_COLUMNS)
    return frame.sort_values("created", ascending=False, na_position="last", ignore_index=True)


def _run_row(path: Path) -> dict:
    record, status = read_config(path), jobs.read_status(path)
    options = record.get("config", {})
    return {
        "name": path.name, "run_dir": str(path), "state": status.get("state"), "phase": status.get("phase"),
        "model": options.get("model"), "data": options.get("data"), "langs": ",".join(options.get("langs") or []),
        "loss_mode": options.get("loss"), "step": status.get("step"), "total_steps": status.get("total_steps"),
        "loss": status.get("loss"), "error": status.get("error"),
        "created": record.get("created") or status.get("started"), "updated": status.get("updated"),
        "has_comparison": (path / COMPARISON_CSV).exists(),
    }
