"""What every page uses (not a page): the page header (title, caption, the sidebar's selection),
errors shown as a message and a way forward, the evaluation a page needs, small widgets.

The caches live in app_pages/_cache.py and the sidebar in app_pages/_sidebar.py; their names a page uses
are re-exported here, so a page imports this one module.
"""

from __future__ import annotations

import functools
import logging

import streamlit as st

from app_pages._cache import (  # noqa: F401 - re-exported for the pages
    chart,
    checkpoint_models,
    data_dir_or_none,
    data_dir_setting,
    dataset,
    figure,
    list_evals,
    list_runs,
    load_eval,
    partner_model,
    per_query,
    preference,
    query_index,
    query_table,
    refresh_listings,
    stamp,
    table,
)
from app_pages._sidebar import Frame, select_eval, sidebar, target_languages  # noqa: F401 - re-exported for app.py and the pages
from xldiag import config, jobs, results
from xldiag.results import selection

log = logging.getLogger("xldiag.app")

PAGES = {
    "overview": "app_pages/1_overview.py",
    "queries": "app_pages/2_queries.py",
    "preference": "app_pages/3_language_preference.py",
    "alignment": "app_pages/4_alignment.py",
    "map": "app_pages/5_embedding_map.py",
    "finetune": "app_pages/6_fine_tune.py",
    "compare": "app_pages/7_compare.py",
    "fixes": "app_pages/8_fixes.py",
}
RUN_ONE = ("Go to Overview → Run evaluation", ":material/play_arrow:")  # the way to an evaluation

# --- errors: a clear message and a way forward, never a traceback --------------------------------


def show_error(err: BaseException, where: str = "") -> None:
    message, forward = results.explain(err)
    log.warning("%s: %s", where or "page", err, exc_info=err)
    st.error(f"{where + ': ' if where else ''}{message}\n\n**What to do:** {forward}", icon=":material/warning:")


