"""Queries: the failing-query browser. A filterable table; selecting a row shows the question in
both languages, both references with their ranks, and the top-k list with the distractors that
beat each reference marked by language. Deep links: ?eval=ID&pair=..&scenario=..&query_lang=..&qid=.."""

from __future__ import annotations

import pyarrow as pa
import streamlit as st

from app_pages import _shared as shared
from xldiag import results, viz
from xldiag.vocab import DIAGNOSES, SCENARIO_LABELS, SCENARIOS

ss = st.session_state


def follow_link(pair: str) -> None:
    """A deep link (from Compare) selects its query once."""
    link = (st.query_params.get("qid"), st.query_params.get("scenario"), st.query_params.get("query_lang"))
    if link[0] and ss.get("_q_link") != link:
        ss["_q_link"] = link
        ss["q_current"] = (pair, link[1], link[2], link[0])
        if link[1]:
            ss["q_scenario"] = link[1]
        ss["q_min_maxr"] = 1.0


def filters(run: results.EvalRun, table):
    """The filter row; returns the rows to show (worst Max@R first)."""
    scenarios = [s for s in SCENARIOS if s in set(table["scenario"])]
    if ss.get("q_scenario") not in scenarios:
        ss["q_scenario"] = "multi" if "multi" in scenarios else scenarios[0]
    qlangs = table["query_lang"].unique().tolist()
    n_rel = int(run.summary[run.summary["scenario"] == ss["q_scenario"]]["n_rel"].max() or 1)
    c1, c2, c3, c4, c5, c6 = st.columns([1.1, 1.2, 0.9, 0.8, 1.2, 2.0])
    scenario = c1.selectbox("Scenario", scenarios, key="q_scenario", format_func=lambda s: SCENARIO_LABELS.get(s, s))
    langs = c2.multiselect("Query language", qlangs, default=qlangs, key="q_langs")
    ss.setdefault("q_min_maxr", float(n_rel + 1))
    min_maxr = c3.number_input("Max@R at least", min_value=1.0, step=1.0, key="q_min_maxr",
                               help=f"Queries fail when Max@R > {n_rel} (not every reference on top).")
    tied = c4.selectbox("Ties", ["any", "tied", "untied"], key="q_tied")
    search = c5.text_input("Search question / id", key="q_search")
    diagnoses = diagnosis_filter(c6, table, scenario)
    view = results.filter_queries(table, scenario, langs, min_maxr, tied, search, diagnoses)
    n_scenario = int(((table["scenario"] == scenario) & table["query_lang"].isin(langs)).sum())
    st.markdown(f"**{len(view)}** of {n_scenario} queries match (Max@R ≥ {min_maxr:g}). Click a row to inspect it.")
    return view


def diagnosis_filter(col, table, scenario: str) -> list[str]:
    """Why a Multi query fails (xldiag.metrics.diagnose): the labels present, to filter on."""
    present = [d for d in DIAGNOSES if d in set(table.loc[table["scenario"] == scenario, "diagnosis"])]
    if not present:
        col.caption("Diagnosis: Multi queries of runs with issue 11's measures.")
        return []
    return col.multiselect("Diagnosis", present, key="q_diagnosis", help=DIAGNOSIS_HELP)


DIAGNOSIS_HELP = ("semantic-miss: unrelated documents beat the same-language reference too; language-miss: the "
                  "same-language reference is on top and only same-language documents beat the other reference; "
                  "mixed: other-language documents beat it too; no-distractor: it fails through ties or copies only.")


def on_select() -> None:
    state = ss.get("queries_table")
    rows = state.selection.rows if state is not None else []
    keys = ss.get("_q_rows")
    if rows and keys is not None and rows[0] < len(keys):
        ss["q_current"] = tuple(keys[rows[0]])


def texts_of(run: results.EvalRun, fr: shared.Frame):
    """The evaluation's dataset for passage texts (None without a data folder: ranks still show)."""
    if shared.data_dir_or_none() is None:
        st.caption("Passage texts need the data folder (sidebar → Data folder); ranks and ids are shown without it.")
        return None
    try:
        return shared.dataset(run.config.get("dataset", fr.dataset), run.langs, run.config.get("limit"))
    except Exception as err:  # noqa: BLE001 - texts are a bonus: ranks still show
        shared.show_error(err, "Passage texts")
        return None


def show_questions(detail: dict, ds, fr: shared.Frame, qlang: str) -> None:
    questions = dict(detail["questions"])
    if ds is not None:
        for lang in fr.pair_langs:
            if lang not in questions and lang in ds.questions:
                questions[lang] = ds.questions[lang][int(detail["row"]["question_index"])]
    st.markdown("  \n".join(f"{shared.badge(lang)} {'**(asked)** ' if lang == qlang else ''}{questions.get(lang, '—')}"
                            for lang in fr.pair_langs))


