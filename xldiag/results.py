"""Reading evaluation run folders back: listing, loading, version checks, paired comparisons.

An evaluation run folder (written by `xldiag.evaluate`) holds `config.json` (written last: it
marks a complete run), `summary.csv`, `per_query.parquet` and `table.md`; see
docs/ARCHITECTURE.md. Everything here returns plain pandas objects and never imports Streamlit.

Where evaluations live: `$XLDIAG_EVALS_DIR`, else `<cache>/evals/`; fine-tuning runs keep theirs
in `<run>/eval/base` and `<run>/eval/tuned` under `$XLDIAG_RUNS_DIR`, else `<cache>/runs/`.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xldiag import config as _config

EVALS_DIR_ENV = "XLDIAG_EVALS_DIR"
RUNS_DIR_ENV = "XLDIAG_RUNS_DIR"
FORMAT_VERSION = 2  # the run-folder format this module reads (xldiag.evaluate.RUN_FORMAT_VERSION)
PIVOT = "en"
KEYS = ["dataset", "pair", "scenario", "query_lang", "qid"]

SUMMARY_COLUMNS = (
    "dataset", "pair", "query_lang", "scenario", "pool", "ties", "model", "n_queries", "n_docs", "n_rel",
    "complete@1", "complete@5", "complete@10", "complete@20", "complete@100", "max_r", "max_r_norm_table",
    "max_r_norm_per_query", "ndcg@1", "ndcg@10", "mrr", "recall@10", "english_inclination_rate",
    "own_language_inclination_rate", "mean_english_distractors", "mean_own_language_distractors",
    "mean_rank_gap", "mean_tied",
)
PER_QUERY_COLUMNS = (
    "dataset", "pair", "scenario", "query_lang", "pool", "ties", "qid", "question_index", "passage_index",
    "query_text", "n_docs", "gold_doc_ids", "gold_langs", "gold_ranks", "gold_ranks_optimistic",
    "gold_ranks_pessimistic", "n_tied", "max_r", "pool_langs",
    "above_by_lang", "top_doc_ids", "top_scores",
)
SCENARIO_LABELS = {"multi": "Multi", "multi-1": "Multi-1", "mono-same": "Mono-Same", "mono-cross": "Mono-Cross"}


class RunFolderError(ValueError):
    """A folder cannot be read as an evaluation run; the message says why and what to do."""


class RunFormatError(RunFolderError):
    """The folder was written by an older (or unknown) version of xldiag."""


class RunIncompleteError(RunFolderError):
    """The evaluation has not finished writing (still running, or interrupted)."""


# --------------------------------------------------------------------------------------------
# Locations


def evals_dir() -> Path:
    """Where the dashboard writes and looks for evaluations."""
    raw = os.environ.get(EVALS_DIR_ENV)
    return Path(raw).expanduser().resolve() if raw else _config.cache_dir() / "evals"


def runs_dir() -> Path:
    """Where fine-tuning runs live (mirrors xldiag.runs when that module defines its own root)."""
    raw = os.environ.get(RUNS_DIR_ENV)
    if raw:
        return Path(raw).expanduser().resolve()
    try:  # the training module owns the layout; follow it when it says
        from xldiag import runs as _runs

        for name in ("runs_dir", "runs_root"):
            fn = getattr(_runs, name, None)
            if callable(fn):
                return Path(fn())
        for name in ("RUNS_DIR",):
            value = getattr(_runs, name, None)
            if value:
                return Path(value)
    except Exception:  # noqa: BLE001 - training module missing or broken: fall back to the default
        pass
    return _config.cache_dir() / "runs"


def slug(text: str) -> str:
    """A folder-name-safe version of `text`."""
    out = re.sub(r"[^A-Za-z0-9._+-]+", "-", str(text)).strip("-.")
    return out[:80] or "x"


def eval_name(model: str, dataset: str, langs: list[str], construction: str, ties: str,
              limit: int | None, scenarios: list[str] | None = None) -> str:
    """A deterministic folder name for an evaluation setting."""
    model_part = slug(Path(model).name if os.sep in str(model) else model)
    parts = [model_part, slug(dataset), "-".join(langs), construction, slug(ties), f"n{limit}" if limit else "all"]
    if scenarios and sorted(scenarios) != sorted(SCENARIO_LABELS):
        parts.append("-".join(sorted(scenarios)))
    return "__".join(parts)


# --------------------------------------------------------------------------------------------
# Loading


def check_format(config: dict, path: Path | str = "") -> None:
    """Raise RunFormatError when config.json does not come from the format this version reads."""
    where = f" in {path}" if path else ""
    kind = config.get("kind", "evaluation")
    if kind != "evaluation":
        raise RunFormatError(f"The folder{where} holds a {kind!r} run, not an evaluation.")
    version = config.get("format_version")
    written_by = config.get("xldiag_version") or config.get("version") or "an unknown version"
    if version is None:
        raise RunFormatError(
            f"The evaluation{where} has no format_version: it was written by an older xldiag "
            f"({written_by}). Re-run it (Overview → Run evaluation, or `python -m xldiag eval ... --out DIR`)."
        )
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise RunFormatError(f"The evaluation{where} has an unreadable format_version {version!r}.") from None
    if version < FORMAT_VERSION:
        raise RunFormatError(
            f"The evaluation{where} uses run-folder format {version} (xldiag {written_by}); this version "
            f"reads format {FORMAT_VERSION}. Re-run the evaluation to upgrade it."
        )
    if version > FORMAT_VERSION:
        raise RunFormatError(
            f"The evaluation{where} uses run-folder format {version}, newer than this xldiag reads "
            f"({FORMAT_VERSION}); update xldiag or re-run the evaluation with this version."
        )


def _missing(columns, required) -> list[str]:
    return [c for c in required if c not in set(columns)]


@dataclass
class EvalRun:
    """One evaluation run folder, loaded. `summary` holds the rows of the primary tie rule (what
    every single-number view shows); `summary_all` every rule the run reports (`--paper`: both
    bounds)."""

    path: Path
    config: dict
    summary_all: pd.DataFrame
    _per_query: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def tie_rules(self) -> list[str]:
        return tie_rules(self.config)

    @property
    def summary(self) -> pd.DataFrame:
        return self.summary_for(self.tie_rules[0])

    def summary_for(self, ties: str) -> pd.DataFrame:
        """The summary rows of one tie rule (all rows if the run has no such rule)."""
        rows = self.summary_all[self.summary_all["ties"] == ties]
        return (rows if not rows.empty else self.summary_all).reset_index(drop=True)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def model(self) -> str:
        return str(self.config.get("model", "?"))

    @property
    def langs(self) -> list[str]:
        return sorted({lang for s in self.config.get("language_sets", []) for lang in s.split("+")})

    @property
    def pairs(self) -> list[str]:
        return list(dict.fromkeys(self.summary["pair"]))

    @property
    def per_query(self) -> pd.DataFrame:
        if self._per_query is None:
            self._per_query = read_per_query(self.path)
        return self._per_query

    @property
    def table_md(self) -> str:
        p = self.path / "table.md"
        return p.read_text(encoding="utf-8") if p.exists() else ""


def tie_rules(config: dict) -> list[str]:
    """The tie rules a run reports, primary first (config "ties": a list, or one rule)."""
    ties = config.get("ties") or ["optimistic"]
    return [ties] if isinstance(ties, str) else [str(t) for t in ties]


def read_config(path: str | Path) -> dict:
    path = Path(path)
    cfg = path / "config.json"
    if not path.is_dir():
        raise RunFolderError(f"{path} is not a folder.")
    if not cfg.exists():
        if (path / "summary.csv").exists() or (path / "per_query.parquet").exists() or progress_file(path).exists():
            raise RunIncompleteError(
                f"The evaluation in {path} has not finished (no config.json yet): it is still running "
                "or was interrupted. Wait for it, or run it again."
            )
        raise RunFolderError(f"{path} holds no evaluation (no config.json).")
    try:
        return json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise RunFolderError(f"{cfg} cannot be read: {err}") from None


def read_per_query(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    return _read_table(path / "per_query.parquet", pd.read_parquet, PER_QUERY_COLUMNS,
                       f"{path} has no per_query.parquet; re-run the evaluation.")


def _read_table(file: Path, reader, columns, absent: str) -> pd.DataFrame:
    """Read one table of a run folder, checking it exists and has the columns this version writes."""
    if not file.exists():
        raise RunIncompleteError(absent)
    frame = reader(file)
    missing = _missing(frame.columns, columns)
    if missing:
        raise RunFormatError(f"{file} lacks columns {missing}: written by another xldiag version; re-run it.")
    return frame


def load_eval(path: str | Path, per_query: bool = False) -> EvalRun:
    """Load an evaluation run folder; RunFolderError (or a subclass) with a clear message otherwise."""
    path = Path(path).expanduser().resolve()
    config = read_config(path)
    check_format(config, path)
    summary = _read_table(path / "summary.csv", pd.read_csv, SUMMARY_COLUMNS,
                          f"{path} has config.json but no summary.csv; re-run the evaluation.")
    run = EvalRun(path=path, config=config, summary_all=summary)
    if per_query:
        _ = run.per_query
    return run


# --------------------------------------------------------------------------------------------
# Listing


def _candidate_folders() -> list[tuple[str, Path, Path]]:
    """(source, root, folder) for every folder that may hold an evaluation."""
    out: list[tuple[str, Path, Path]] = []
    root = evals_dir()
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                out.append(("evals", root, child))
    rroot = runs_dir()
    if rroot.is_dir():
        for run in sorted(rroot.iterdir()):
            ev = run / "eval"
            if run.is_dir() and ev.is_dir():
                for child in sorted(ev.iterdir()):
                    if child.is_dir() and not child.name.startswith("."):
                        out.append(("runs", rroot, child))
    return out


def eval_id(source: str, root: Path, folder: Path) -> str:
    return f"{source}:{folder.relative_to(root).as_posix()}"


def resolve_eval_id(ident: str) -> Path | None:
    """The folder for an id from list_evaluations (used in links); None if unknown."""
    source, _, rel = str(ident).partition(":")
    root = {"evals": evals_dir, "runs": runs_dir}.get(source)
    if root is None or not rel or ".." in Path(rel).parts:
        return None
    path = (root() / rel).resolve()
    return path if path.is_dir() else None


def list_evaluations() -> pd.DataFrame:
    """Every evaluation folder under the evals and runs folders, newest first.

    Columns: id, path, source, name, state (complete / running / invalid), error, model,
    dataset, language_sets, langs, scenarios, pool, ties, limit, created, fingerprint.
    """
    rows = []
    for source, root, folder in _candidate_folders():
        row = {"id": eval_id(source, root, folder), "path": str(folder), "source": source, "name": folder.name,
               "state": "complete", "error": "", "model": "", "dataset": "", "language_sets": [], "langs": [],
               "scenarios": [], "pool": "", "ties": "", "limit": None, "created": "", "fingerprint": ""}
        if source == "runs":
            row["name"] = f"{folder.parent.parent.name}/{folder.name}"
        try:
            cfg = read_config(folder)
            check_format(cfg, folder)
            if not (folder / "summary.csv").exists():
                raise RunIncompleteError(f"{folder} has no summary.csv")
        except RunIncompleteError as err:
            row.update(state="incomplete", error=str(err))
            prog = read_progress(folder)
            if prog:
                row.update({k: prog.get(k, row[k]) for k in ("model", "dataset", "pool", "ties", "limit")})
                row["language_sets"] = prog.get("language_sets", [])
                row["created"] = prog.get("started", "")
                if prog.get("state") == "running":
                    row["state"] = "running"
                elif prog.get("state") in ("failed", "stopped"):
                    row.update(state="failed", error=prog.get("error") or f"evaluation {prog.get('state')}")
        except RunFolderError as err:
            row.update(state="invalid", error=str(err))
            cfg = _try_json(folder / "config.json")
            row.update({k: cfg.get(k, row[k]) for k in ("model", "dataset", "pool", "limit", "created")})
            row["ties"] = ",".join(tie_rules(cfg))
            row["language_sets"] = [str(s) for s in cfg.get("language_sets", []) or []]
        else:
            row.update({k: cfg.get(k, row[k]) for k in ("model", "dataset", "pool", "limit", "created", "fingerprint")})
            row["ties"] = ",".join(tie_rules(cfg))
            row["language_sets"] = list(cfg.get("language_sets", []))
            row["scenarios"] = list(cfg.get("scenarios", []))
        row["langs"] = sorted({lang for s in row["language_sets"] for lang in str(s).split("+")})
        rows.append(row)
    # progress files of evaluations that have not created their folder yet
    root = evals_dir()
    if root.is_dir():
        known = {r["path"] for r in rows}
        for prog_file in root.glob(".*.progress.json"):
            folder = root / prog_file.name[1:-len(".progress.json")]
            prog = _try_json(prog_file)
            if str(folder) in known or not prog:
                continue
            state = "failed" if prog.get("state") in ("failed", "stopped") else "running"
            if state == "running" and not _pid_alive(prog.get("pid")):
                state = "failed"
                prog.setdefault("error", "the evaluation process ended without writing its results")
            rows.append({"id": eval_id("evals", root, folder), "path": str(folder), "source": "evals",
                         "name": folder.name, "state": state, "error": prog.get("error") or "",
                         "model": prog.get("model", ""), "dataset": prog.get("dataset", ""),
                         "language_sets": prog.get("language_sets", []),
                         "langs": sorted({lang for s in prog.get("language_sets", []) for lang in s.split("+")}),
                         "scenarios": prog.get("scenarios", []), "pool": prog.get("pool", ""),
                         "ties": prog.get("ties", ""), "limit": prog.get("limit"), "created": prog.get("started", ""),
                         "fingerprint": ""})
    columns = ["id", "path", "source", "name", "state", "error", "model", "dataset", "language_sets", "langs",
               "scenarios", "pool", "ties", "limit", "created", "fingerprint"]
    frame = pd.DataFrame(rows, columns=columns)
    if not frame.empty:
        frame = frame.sort_values("created", ascending=False, kind="stable").reset_index(drop=True)
    return frame


def _try_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def model_label(model: str) -> str:
    """A short human name for a model string (hub name, 'default' or a checkpoint path)."""
    model = str(model)
    if model in ("", "default"):
        return model or "?"
    p = Path(model)
    parts = p.parts
    if "checkpoints" in parts or p.name == "final":
        run = p.parent.parent.name if p.parent.name == "checkpoints" else p.parent.name
        return f"{run} · {p.name}"
    return p.name if len(parts) > 2 else model


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


# --------------------------------------------------------------------------------------------
# Detached evaluation with a progress file (the dashboard's "Run evaluation")


def progress_file(folder: str | Path) -> Path:
    folder = Path(folder)
    return folder.parent / f".{folder.name}.progress.json"


def read_progress(folder: str | Path) -> dict:
    """The progress of a detached evaluation: state, fraction, message, pid, error (or {})."""
    prog = _try_json(progress_file(folder))
    if prog and prog.get("state") == "running" and not _pid_alive(prog.get("pid")):
        prog["state"] = "failed"
        prog["error"] = prog.get("error") or "the evaluation process ended without writing its results"
    return prog


def _pid_alive(pid) -> bool:
    """Whether the evaluation's worker process still lives (pid as read from its progress file)."""
    from xldiag.jobs import pid_alive

    try:
        return pid_alive(int(pid))
    except (TypeError, ValueError):
        return False


