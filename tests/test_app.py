"""Every dashboard page under streamlit.testing.v1.AppTest: runs without exception, key widgets
change state, and missing or bad input gets a clear message instead of a traceback.

Evaluations are the small hand-made run folders of eval_folders.make_eval (the real schemas);
Alignment and Embedding map embed the real XQuAD texts (first 4 questions) with the embedded
default model."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from eval_folders import make_eval
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from xldiag import jobs, results
from xldiag.vocab import EVALS_DIR_ENV, RUNS_DIR_ENV

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 180


def make_run(root: Path, name: str = "tiny", state: str = "finished") -> Path:
    """A training run folder in the runs.py layout (status, metrics, config, eval/base, eval/tuned)."""
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({
        "kind": "training", "format_version": 1, "created": "2025-03-01T00:00:00+00:00",
        "config": {"model": "default", "data": "mlqa-r", "langs": ["zh"], "loss": "full"}}))
    (run / "status.json").write_text(json.dumps({
        "state": state, "phase": "done", "error": None, "pid": None, "step": 3, "total_steps": 3, "loss": 1.5}))
    with open(run / "metrics.jsonl", "w") as f:
        for step, loss in enumerate([3.0, 2.0, 1.5], start=1):
            f.write(json.dumps({"step": step, "epoch": step / 3, "loss": loss, "jsd": loss / 30, "nce": loss - loss / 30,
                                "nce_psg": None, "norm_en": 5.0 - step, "norm_tgt": 6.0 - step, "lr": 1e-5 * step,
                                "grad_norm": 1.0, "examples_per_s": 10.0, "elapsed": float(step)}) + "\n")
    make_eval(run / "eval" / "base", model="default", created="2025-03-01T00:00:01")
    make_eval(run / "eval" / "tuned", model=str(run / "final"), model_shift=-3, created="2025-03-01T00:00:02")
    return run


@pytest.fixture()
def workspace(tmp_path, monkeypatch, data_dir):
    evals, runs = tmp_path / "evals", tmp_path / "runs"
    make_eval(evals / "default-xquad-zh", model="default", created="2025-04-01T00:00:00")
    make_run(runs)
    monkeypatch.setenv(EVALS_DIR_ENV, str(evals))
    monkeypatch.setenv(RUNS_DIR_ENV, str(runs))
    monkeypatch.setenv("XLDIAG_DATA_DIR", str(data_dir))
    clear_listings()
    return tmp_path


def clear_listings() -> None:
    """Forget the cached listings of evaluations and runs (they live for 3 s across sessions)."""
    import sys

    sys.path.insert(0, str(Path(APP).parent))
    from app_pages import _shared

    _shared.refresh_listings()
    st.cache_data.clear()


def app(page: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
        at.query_params.update(params)
        at.run()
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def open_tab(at: AppTest, key: str, label: str) -> None:
    """Open a tab (or, with True, an expander) that tracks its state: only the open one is built."""
    at.session_state[key] = label
    at.run()
    ok(at)


def _elements(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _elements(child)


def charts_of(at: AppTest) -> list[str]:
    """The charts on the page, in order: a Plotly chart by its key, a Vega-Lite chart by its spec's
    name (the xldiag.vega builder's)."""
    return [c.proto.id.rsplit("-", 1)[-1] if c.type == "plotly_chart" else json.loads(c.proto.spec)["name"]
            for c in _elements(at.main) if c.type in ("plotly_chart", "vega_lite_chart")]


def vega_of(at: AppTest, name: str) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The spec of the Vega-Lite chart `name` as the browser gets it, and its datasets as DataFrames."""
    charts = [c for c in at.get("vega_lite_chart") if json.loads(c.proto.spec)["name"] == name]
    assert charts, charts_of(at)
    return (json.loads(charts[0].proto.spec),
            {d.name: convert_arrow_bytes_to_pandas_df(d.data.data) for d in charts[0].proto.datasets})


def test_overview_loads_newest_evaluation_and_widgets_work(workspace):
    at = app()
    ok(at)
    assert at.title[0].value == "Overview"
    assert at.sidebar.selectbox(key="sb_eval").value == "evals:default-xquad-zh"
    assert at.sidebar.selectbox(key="sb_pair").value == "en+zh"
    # the first tab only: per language and Multi vs Mono-Cross (the other tabs are built when opened)
    assert charts_of(at) == ["per_language_bars", "multi_vs_cross_bars"]
    assert not any("Beyond Table 1" in m.value for m in at.markdown)
    table = at.dataframe[0].value
    assert {"queries", "metric", "zh", "avg"} <= set(table.columns)
    at.selectbox(key="ov_metric").set_value("max_r").run()
    ok(at)
    spec, data = vega_of(at, "multi_vs_cross_bars")
    assert spec["title"]["text"] == "Multi vs Mono-Cross — Max@R ↓" and set(data["bars"]["target"]) == {"zh"}
    open_tab(at, "ov_tab", "Why queries fail")
    assert charts_of(at) == ["ov_fig_diag"]
    assert "Why Multi queries fail" in spec_of(at, "ov_fig_diag")
    open_tab(at, "ov_tab", "Beyond Table 1")
    assert any("Beyond Table 1" in m.value for m in at.markdown) and not charts_of(at)
    open_tab(at, "ov_tab", "Per language, Multi vs Mono-Cross")
    assert at.selectbox(key="ov_metric").value == "max_r"  # kept while its tab was closed
    at.multiselect(key="ov_extra").set_value(["runs:tiny/eval/tuned"]).run()
    ok(at)
    assert vega_of(at, "per_language_bars")[1]["bars"]["model"].nunique() == 2  # both evaluations' bars
    assert any("tiny" in m.value for m in at.markdown)
    # a setting without evaluation: a clear message and the way to run one
    at.sidebar.selectbox(key="sb_ties").set_value("pessimistic").run()
    ok(at)
    assert any("No evaluation" in i.value for i in at.info)


def open_run_form(at: AppTest) -> None:
    """Open Overview's "Run an evaluation" expander (its form is built only while it is open)."""
    if not at.get("form"):
        open_tab(at, "ov_run", True)


def test_overview_run_evaluation_validates_input(workspace):
    at = app()
    assert not at.get("form")  # an evaluation is open: the form's expander is closed and not built
    open_run_form(at)
    at.multiselect(key="ov_langs").set_value([])
    form_button = [b for b in at.get("button") if getattr(b, "label", "") == "Run evaluation"]
    assert form_button, "the form's submit button"
    form_button[0].click().run()
    ok(at)
    assert any("at least one" in w.value for w in at.warning)


def _wait_for(folder: Path, states: tuple[str, ...], timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while (status := jobs.read_status(folder))["state"] not in states:
        assert time.monotonic() < deadline, (status, jobs.tail_log(folder))
        time.sleep(0.2)
    return status


def _submit(at: AppTest, limit: int) -> None:
    open_run_form(at)
    at.multiselect(key="ov_scenarios").set_value(["multi"])
    at.number_input(key="ov_limit").set_value(limit)
    [b for b in at.get("button") if getattr(b, "label", "") == "Run evaluation"][0].click().run()
    ok(at)


def test_overview_runs_an_evaluation_job_and_opens_it(workspace, default_model_dir):
    at = app()
    _submit(at, 5)
    out = Path(results.evals_dir()) / "default__xquad__zh__unique__optimistic__n5__multi"
    assert at.session_state["ov_watch"] == [str(out)]
    status = jobs.read_status(out)
    assert status["kind"] == "evaluation" and status["command"][3:5] == ["eval", "--model"]
    assert any("Evaluating" in p.text for p in at.get("progress")) or _wait_for(out, ("finished",))
    assert _wait_for(out, ("finished", "failed"))["state"] == "finished", jobs.tail_log(out)
    clear_listings()
    at.run()
    ok(at)
    assert at.sidebar.selectbox(key="sb_eval").value == "evals:default__xquad__zh__unique__optimistic__n5__multi"
    assert "first 5" in at.sidebar.selectbox(key="sb_eval").format_func(at.sidebar.selectbox(key="sb_eval").value)


def test_overview_stops_a_running_evaluation(workspace, default_model_dir):
    at = app()
    _submit(at, 0)  # all of XQuAD en+zh: it runs long enough to be stopped
    out = Path(results.evals_dir()) / "default__xquad__zh__unique__optimistic__all__multi"
    _wait_for(out, ("running",))
    at.run()
    stop = [b for b in at.get("button") if getattr(b, "label", "") == "Stop"]
    assert stop, "a Stop button beside the running evaluation"
    stop[0].click().run()
    ok(at)
    assert _wait_for(out, ("stopped", "failed", "finished"))["state"] == "stopped", jobs.tail_log(out)
    clear_listings()
    at.run()
    ok(at)
    assert any("stopped by request" in e.value for e in at.error)


def test_queries_filters_and_deep_link(workspace):
    at = app("app_pages/2_queries.py")
    ok(at)
    assert at.title[0].value == "Queries"
    assert at.dataframe[0].value is not None
    at.number_input(key="q_min_maxr").set_value(1.0).run()
    ok(at)
    assert len(at.dataframe[0].value) == 8  # multi: 4 questions × 2 query languages
    diagnosis = at.multiselect(key="q_diagnosis")
    assert diagnosis.options == ["pass", "semantic-miss", "language-miss"]  # those present, in vocab's order
    diagnosis.set_value(["language-miss"]).run()
    ok(at)
    assert sorted(at.dataframe[0].value["qid"]) == ["q1", "q1", "q3"]  # en q1, en q3, zh q1
    assert set(at.dataframe[0].value["diagnosis"]) == {"language-miss"}
    diagnosis.set_value([]).run()
    at.selectbox(key="q_scenario").set_value("mono-cross").run()
    assert len(at.dataframe[0].value) == 8
    at.selectbox(key="q_tied").set_value("tied").run()
    assert len(at.dataframe[0].value) == 0
    # deep link to one query: both reference ranks appear
    at = app("app_pages/2_queries.py", eval="evals:default-xquad-zh", qid="q1", scenario="multi", query_lang="en")
    ok(at)
    ranks = {m.label: m.value for m in at.metric}
    assert ranks == {"en reference rank": "1", "zh reference rank": "5"}
    assert any("beats the zh reference" in m.value for m in at.markdown)
    assert not charts_of(at)  # the top-k chart is drawn on demand
    open_tab(at, "q_topk_open", True)
    assert charts_of(at) == ["q_topk"] and "Top " in spec_of(at, "q_topk")
    assert {m.label: m.value for m in at.metric} == ranks


def test_language_preference(workspace):
    at = app("app_pages/3_language_preference.py")
    ok(at)
    assert at.title[0].value == "Language preference"
    # mean distractors and the open tab's distractor language share; the other tabs are built when opened
    assert charts_of(at) == ["preference_heatmap", "distractor_share_heatmap"]
    spec, data = vega_of(at, "distractor_share_heatmap")
    assert set(data["cells"]["column"]) == {"en distractors", "zh distractors"} and spec["layer"][0]["mark"] == "rect"
    text = " ".join(m.value for m in at.markdown)
    assert "zh queries" in text and "which gold comes first" in text
    open_tab(at, "pref_tab", "Across models: which language are the distractors in?")
    assert charts_of(at) == ["preference_heatmap", "pref_matrix"]
    assert "own language" in " ".join(m.value for m in at.markdown)
    chosen = at.multiselect(key="pref_evals")
    assert chosen.value
    first = chosen.value[:1]
    chosen.set_value(first).run()
    ok(at)
    open_tab(at, "pref_tab", "Inclination rates per target language and model")
    assert charts_of(at) == ["preference_heatmap", "pref_rates"]
    assert at.multiselect(key="pref_evals").value == first  # the choice kept from the other tab


def test_compare_page(workspace):
    at = app("app_pages/7_compare.py")
    ok(at)
    assert at.title[0].value == "Compare"
    assert at.selectbox(key="cmp_a").value == "runs:tiny/eval/base"
    assert at.selectbox(key="cmp_b").value == "runs:tiny/eval/tuned"
    assert not charts_of(at)  # the scatter is built when its tab is opened; the tests' tab is open
    tests = at.dataframe[1].value
    assert set(tests["metric"]) == {"Max@R (log2)", "NDCG@1"}
    assert {"mean Δ", "95 % CI", "p-value"} <= set(tests.columns)  # the paired bootstrap beside the test
    links = at.get("page_link")
    assert len(links) >= 1  # q3 improved in the tuned evaluation
    at.radio(key="cmp_test").set_value("permutation").run()
    ok(at)
    at.selectbox(key="cmp_scen").set_value("mono-cross").run()
    ok(at)
    open_tab(at, "cmp_tab", "Max@R per query (scatter)")
    assert charts_of(at) == ["cmp_scatter"] and "Max@R per query" in spec_of(at, "cmp_scatter")
    assert len(at.dataframe) == 1  # the Base/Ours table; the tests' table is not built now
    assert "Mono-Cross" in spec_of(at, "cmp_scatter")  # the scenario chosen above


def test_fine_tune_shows_run_and_validates_form(workspace):
    at = app("app_pages/6_fine_tune.py")
    ok(at)
    assert at.title[0].value == "Fine-tune"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["State"] == "finished" and metrics["Step"] == "3/3"
    assert charts_of(at) == ["training_curves", "passage_norms"]  # Vega-Lite: no Plotly code on this page
    spec, data = vega_of(at, "training_curves")
    assert spec["title"]["text"] == "Training curves — step 3" and data["steps"]["loss"].tolist() == [3.0, 2.0, 1.5]
    _, norms = vega_of(at, "passage_norms")
    assert norms["norms"].query("series == 'English passages ‖z‖'")["value"].tolist() == [4.0, 3.0, 2.0]
    assert any(len(df.value) and "Ours" in df.value.columns for df in at.dataframe)
    assert at.get("page_link")
    assert not at.get("form") and not at.get("code")  # the launch form and the log are built when opened
    at.session_state["ft_new"] = True
    open_tab(at, "ft_log", True)
    assert at.get("code") and at.get("form")
    at.multiselect(key="ft_langs").set_value([])
    [b for b in at.get("button") if getattr(b, "label", "") == "Launch"][0].click().run()
    ok(at)
    assert any("at least one" in w.value for w in at.warning)


def spec_of(at: AppTest, key: str) -> str:
    """The Plotly JSON of the chart with this key."""
    charts = [c for c in at.get("plotly_chart") if key in c.proto.id]
    assert charts, [c.proto.id for c in at.get("plotly_chart")]
    return charts[0].proto.spec


@pytest.fixture()
def two_models(workspace):
    """use-m3 evaluated on zh and vi (vi outside its training languages), older than default's."""
    make_eval(workspace / "evals" / "use-m3-xquad-zh-vi", model="use-m3", model_shift=2, targets=("zh", "vi"),
              created="2025-03-15T00:00:00")
    clear_listings()
    return workspace


def test_overview_figure2_for_two_models(two_models):
    """The sidebar's "Compare with" (here by link) puts use-m3 beside default: Figure 2 has both, its
    sentences name both, and use-m3's vi is flagged."""
    at = app("app_pages/1_overview.py", compare="use-m3")
    ok(at)
    assert at.sidebar.multiselect(key="sb_models").value == ["use-m3"]
    open_tab(at, "ov_tab", "Figure 2 — by query language")
    spec = spec_of(at, "ov_figure2")
    assert "default — Multi" in spec and "use-m3 — Multi" in spec and "use-m3 — Mono-Cross (CLIR)" in spec
    assert "vi ⚠" in spec and "Δ" in spec
    text = " ".join(m.value for m in at.markdown)
    assert "use-m3, Multi: target-language queries are" in text and "default, Multi" in text
    assert any("vi is not in use-m3's training languages" in w.value for w in at.warning)
    at.segmented_control(key="ov_fig2_metric").set_value("complete@10").run()
    ok(at)
    assert "Complete@10" in spec_of(at, "ov_figure2")
    # the run form offers use-m3 before it is evaluated, and the sidebar's models without evaluation
    open_run_form(at)
    assert "use-m3" in at.multiselect(key="ov_models").options


def test_language_preference_matrix_for_two_models(two_models):
    at = app("app_pages/3_language_preference.py", compare="use-m3")
    ok(at)
    open_tab(at, "pref_tab", "Across models: which language are the distractors in?")
    assert at.multiselect(key="pref_evals").value == ["evals:default-xquad-zh", "evals:use-m3-xquad-zh-vi"]
    spec = spec_of(at, "pref_matrix")
    assert "default · zh" in spec and "use-m3 · zh" in spec and "use-m3 · vi" in spec
    text = " ".join(m.value for m in at.markdown)
    # eval_folders: every unrelated document above a reference is in the query's language
    assert "default prefers the query's own language" in text and "use-m3 prefers the query's own language" in text
    assert any("vi is not in use-m3's training languages" in w.value for w in at.warning)


def test_compare_opens_on_the_sidebar_models(two_models):
    at = app("app_pages/7_compare.py", compare="use-m3")
    ok(at)
    assert at.selectbox(key="cmp_a").value == "evals:default-xquad-zh"
    assert at.selectbox(key="cmp_b").value == "evals:use-m3-xquad-zh-vi"


def test_fine_tune_does_not_offer_use_m3(two_models):
    at = app()
    at.sidebar.selectbox(key="sb_model").set_value("use-m3").run()
    at.switch_page("app_pages/6_fine_tune.py").run()
    ok(at)
    open_tab(at, "ft_new", True)
    assert "use-m3" not in at.selectbox(key="ft_model").options and "default" in at.selectbox(key="ft_model").options
    assert any("not offered" in i.value and "cannot be fine-tuned" in i.value for i in at.info)


def _never_encode(monkeypatch) -> None:
    """Make any encoding (or model load) on a page visit fail the test."""
    from xldiag.embeddings import Encoder

    def refuse(*args, **kwargs):
        raise AssertionError("a page visit encoded texts")

    monkeypatch.setattr(Encoder, "encode", refuse)
    monkeypatch.setattr(Encoder, "model", property(refuse))


def tuned_option(select) -> str:
    """The fine-tuned checkpoint among a compare picker's models (also offered: use-m3, never evaluated)."""
    tuned = [o for o in select.options if "tiny" in o]
    assert len(tuned) == 1, select.options
    return tuned[0]


def alignment_charts_drawn_from_the_views(at: AppTest, folder: Path, kind: str, jsd: str,
                                          sorted_dims: bool = False) -> None:
    """The Alignment page opens on its two Vega-Lite charts (no Plotly): the chosen pair's softmax
    over the dimensions of the views' stored vectors (unit vectors where `jsd` is jsd_unit), and
    every pair of the chosen texts from the views' table, with its `jsd`."""
    import numpy as np

    from xldiag import views

    assert charts_of(at) == ["softmax_overlay", "cos_jsd_scatter"]
    table = views.alignment_table(folder)
    rows = table[(table["role"] == kind) & (table["lang"] == "zh")].sort_values("index", ignore_index=True)
    spec, data = vega_of(at, "cos_jsd_scatter")
    assert spec["facet"]["column"]["sort"] == ["default"]
    drawn = data["pairs"].sort_values("index", ignore_index=True)
    assert drawn["index"].tolist() == rows["index"].tolist()
    assert drawn["cosine"].to_numpy() == pytest.approx(rows["cosine"].to_numpy())
    assert drawn["jsd"].to_numpy() == pytest.approx(rows[jsd].to_numpy())

    spec, data = vega_of(at, "softmax_overlay")
    index = at.selectbox(key="al_index").value
    row = rows[rows["index"] == index].iloc[0]
    assert spec["facet"]["column"]["sort"] == [f"default: cos {row['cosine']:.3f}, JSD {row[jsd]:.2e}"]
    curves = data["curves"]
    for lang in ("en", "zh"):
        vec = np.asarray(views.alignment_vectors(folder, row["pair"], kind, lang)[index], dtype=float)
        vec = vec / np.linalg.norm(vec) if jsd == "jsd_unit" else vec
        want = np.exp(vec - vec.max()) / np.exp(vec - vec.max()).sum()
        curve = curves[curves["lang"] == lang].sort_values("position")
        assert curve["p"].to_numpy()[np.argsort(curve["dim"].to_numpy())] == pytest.approx(want)
        if lang == "en":
            assert (np.diff(curve["p"].to_numpy()) <= 0).all() if sorted_dims else (curve["dim"] == curve["position"]).all()


def test_alignment_and_map_read_the_views_and_never_encode(workspace, monkeypatch):
    """Views written from the real XQuAD texts (first 4 questions) with the default model; the pages
    then render from the files alone. The tuned partner's folder has no views: a message, not a stop."""
    from xldiag import views
    from xldiag.embeddings import Encoder

    folder = workspace / "evals" / "default-xquad-zh"
    views.write_views(folder, Encoder("default", show_progress=False))
    _never_encode(monkeypatch)
    at = app("app_pages/4_alignment.py")
    ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Alignment"
    alignment_charts_drawn_from_the_views(at, folder, "passage", "jsd")
    at.selectbox(key="al_compare").set_value(tuned_option(at.selectbox(key="al_compare"))).run()
    ok(at)
    assert any("python -m xldiag views" in w.value and "tuned" in w.value for w in at.warning)  # no views there
    alignment_charts_drawn_from_the_views(at, folder, "passage", "jsd")
    at.radio(key="al_space").set_value("unit").run()
    ok(at)
    at.radio(key="al_kind").set_value("query").run()
    ok(at)
    at.toggle(key="al_sort").set_value(True).run()
    ok(at)
    alignment_charts_drawn_from_the_views(at, folder, "query", "jsd_unit", sorted_dims=True)
    at.number_input(key="al_jsd_t_[]").set_value(0.5).run()
    ok(at)
    assert any("JSD mean (T=0.5)" in df.value.columns for df in at.dataframe)
    at.switch_page("app_pages/5_embedding_map.py").run()
    ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Embedding map"
    at.selectbox(key="map_compare").set_value(tuned_option(at.selectbox(key="map_compare"))).run()
    ok(at)
    assert any("same vectors" in i.value for i in at.info)  # the hand-made folders share one fingerprint
    assert any("No UMAP map" in i.value for i in at.info)  # $XLDIAG_MAP_METHODS=pca in the tests
    sel = at.selectbox(key="map_query")
    sel.set_value(sel.options[1]).run()
    ok(at)
    assert charts_of(at) == ["embedding_map"]
    spec, data = vega_of(at, "embedding_map")
    qid, qlang = at.selectbox(key="map_query").value.split("|")
    assert data["query_0"]["label"].tolist() == [f"{qid} ({qlang})"]  # the star
    refs = data["refs_0"]["label"].tolist()  # ringed: the English and the Chinese version of its passage
    assert sorted(r.split(":")[0] for r in refs) == ["en", "zh"] and set(refs) <= set(data["docs_0"]["doc_id"])
    assert len(data["lines_0"]) == len(data["docs_0"]) / 2  # every passage in both languages: one line each
    assert any("All 2 documents" in c.value or "All " in c.value for c in at.caption)


def test_alignment_shows_the_tuned_partner_beside_the_model(workspace, monkeypatch):
    """With views in both folders, each chart gets one panel per model: the model's, then its partner's."""
    import shutil

    from xldiag import views
    from xldiag.embeddings import Encoder
    from xldiag.vocab import VIEWS_DIR

    folder = workspace / "evals" / "default-xquad-zh"
    views.write_views(folder, Encoder("default", show_progress=False))
    shutil.copytree(folder / VIEWS_DIR, workspace / "runs" / "tiny" / "eval" / "tuned" / VIEWS_DIR)  # same vectors
    _never_encode(monkeypatch)
    at = app("app_pages/4_alignment.py")
    tuned = tuned_option(at.selectbox(key="al_compare"))
    at.selectbox(key="al_compare").set_value(tuned).run()
    ok(at)
    assert not at.warning, [w.value for w in at.warning]
    assert charts_of(at) == ["softmax_overlay", "cos_jsd_scatter"]
    models = ["default", results.model_label(tuned)]
    spec, data = vega_of(at, "cos_jsd_scatter")
    assert spec["facet"]["column"]["sort"] == models
    table = views.alignment_table(folder)
    passages = table[(table["role"] == "passage") & (table["lang"] == "zh")]
    assert data["pairs"].groupby("model", sort=False).size().to_dict() == dict.fromkeys(models, len(passages))
    spec, data = vega_of(at, "softmax_overlay")
    heads = spec["facet"]["column"]["sort"]
    assert [h.split(": cos")[0] for h in heads] == models
    assert heads[0].split(": ")[1] == heads[1].split(": ")[1]  # the same vectors: the same cos and JSD
    curves = data["curves"]
    assert (curves.groupby("panel", sort=False)["p"].sum().round(6) == 2.0).all()  # two distributions per panel


def test_an_evaluation_without_views_gets_the_command_and_a_button(workspace, monkeypatch):
    """A folder from before the views: the command, and a button that computes them as a job (the
    evaluation stays listed as complete meanwhile); then the page renders from them."""
    folder = workspace / "evals" / "default-xquad-zh"
    at = app("app_pages/4_alignment.py")
    ok(at)
    assert any(f"python -m xldiag views {folder}" in w.value for w in at.warning)
    assert not charts_of(at)
    [b for b in at.get("button") if "Compute the views" in getattr(b, "label", "")][0].click().run()
    ok(at)
    status = jobs.wait(folder, timeout=300)
    assert status["state"] == "finished", jobs.tail_log(folder)
    assert status["command"][-2:] == ["views", str(folder)]
    _never_encode(monkeypatch)
    at = app("app_pages/4_alignment.py")
    ok(at)
    assert not at.error and charts_of(at) == ["softmax_overlay", "cos_jsd_scatter"]


def test_bad_inputs_get_messages_not_tracebacks(workspace, monkeypatch):
    evals = Path(results.evals_dir())
    # an evaluation from an older format
    make_eval(evals / "old", model="old-model", format_version=None, created="2030-01-01")
    at = app()
    at.sidebar.selectbox(key="sb_model").set_value("old-model").run()
    ok(at)
    assert at.sidebar.selectbox(key="sb_eval").value == "evals:old"
    assert any("older xldiag" in e.value for e in at.error)
    # an evaluation still running (progress file of a live process)
    (evals / "pending").mkdir()
    jobs.write_status(evals / "pending", {"kind": "evaluation", "state": "running", "fraction": 0.4,
                                          "message": "Embedding", "pid": os.getpid(), "model": "default",
                                          "dataset": "xquad", "language_sets": ["en+zh"], "pool": "unique",
                                          "ties": ["average"], "started": "2030-01-02"})
    clear_listings()
    at = app()
    at.sidebar.selectbox(key="sb_model").set_value("default")
    at.sidebar.selectbox(key="sb_ties").set_value("average").run()
    ok(at)
    assert any("still running" in i.value for i in at.info)
    # an unknown model: a clear message on the pages that load it
    make_eval(evals / "ghost", model="no-such-org/no-such-model", created="2030-01-03")
    clear_listings()
    at = app()
    at.sidebar.selectbox(key="sb_model").set_value("no-such-org/no-such-model").run()
    at.switch_page("app_pages/4_alignment.py").run()
    ok(at)
    assert any("python -m xldiag views" in w.value for w in at.warning)  # it never loads the model on a visit


def test_no_evaluations_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv(EVALS_DIR_ENV, str(tmp_path / "none"))
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "none-runs"))
    clear_listings()
    for page in (None, "app_pages/2_queries.py", "app_pages/3_language_preference.py", "app_pages/7_compare.py",
                 "app_pages/6_fine_tune.py"):
        at = app(page)
        ok(at)
        assert at.info, page


