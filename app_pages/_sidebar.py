"""The dashboard's shared sidebar (not a page): model / checkpoint, dataset, language pair, pool
construction, tie rule and the matching evaluation; links (?eval=ID) and other pages can point it
at an evaluation. Further models / checkpoints to compare with it (Overview's Figure 2, Language
preference's distractor matrix, Compare) are picked here too; each gets its evaluation with the
same dataset, pool and tie rule. app.py renders it once per run; pages read the selection
(`_shared.frame()`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from app_pages import _cache as cache
from xldiag import config, results
from xldiag.data import DATASETS
from xldiag.results import selection
from xldiag.vocab import DATA_DIR_ENV, PIVOT, POOLS, TIE_RULES, pair_target

DEFAULT_DATASET = "xquad"
DEFAULT_PAIR = f"{PIVOT}+zh"


@dataclass
class Frame:
    """What every page works on: the sidebar's choices and the evaluation they select."""

    model: str
    dataset: str
    pair: str
    pool: str
    ties: str
    eval_id: str | None
    eval_path: str | None
    eval_state: str | None
    eval_error: str
    models: list[str] = field(default_factory=list)  # the sidebar's model first, then those to compare with it
    model_evals: dict[str, str | None] = field(default_factory=dict)  # model → its comparable evaluation id

    @property
    def target(self) -> str:
        return pair_target(self.pair)

    @property
    def pair_langs(self) -> list[str]:
        return self.pair.split("+")


def target_languages(dataset: str) -> list[str]:
    """The languages a registered dataset pairs with English ([] for a dataset given as a path)."""
    return [lang for lang in DATASETS[dataset].languages if lang != PIVOT] if dataset in DATASETS else []


def select_eval(ident: str) -> None:
    """Make the sidebar point at an evaluation on the next run (before its widgets exist)."""
    st.session_state["_pending_eval"] = ident


def _apply_eval(ident: str, evals: pd.DataFrame) -> None:
    """Set the sidebar's widgets to the setting of evaluation `ident`."""
    ss = st.session_state
    rows = evals[evals["id"] == ident]
    if rows.empty:
        ss["_link_warning"] = f"The linked evaluation {ident!r} was not found."
        return
    row = rows.iloc[0]
    ss["sb_model"] = row["model"]
    ss["sb_dataset"] = row["dataset"]
    if row["language_sets"]:
        current = ss.get("sb_pair")
        ss["sb_pair"] = current if current in row["language_sets"] else row["language_sets"][0]
    if row["pool"]:
        ss["sb_pool"] = row["pool"]
    if row["ties"]:
        ss["sb_ties"] = row["ties"].split(",")[0]
    ss["sb_eval"] = ident


def _follow_links(evals: pd.DataFrame, complete: pd.DataFrame) -> None:
    """A ?eval= link (and ?compare= models), another page's select_eval, or (first visit) the newest
    evaluation."""
    ss = st.session_state
    link = st.query_params.get("eval")
    if link and ss.get("_applied_link") != link:
        ss["_applied_link"] = link
        _apply_eval(link, evals)
    compare = st.query_params.get("compare")  # ?compare=use-m3,default: the models shown beside it
    if compare and ss.get("_applied_compare") != compare:
        ss["_applied_compare"] = compare
        ss["sb_models"] = [m.strip() for m in compare.split(",") if m.strip()]
    pending = ss.pop("_pending_eval", None)
    if pending:
        _apply_eval(pending, evals)
    if "sb_model" not in ss and not complete.empty:
        _apply_eval(complete.iloc[0]["id"], evals)


def _pick_model(evals: pd.DataFrame) -> str:
    ss = st.session_state
    models = selection.model_choices(evals, cache.checkpoint_models(), ss.get("sb_model"))
    return st.selectbox("Model / checkpoint", models, key="sb_model", format_func=results.model_label,
                        help="`default` is the embedded multilingual-e5-small, `use-m3` the embedded Universal "
                             "Sentence Encoder Multilingual v3; fine-tuned checkpoints appear here when their run "
                             "finishes.")


def _pick_more_models(evals: pd.DataFrame, model: str) -> list[str]:
    """Models / checkpoints to show beside the sidebar's on the comparison views."""
    ss = st.session_state
    options = [m for m in selection.model_choices(evals, cache.checkpoint_models()) if m != model]
    ss["sb_models"] = [m for m in ss.get("sb_models", []) if m in options]
    return st.multiselect("Compare with", options, key="sb_models", format_func=results.model_label,
                          help="Further models / checkpoints for Overview's Figure 2, Language preference's "
                               "distractor matrix and Compare; each shows its evaluation with this dataset, pool "
                               "and tie rule (run missing ones on Overview).")