def _write_progress(folder: Path, **fields) -> None:
    from xldiag.atomic import write_json

    prog = _try_json(progress_file(folder))
    prog.update(fields)
    prog["updated"] = time.time()
    write_json(progress_file(folder), prog)


def launch_evaluation(out: str | Path, *, model: str = "default", dataset: str = "xquad",
                      langs: list[str] | str = ("zh",), scenarios: list[str] | None = None,
                      construction: str = "unique", ties: str = "optimistic", limit: int | None = None,
                      data_dir: str | None = None, trust_remote_code: bool = False) -> Path:
    """Start `xldiag.evaluate.evaluate` in a detached process writing `out`; returns `out`.

    Progress goes to `.<name>.progress.json` beside `out` (see read_progress)."""
    out = Path(out).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    langs = langs.split(",") if isinstance(langs, str) else list(langs)
    spec = {"out": str(out), "model": model, "dataset": dataset, "langs": langs,
            "scenarios": list(scenarios or SCENARIO_LABELS), "construction": construction, "ties": ties,
            "limit": limit, "data_dir": data_dir, "trust_remote_code": trust_remote_code}
    language_sets = [lang if "+" in lang else f"{PIVOT}+{lang}" for lang in langs]
    from xldiag.atomic import write_json

    write_json(progress_file(out), {"state": "running", "fraction": 0.0, "message": "Starting", "pid": None,
                                    "model": model, "dataset": dataset, "language_sets": language_sets,
                                    "scenarios": spec["scenarios"], "pool": construction, "ties": ties,
                                    "limit": limit, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                    "updated": time.time()})
    log = open(out.parent / f".{out.name}.log", "w", encoding="utf-8")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "xldiag.results", "--run-eval", json.dumps(spec)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        cwd=str(_config.PROJECT_ROOT),
    )
    log.close()
    _write_progress(out, pid=proc.pid)
    return out


