"""The dashboard's caches over the library (not a page).

Models are cached with `st.cache_resource`; loaded evaluations and the tables derived from them
with `st.cache_resource` keyed by the folder's config.json modification time (read-only and
large: no copy per rerun); figures and tables built from small frames (`figure`, `table`) once per
distinct input, so a rerun with the same widgets rebuilds nothing; the listings of evaluations and
runs live 3 seconds so that new ones show up. Cached objects are shared by all sessions and never
mutated (st.plotly_chart only reads a figure).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from xldiag import config, results, runs, tables, viz
from xldiag.data import load_dataset
from xldiag.embeddings import Encoder
from xldiag.results import selection
from xldiag.vocab import CONFIG_FILE

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
def _preference(path: str, stamp: float) -> pd.DataFrame:
    return results.language_preference(_per_query(path, stamp))


def load_eval(path: str | Path) -> results.EvalRun:
    return _load_eval(str(path), stamp(path))


def per_query(path: str | Path) -> pd.DataFrame:
    return _per_query(str(path), stamp(path))


def query_table(path: str | Path) -> pd.DataFrame:
    return _query_table(str(path), stamp(path))


def query_index(path: str | Path) -> dict:
    return _query_index(str(path), stamp(path))


def preference(path: str | Path) -> pd.DataFrame:
    return _preference(str(path), stamp(path))


# --- figures and tables of small frames ------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=64)
def _figure(builder: str, args: tuple, kwargs: tuple):
    return getattr(viz, builder)(*args, **dict(kwargs))


def figure(builder: str, *args, **kwargs):
    """`viz.<builder>(*args, **kwargs)`, built once per distinct input: the arguments (summaries,
    paired frames, metrics of a run) are hashed by Streamlit, so a changed file gives a new figure."""
    return _figure(builder, args, tuple(sorted(kwargs.items())))


@st.cache_resource(show_spinner=False, max_entries=64)
def _table(builder: str, args: tuple, kwargs: tuple) -> pd.DataFrame:
    return getattr(tables, builder)(*args, **dict(kwargs))


def table(builder: str, *args, **kwargs) -> pd.DataFrame:
    """`tables.<builder>(*args, **kwargs)` once per distinct input (a copy: pages relabel columns)."""
    return _table(builder, args, tuple(sorted(kwargs.items()))).copy()


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


@st.cache_resource(show_spinner=False, max_entries=4)
def encoder(model: str, trust_remote_code: bool = False) -> Encoder:
    """One Encoder (and its model, loaded lazily) per model string, shared by all sessions."""
    return Encoder(model, trust_remote_code=trust_remote_code)


def encode(model: str, texts: list[str], role: str, label: str = "") -> np.ndarray:
    """Encode with the disk-cached Encoder, in chunks, with a progress bar when it takes a while."""
    enc = encoder(model, bool(st.session_state.get("trust_remote_code")))
    texts = list(texts)
    if len(texts) <= 64:
        return enc.encode(texts, role)
    bar = None
    started = time.monotonic()
    parts = []
    step = 128
    for i in range(0, len(texts), step):
        parts.append(enc.encode(texts[i:i + step], role))
        if bar is None and time.monotonic() - started > 0.5:
            bar = st.progress(0.0, text=f"Embedding {label or role}s")
        if bar is not None:
            bar.progress(min(1.0, (i + step) / len(texts)), text=f"Embedding {len(texts)} {label or role}s")
    if bar is not None:
        bar.empty()
    return np.concatenate(parts, axis=0)