def show_references(refs: list[dict], ds) -> None:
    for col, ref in zip(st.columns(max(1, len(refs))), refs):
        above = ", ".join(f"{n} {k[6:]}" for k, n in ref.items() if k.startswith("above_"))
        tie = f" ({ref['n_tied']} tied)" if ref["n_tied"] else ""
        with col.container(border=True):
            st.metric(f"{ref['lang']} reference rank", f"{ref['rank']:g}", help="rank of this reference in the pool")
            st.markdown(f"**{ref['lang']} reference** `{ref['doc_id']}`  \n"
                        f":gray[unrelated documents above it: {above or '0'}{tie}]")
            if ds is not None:  # the passage is sent only while its expander is open (it stays open across queries)
                box = st.expander("passage", key=f"q_passage_{ref['lang']}", on_change="rerun")
                if box.open:
                    with box:
                        st.write(results.doc_text(ds, ref["doc_id"]))


def show_top(top, refs: list[dict], ds) -> None:
    lines = [f"**Top {len(top)}** — ★ references; distractors that beat a reference are marked.\n"]
    for t in top.to_dict("records"):
        mark = " ★ **reference**" if t["is_reference"] else (
            f" :gray-badge[⚠ beats the {t['beats']}]" if t["beats"] else "")
        text = results.doc_text(ds, t["doc_id"])[:140] if ds is not None else ""
        lines.append(f"{t['rank']}. {shared.badge(t['lang'])} `{t['score']:.4f}` `{t['doc_id']}`{mark} {text}")
    shown = set(top["doc_id"].tolist())
    outside = [f"… rank **{r['rank']:g}**: {shared.badge(r['lang'])} `{r['doc_id']}` ★ **reference** "
               f"(outside the top {len(top)})" for r in refs if r["doc_id"] not in shown]
    st.markdown("\n".join(lines) + ("\n\n" + "  \n".join(outside) if outside else ""))


def show_detail(run: results.EvalRun, fr: shared.Frame) -> None:
    """The selected query: its question in each language, its references, its ranked list."""
    current = ss.get("q_current")
    if not current or current[0] != fr.pair:
        st.info("Select a query in the table to see its references and ranked list.")
        return
    pair, scenario, qlang, qid = current
    try:
        detail = results.query_detail(shared.per_query(run.path), qid, scenario, qlang, pair=pair,
                                      index=shared.query_index(run.path))
    except KeyError as err:
        st.warning(str(err.args[0]))
        return
    ds = texts_of(run, fr)
    st.subheader(f"{qid} · {SCENARIO_LABELS.get(scenario, scenario)} · {qlang} query · "
                 f"Max@R {detail['row']['max_r']:g}")
    show_questions(detail, ds, fr, qlang)
    refs = detail["refs"].to_dict("records")
    show_references(refs, ds)
    show_top(detail["top"], refs, ds)
    # The chart repeats the list above as bars; drawn only while its expander is open (it stays open
    # across queries): redrawing a Plotly chart is most of what a selection costs in the browser
    box = st.expander("Top-k scores as a chart", key="q_topk_open", on_change="rerun")
    if box.open:
        with box:
            st.plotly_chart(viz.topk_figure(detail["top"], detail["refs"], title=f"Top {len(detail['top'])} for {qid}"),
                            key="q_topk")


fr = shared.header("Queries", "Which queries fail, and why: the documents, and their languages, that beat each "
                   "reference.")
run = shared.require_eval(fr)
shared.flag_coverage(run.model, [fr.pair])
table_all = shared.query_table(run.path)
table_all = table_all[table_all["pair"] == fr.pair]
if table_all.empty:
    st.warning(f"This evaluation has no {fr.pair} queries; pick another language pair in the sidebar.")
    st.stop()
follow_link(fr.pair)
view = filters(run, table_all)
rank_cols = [c for c in view.columns if c.startswith("rank_") and view[c].notna().any()]  # this pair's languages
shown = view[["qid", "query_lang", "diagnosis", "query_text", "max_r", *rank_cols, "tied", "top1_lang"]
             ].reset_index(drop=True)
ss["_q_rows"] = view[["pair", "scenario", "query_lang", "qid"]].to_numpy(dtype=object)
# Converted to Arrow once per filter change: a selection reruns only the fragment below, which then
# hands Streamlit a ready Table instead of converting the pandas frame again (~10-20 ms a selection)
shown_arrow = pa.Table.from_pandas(shown, preserve_index=False)


@shared.fragment()
def query_browser() -> None:
    """The table and the selected query's detail: selecting a row reruns only this fragment."""
    st.dataframe(
        shown_arrow, key="queries_table", on_select=on_select, selection_mode="single-row", hide_index=True,
        width="stretch", height=300,
        column_config={
            "qid": st.column_config.TextColumn("id", width="small"),
            "query_lang": st.column_config.TextColumn("lang", width="small"),
            "query_text": st.column_config.TextColumn("question", width="large"),
            "max_r": st.column_config.NumberColumn("Max@R", format="%g"),
            **{c: st.column_config.NumberColumn(f"{c[5:]} ref rank", format="%g") for c in rank_cols},
            "top1_lang": st.column_config.TextColumn("top-1 lang", width="small"),
        },
    )
    show_detail(run, fr)


query_browser()