def _run_eval_child(spec: dict) -> int:
    out = Path(spec.pop("out"))
    _write_progress(out, pid=os.getpid())
    try:
        from xldiag.evaluate import evaluate

        def progress(message, fraction):
            _write_progress(out, message=str(message), fraction=float(fraction))

        evaluate(out=out, progress=progress, **spec)
    except BaseException as err:  # noqa: BLE001 - reported through the progress file
        _write_progress(out, state="failed", error=f"{type(err).__name__}: {err}")
        raise
    _write_progress(out, state="finished", fraction=1.0, message="Done")
    return 0


def stop_evaluation(folder: str | Path) -> bool:
    """Terminate a detached evaluation; True if a process was signalled."""
    prog = read_progress(folder)
    pid = prog.get("pid")
    if prog.get("state") != "running" or not _pid_alive(pid):
        return False
    import signal

    os.kill(int(pid), signal.SIGTERM)
    _write_progress(Path(folder), state="stopped", error="stopped by the user")
    return True


# --------------------------------------------------------------------------------------------
# Tables


def pair_target(pair: str) -> str:
    """'en+zh' → 'zh'; 'de+zh' → 'de+zh' (non-English pools keep their name)."""
    langs = str(pair).split("+")
    rest = [lang for lang in langs if lang != PIVOT]
    return rest[0] if len(langs) == 2 and len(rest) == 1 else str(pair)


