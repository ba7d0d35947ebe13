"""Reading one evaluation run folder back, with its format checked.

A run folder (written by `xldiag.evaluate.write_run`) holds config.json (written last: it marks a
complete run), summary.csv, per_query.parquet and table.md; run as a job (`python -m xldiag eval
--out DIR`) it also holds status.json, lock and job.log (xldiag.jobs). Schemas: docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from xldiag.evalset import read_set
from xldiag.evaluate import DISTRACTOR_SHARE_COLUMNS
from xldiag.evaluate import RUN_FORMAT_VERSION as FORMAT_VERSION
from xldiag.jobs import read_json
from xldiag.results.coverage import fill_uncovered, run_uncovered
from xldiag.results.errors import RunFolderError, RunFormatError, RunIncompleteError
from xldiag.vocab import CONFIG_FILE, DISTRACTOR_SHARE_FILE, PER_QUERY_FILE, STATUS_FILE, SUMMARY_FILE, TABLE_FILE

# The columns this version needs (a run may hold more). Runs of format 2 written before issue 11
# lack the newer columns (intervals, mAP, preference, top-1, diagnosis, consistency; per query
# gold_scores, diagnosis, consistency_*) and files (distractor_share.csv, table.tex, TREC files):
# they are read all the same, and each view that needs one of them says it is missing.
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


def tie_rules(config: dict) -> list[str]:
    """The tie rules a run reports, primary first (config "ties": a list, or one rule)."""
    ties = config.get("ties") or ["optimistic"]
    return [ties] if isinstance(ties, str) else [str(t) for t in ties]


def language_set_langs(language_sets) -> list[str]:
    """Every language of some language sets ("en+zh", "de+zh" → de, en, zh), sorted."""
    return sorted({lang for s in language_sets or [] for lang in str(s).split("+")})


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
        return language_set_langs(self.config.get("language_sets"))

    @property
    def uncovered(self) -> list[str]:
        """The evaluated languages outside the model's declared training languages (results.coverage)."""
        return run_uncovered(self.config)

    @property
    def pairs(self) -> list[str]:
        return list(dict.fromkeys(self.summary["pair"]))

    @property
    def per_query(self) -> pd.DataFrame:
        if self._per_query is None:
            self._per_query = read_per_query(self.path)
        return self._per_query

    @property
    def distractor_share(self) -> pd.DataFrame:
        """distractor_share.csv (DISTRACTOR_SHARE_COLUMNS; empty for a run written before it)."""
        path = self.path / DISTRACTOR_SHARE_FILE
        return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=DISTRACTOR_SHARE_COLUMNS)

    @property
    def table_md(self) -> str:
        path = self.path / TABLE_FILE
        return path.read_text(encoding="utf-8") if path.exists() else ""


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


def read_config(path: str | Path) -> dict:
    """config.json of a run folder; RunIncompleteError while an evaluation has not written it yet."""
    path = Path(path)
    file = path / CONFIG_FILE
    if not path.is_dir():
        raise RunFolderError(f"{path} is not a folder.")
    if not file.exists():
        members = read_set(path)
        if members:
            names = [str(m.get("folder")) for m in members.get("members", [])]
            raise RunFolderError(f"{path} is an evaluation set of {len(names)} models, one run folder each: open "
                                 f"one of them ({', '.join(str(path / n) for n in names)}).")
        if any((path / name).exists() for name in (SUMMARY_FILE, PER_QUERY_FILE, STATUS_FILE)):
            raise RunIncompleteError(
                f"The evaluation in {path} has not finished (no {CONFIG_FILE} yet): it is still running, "
                "was stopped or was interrupted. Wait for it, or run it again."
            )
        raise RunFolderError(f"{path} holds no evaluation (no {CONFIG_FILE}).")
    config = read_json(file)
    if config is None:
        raise RunFolderError(f"{file} cannot be read as a JSON object; re-run the evaluation.")
    return config


def _read_table(file: Path, reader, columns, absent: str) -> pd.DataFrame:
    """Read one table of a run folder, checking it exists and has the columns this version writes."""
    if not file.exists():
        raise RunIncompleteError(absent)
    frame = reader(file)
    missing = [c for c in columns if c not in set(frame.columns)]
    if missing:
        raise RunFormatError(f"{file} lacks columns {missing}: written by another xldiag version; re-run it.")
    return frame


def read_per_query(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """per_query.parquet of a run folder; `columns`: only these (a page that needs a few scalar
    columns skips converting the list columns, most of the reading time)."""
    path = Path(path)
    if columns is not None:
        unknown = [c for c in columns if c not in PER_QUERY_COLUMNS]
        if unknown:
            raise ValueError(f"per_query has no columns {unknown}; choose from {', '.join(PER_QUERY_COLUMNS)}.")
    reader = pd.read_parquet if columns is None else functools.partial(_read_columns, columns=list(columns))
    return _read_table(path / PER_QUERY_FILE, reader, columns or PER_QUERY_COLUMNS,
                       f"{path} has no {PER_QUERY_FILE}; re-run the evaluation.")


def _read_columns(file: Path, columns: list[str]) -> pd.DataFrame:
    """The columns of a parquet file that it has (a missing one is reported by _read_table)."""
    import pyarrow.parquet as pq

    present = set(pq.read_schema(file).names)
    return pd.read_parquet(file, columns=[c for c in columns if c in present])


def load_eval(path: str | Path, per_query: bool = False) -> EvalRun:
    """Load an evaluation run folder; RunFolderError (or a subclass) with a clear message otherwise."""
    path = Path(path).expanduser().resolve()
    config = read_config(path)
    check_format(config, path)
    summary = _read_table(path / SUMMARY_FILE, pd.read_csv, SUMMARY_COLUMNS,
                          f"{path} has {CONFIG_FILE} but no {SUMMARY_FILE}; re-run the evaluation.")
    run = EvalRun(path=path, config=config, summary_all=fill_uncovered(summary, str(config.get("model", ""))))
    if per_query:
        _ = run.per_query
    return run