def fragment(run_every: float | None = None, where: str = ""):
    """`st.fragment` whose errors become a clear message: Streamlit shows an exception raised in a
    fragment itself (the app-level handler never sees it), so catch it inside."""

    def decorate(fn):
        @functools.wraps(fn)
        def safe(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - never a traceback in the UI
                show_error(err, where or fn.__name__.replace("_", " ").strip())

        return st.fragment(safe, run_every=run_every)

    return decorate


def check_data_dir():
    """The data folder, or None after showing why there is none."""
    try:
        return config.data_dir(data_dir_setting())
    except config.DataDirError as err:
        show_error(err)
        return None


# --- the page frame ------------------------------------------------------------------------------


ALONE = ("This page is part of the xldiag dashboard and needs its router: start it with "
         "`streamlit run app.py` and open the page from the sidebar.")


def frame() -> Frame:
    """The sidebar selection of this run (app.py renders the sidebar, then runs the page).

    A page file run as its own main script (`streamlit run app_pages/2_queries.py`,
    `AppTest.from_file(...)`) has no router and no sidebar: it stops with one line saying how to
    start the dashboard, and never reruns itself. The folder is deliberately not called `pages/`:
    Streamlit runs an app with a `pages/` folder beside its main script as an old-style (v1)
    multipage app until the first `st.navigation` call, so a server's first run opened on a page
    URL would execute the page file without app.py (PagesManager; tests/test_app.py checks no
    such folder comes back)."""
    if not st.session_state.get("_routed") or "_frame" not in st.session_state:
        st.error(ALONE, icon=":material/route:")
        st.stop()
    return st.session_state["_frame"]


def header(title: str, caption: str) -> Frame:
    """Every page's start: the sidebar's selection (`frame`), the page title and what it shows."""
    fr = frame()
    st.title(title)
    st.caption(caption)
    return fr


def _stop_with_link(label: str, icon: str) -> None:
    st.page_link(PAGES["overview"], label=label, icon=icon)
    st.stop()


def require_eval(fr: Frame) -> results.EvalRun:
    """The sidebar's evaluation, loaded; otherwise a clear message, the way to Overview, a stop."""
    if not fr.eval_path:
        st.info(f"No evaluation of **{results.model_label(fr.model)}** on **{fr.dataset} {fr.pair}** "
                f"({fr.pool} pool, {fr.ties} ties) yet. Run one on the Overview page, or change the sidebar.")
        _stop_with_link(*RUN_ONE)
    if fr.eval_state == "running":
        status = jobs.read_status(fr.eval_path)
        st.info(f"This evaluation is still running ({100 * float(status.get('fraction') or 0):.0f} %: "
                f"{status.get('message', '')}). Its results appear here when it finishes.")
        _stop_with_link("Watch it on Overview", ":material/hourglass_top:")
    if fr.eval_state in ("failed", "stopped"):
        st.error(f"This evaluation did not finish: {fr.eval_error}\n\n**What to do:** check the model and "
                 "data folder in the sidebar, then run it again on the Overview page.", icon=":material/error:")
        _stop_with_link(*RUN_ONE)
    try:
        return load_eval(fr.eval_path)
    except results.RunFolderError as err:
        show_error(err)
        _stop_with_link(*RUN_ONE)


# --- small widgets -------------------------------------------------------------------------------


def eval_options(state: str = "complete", dataset_name: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(ids, {id: label}) of the listed evaluations in `state` (of one dataset)."""
    return selection.choices(list_evals(), state, dataset_name)


def path_of(ident: str) -> str | None:
    path = results.resolve_eval_id(ident)
    return str(path) if path else None


def compare_picker(container, key: str, label: str, model: str) -> str:
    """A selectbox of models to show beside `model` ("—" for none), defaulting to its partner."""
    others = [m for m in selection.model_choices(list_evals(), checkpoint_models()) if m != model]
    options = ["—", *others]
    if st.session_state.get(key) not in options:
        partner = partner_model(model)
        st.session_state[key] = partner if partner in options else "—"
    return container.selectbox(label, options, key=key,
                               format_func=lambda m: m if m == "—" else results.model_label(m))


def kept(key: str) -> dict:
    """`key` and `on_change` for a widget drawn only in some runs (in a tab that tracks its state):
    Streamlit forgets a widget's value after a run that does not draw it, so the value is copied
    under another key on each change and put back when the widget returns."""
    ss = st.session_state
    if key not in ss and _shadow(key) in ss:
        ss[key] = ss[_shadow(key)]

    def store() -> None:
        ss[_shadow(key)] = ss[key]

    return {"key": key, "on_change": store}


def set_kept(key: str, value) -> None:
    """Set the value of a widget whose value is `kept` (before the widget is drawn)."""
    st.session_state[key] = st.session_state[_shadow(key)] = value


def _shadow(key: str) -> str:
    return f"_kept_{key}"


def flag_coverage(model: str, langs, label: str | None = None) -> None:
    """A warning above a model's numbers when it was not trained on some of `langs` (text from the library)."""
    note = results.coverage_note(model, langs, label or results.model_label(model))
    if note:
        st.warning(note)


def compared_runs(fr: Frame) -> dict[str, results.EvalRun]:
    """{label: evaluation} of the sidebar's models (its own first, then "Compare with") that have an
    evaluation with this dataset, pool and tie rule; the ones without are named with the way to one."""
    runs, missing = {}, []
    for model in fr.models:
        ident = fr.model_evals.get(model)
        if not ident:
            missing.append(results.model_label(model))
            continue
        try:
            run = load_eval(path_of(ident))
        except Exception as err:  # noqa: BLE001 - shown, the other models still show
            show_error(err, ident)
            continue
        label = results.model_label(model)
        runs[label if label not in runs else f"{label} ({ident})"] = run
    if missing:
        st.info(f"No evaluation of {', '.join(missing)} on {fr.dataset} with the {fr.pool} pool and {fr.ties} ties "
                "yet: run one on Overview (its form offers the sidebar's models).")
    return runs


BADGE_COLORS = {"en": "blue", "zh": "red", "ar": "green", "de": "orange", "es": "violet"}


def badge(lang: str) -> str:
    """A Markdown language badge, coloured like the language in the figures where it can be."""
    return f":{BADGE_COLORS.get(lang, 'gray')}-badge[{lang}]"