def query_side(summary_or_pq: pd.DataFrame) -> pd.Series:
    """'English' for English queries, 'target' for the others."""
    return np.where(summary_or_pq["query_lang"] == PIVOT, "English", "target")


def table1(summary: pd.DataFrame, metrics=("max_r", "complete@10", "max_r_norm_table", "ndcg@1", "mrr"),
           scenario: str | None = None) -> pd.DataFrame:
    """The paper's Table 1 layout as a DataFrame: rows (scenario, queries, metric), columns = targets + avg."""
    frame = summary.copy()
    if scenario:
        frame = frame[frame["scenario"] == scenario]
    frame["queries"] = query_side(frame)
    frame["target"] = frame["pair"].map(pair_target)
    long = frame.melt(id_vars=["scenario", "queries", "target"], value_vars=list(metrics), var_name="metric")
    table = long.pivot_table(index=["scenario", "queries", "metric"], columns="target", values="value",
                             aggfunc="mean", sort=False)
    table["avg"] = table.mean(axis=1)
    order = {m: i for i, m in enumerate(metrics)}
    scen = {s: i for i, s in enumerate(SCENARIO_LABELS)}
    table = table.reset_index()
    table["_s"] = table["scenario"].map(scen).fillna(99)
    table["_m"] = table["metric"].map(order)
    table = table.sort_values(["_s", "queries", "_m"]).drop(columns=["_s", "_m"])
    table["scenario"] = table["scenario"].map(lambda s: SCENARIO_LABELS.get(s, s))
    table.columns.name = None
    return table.reset_index(drop=True)


