"""Figure builders (xldiag.viz) and alignment maths (xldiag.alignment), on small known inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from eval_folders import make_eval, make_per_query, make_summary

from xldiag import alignment, results, viz


@pytest.fixture(scope="module")
def pq():
    return make_per_query()


@pytest.fixture(scope="module")
def summary(pq):
    s = make_summary(pq)
    # a second target language with known values, to check grouping by language
    de = s.copy()
    de["pair"] = "en+de"
    de["query_lang"] = de["query_lang"].replace({"zh": "de"})
    de["max_r"] = de["max_r"] * 2
    return pd.concat([s, de], ignore_index=True)


def _traces(fig, name):
    return [t for t in fig.data if t.name == name]


def test_topk_figure(pq):
    detail = results.query_detail(pq, "q1", "multi", "en")
    fig = viz.topk_figure(detail["top"], detail["refs"])
    langs = {t.name for t in fig.data}
    assert langs == {"en"}  # top-3: en ref, then 2 English distractors
    bar = fig.data[0]
    assert list(bar.x) == pytest.approx([0.9, 0.8, 0.7])
    assert bar.y[0] == "1. en:p1 ★"
    assert list(bar.marker.line.width) == [3, 0, 0]
    assert "zh reference zh:p1 at rank 5" in fig.layout.title.text


def test_rank_distribution_figure(pq):
    fig = viz.rank_distribution_figure(pq)
    assert [t.name for t in fig.data] == ["en queries", "zh queries"]
    assert list(fig.data[0].x) == pytest.approx(np.log10([2, 5, 2, 9]))


def test_inclination_figure(summary):
    rates = results.inclination_rates({"base": summary, "tuned": summary.assign(
        english_inclination_rate=summary["english_inclination_rate"] / 2)})
    fig = viz.inclination_figure(rates)
    base_t = _traces(fig, "base · target queries")
    tuned_t = _traces(fig, "tuned · target queries")
    assert len(base_t) == 2 and len(tuned_t) == 2
    assert list(base_t[0].x) == ["zh", "de"]
    assert base_t[0].y[0] == pytest.approx(0.25) and tuned_t[0].y[0] == pytest.approx(0.125)
    assert base_t[1].y[0] == pytest.approx(0.75)


def test_softmax_and_jsd_maths():
    e = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    p = alignment.softmax_dims(e)
    assert p.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert p[0] == pytest.approx([0.25] * 4)
    assert p[1, 0] == pytest.approx(np.e / (np.e + 3))
    assert alignment.softmax_dims(e, temperature=0.5)[1, 0] == pytest.approx(np.e**2 / (np.e**2 + 3))
    # JSD: identical → 0; disjoint → ln 2; symmetric
    assert alignment.jsd(p[:1], p[:1])[0] == pytest.approx(0.0, abs=1e-15)
    assert alignment.jsd([[1.0, 0.0]], [[0.0, 1.0]])[0] == pytest.approx(np.log(2))
    assert alignment.jsd(p[:1], p[1:])[0] == pytest.approx(alignment.jsd(p[1:], p[:1])[0])
    from scipy.spatial.distance import jensenshannon

    assert alignment.jsd(p[:1], p[1:])[0] == pytest.approx(jensenshannon(p[0], p[1]) ** 2)
    assert alignment.cosine([[1.0, 0.0]], [[1.0, 1.0]])[0] == pytest.approx(1 / np.sqrt(2))
    with pytest.raises(ValueError):
        alignment.pair_stats(np.ones((2, 3)), np.ones((3, 3)))


def test_alignment_frame():
    rng = np.random.default_rng(0)
    en = rng.normal(size=(5, 8))
    zh = en + rng.normal(scale=0.1, size=en.shape)
    far = rng.normal(size=en.shape)
    frame = alignment.alignment_frame({"base": {"en": en, "zh": far}, "tuned": {"en": en, "zh": zh}})
    assert list(frame.columns) == ["model", "lang", "index", "cosine", "jsd"]
    assert len(frame) == 10
    means = frame.groupby("model")[["cosine", "jsd"]].mean()
    assert means.loc["tuned", "cosine"] > means.loc["base", "cosine"]
    assert means.loc["tuned", "jsd"] < means.loc["base", "jsd"]


def test_projection_is_joint():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 5))
    b = a + 5.0
    proj = alignment.project({"base": a, "tuned": b}, method="pca")
    assert proj.method == "pca"
    assert proj.coords["base"].shape == (6, 2) and proj.coords["tuned"].shape == (6, 2)
    # one fit: the shift between the two sets shows up along the first component
    gap = proj.coords["tuned"][:, 0].mean() - proj.coords["base"][:, 0].mean()
    assert abs(gap) > 5
    assert proj.transform(a[:1]) == pytest.approx(proj.coords["base"][:1])
    small = alignment.project({"x": a[:3]}, method="umap")
    assert small.method == "pca"  # too few points for UMAP


def test_max_r_scatter():
    base = make_per_query(0)
    tuned = make_per_query(-3)  # q3: zh reference 3 ranks higher (better) for every multi query
    paired = results.paired_queries(base, tuned)
    fig = viz.max_r_scatter(paired)
    assert fig.data[0].name == "no change"
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    multi_en = _traces(fig, "Multi · en queries")[0]
    # identical points are merged and sized by their count: (2, 2) twice, (5, 5), (9, 6)
    assert list(multi_en.x) == [2.0, 5.0, 9.0] and list(multi_en.y) == [2.0, 5.0, 6.0]
    assert [int(n) for n in multi_en.customdata[:, 0]] == [2, 1, 1]
    assert multi_en.customdata[0, 1] == "q0, q2"
    assert multi_en.marker.size[0] > multi_en.marker.size[1]
    assert "1" in fig.layout.title.text and "improved" in fig.layout.title.text


def test_lang_colors_are_stable():
    assert viz.lang_color("en") == viz.PALETTE[0]
    assert viz.lang_color("xx") == viz.lang_color("xx")
    assert viz.lang_color("en") != viz.lang_color("zh")


def test_figure2_bars_gaps_and_flags(summary):
    use = summary.assign(uncovered_langs=np.where(summary["pair"] == "en+de", "de", ""))  # pretend de uncovered
    frame = results.figure2_frame({"e5": summary, "use": use})
    fig = viz.figure2(frame, metric="max_r")
    # per model and scenario: English-query bars and target-query bars
    assert len(fig.data) == 2 * 2 * 2
    titles = [a.text for a in fig.layout.annotations if "—" in a.text]
    assert titles == ["e5 — Mono-Cross (CLIR)", "e5 — Multi", "use — Mono-Cross (CLIR)", "use — Multi"]
    english = [t for t in fig.data if t.name == "English queries"]
    assert list(english[2].x) == ["zh", "de"] and list(english[2].y) == pytest.approx([4.5, 9.0])  # e5, Multi
    assert list(english[3].x) == ["zh", "de ⚠"]  # use, Multi: the uncovered target is flagged
    gaps = [a.text for a in fig.layout.annotations if a.text.startswith("Δ")]
    assert len(gaps) == 8 and "Δ -0.8" in gaps and "Δ -1.5" in gaps  # zh: 3.75 - 4.5; de: twice that
    assert fig.layout.yaxis.range[0] == 0 and fig.layout.yaxis.range[1] == pytest.approx(1.22 * 4.0)  # CLIR: de target queries
    assert fig.layout.yaxis2.range[1] == pytest.approx(1.22 * 9.0)  # Multi, its own scale: de English queries
    assert "No Multi" in viz.figure2(frame.iloc[0:0]).layout.annotations[0].text


def test_figure2_scale_ignores_an_uncovered_target_and_marks_its_cut_bars(summary):
    """use-m3 on vi: an uncovered target far worse than the rest must not flatten every other bar;
    its bars are cut at the top of the axis, labelled with their value and "↑"."""
    bad = summary.assign(uncovered_langs=np.where(summary["pair"] == "en+de", "de", ""),
                         max_r=np.where(summary["pair"] == "en+de", summary["max_r"] * 100, summary["max_r"]))
    frame = results.figure2_frame({"e5": summary.assign(uncovered_langs=""), "use": bad})
    covered = frame[~frame["uncovered"]]
    fig = viz.figure2(frame, metric="max_r")
    for axis, scenario in (("yaxis", "mono-cross"), ("yaxis2", "multi")):
        top = covered.loc[covered["scenario"] == scenario, ["english", "target_queries"]].to_numpy().max()
        assert fig.layout[axis].range[1] == pytest.approx(viz.FIGURE2_HEADROOM * top)
    use_multi = [t for t in fig.data if t.xaxis == "x4"]  # row 2 (use), column 2 (Multi)
    for trace in use_multi:
        i = list(trace.x).index("de ⚠")
        true = float(trace.customdata[i])
        assert true > fig.layout.yaxis4.range[1] and trace.y[i] < fig.layout.yaxis4.range[1]
        assert trace.text[i] == f"{true:.1f} ↑"
        zh = list(trace.x).index("zh")
        assert trace.y[zh] == pytest.approx(trace.customdata[zh]) and "↑" not in trace.text[zh]


def test_distractor_language_heatmap(pq):
    frame = results.distractor_languages({"e5": pq, "tuned": make_per_query(-3)})
    fig = viz.distractor_language_heatmap(frame)
    hm = fig.data[0]
    assert list(hm.y) == ["e5 · zh", "tuned · zh"]
    assert [x.replace("<br>", " ") for x in hm.x] == ["English queries → English reference",
                                                     "English queries → target reference",
                                                     "target queries → target reference",
                                                     "target queries → English reference"]
    z = np.asarray(hm.z, dtype=float)
    assert np.isnan(z[0, 0]) and z[0, 1] == pytest.approx(50.0)  # 100 % own-language against a 50 % pool
    assert hm.text[0][1].startswith("100%") and "2.5/query" in hm.text[0][1] and hm.text[0][0] == ""
    assert hm.zmid == 0
    assert [shape.y0 for shape in fig.layout.shapes] == [0.5]  # the rule between e5's rows and tuned's


def test_diagnosis_figure(pq):
    s = make_summary(pq)
    fig = viz.diagnosis_figure(results.diagnosis_shares({"base": s}))
    language = _traces(fig, "language-miss")
    assert [list(t.y) for t in language] == [[50.0], [25.0]]  # English / target-language queries
    assert "pass" not in {t.name for t in fig.data}  # the gap to 100 %
    assert len(viz.diagnosis_figure(results.diagnosis_shares({})).data) == 0



def test_max_r_scatter_merges_points_as_a_groupby_does():
    """Merged points against pandas' groupby (the former implementation): first-appearance order,
    counts, the first five ids then " …", rows with a NaN Max@R left out."""
    rng = np.random.default_rng(3)
    n = 400
    paired = pd.DataFrame({"qid": [f"q{i}" for i in range(n)], "scenario": "multi", "query_lang": "en",
                           "max_r_base": rng.integers(1, 6, n).astype(float),
                           "max_r_tuned": rng.integers(1, 6, n).astype(float)})
    paired.loc[[5, 17], "max_r_tuned"] = np.nan
    expected = paired.groupby(["max_r_base", "max_r_tuned"], sort=False).agg(
        n=("qid", "size"), qids=("qid", lambda q: ", ".join(list(q)[:5]) + (" …" if len(q) > 5 else ""))).reset_index()
    pts = viz._merged_points(paired)
    pd.testing.assert_frame_equal(pts, expected, check_dtype=False)
    assert pts["n"].sum() == n - 2 and pts["qids"].str.endswith(" …").all()  # 25 points, ~16 queries each
    trace = _traces(viz.max_r_scatter(paired), "Multi · en queries")[0]
    assert list(trace.x) == pts["max_r_base"].tolist() and [int(c) for c in trace.customdata[:, 0]] == pts["n"].tolist()


def test_max_r_scatter_draws_many_markers_with_webgl():
    """Above SCATTER_WEBGL_MARKERS distinct points the markers are WebGL (Scattergl), the diagonal and
    everything else the same; below, SVG."""
    n = viz.SCATTER_WEBGL_MARKERS + 1
    many = pd.DataFrame({"qid": [f"q{i}" for i in range(n)], "scenario": "multi", "query_lang": "zh",
                         "max_r_base": np.arange(1, n + 1, dtype=float), "max_r_tuned": 2.0})
    fig = viz.max_r_scatter(many)
    assert [type(t).__name__ for t in fig.data] == ["Scatter", "Scattergl"]
    assert len(fig.data[1].x) == n and fig.data[1].marker.symbol == "circle"
    few = viz.max_r_scatter(many.iloc[:-1])  # exactly the threshold: SVG
    assert [type(t).__name__ for t in few.data] == ["Scatter", "Scatter"]


def test_paired_queries_from_the_columns_it_reads(tmp_path):
    """Compare pairs two evaluations read with only PAIRED_INPUT_COLUMNS: the same pairing as from
    the whole per_query files; a column per_query does not have is named."""
    base, tuned = make_eval(tmp_path / "base"), make_eval(tmp_path / "tuned", model_shift=-3)
    small = results.read_per_query(base, results.PAIRED_INPUT_COLUMNS)
    assert list(small.columns) == results.PAIRED_INPUT_COLUMNS
    whole = results.paired_queries(results.read_per_query(base), results.read_per_query(tuned))
    pd.testing.assert_frame_equal(results.paired_queries(small, results.read_per_query(tuned, results.PAIRED_INPUT_COLUMNS)),
                                  whole)
    assert (whole["delta_max_r"] < 0).any()  # the shift made some queries better: a real pairing
    with pytest.raises(ValueError, match="no columns \\['max_rank'\\]"):
        results.read_per_query(base, ["qid", "max_rank"])
