"""The dashboard's caches over the library (not a page).

Models are cached with `st.cache_resource`; loaded evaluations and the tables derived from them
with `st.cache_resource` keyed by the folder's config.json modification time (read-only and
large: no copy per rerun); figures and tables built from small frames (`figure`, `table`) once per
distinct input, so a rerun with the same widgets rebuilds nothing; the listings of evaluations and
runs live 3 seconds so that new ones show up. Cached objects are shared by all sessions and never
mutated (st.plotly_chart only reads a figure; st.vega_lite_chart copies a spec before it edits it).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from xldiag import config, results, runs, tables, vega, views, viz
from xldiag.data import load_dataset
from xldiag.results import selection
from xldiag.vocab import CONFIG_FILE, VIEWS_FILE

# --- listings ------------------------------------------------------------------------------------


@st.cache_resource(ttl=3, show_spinner=False)
def list_evals() -> pd.DataFrame:
    """All evaluations (results.list_evaluations)."""
    return results.list_evaluations()


@st.cache_resource(ttl=3, show_spinner=False)
def list_runs() -> pd.DataFrame:
    """All training runs (xldiag.runs.list_runs)."""
    return runs.list_runs(results.runs_dir())


def refresh_listings() -> None:
    list_evals.clear()
    list_runs.clear()


def checkpoint_models() -> list[str]:
    """Final checkpoints of finished fine-tuning runs."""
    return selection.checkpoint_models(list_runs())


def partner_model(model: str) -> str | None:
    """The other side of a base/tuned pair (a run's final checkpoint ↔ the model it started from)."""
    return selection.partner_model(model, list_runs())


# --- one evaluation ------------------------------------------------------------------------------


def stamp(path: str | Path) -> float:
    """When the evaluation in `path` was last written (its config.json's mtime; 0 if none)."""
    file = Path(path) / CONFIG_FILE
    return file.stat().st_mtime if file.exists() else 0.0


@st.cache_resource(show_spinner=False, max_entries=16)
def _load_eval(path: str, stamp: float) -> results.EvalRun:
    return results.load_eval(path)


@st.cache_resource(show_spinner=False, max_entries=16)
def _per_query(path: str, stamp: float) -> pd.DataFrame:
    return _load_eval(path, stamp).per_query


@st.cache_resource(show_spinner=False, max_entries=16)
def _query_table(path: str, stamp: float) -> pd.DataFrame:
    return results.query_table(_per_query(path, stamp))


@st.cache_resource(show_spinner=False, max_entries=16)
def _query_index(path: str, stamp: float) -> dict:
    return results.query_index(_per_query(path, stamp))


@st.cache_resource(show_spinner=False, max_entries=16)
def _preference(path: str, stamp: float, views_stamp: float) -> pd.DataFrame:
    written = views.preference_table(path) if views_stamp else None  # the evaluation wrote it
    return written if written is not None else results.language_preference(_per_query(path, stamp))


def load_eval(path: str | Path) -> results.EvalRun:
    return _load_eval(str(path), stamp(path))


def per_query(path: str | Path) -> pd.DataFrame:
    return _per_query(str(path), stamp(path))


def query_table(path: str | Path) -> pd.DataFrame:
    return _query_table(str(path), stamp(path))


def query_index(path: str | Path) -> dict:
    return _query_index(str(path), stamp(path))


def preference(path: str | Path) -> pd.DataFrame:
    return _preference(str(path), stamp(path), views_stamp(path))


# --- derived views (xldiag.views): files written by the evaluation, read here ---------------------


def views_stamp(root: str | Path) -> float:
    """When the views of `root` (an evaluation or joint-map folder) were last written (0: none)."""
    file = views.views_dir(root) / VIEWS_FILE
    return file.stat().st_mtime if file.exists() else 0.0


@st.cache_resource(show_spinner=False, max_entries=16)
def _alignment_table(root: str, stamp: float) -> pd.DataFrame:
    return views.alignment_table(root)


@st.cache_resource(show_spinner=False, max_entries=16)
def _map_points(root: str, method: str, stamp: float) -> pd.DataFrame | None:
    return views.map_points(root, method)


def alignment_table(root: str | Path) -> pd.DataFrame:
    """views.alignment_table, cached until the views are rewritten (ViewsMissingError without them)."""
    return _alignment_table(str(root), views_stamp(root))


def map_points(root: str | Path, method: str) -> pd.DataFrame | None:
    """views.map_points, cached until the views are rewritten (None while `method` is being fitted)."""
    return _map_points(str(root), method, views_stamp(root))


# --- figures and tables of small frames ------------------------------------------------------------


BUILDERS = {"viz": viz, "vega": vega, "tables": tables}  # modules of pure builders over small frames


@st.cache_resource(show_spinner=False, max_entries=192)
def _built(module: str, builder: str, args: tuple, kwargs: tuple):
    return getattr(BUILDERS[module], builder)(*args, **dict(kwargs))


def figure(builder: str, *args, **kwargs):
    """`viz.<builder>(*args, **kwargs)`, built once per distinct input: the arguments (summaries,
    paired frames, metrics of a run) are hashed by Streamlit, so a changed file gives a new figure."""
    return _built("viz", builder, args, tuple(sorted(kwargs.items())))


def chart(builder: str, *args, **kwargs) -> dict:
    """`vega.<builder>(*args, **kwargs)`: a Vega-Lite spec, built once per distinct input (as `figure`)."""
    return _built("vega", builder, args, tuple(sorted(kwargs.items())))


def table(builder: str, *args, **kwargs) -> pd.DataFrame:
    """`tables.<builder>(*args, **kwargs)` once per distinct input (a copy: pages relabel columns)."""
    return _built("tables", builder, args, tuple(sorted(kwargs.items()))).copy()


# --- data and models -----------------------------------------------------------------------------


def data_dir_setting() -> str | None:
    """The data folder typed in the sidebar (None: $XLDIAG_DATA_DIR)."""
    return st.session_state.get("data_dir_override") or None


def data_dir_or_none() -> Path | None:
    try:
        return config.data_dir(data_dir_setting())
    except config.DataDirError:
        return None


@st.cache_resource(show_spinner=False, max_entries=8)
def _dataset(name: str, langs: tuple[str, ...], limit: int | None, data_dir: str):
    return load_dataset(name, list(langs), data_dir=data_dir, limit=limit)


def dataset(name: str, langs, limit: int | None):
    """The ParallelDataset an evaluation used (same languages and limit: same indices)."""
    root = config.data_dir(data_dir_setting())
    return _dataset(name, tuple(sorted(langs)), int(limit) if limit else None, str(root))
