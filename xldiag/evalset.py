"""An evaluation set: several models evaluated on one setting (dataset, language sets, scenarios,
pool, tie rules, limit) as one job, on the same pools.

    DIR/set.json       {"kind": "evaluation-set", "format_version", "models", "members": [{"model", "folder"}],
                        the setting (same keys as an evaluation's config.json), "created"}
    DIR/status.json    the set's job (xldiag.jobs): "model 2/3 (use-m3): Embedding ..."; lock, STOP as for any job
    DIR/<member>/      one ordinary run folder per model (xldiag.evaluate: config.json, summary.csv,
                       per_query.parquet, table.md) with its own status.json (queued → running →
                       finished), so each member is listed, watched and read like any evaluation
    DIR/summary.csv    every finished member's summary rows (their `model` column tells them apart),
                       rewritten after each member

Each language set's dataset is loaded once and each pool built once (`evaluate.SharedInputs`);
each model encodes through its own embedding cache, so the cost of adding a model is its own
encoding plus the ranking. A stop (DIR/STOP, a member's STOP, SIGTERM) ends the member being
evaluated and the set; finished members stay as they are.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pandas as pd

from xldiag import __version__, jobs
from xldiag.atomic import atomic_path, read_json, write_json
from xldiag.evaluate import EvalSpec, Progress, SharedInputs, run_evaluation
from xldiag.vocab import CONFIG_FILE, SET_FILE, STATUS_FILE, SUMMARY_FILE

SET_KIND = "evaluation-set"
SET_FORMAT_VERSION = 1
MEMBER_KIND = "evaluation"  # a member folder is an ordinary evaluation


def parse_models(models: str | Iterable[str]) -> list[str]:
    """`"default,use-m3,cache/runs/demo/final"` (or a list) → the model names, in order. A model
    listed twice is an error (its two folders would hold the same evaluation)."""
    items = models.split(",") if isinstance(models, str) else [str(m) for m in models]
    names = [m.strip() for m in items if m.strip()]
    if not names:
        raise ValueError("No model given: pass e.g. --model default or --model default,use-m3.")
    twice = sorted({m for m in names if names.count(m) > 1})
    if twice:
        raise ValueError(f"Model(s) listed twice in --model: {', '.join(twice)}.")
    return names


def member_name(model: str) -> str:
    """A member folder's name for a model: the name itself ("default", "use-m3",
    "default+lir1@ntrex" → "default+lir1-ntrex"), a hub id with "/" as "-", and for a local folder
    its training run and checkpoint ("<run>/final" → "<run>-final") or its own name."""
    path = Path(str(model)).expanduser()
    if path.is_dir():
        parts = path.resolve().parts
        if parts[-1] == "final" or (len(parts) > 2 and parts[-2] == "checkpoints"):
            run = parts[-3] if parts[-2] == "checkpoints" else parts[-2]
            text = f"{run}-{parts[-1]}"
        else:
            text = parts[-1]
    else:
        text = str(model)
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-.")[:80] or "model"


def member_names(models: list[str]) -> dict[str, str]:
    """{model: folder name}, unique within the set (a clash gets "-2", "-3", ...)."""
    out: dict[str, str] = {}
    for model in models:
        name, n = member_name(model), 1
        while name in out.values():
            n += 1
            name = f"{member_name(model)}-{n}"
        out[model] = name
    return out


def read_set(folder: str | Path) -> dict | None:
    """set.json of an evaluation-set folder, or None when the folder is not one."""
    record = read_json(Path(folder) / SET_FILE)
    return record if record and record.get("kind") == SET_KIND else None


def is_set_folder(folder: str | Path) -> bool:
    """Whether `folder` is an evaluation set's: it has set.json, or its job's status.json lists
    `models` (launched, set.json not written yet)."""
    status = read_json(Path(folder) / STATUS_FILE) or {}
    return read_set(folder) is not None or isinstance(status.get("models"), list)


def set_fields(spec: EvalSpec, models: list[str]) -> dict:
    """The settings set.json and the set's status.json carry (an evaluation's config.json keys, with
    `model` the comma-separated list and `models` the list)."""
    return {"model": ",".join(models), "models": list(models), "dataset": spec.dataset,
            "language_sets": ["+".join(langs) for langs in spec.language_sets],
            "scenarios": list(spec.scenarios), "pool": spec.construction, "ties": list(spec.ties),
            "limit": spec.limit}


def run_evaluation_set(spec: EvalSpec, models: Iterable[str], out: str | Path, progress: Progress | None = None,
                       encoders: dict | None = None, reuse: bool = False) -> pd.DataFrame:
    """Evaluate every model of `models` on `spec`'s setting (spec.model is ignored) into the set
    folder `out`; returns the combined summary. `progress(message, fraction)` gets the set's
    progress ("model k/n (name): ..."); `encoders` may give a ready Encoder per model (else each
    model gets `Encoder(model)` with its own cache). `reuse=True` keeps a member folder that already
    holds a finished evaluation of this model and setting (its summary is read back, nothing is
    recomputed): a set run again only evaluates what is missing."""
    spec.validate()
    models = parse_models(list(models))
    out = Path(out)
    names = member_names(models)
    progress = progress or (lambda message, fraction: None)
    _write_set(out, spec, models, names)
    done = {m: read_finished(out / names[m], spec, m) for m in models} if reuse else {}
    for model in [m for m in models if done.get(m) is None]:
        jobs.write_status(out / names[model], {"kind": MEMBER_KIND, "state": "queued", "message": "waiting in its set",
                                               "fraction": 0.0, "pid": os.getpid(),
                                               "proc_start": jobs.proc_start_time(os.getpid()),
                                               "set": str(out), **_member_fields(spec, model)})
    inputs = SharedInputs(spec)
    summaries: list[pd.DataFrame] = []
    try:
        for k, model in enumerate(models):
            if done.get(model) is not None:
                print(f"[xldiag] model {k + 1}/{len(models)}: {model}: kept {out / names[model]} (finished before)",
                      file=sys.stderr, flush=True)
                summaries.append(done[model])
                _write_combined(out, summaries)
                continue
            print(f"[xldiag] model {k + 1}/{len(models)}: {model} → {out / names[model]}", file=sys.stderr, flush=True)
            summaries.append(_evaluate_member(spec, model, out / names[model], inputs, (encoders or {}).get(model),
                                              _member_progress(progress, k, len(models), model)))
            _write_combined(out, summaries)
    finally:
        _close_waiting(out, [names[m] for m in models])
    progress("Done", 1.0)
    return pd.concat(summaries, ignore_index=True)


def read_finished(folder: Path, spec: EvalSpec, model: str) -> pd.DataFrame | None:
    """The summary of a finished evaluation of `model` with `spec`'s setting in `folder`, or None
    (no folder, not finished, another setting, or unreadable)."""
    config = read_json(folder / CONFIG_FILE) or {}
    status = read_json(folder / STATUS_FILE) or {}
    wanted = _member_fields(spec, model)
    if status.get("state") not in (None, "finished") or any(config.get(k) != v for k, v in wanted.items()):
        return None
    try:
        return pd.read_csv(folder / SUMMARY_FILE)
    except (OSError, ValueError):
        return None


def _evaluate_member(spec: EvalSpec, model: str, folder: Path, inputs: SharedInputs, encoder,
                     progress: Progress) -> pd.DataFrame:
    """One model of the set, as an evaluation job of its own in its member folder."""
    member = dataclasses.replace(spec, model=model)
    with jobs.Job(folder, MEMBER_KIND, **_member_fields(spec, model), set=str(folder.parent)) as job:
        def both(message: str, fraction: float) -> None:
            job.progress(message, fraction)
            progress(message, fraction)

        return run_evaluation(member, out=folder, progress=both, encoder=encoder, inputs=inputs)


def _member_progress(progress: Progress, k: int, n: int, model: str) -> Progress:
    """The set's progress for member k of n: "model k/n (name): message" at fraction (k + f) / n."""
    def report(message: str, fraction: float) -> None:
        progress(f"model {k + 1}/{n} ({model}): {message}", (k + fraction) / n)

    return report


def _member_fields(spec: EvalSpec, model: str) -> dict:
    fields = set_fields(spec, [model])
    fields.pop("models")
    return fields


def _write_set(out: Path, spec: EvalSpec, models: list[str], names: dict[str, str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / SET_FILE, {
        "kind": SET_KIND, "format_version": SET_FORMAT_VERSION, "xldiag_version": __version__,
        **set_fields(spec, models), "members": [{"model": m, "folder": names[m]} for m in models],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })


def _write_combined(out: Path, summaries: list[pd.DataFrame]) -> None:
    with atomic_path(out / SUMMARY_FILE) as tmp:
        pd.concat(summaries, ignore_index=True).to_csv(tmp, index=False)


def _close_waiting(out: Path, folders: list[str]) -> None:
    """Members still queued when the set ends (it failed or was stopped first) say so."""
    for name in folders:
        status = read_json(out / name / STATUS_FILE) or {}
        if status.get("state") == "queued":
            jobs.update_status(out / name, state="stopped", error="not evaluated: its set ended before this model",
                               finished=jobs.now())