def _pick_dataset_and_pair(complete: pd.DataFrame) -> tuple[str, str]:
    """Datasets from the registry (and evaluated ones); pairs: English + each of the dataset's
    languages, then every language set an evaluation used."""
    ss = st.session_state
    names = list(dict.fromkeys([*DATASETS, *complete.get("dataset", [])]))
    if ss.get("sb_dataset") not in names:
        ss["sb_dataset"] = DEFAULT_DATASET if DEFAULT_DATASET in names else names[0]
    name = st.selectbox("Dataset", names, key="sb_dataset")
    pairs = [f"{PIVOT}+{lang}" for lang in target_languages(name)]  # a JSONL path: its evaluations' sets
    for sets in complete.get("language_sets", []):
        pairs += [s for s in sets if s not in pairs]
    pairs = pairs or [DEFAULT_PAIR]
    if ss.get("sb_pair") not in pairs:
        ss["sb_pair"] = DEFAULT_PAIR if DEFAULT_PAIR in pairs else pairs[0]
    return name, st.selectbox("Language pair", pairs, key="sb_pair", format_func=lambda p: p.replace("+", " – "))


def _pick_eval(matching: pd.DataFrame) -> str | None:
    ss = st.session_state
    options = list(matching["id"])
    if ss.get("sb_eval") not in options:
        ss.pop("sb_eval", None)
        if options:
            ss["sb_eval"] = selection.preferred(matching)
    labels = {row["id"]: results.eval_label(row) for _, row in matching.iterrows()}
    ident = st.selectbox("Evaluation", options, key="sb_eval", format_func=lambda i: labels.get(i, i),
                         placeholder="none for this setting", help="Run folders matching the choices above.")
    if not options:
        st.caption("No evaluation for this setting yet: run one on **Overview**.")
    return ident


def _settings_expander() -> None:
    ss = st.session_state
    box = st.expander("Data folder & models", key="sb_settings", on_change="rerun")
    if not box.open:  # built only while open (the expander tracks its state): every page's first visit is lighter
        return
    with box:
        current = cache.data_dir_setting() or os.environ.get(DATA_DIR_ENV, "")
        value = st.text_input("Data folder", value=current, key="sb_data_dir", help=f"Defaults to ${DATA_DIR_ENV}.")
        if value and value != current:
            try:
                config.data_dir(value)
                ss["data_dir_override"] = value
            except config.DataDirError as err:
                st.error(str(err))
        # the choice lives under its own key: a closed expander does not draw (and so forgets) the checkbox
        st.checkbox("Allow remote code", value=bool(ss.get("trust_remote_code")), key="sb_trust",
                    on_change=lambda: ss.__setitem__("trust_remote_code", ss["sb_trust"]),
                    help="Some hub models ship their own Python code; only allow it for repositories you trust.")
        st.caption(f"Evaluations: `{results.evals_dir()}`  \nRuns: `{results.runs_dir()}`")


def sidebar() -> Frame:
    """Render the shared sidebar; returns the selection every page works on."""
    evals = cache.list_evals()
    complete = evals[evals["state"] == "complete"] if not evals.empty else evals
    _follow_links(evals, complete)
    with st.sidebar:
        model = _pick_model(evals)
        dataset, pair = _pick_dataset_and_pair(complete)
        pool = st.radio("Pool construction", POOLS, key="sb_pool", horizontal=True,
                        help="unique: each passage once; per-question: one document per question")
        ties = st.selectbox("Tie rule", TIE_RULES, key="sb_ties")
        matching = selection.matching(evals, model, dataset, pool, ties, pair)
        eval_id = _pick_eval(matching)
        more = _pick_more_models(evals, model)
        _settings_expander()
        if st.session_state.get("_link_warning"):
            st.warning(st.session_state.pop("_link_warning"))
    row = matching.set_index("id").loc[eval_id] if eval_id else None
    model_evals = {model: eval_id if row is not None and row["state"] == "complete" else None}
    model_evals.update({m: selection.comparable(evals, m, dataset, pool, ties, like=eval_id) for m in more})
    return Frame(model=model, dataset=dataset, pair=pair, pool=pool, ties=ties, eval_id=eval_id,
                 eval_path=row["path"] if row is not None else None,
                 eval_state=row["state"] if row is not None else None,
                 eval_error=row["error"] if row is not None else "", models=[model, *more], model_evals=model_evals)