def table1_ranges(summary: pd.DataFrame, metrics=("max_r", "complete@10", "max_r_norm_table", "ndcg@1", "mrr"),
                  scenario: str | None = None, decimals: int = 2) -> pd.DataFrame:
    """`table1` over a summary with several tie rules: each cell is "lo–hi" over the rules (one
    value where they agree), e.g. Max@R "921.31–926.17" for the optimistic and pessimistic bounds."""
    tables = [table1(rows, metrics, scenario) for _, rows in summary.groupby("ties", sort=False)]
    keys = ["scenario", "queries", "metric"]
    values = [c for c in tables[0].columns if c not in keys]
    stacked = pd.concat(tables, ignore_index=True)
    lo = stacked.groupby(keys, sort=False)[values].min()
    hi = stacked.groupby(keys, sort=False)[values].max()
    fmt = f"{{:.{decimals}f}}"
    cells = {c: [fmt.format(a) if fmt.format(a) == fmt.format(b) else f"{fmt.format(a)}–{fmt.format(b)}"
                 for a, b in zip(lo[c], hi[c])] for c in values}
    return pd.concat([lo.index.to_frame(index=False), pd.DataFrame(cells)], axis=1)


def compare_table(base: pd.DataFrame, tuned: pd.DataFrame,
                  metrics=("max_r", "complete@10", "max_r_norm_table", "ndcg@1", "mrr"),
                  labels=("Base", "Ours")) -> pd.DataFrame:
    """Base/Ours side by side per (pair, scenario, query language) and metric, with the change."""
    keys = ["dataset", "pair", "scenario", "query_lang"]
    a = base[keys + list(metrics)]
    b = tuned[keys + list(metrics)]
    merged = a.merge(b, on=keys, suffixes=("_a", "_b"))
    rows = []
    for _, r in merged.iterrows():
        for m in metrics:
            va, vb = r[f"{m}_a"], r[f"{m}_b"]
            rows.append({"pair": r["pair"], "scenario": SCENARIO_LABELS.get(r["scenario"], r["scenario"]),
                         "query_lang": r["query_lang"], "metric": m, labels[0]: va, labels[1]: vb,
                         "change": vb - va})
    return pd.DataFrame(rows, columns=["pair", "scenario", "query_lang", "metric", labels[0], labels[1], "change"])


