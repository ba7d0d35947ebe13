"""What the Alignment and Embedding map pages share (not a page): the evaluation's precomputed
views (xldiag.views) or a clear message — being computed, or missing with the command and a button
that computes them as a background job. A page visit never encodes or fits."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages import _cache
from xldiag import jobs, results, views
from xldiag.vocab import VIEWS_KIND

SAMPLE_POINTS = 20_000  # points a page draws in one scatter (a uniform sample beyond it, said on the page)
SAMPLE_SEED = 0


def _launch_argv(folder: str, other: str | None) -> list[str]:
    data_dir = _cache.data_dir_setting()
    return ["views", folder, *(["--with", other] if other else []), *(["--data-dir", data_dir] if data_dir else [])]


def require(root: str | Path, folder: str, other: str | None = None, what: str = "these views",
            stop: bool = True) -> dict | None:
    """views.json of `root` (an evaluation's folder, or the joint map of `folder` and `other`); else
    a message — the job computing them, or the command and a button that launches it — and a stop
    (with `stop=False`, None: the page goes on without them)."""
    try:
        return views.manifest(root, views.views_command(folder, other))
    except views.ViewsMissingError as err:
        busy = views.views_busy(root)
        if busy is not None:
            st.info(f"The views of {root} are being computed in the background "
                    f"({100 * float(busy.get('fraction') or 0):.0f} %: {busy.get('message', '')}). They appear here "
                    "when they are written; reload the page then.", icon=":material/hourglass_top:")
        else:
            st.warning(f"{err}\n\nThis page reads {what} from files the evaluation writes (`python -m xldiag eval` "
                       "writes them when it finishes); it never encodes on a visit.", icon=":material/info:")
            if st.button("Compute the views now (background job)", key=f"views_launch_{root}", type="primary"):
                jobs.launch(root, _launch_argv(folder, other), kind=VIEWS_KIND)
                st.success("Started. The page shows the views when the job has written them.")
        if stop:
            st.stop()
        return None


def same_data_eval(model: str, config: dict, pair: str) -> str | None:
    """The folder of the newest complete evaluation of `model` on the same dataset and question
    limit that holds `pair` (what a base/tuned view beside this evaluation reads), else None."""
    evals = _cache.list_evals()
    if evals.empty:
        return None
    limit = int(config["limit"]) if config.get("limit") else 0
    same = evals[(evals["state"] == "complete") & (evals["model"] == model) & (evals["dataset"] == config.get("dataset"))
                 & evals["limit"].map(lambda v: 0 if v is None or pd.isna(v) else int(v)).eq(limit)
                 & evals["language_sets"].map(lambda sets: pair in list(sets))]
    return str(same.iloc[0]["path"]) if not same.empty else None


def missing_partner(model: str, config: dict, pair: str) -> None:
    st.info(f"No complete evaluation of **{results.model_label(model)}** on {config.get('dataset')} {pair} with the "
            f"same question limit ({config.get('limit') or 'all'}); run one on Overview to show it beside this one.")


def sampled(frame: pd.DataFrame, n: int = SAMPLE_POINTS, seed: int = SAMPLE_SEED) -> pd.DataFrame:
    """At most `n` rows, drawn uniformly without replacement (numpy default_rng(seed)), in order."""
    if len(frame) <= n:
        return frame
    import numpy as np

    keep = np.sort(np.random.default_rng(seed).choice(len(frame), size=n, replace=False))
    return frame.iloc[keep]