@pytest.fixture()
def with_fix(workspace):
    """A fix variant of default evaluated like default's evaluation (better on one zh query), older."""
    make_eval(workspace / "evals" / "default+center-ntrex-xquad-zh", model="default+center@ntrex", model_shift=-3,
              created="2025-03-20T00:00:00")
    # Mono-Same rows (the trade-off's cost axis): Mono-Cross's numbers, 10 points lower for the fix
    for folder in ["evals/default-xquad-zh", "evals/default+center-ntrex-xquad-zh", "runs/tiny/eval/tuned"]:
        summary = pd.read_csv(workspace / folder / "summary.csv")
        mono = summary[summary["scenario"] == "mono-cross"].assign(scenario="mono-same")
        mono["ndcg@1"] -= 10.0 if "center" in folder else 0.0
        pd.concat([summary, mono]).to_csv(workspace / folder / "summary.csv", index=False)
    clear_listings()
    return workspace


def test_fixes_page_table_tradeoff_and_fit_button(with_fix, monkeypatch):
    """The Fixes page: the base, its variant and its fine-tuned checkpoint in one table, the trade-off
    scatter, and the form that launches `eval` of a new variant on the base evaluation's setting."""
    launched = []

    def fake_launch(spec, out):
        launched.append((spec, out))
        jobs.write_status(out, {"state": "queued", "message": "waiting", "fraction": 0.0, "model": spec.model})
        return out

    monkeypatch.setattr(results, "launch_evaluation", fake_launch)
    at = app("app_pages/8_fixes.py")
    ok(at)
    assert at.title[0].value == "Fixes"
    table = at.dataframe[0].value
    assert table["model"].tolist() == ["default", "default+center@ntrex", "tiny · final"]
    assert table["kind"].tolist() == ["base", "fix", "fine-tune"]
    assert table.set_index("model").loc["default+center@ntrex", "Multi Max@R ↓ X-q"] < table["Multi Max@R ↓ X-q"][0]
    spec, data = vega_of(at, "fix_tradeoff_scatter")
    assert "Trade-off" in spec["title"]["text"]
    points = data["points"].set_index("label")
    assert points["kind"].to_dict() == {"center": "fix", "tiny/final": "fine-tune", "base": "base"}
    assert points.loc["center", "x"] == -10.0  # the Mono-Same cost made above
    assert points.loc["center", "y"] == 0.0  # every gold is in the top 10 for both already
    at.selectbox(key="fx_method").set_value("lir")
    at.run()
    at.number_input(key="fx_param_lir").set_value(2)
    [b for b in at.get("button") if getattr(b, "label", "") == "Fit and evaluate"][0].click().run()
    ok(at)
    (spec, out), = launched
    assert spec.model == "default+lir2@ntrex" and spec.language_sets == (("en", "zh"),) and spec.limit == 4
    assert spec.scenarios == ("multi", "mono-cross") and out.name.startswith("default+lir2-ntrex__xquad")
    assert any("default+lir2@ntrex" in p.proto.text for p in at.get("progress"))


