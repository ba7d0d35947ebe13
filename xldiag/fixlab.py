"""The fix lab: a base model, its training-free fix variants and fine-tuned checkpoints evaluated
on the same pools as one evaluation set, and the table that puts them side by side.

    models = lab_models("default", "center,lir:1/2/4,lsar:1,shift:0.5/1/1.5", "ntrex", [checkpoint])
    run_fix_lab(spec, models, "out/fixes")        # one job; one run folder per model; fixes.csv, fixes.md
    lab_table("out/fixes")                       # the table again, from the folders

The set is an ordinary evaluation set (xldiag.evalset): every member is listed and opened on the
dashboard like any evaluation, its variants under their names (`default+lir1@ntrex`). A second
run of the same command keeps every member that finished (`reuse`), so it only evaluates what is
missing; embeddings and fix estimates come from their caches either way.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xldiag.atomic import atomic_path, read_json, write_text
from xldiag.evalset import read_set, run_evaluation_set
from xldiag.evaluate import EvalSpec, Progress
from xldiag.fixes.registry import base_model, variant_models, variant_or_none
from xldiag.tables import fixes_markdown, fixes_table
from xldiag.vocab import CONFIG_FILE, STATUS_FILE, SUMMARY_FILE

# Every fix at its default parameter, plus a small sweep: LIR r (directions removed per language) and
# the shift's alpha (how far along the mean offset). LSAR's rank stays 1: an en+X pool has two
# language means, whose spread has one direction (docs/FIXES.md).
DEFAULT_SWEEP = "center,lir:1/2/4,lsar:1,shift:0.5/1/1.5"
LAB_SCENARIOS = ("multi", "multi-1", "mono-same")  # what the table reads
TABLE_CSV = "fixes.csv"
TABLE_MD = "fixes.md"


def lab_models(base: str, fixes: str, data: str, checkpoints: list[str] | None = None) -> list[str]:
    """The lab's models in table order: the base, its variants (`variant_models`), the checkpoints."""
    if variant_or_none(base) is not None:
        raise ValueError(f"--model {base!r} is already a fix variant; give the plain model ({base_model(base)}).")
    checkpoints = [str(c) for c in checkpoints or []]
    for checkpoint in checkpoints:
        if not Path(checkpoint).expanduser().is_dir():
            raise FileNotFoundError(f"--checkpoint {checkpoint}: no such folder (a fine-tuning run's final/ or "
                                    "checkpoints/<step>/).")
    return [base, *variant_models([base], fixes, data), *checkpoints]


def run_fix_lab(spec: EvalSpec, models: list[str], out: str | Path, progress: Progress | None = None,
                encoders: dict | None = None) -> pd.DataFrame:
    """Evaluate `models` (`lab_models`) on `spec`'s setting as one evaluation set in `out` (members
    that finished before are kept), write fixes.csv and fixes.md there, return the table. The base
    model and its variants share one Encoder: the pools are embedded once, each fix corrects them."""
    from xldiag.embeddings import Encoder

    encoders = dict(encoders or {})
    for model in models:
        base = base_model(model)
        if base not in encoders:
            encoders[base] = Encoder(base, trust_remote_code=spec.trust_remote_code)
        encoders.setdefault(model, encoders[base])
    run_evaluation_set(spec, models, out, progress=progress, encoders=encoders, reuse=True)
    return write_lab_table(out, base=models[0])


def lab_table(out: str | Path, base: str | None = None) -> pd.DataFrame:
    """The fix lab's table of the evaluation set in `out`, from its finished members' folders."""
    record = read_set(out)
    if record is None:
        raise FileNotFoundError(f"{out} holds no evaluation set (set.json); run `python -m xldiag fixes ... --out {out}`.")
    folders = {m["model"]: Path(out) / m["folder"] for m in record["members"]}
    finished = {model: folder for model, folder in folders.items()
                if (read_json(folder / STATUS_FILE) or {}).get("state") in (None, "finished")
                and (folder / CONFIG_FILE).is_file()}
    summaries = {model: pd.read_csv(folder / SUMMARY_FILE) for model, folder in finished.items()}
    fits = {model: model_fit(model, read_json(folder / CONFIG_FILE) or {}) for model, folder in finished.items()}
    return fixes_table(summaries, fits, base=base or record["members"][0]["model"])


def table_of(summaries: dict[str, pd.DataFrame], configs: dict[str, dict], base: str) -> pd.DataFrame:
    """The lab's table from evaluations already loaded ({model: summary}, {model: config.json}): what
    the Fixes page shows for the evaluations it found (`results.selection.fix_lab_evals`)."""
    return fixes_table(summaries, {model: model_fit(model, configs.get(model) or {}) for model in summaries},
                       base=base)


def write_lab_table(out: str | Path, base: str | None = None) -> pd.DataFrame:
    """`lab_table`, written to out/fixes.csv and out/fixes.md (atomically)."""
    table = lab_table(out, base)
    record = read_set(out) or {}
    with atomic_path(Path(out) / TABLE_CSV) as tmp:
        table.to_csv(tmp, index=False)
    title = (f"Fix lab: {record.get('dataset', '?')} {', '.join(record.get('language_sets', []))}, "
             f"{record.get('pool', '?')} pool, limit {record.get('limit') or 'none'}")
    write_text(Path(out) / TABLE_MD, fixes_markdown(table, title))
    return table


def model_fit(model: str, config: dict) -> dict:
    """How long a model took to make: a fix variant's fitting (config.json "fix"; `by_pair`: per
    language set, both roles), a fine-tuned
    checkpoint's training (its run's status.json `train_seconds`), nothing for a plain model."""
    fix = config.get("fix")
    if fix:  # per language set: each set has its own fit (both roles)
        by_pair = {pair: {key: sum(role.get(key, 0.0) for role in record["roles"].values())
                          for key in ("fit_seconds", "encode_seconds")} for pair, record in fix.get("sets", {}).items()}
        return {"fit_seconds": fix.get("fit_seconds"), "encode_seconds": fix.get("encode_seconds"), "by_pair": by_pair}
    path = Path(model).expanduser()
    run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    seconds = (read_json(run / STATUS_FILE) or {}).get("train_seconds") if path.is_dir() else None
    return {"fit_seconds": seconds} if seconds is not None else {}
