"""xldiag dashboard: the router and the shared frame.

    XLDIAG_DATA_DIR=../shared/data streamlit run app.py

`st.navigation` over the files in app_pages/; the sidebar (model/checkpoint, dataset, language pair,
pool construction, tie rule, evaluation) is shared by every page. Pages only lay out widgets and
call the library; figures come from xldiag.viz. Evaluations are read from $XLDIAG_EVALS_DIR (else
<cache>/evals) and fine-tuning runs from $XLDIAG_RUNS_DIR (else <cache>/runs).
"""

from __future__ import annotations

import logging

import streamlit as st

from app_pages import _shared as shared

st.set_page_config(page_title="xldiag", page_icon=":material/explore:", layout="wide")

PAGES = [
    st.Page(shared.PAGES["overview"], url_path="overview", title="Overview", icon=":material/analytics:", default=True),
    st.Page(shared.PAGES["queries"], url_path="queries", title="Queries", icon=":material/manage_search:"),
    st.Page(shared.PAGES["preference"], url_path="language_preference", title="Language preference", icon=":material/translate:"),
    st.Page(shared.PAGES["alignment"], url_path="alignment", title="Alignment", icon=":material/straighten:"),
    st.Page(shared.PAGES["map"], url_path="embedding_map", title="Embedding map", icon=":material/scatter_plot:"),
    st.Page(shared.PAGES["finetune"], url_path="fine_tune", title="Fine-tune", icon=":material/model_training:"),
    st.Page(shared.PAGES["compare"], url_path="compare", title="Compare", icon=":material/compare_arrows:"),
    st.Page(shared.PAGES["fixes"], url_path="fixes", title="Fixes", icon=":material/tune:"),
]

page = st.navigation(PAGES)
try:
    st.session_state["_frame"] = shared.sidebar()
except Exception as err:  # noqa: BLE001 - never a traceback in the UI
    shared.show_error(err, "Sidebar")
    st.stop()

st.session_state["_routed"] = True  # pages check it (see app_pages/_shared.frame)
try:
    page.run()
except Exception as err:  # noqa: BLE001 - a clear message instead of a traceback
    logging.getLogger("xldiag.app").exception("page %s failed", page.title)
    shared.show_error(err, page.title)
finally:
    st.session_state.pop("_routed", None)