def _ndcg_row(ranks, k: int) -> float:
    ranks = np.asarray(ranks, dtype=float)
    ranks = ranks[~np.isnan(ranks)]
    if ranks.size == 0:
        return float("nan")
    dcg = sum(1.0 / math.log2(1.0 + r) for r in ranks if r <= k)
    idcg = sum(1.0 / math.log2(1.0 + i) for i in range(1, min(ranks.size, k) + 1))
    return 100.0 * dcg / idcg


def query_table(per_query: pd.DataFrame) -> pd.DataFrame:
    """One flat row per query for browsing: gold ranks as rank_<lang> columns, tie flag, NDCG@1, top-1."""
    pq = per_query
    out = pq[["dataset", "pair", "scenario", "query_lang", "qid", "question_index", "passage_index",
              "query_text", "max_r"]].copy()
    langs = sorted({lang for gl in pq["gold_langs"] for lang in gl}, key=lambda x: (x != PIVOT, x))
    for lang in langs:
        out[f"rank_{lang}"] = [
            next((float(r) for gl_, r in zip(gl, gr) if gl_ == lang), np.nan)
            for gl, gr in zip(pq["gold_langs"], pq["gold_ranks"])
        ]
    out["tied"] = [bool(np.sum(t) > 0) for t in pq["n_tied"]]
    out["n_tied"] = [int(np.sum(t)) for t in pq["n_tied"]]
    out["ndcg@1"] = [_ndcg_row(r, 1) for r in pq["gold_ranks"]]
    out["top1_lang"] = [str(t[0]).split(":", 1)[0] if len(t) else "" for t in pq["top_doc_ids"]]
    return out


def query_index(per_query: pd.DataFrame) -> dict:
    """{(pair, scenario, query_lang, qid): row position} and {(pair, qid): [positions]} for fast lookups."""
    keys = per_query[["pair", "scenario", "query_lang", "qid"]].to_numpy(dtype=object).tolist()
    exact, by_qid = {}, {}
    for pos, (pair, scen, q_lang, qid) in enumerate(keys):
        exact.setdefault((pair, scen, q_lang, qid), pos)
        by_qid.setdefault((pair, qid), []).append(pos)
    return {"exact": exact, "by_qid": by_qid}