def test_fixes_page_without_evaluation_says_what_to_do(workspace):
    at = app("app_pages/8_fixes.py")
    at.sidebar.selectbox(key="sb_ties").set_value("pessimistic").run()
    ok(at)
    assert any("python -m xldiag fixes" in i.value for i in at.info)


PAGE_FILES = sorted(str(p.relative_to(Path(APP).parent)) for p in (Path(APP).parent / "app_pages").glob("[0-9]*.py"))

ALONE_SCRIPT = """
import sys, time
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest
for page in sys.argv[1:]:
    started = time.monotonic()
    at = AppTest.from_file(page, default_timeout=60).run()
    errors = [e.value for e in at.error]
    assert not at.exception, (page, [e.value for e in at.exception])
    assert len(errors) == 1 and "streamlit run app.py" in errors[0], (page, errors)
    assert not at.title, (page, "rendered without the router")
    print(page, round(time.monotonic() - started, 2), flush=True)
"""


def test_no_pages_folder_beside_app():
    """A `pages/` folder next to app.py makes Streamlit run the app as a v1 multipage app until
    st.navigation is first called: a first visit on a page URL would then run the page alone."""
    assert not (Path(APP).parent / "pages").exists()


def test_a_page_run_alone_stops_with_one_line_and_never_loops(workspace):
    """Each page file as its own main script (no router): one message, then it ends. In a
    subprocess with a timeout, so a rerun loop fails the test instead of hanging the suite."""
    import subprocess
    import sys

    assert len(PAGE_FILES) == 8, PAGE_FILES
    done = subprocess.run([sys.executable, "-c", ALONE_SCRIPT, *PAGE_FILES], cwd=Path(APP).parent,
                          capture_output=True, text=True, timeout=240, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert len(done.stdout.splitlines()) == 8, done.stdout


def test_the_project_config_is_what_streamlit_reads_from_the_repo_root():
    """`streamlit run app.py` from the repository root reads .streamlit/config.toml: loopback only,
    and no full garbage collection after each run (it held back a query selection's "script
    finished" by 60-180 ms). Streamlit's own parser, in a fresh process started there."""
    import subprocess
    import sys

    probe = ("from streamlit import config; config.get_config_options(force_reparse=True); "
             "print(config.get_option('server.address'), config.get_option('runner.postScriptGC'))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=Path(APP).parent, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["127.0.0.1", "False"]
