"""Where evaluations live, what they are called, and the list of all of them with their state.

Evaluations live in `$XLDIAG_EVALS_DIR`, else `<cache>/evals/`; fine-tuning runs keep theirs in
`<run>/eval/base` and `<run>/eval/tuned` under the runs folder (xldiag.runs). An evaluation's id
is `"evals:<folder>"` or `"runs:<run>/eval/<name>"` (what dashboard links carry).

An evaluation set's folder (xldiag.evalset: set.json, one run folder per model) is not listed
itself: its members are, as `"evals:<set>/<member>"`, named `<set>/<member>`, with `set` = the
set's folder name.

State of a listed folder: `complete` (config.json of this format and summary.csv), `running`
(its status.json says queued/running and the owner lives), `failed` / `stopped` (status.json, no
results), `incomplete` (results half-written, no job status), `invalid` (another format).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from xldiag import config, jobs
from xldiag.evalset import is_set_folder, read_set
from xldiag.fixes.registry import variant_or_none
from xldiag.results.errors import RunFolderError, RunIncompleteError
from xldiag.results.store import check_format, language_set_langs, read_config, tie_rules
from xldiag.runs import runs_root
from xldiag.vocab import CONFIG_FILE, EVALS_DIR_ENV, PIVOT, SCENARIOS, STATUS_FILE, SUMMARY_FILE, VIEWS_KIND

COLUMNS = ["id", "path", "source", "name", "state", "error", "model", "dataset", "language_sets", "langs",
           "scenarios", "pool", "ties", "limit", "created", "fingerprint", "set"]
# The settings a listing row takes from config.json (complete) or status.json (a job without results).
SETTINGS = ("model", "dataset", "language_sets", "scenarios", "pool", "ties", "limit")


# --- locations and names -------------------------------------------------------------------------


def evals_dir() -> Path:
    """Where the dashboard writes and looks for evaluations."""
    raw = os.environ.get(EVALS_DIR_ENV)
    return Path(raw).expanduser().resolve() if raw else config.cache_dir() / "evals"


def runs_dir() -> Path:
    """Where fine-tuning runs live (xldiag.runs decides)."""
    return Path(runs_root())


def slug(text: str) -> str:
    """A folder-name-safe version of `text`."""
    out = re.sub(r"[^A-Za-z0-9._+-]+", "-", str(text)).strip("-.")
    return out[:80] or "x"


def eval_name(model: str, dataset: str, langs: list[str], construction: str, ties: str,
              limit: int | None, scenarios: list[str] | None = None) -> str:
    """A deterministic folder name for an evaluation setting."""
    model_part = slug(Path(model).name if os.sep in str(model) else model)
    parts = [model_part, slug(dataset), "-".join(langs), construction, slug(ties), f"n{limit}" if limit else "all"]
    if scenarios and sorted(scenarios) != sorted(SCENARIOS):
        parts.append("-".join(sorted(scenarios)))
    return "__".join(parts)


def roots() -> dict[str, Path]:
    """The id prefix of each place evaluations live, and its folder."""
    return {"evals": evals_dir(), "runs": runs_dir()}


def eval_id(source: str, root: Path, folder: Path) -> str:
    return f"{source}:{Path(folder).relative_to(root).as_posix()}"


def id_of(folder: str | Path) -> str | None:
    """The id of an evaluation folder under the evals or runs folder (None elsewhere)."""
    folder = Path(folder).expanduser().resolve()
    for source, root in roots().items():
        if folder.is_relative_to(root) and folder != root:
            return eval_id(source, root, folder)
    return None


def opened_id(folder: str | Path) -> str | None:
    """The id to open for a finished job's folder: an evaluation's own id, or an evaluation set's
    first member's."""
    members = set_members(Path(folder).expanduser().resolve())
    return id_of(members[0] if members else folder)


def resolve_eval_id(ident: str) -> Path | None:
    """The folder for an id from list_evaluations (used in links); None if unknown."""
    source, _, rel = str(ident).partition(":")
    root = roots().get(source)
    if root is None or not rel or ".." in Path(rel).parts:
        return None
    path = (root / rel).resolve()
    return path if path.is_dir() else None


def model_label(model: str) -> str:
    """A short human name for a model string (hub name, 'default' or a checkpoint path)."""
    model = str(model)
    if model in ("", "default"):
        return model or "?"
    variant = variant_or_none(model)
    if variant is not None:  # default+lir1@ntrex; a JSONL path as data shows its file name
        return f"{model_label(variant.model)}+{variant.spec.label}@{Path(variant.data).name}"
    path = Path(model)
    if "checkpoints" in path.parts or path.name == "final":
        run = path.parent.parent.name if path.parent.name == "checkpoints" else path.parent.name
        return f"{run} · {path.name}"
    return path.name if len(path.parts) > 2 else model