def query_detail(per_query: pd.DataFrame, qid: str, scenario: str, query_lang: str, pair: str | None = None,
                 index: dict | None = None) -> dict:
    """Everything the Queries page shows for one query: the row, its references and the top-k list.

    `index` (query_index of the same frame) makes the lookup O(1) on large evaluations."""
    pq = per_query
    if index is not None and pair:
        pos = index["exact"].get((pair, scenario, query_lang, qid))
        if pos is None:
            raise KeyError(f"No query {qid!r} ({scenario}, {query_lang} queries) in this evaluation.")
        row = pq.iloc[pos]
    else:
        mask = (pq["qid"] == qid) & (pq["scenario"] == scenario) & (pq["query_lang"] == query_lang)
        if pair:
            mask &= pq["pair"] == pair
        rows = pq[mask]
        if rows.empty:
            raise KeyError(f"No query {qid!r} ({scenario}, {query_lang} queries) in this evaluation.")
        row = rows.iloc[0]
    pool_langs = [str(x) for x in row["pool_langs"]]
    ref_ids = [str(x) for x in row["gold_doc_ids"]]
    ref_langs = [str(x) for x in row["gold_langs"]]
    ref_ranks = [float(r) for r in row["gold_ranks"]]
    refs = {"doc_id": ref_ids, "lang": ref_langs, "rank": ref_ranks, "n_tied": [int(t) for t in row["n_tied"]]}
    for j, lang in enumerate(pool_langs):
        refs[f"above_{lang}"] = [int(a[j]) for a in row["above_by_lang"]]
    refs = pd.DataFrame(refs)
    gold = set(ref_ids)
    top_ids = [str(x) for x in row["top_doc_ids"]]
    top_ranks = list(range(1, len(top_ids) + 1))
    is_ref = [d in gold for d in top_ids]
    beats = ["" if ref else ", ".join(f"{lang} reference" for lang, r in zip(ref_langs, ref_ranks) if rank < r)
             for rank, ref in zip(top_ranks, is_ref)]
    top = pd.DataFrame({"rank": np.asarray(top_ranks, dtype=np.int64), "doc_id": top_ids,
                        "score": [float(x) for x in row["top_scores"]],
                        "lang": [d.split(":", 1)[0] for d in top_ids], "is_reference": is_ref, "beats": beats})
    # the same question asked in the other languages of the pair (same qid, other query_lang rows)
    if index is not None:
        others = pq.iloc[index["by_qid"].get((row["pair"], qid), [])]
    else:
        others = pq[(pq["qid"] == qid) & (pq["pair"] == row["pair"])]
    questions = dict(zip(others["query_lang"].tolist(), others["query_text"].tolist()))
    return {"row": row, "refs": refs, "top": top, "questions": questions, "pool_langs": pool_langs}


def language_preference(per_query: pd.DataFrame, scenario: str = "multi") -> pd.DataFrame:
    """Mean number of unrelated documents of each language ranked above each reference.

    One row per (pair, query_lang, ref_lang, distractor_lang) with `mean_above` and `n_queries`."""
    pq = per_query[per_query["scenario"] == scenario]
    records = []
    for pair, q_lang, gls, above, pls in zip(pq["pair"], pq["query_lang"], pq["gold_langs"],
                                            pq["above_by_lang"], pq["pool_langs"]):
        for g_lang, counts in zip(gls, above):
            for d_lang, c in zip(pls, counts):
                records.append((pair, q_lang, g_lang, d_lang, float(c)))
    frame = pd.DataFrame(records, columns=["pair", "query_lang", "ref_lang", "distractor_lang", "above"])
    if frame.empty:
        return pd.DataFrame(columns=["pair", "query_lang", "ref_lang", "distractor_lang", "mean_above", "n_queries"])
    out = frame.groupby(["pair", "query_lang", "ref_lang", "distractor_lang"], sort=False)["above"].agg(
        mean_above="mean", n_queries="size").reset_index()
    return out


def preference_verdict(pref: pd.DataFrame) -> list[str]:
    """Plain sentences saying which language's distractors dominate, from the data (no assumption)."""
    lines = []
    for (pair, q_lang), block in pref.groupby(["pair", "query_lang"], sort=False):
        # for each reference, count distractors of the *other* languages vs of its own language
        by_d = block.groupby("distractor_lang")["mean_above"].mean()
        if by_d.empty:
            continue
        top_lang = by_d.idxmax()
        if by_d.max() <= 0:
            lines.append(f"{pair}, {q_lang} queries: no unrelated document outranks a reference.")
            continue
        who = ("English" if top_lang == PIVOT else f"{top_lang}") + (
            " (the query's own language)" if top_lang == q_lang else "")
        detail = ", ".join(f"{lang} {v:.2f}" for lang, v in by_d.items())
        lines.append(f"{pair}, {q_lang} queries: distractors in {who} outrank the references most "
                     f"(mean per reference: {detail}).")
    return lines


def inclination_rates(summaries: dict[str, pd.DataFrame], scenario: str = "multi") -> pd.DataFrame:
    """English- and own-language-inclination rates per model label, target language and query language."""
    frames = []
    for label, summary in summaries.items():
        s = summary[summary["scenario"] == scenario]
        frames.append(pd.DataFrame({
            "model": label, "pair": s["pair"].values, "target": s["pair"].map(pair_target).values,
            "query_lang": s["query_lang"].values,
            "english_inclination_rate": s["english_inclination_rate"].values,
            "own_language_inclination_rate": s["own_language_inclination_rate"].values,
        }))
    if not frames:
        return pd.DataFrame(columns=["model", "pair", "target", "query_lang", "english_inclination_rate",
                                     "own_language_inclination_rate"])
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Paired comparisons


