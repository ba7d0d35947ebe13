"""Base vs tuned: after training, the base model and `final/` are evaluated on the same held-out
pools (`xldiag.evaluate`, into eval/base/ and eval/tuned/) and compared (`xldiag.tables`, into
comparison.csv and comparison.md — the paper's Base/Ours layout).

The base model is evaluated with the prompts training used: a config's prompt overrides are
applied to it here, and final/ records them in its manifest, so both sides see the same text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from xldiag import runs, views
from xldiag.atomic import atomic_path, write_text
from xldiag.embeddings import Encoder
from xldiag.evaluate import evaluate
from xldiag.tables import comparison, comparison_markdown
from xldiag.training.config import TrainConfig
from xldiag.training.st_adapter import prompt_overrides
from xldiag.vocab import CONFIG_FILE

# progress(phase, message, fraction): "evaluating base" / "evaluating tuned", the evaluation's own
# message, and its fraction done (0-1).
Progress = Callable[[str, str, float], None]


def comparison_title(cfg: TrainConfig) -> str:
    return f"{cfg.model} + {cfg.loss} on {cfg.data} ({','.join(cfg.langs)}) — base vs tuned"


def evaluate_base_and_tuned(cfg: TrainConfig, run_dir: Path, progress: Progress,
                            log: Callable[[str], None] = lambda message: None) -> pd.DataFrame:
    """Evaluate both models, write the comparison files; returns the comparison table (the long
    form of `tables.comparison`). `progress` may raise to stop (e.g. jobs.StopRequested)."""
    langs = list(cfg.eval_langs or cfg.langs)
    summaries, encoders, folders = {}, {}, {}
    for name, model in (("base", cfg.model), ("tuned", str(Path(run_dir) / runs.FINAL_DIR))):
        phase = f"evaluating {name}"
        progress(phase, "starting", 0.0)
        log(f"evaluating the {name} model on {cfg.eval_dataset} {','.join(langs)} ({','.join(cfg.eval_scenarios)})")
        encoders[name] = _encoder(cfg, name, model)
        folders[name] = Path(run_dir) / runs.EVAL_DIR / name
        summaries[name] = evaluate(
            model=model, out=folders[name], dataset=cfg.eval_dataset, langs=langs,
            scenarios=list(cfg.eval_scenarios), construction=cfg.eval_pool, ties=cfg.eval_ties,
            limit=cfg.eval_limit, data_dir=cfg.data_dir, trust_remote_code=cfg.trust_remote_code,
            progress=lambda message, fraction, phase=phase: progress(phase, message, fraction),
            encoder=encoders[name])
    table = comparison(summaries["base"], summaries["tuned"])
    write_comparison(run_dir, table, comparison_title(cfg))
    log(f"wrote {runs.COMPARISON_MD} / {runs.COMPARISON_CSV}")
    _write_views(cfg, folders, encoders, progress, log)
    return table


def _write_views(cfg: TrainConfig, folders: dict, encoders: dict, progress: Progress, log) -> None:
    """The joint map of both evaluations (each wrote its own views; xldiag.views). Without it the
    run is still complete: its absence is logged with the command that computes it."""
    if not all((Path(folder) / CONFIG_FILE).exists() for folder in folders.values()):
        return
    try:
        views.write_joint_map(folders["base"], folders["tuned"], encoders["base"], encoders["tuned"],
                              data_dir=cfg.data_dir,
                              progress=lambda message, fraction: progress("joint map", message, fraction))
    except (ValueError, FileNotFoundError) as err:
        log(f"no joint map of eval/base and eval/tuned ({err}); compute it with "
            f"`{views.views_command(folders['base'], folders['tuned'])}`")
        return
    log("wrote the joint map of eval/base and eval/tuned")


def _encoder(cfg: TrainConfig, name: str, model: str) -> Encoder:
    """The Encoder of one side; the base model's with training's prompts when it overrode them."""
    prompts = prompt_overrides(cfg) if name == "base" else None
    return Encoder(model, prompts=prompts or None, trust_remote_code=cfg.trust_remote_code)


def write_comparison(run_dir: Path, table: pd.DataFrame, title: str) -> None:
    """comparison.csv (the long table) and comparison.md (Markdown), each written atomically."""
    with atomic_path(Path(run_dir) / runs.COMPARISON_CSV) as tmp:
        table.to_csv(tmp, index=False)
    write_text(Path(run_dir) / runs.COMPARISON_MD, comparison_markdown(table, title))