def labelled_models(models: list[str]) -> dict[str, str]:
    """{label: model} in order; a model whose label is taken already keeps its full name."""
    out: dict[str, str] = {}
    for model in models:
        out[model_label(model) if model_label(model) not in out else str(model)] = model
    return out


def eval_label(row) -> str:
    """A one-line description of a list_evaluations row."""
    langs = ",".join(s.split("+", 1)[-1] if s.startswith(PIVOT + "+") else s for s in row["language_sets"]) or "?"
    raw = row.get("limit")
    try:
        limit = f"first {int(raw)}" if raw is not None and not pd.isna(raw) and int(raw) > 0 else "all"
    except (TypeError, ValueError):
        limit = "all"
    state = "" if row["state"] == "complete" else f" [{row['state']}]"
    return f"{row['name']} — {model_label(row['model'])}, {row['dataset']} {langs}, {limit}{state}"


# --- the listing ---------------------------------------------------------------------------------


def _candidate_folders() -> list[tuple[str, Path, Path]]:
    """(source, root, folder) for every folder that may hold an evaluation."""
    out: list[tuple[str, Path, Path]] = []
    places = roots()
    if places["evals"].is_dir():
        for child in sorted(places["evals"].iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                folders = set_members(child) if is_set_folder(child) else [child]  # a set: its members only
                out += [("evals", places["evals"], folder) for folder in folders]
    if places["runs"].is_dir():
        for run in sorted(places["runs"].iterdir()):
            if (run / "eval").is_dir():
                out += [("runs", places["runs"], child) for child in sorted((run / "eval").iterdir())
                        if child.is_dir() and not child.name.startswith(".")]
    return out


def set_members(folder: Path) -> list[Path]:
    """The member folders of an evaluation set, in set.json's order ([] when `folder` is not a set, or
    a set whose job has not written set.json yet)."""
    record = read_set(folder) or {}
    return [folder / str(m["folder"]) for m in record.get("members", []) if (folder / str(m.get("folder", ""))).is_dir()]


def list_evaluations() -> pd.DataFrame:
    """Every evaluation folder under the evals and runs folders, newest first (COLUMNS)."""
    frame = pd.DataFrame([_listing_row(*where) for where in _candidate_folders()], columns=COLUMNS)
    if not frame.empty:
        frame = frame.sort_values("created", ascending=False, kind="stable").reset_index(drop=True)
    return frame


def _listing_row(source: str, root: Path, folder: Path) -> dict:
    row = {"id": eval_id(source, root, folder), "path": str(folder), "source": source,
           "name": folder.relative_to(root).as_posix() if source == "evals"
           else f"{folder.parent.parent.name}/{folder.name}",
           "state": "complete", "error": "", "model": "", "dataset": "", "language_sets": [], "langs": [],
           "scenarios": [], "pool": "", "ties": "", "limit": None, "created": "", "fingerprint": "",
           "set": folder.parent.name if source == "evals" and folder.parent != root else ""}
    status = jobs.read_status(folder) if (folder / STATUS_FILE).exists() else None
    if status is not None and status["state"] in jobs.ACTIVE_STATES and not _computing_views(status):
        return _with_settings(row, status, state="running", created=status.get("started") or status.get("queued"))
    try:
        cfg = read_config(folder)
        check_format(cfg, folder)
        if not (folder / SUMMARY_FILE).exists():
            raise RunIncompleteError(f"{folder} has no {SUMMARY_FILE}")
    except RunIncompleteError as err:
        if status is None:
            return {**row, "state": "incomplete", "error": str(err)}
        state = status["state"] if status["state"] in ("failed", "stopped") else "incomplete"
        return _with_settings(row, status, state=state, error=status.get("error") or str(err),
                              created=status.get("started") or status.get("queued"))
    except RunFolderError as err:
        return _with_settings(row, jobs.read_json(folder / CONFIG_FILE) or {}, state="invalid", error=str(err))
    return _with_settings(row, cfg, fingerprint=cfg.get("fingerprint", ""))


def _computing_views(status: dict) -> bool:
    """A job that only writes the views of a finished evaluation (`xldiag views`, or `xldiag eval`
    after its run folder is written): the evaluation itself is complete and readable."""
    return VIEWS_KIND in (status.get("kind"), status.get("phase"))


def _with_settings(row: dict, source: dict, **fields) -> dict:
    """The row with the evaluation's settings from config.json or status.json (same keys)."""
    settings = {key: source[key] for key in SETTINGS if source.get(key) is not None}
    settings["language_sets"] = [str(s) for s in settings.get("language_sets", [])]
    settings["scenarios"] = list(settings.get("scenarios", []))
    settings["ties"] = ",".join(tie_rules(source))
    out = {**row, **settings, "created": source.get("created", ""), **fields}
    out["langs"] = language_set_langs(out["language_sets"])
    out["created"] = out["created"] or ""
    return out