def paired_queries(base: pd.DataFrame, tuned: pd.DataFrame) -> pd.DataFrame:
    """Join two per-query frames on (dataset, pair, scenario, query_lang, qid).

    Columns: the keys, query_text, max_r_base, max_r_tuned, ndcg@1_base, ndcg@1_tuned, delta_max_r
    (tuned − base; negative = better), log2_ratio (log2 tuned/base)."""
    cols = KEYS + ["query_text", "max_r", "gold_ranks"]
    a = base[cols].copy()
    b = tuned[KEYS + ["max_r", "gold_ranks"]].copy()
    a["ndcg@1"] = [_ndcg_row(r, 1) for r in a["gold_ranks"]]
    b["ndcg@1"] = [_ndcg_row(r, 1) for r in b["gold_ranks"]]
    merged = a.drop(columns="gold_ranks").merge(b.drop(columns="gold_ranks"), on=KEYS, suffixes=("_base", "_tuned"))
    merged["delta_max_r"] = merged["max_r_tuned"] - merged["max_r_base"]
    merged["log2_ratio"] = np.log2(merged["max_r_tuned"] / merged["max_r_base"])
    return merged


def wilcoxon_test(a, b) -> dict:
    """Wilcoxon signed-rank test on paired samples (b − a); two-sided."""
    from scipy import stats

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    d = b - a
    out = {"method": "Wilcoxon signed-rank", "n": int(d.size), "n_nonzero": int(np.count_nonzero(d)),
           "mean_diff": float(d.mean()) if d.size else float("nan"),
           "median_diff": float(np.median(d)) if d.size else float("nan")}
    if out["n_nonzero"] == 0:
        return {**out, "statistic": 0.0, "p_value": 1.0}
    res = stats.wilcoxon(b, a, zero_method="wilcox", alternative="two-sided")
    return {**out, "statistic": float(res.statistic), "p_value": float(res.pvalue)}


def permutation_test(a, b, n_resamples: int = 9999, seed: int = 0, batch: int = 500) -> dict:
    """Paired permutation (sign-flip) test on the mean difference (b − a); two-sided.

    p = (1 + #{|mean of sign-flipped d| ≥ |mean d|}) / (1 + n_resamples)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    d = b[ok] - a[ok]
    n = d.size
    out = {"method": "paired permutation", "n": int(n), "n_nonzero": int(np.count_nonzero(d)),
           "mean_diff": float(d.mean()) if n else float("nan"),
           "median_diff": float(np.median(d)) if n else float("nan"), "n_resamples": int(n_resamples)}
    if out["n_nonzero"] == 0:
        return {**out, "statistic": 0.0, "p_value": 1.0}
    observed = abs(d.mean())
    rng = np.random.default_rng(seed)
    hits = 0
    done = 0
    tol = 1e-12 * max(1.0, observed)
    while done < n_resamples:
        m = min(batch, n_resamples - done)
        signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
        means = np.abs(signs @ d) / n
        hits += int(np.count_nonzero(means >= observed - tol))
        done += m
    return {**out, "statistic": float(d.mean()), "p_value": (1 + hits) / (1 + n_resamples)}


def paired_test(a, b, method: str = "wilcoxon", log: bool = False, **kwargs) -> dict:
    """Run one of the paired tests; `log=True` compares log2 values (for ranks such as Max@R)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if log:
        a, b = np.log2(a), np.log2(b)
    if method == "wilcoxon":
        return wilcoxon_test(a, b)
    if method == "permutation":
        return permutation_test(a, b, **kwargs)
    raise ValueError(f"Unknown test {method!r}; choose wilcoxon or permutation.")


def most_changed(paired: pd.DataFrame, n: int = 10, direction: str = "improved") -> pd.DataFrame:
    """The queries whose Max@R improved (fell) or degraded (rose) most, by log2 ratio then by rank change."""
    frame = paired[paired["delta_max_r"] != 0]
    if direction == "improved":
        frame = frame[frame["delta_max_r"] < 0].sort_values(["log2_ratio", "delta_max_r"], ascending=[True, True])
    elif direction == "degraded":
        frame = frame[frame["delta_max_r"] > 0].sort_values(["log2_ratio", "delta_max_r"], ascending=[False, False])
    else:
        raise ValueError("direction must be 'improved' or 'degraded'")
    return frame.head(n).reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "--run-eval":
        return _run_eval_child(json.loads(argv[1]))
    print("usage: python -m xldiag.results --run-eval SPEC_JSON", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
