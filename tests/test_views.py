"""The derived views (xldiag.views): written by `xldiag eval` on real data, equal to a direct
computation from the embedding cache, read back without a model; the joint map of two models;
the `views` command for an older folder; and a 100,000-document pool through the builders."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from xldiag import alignment, jobs, results, views
from xldiag.cli import main as cli_main
from xldiag.data import load_dataset
from xldiag.embeddings import Encoder
from xldiag.vocab import EVALS_DIR_ENV, MAP_METHODS_ENV, VIEWS_DIR, VIEWS_FILE


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, default_model_dir):
    """One real evaluation (XQuAD en+zh, first 60 questions: 5 passages, Multi + Mono-Cross), views with
    UMAP (10 documents: enough for a neighbourhood graph, so UMAP is really fitted)."""
    out = tmp_path_factory.mktemp("views") / "default-zh"
    old = os.environ.get(MAP_METHODS_ENV)
    os.environ[MAP_METHODS_ENV] = "pca,umap"
    try:
        assert cli_main(["eval", "--langs", "zh", "--scenarios", "multi,mono-cross", "--limit", "60",
                         "--out", str(out)]) == 0
    finally:
        os.environ[MAP_METHODS_ENV] = old or "pca"
    return out


def test_eval_writes_every_view(evaluated):
    info = views.manifest(evaluated)
    assert info["format"] == views.VIEWS_FORMAT and info["methods"] == ["pca", "umap"] and info["pending"] == []
    assert info["fitted"] == {"pca": ["pca"], "umap": ["umap"]}
    files = {p.name for p in (evaluated / VIEWS_DIR).iterdir()}
    assert {VIEWS_FILE, "alignment.parquet", "preference.parquet", "map-pca.parquet", "map-umap.parquet",
            "vectors-en+zh-passage-en.npy", "vectors-en+zh-query-zh.npy"} <= files
    assert not [name for name in files if name.startswith(".")]  # no temp file left behind
    data = load_dataset("xquad", ["en", "zh"], limit=60)
    n_passages, n_questions = len(data.passages["en"]), len(data.questions["en"])
    sampling = info["maps"]["en+zh"]
    assert sampling == {"n_docs": 2 * n_passages, "n_shown": 2 * n_passages, "n_queries_shown": 2 * n_questions,
                        "seed": 0, "sampled": False}
    for method in ("pca", "umap"):
        points = views.map_points(evaluated, method)
        docs, queries = points[points["kind"] == "doc"], points[points["kind"] == "query"]
        assert len(docs) == 2 * n_passages and len(queries) == 2 * n_questions
        assert set(docs["id"]) == {f"{lang}:p{i}" for lang in ("en", "zh") for i in range(n_passages)}
        assert np.isfinite(points[["x", "y"]].to_numpy()).all()
        assert queries["max_r"].is_monotonic_decreasing  # worst first, as the page offers them
    # the evaluation is listed as complete (its job finished after the views)
    assert jobs.read_status(evaluated)["state"] == "finished"


def test_alignment_view_equals_a_direct_computation_from_the_cache(evaluated):
    data = load_dataset("xquad", ["en", "zh"], limit=60)
    encoder = Encoder("default", show_progress=False)
    table = views.alignment_table(evaluated)
    for role in ("passage", "query"):
        texts = {lang: data.passages[lang] if role == "passage" else data.questions[lang] for lang in ("en", "zh")}
        en, zh = (encoder.encode(texts[lang], role, normalized=False) for lang in ("en", "zh"))
        assert encoder.encoded_count == 0  # everything came from the cache the evaluation filled
        rows = table[(table["role"] == role) & (table["lang"] == "zh")].sort_values("index")
        direct = alignment.pair_stats(en, zh)
        assert np.allclose(rows["cosine"], direct["cosine"], atol=1e-6)
        assert np.allclose(rows["jsd"], direct["jsd"], rtol=1e-5, atol=1e-12)
        unit = alignment.pair_stats(en / np.linalg.norm(en, axis=1, keepdims=True),
                                    zh / np.linalg.norm(zh, axis=1, keepdims=True))
        assert np.allclose(rows["jsd_unit"], unit["jsd"], rtol=1e-5, atol=1e-12)
        assert (rows["jsd_unit"] < rows["jsd"]).all()  # unit vectors: a near-uniform softmax
        assert np.array_equal(views.alignment_vectors(evaluated, "en+zh", role, "zh"), zh)
        assert rows["tgt_text"].tolist() == [t[:400] for t in texts["zh"]]


def _preference_by_loop(per_query: pd.DataFrame) -> dict:
    """The heatmap cells written out: per (pair, query lang, reference lang, distractor lang), the
    mean over Multi queries of the unrelated docs of that language above that reference."""
    sums, counts = {}, {}
    for _, row in per_query[per_query["scenario"] == "multi"].iterrows():
        for g, above in zip(row["gold_langs"], row["above_by_lang"]):
            for d, n in zip(row["pool_langs"], above):
                key = (row["pair"], row["query_lang"], g, d)
                sums[key] = sums.get(key, 0) + int(n)
                counts[key] = counts.get(key, 0) + 1
    return {key: sums[key] / counts[key] for key in sums}


def test_preference_view_equals_the_cells_by_hand(evaluated):
    pref = views.preference_table(evaluated)
    expected = _preference_by_loop(pd.read_parquet(evaluated / "per_query.parquet"))
    got = {tuple(r[:4]): r[4] for r in pref[["pair", "query_lang", "ref_lang", "distractor_lang", "mean_above"]]
           .itertuples(index=False)}
    assert got.keys() == expected.keys() and all(got[k] == pytest.approx(expected[k]) for k in got)


def test_views_command_rebuilds_an_older_folder_and_fits_a_joint_map(evaluated, tmp_path, tiny_model, monkeypatch,
                                                                   capsys):
    import shutil

    older = tmp_path / "older"
    shutil.copytree(evaluated, older, ignore=shutil.ignore_patterns(VIEWS_DIR, "lock", "status.json"))
    with pytest.raises(views.ViewsMissingError, match="python -m xldiag views"):
        views.manifest(older)
    assert cli_main(["views", str(older)]) == 0
    assert views.manifest(older)["methods"] == ["pca"]  # $XLDIAG_MAP_METHODS=pca in the tests
    assert views.alignment_table(older).equals(views.alignment_table(evaluated))
    # a second model on the same data (the default model with other prompts: another cache
    # fingerprint, one embedding space): one map fitted on both, cached under the pair's key
    from xldiag.evaluate import evaluate

    prompted = Encoder("default", prompts={"query": "question: ", "passage": "document: "}, show_progress=False)
    second = tmp_path / "prompted"
    evaluate(model="default", langs="zh", scenarios=["multi"], limit=60, out=second, encoder=prompted)
    first_encoder = Encoder("default", show_progress=False)
    joint = views.write_joint_map(older, second, first_encoder, prompted)
    fps = [results.load_eval(f).config["fingerprint"] for f in (older, second)]
    assert fps[0] != fps[1] and first_encoder.encoded_count == 0  # read from the cache
    assert joint == views.joint_map_dir(fps[::-1], "xquad", 60)
    points = views.map_points(joint, "pca")
    docs = points[points["kind"] == "doc"]
    assert set(docs["model"]) == set(fps)
    assert docs.groupby("model").size().tolist() == [views.manifest(older)["maps"]["en+zh"]["n_docs"]] * 2
    # models of different dimensions, or evaluations on different data: refused with one line
    tiny = tmp_path / "tiny-zh"
    assert cli_main(["eval", "--model", str(tiny_model), "--langs", "zh", "--scenarios", "multi", "--limit", "60",
                     "--out", str(tiny)]) == 0
    capsys.readouterr()
    assert cli_main(["views", str(older), "--with", str(tiny)]) == 2
    assert "one embedding space" in capsys.readouterr().err
    cfg = results.load_eval(second).config
    (second / "config.json").write_text(__import__("json").dumps({**cfg, "limit": 5}))
    assert cli_main(["views", str(older), "--with", str(second)]) == 2
    assert "same data" in capsys.readouterr().err


def test_listing_keeps_an_evaluation_readable_while_its_views_are_computed(evaluated, tmp_path, monkeypatch):
    import shutil

    evals = tmp_path / "evals"
    folder = evals / "busy"
    shutil.copytree(evaluated, folder, ignore=shutil.ignore_patterns("lock"))
    jobs.update_status(folder, state="running", phase="views", message="Views: fitting UMAP on 40 documents (en+zh)",
                       pid=os.getpid(), proc_start=jobs.proc_start_time(os.getpid()))
    monkeypatch.setenv(EVALS_DIR_ENV, str(evals))
    row = results.list_evaluations().iloc[0]
    assert row["state"] == "complete"
    assert views.views_busy(folder)["message"].startswith("Views: fitting UMAP")
    jobs.update_status(folder, phase="ranking")  # the evaluation itself running: not readable yet
    assert results.list_evaluations().iloc[0]["state"] == "running"


# --- a 100,000-document pool through the builders (speed: bench/ui_bench.py, not here) ------------


def test_a_100k_document_pool_through_the_view_builders():
    rng = np.random.default_rng(0)
    n_passages, dim = 50_000, 16
    drawn = views.sample_passages(n_passages, 2)
    assert len(drawn) == views.MAP_POINTS // 2 and np.all(np.diff(drawn) > 0) and drawn.max() < n_passages
    assert np.array_equal(drawn, views.sample_passages(n_passages, 2))  # seed 0: the same draw every time
    assert len(views.sample_passages(300, 2)) == 300  # small pools: everything

    # per-query frame of 100,000 Multi queries (en+zh, 50,000 per query language)
    n_q = 100_000
    above = rng.integers(0, 5, size=(n_q, 2, 2))
    per_query = pd.DataFrame({
        "pair": "en+zh", "scenario": "multi", "query_lang": np.repeat(["en", "zh"], n_q // 2),
        "qid": [f"q{i % (n_q // 2)}" for i in range(n_q)], "passage_index": np.tile(np.arange(n_q // 2), 2),
        "query_text": "a question", "max_r": rng.integers(2, 1000, n_q).astype(float),
        "gold_langs": [["en", "zh"]] * n_q, "pool_langs": [["en", "zh"]] * n_q, "above_by_lang": above.tolist(),
    })
    pref = views.language_preference(per_query)
    for q, lang in enumerate(("en", "zh")):
        block = above[q * n_q // 2:(q + 1) * n_q // 2]
        cells = pref[pref["query_lang"] == lang]
        assert cells["mean_above"].to_numpy() == pytest.approx(block.mean(axis=0).ravel())
        assert set(cells["n_queries"]) == {n_q // 2}

    # the map: the drawn documents of both languages, the worst queries whose passage is drawn
    from xldiag.views.maps import MapInput, map_queries

    queries = map_queries(per_query, "en+zh", drawn)
    assert len(queries) == views.MAP_QUERIES and np.isin(queries["passage"], drawn).all()
    assert queries["max_r"].is_monotonic_decreasing
    base = rng.normal(size=(n_passages, dim)).astype(np.float32)
    docs = pd.DataFrame({"lang": np.repeat(["en", "zh"], len(drawn)), "passage": np.tile(drawn, 2),
                         "id": [f"{lang}:p{i}" for lang in ("en", "zh") for i in drawn], "text": ""})
    vectors = np.concatenate([base[drawn], base[drawn] + 0.1 * rng.normal(size=(len(drawn), dim))]).astype(np.float32)
    part = MapInput(docs, vectors, queries, base[queries["passage"].to_numpy()], n_docs=2 * n_passages)
    points = views.fit_map({"fp": part}, "en+zh", "pca")
    assert len(points) == views.MAP_POINTS + views.MAP_QUERIES and np.isfinite(points[["x", "y"]].to_numpy()).all()

    # alignment: JSD at another temperature over 100,000 pairs, in bounded chunks, equal to one shot
    en = rng.normal(size=(n_q, dim))
    zh = en + 0.3 * rng.normal(size=(n_q, dim))
    chunked = alignment.pair_jsd(en, zh, 0.5, chunk_rows=4096)
    assert chunked.shape == (n_q,)
    assert chunked[:5000] == pytest.approx(alignment.pair_stats(en[:5000], zh[:5000], 0.5)["jsd"].to_numpy())


def test_a_map_fit_is_reused_for_the_same_vectors_only(tmp_path, monkeypatch):
    from xldiag.views.maps import MapInput, fit_map

    monkeypatch.setenv("XLDIAG_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(1)
    docs = pd.DataFrame({"lang": ["en"] * 30, "passage": np.arange(30), "id": [f"en:p{i}" for i in range(30)],
                         "text": ""})
    queries = pd.DataFrame({"lang": ["en"] * 3, "passage": [0, 1, 2], "id": ["a|en", "b|en", "c|en"], "text": "",
                            "max_r": [3.0, 2.0, 1.0]})
    vectors = rng.normal(size=(30, 8)).astype(np.float32)
    part = MapInput(docs, vectors, queries, vectors[:3] + 0.01, n_docs=30)
    first = fit_map({"fp": part}, "en+zh", "umap")
    assert first.attrs["method"] == "umap"
    fitted = []
    real_project = alignment.project
    monkeypatch.setattr(alignment, "project", lambda *a, **k: fitted.append(1) or real_project(*a, **k))
    again = fit_map({"fp": MapInput(docs, vectors.copy(), queries, vectors[:3] + 0.01, n_docs=30)}, "en+zh", "umap")
    assert fitted == [] and again.attrs["method"] == "umap"  # the same bytes: read from the cache
    pd.testing.assert_frame_equal(again, first)
    moved = vectors.copy()
    moved[5, 0] = np.nextafter(moved[5, 0], np.float32(np.inf))  # one bit of one vector: a new fit
    fit_map({"fp": MapInput(docs, moved, queries, vectors[:3] + 0.01, n_docs=30)}, "en+zh", "umap")
    assert fitted == [1]
    assert len(list((tmp_path / "map-fits").glob("*.npz"))) == 2 and not list((tmp_path / "map-fits").glob(".*"))


def test_similarity_fit_recovers_a_known_turn_scale_and_shift():
    rng = np.random.default_rng(4)
    source = rng.normal(size=(50, 2))
    angle = 0.7
    turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]) @ np.diag([1.0, -1.0])  # + mirror
    target = 2.5 * source @ turn + np.array([3.0, -1.0])
    fit = alignment.similarity_fit(source, target)
    assert fit.scale == pytest.approx(2.5) and fit.rotation == pytest.approx(turn)
    assert fit(source) == pytest.approx(target)
    assert fit(source[:1] + 1.0) == pytest.approx(2.5 * (source[:1] + 1.0) @ turn + np.array([3.0, -1.0]))
    noisy = alignment.similarity_fit(source, target + 0.01 * rng.normal(size=target.shape))
    assert noisy.scale == pytest.approx(2.5, rel=0.01)
    assert alignment.similarity_fit(source[:1], target[:1])(source[:1]) == pytest.approx(target[:1])  # one point: a shift
    with pytest.raises(ValueError, match="n × 2"):
        alignment.similarity_fit(source, target[:10])


def _two_model_map_inputs(n: int = 80, dim: int = 16):
    """A base model whose two languages lie apart (every zh document shifted far along one
    direction) and a tuned model where each zh document sits by its en one; the same documents."""
    from xldiag.views.maps import MapInput

    rng = np.random.default_rng(5)
    topics = rng.normal(size=(n, dim))
    shift = np.zeros(dim)
    shift[0] = 6.0
    docs = pd.DataFrame({"lang": np.repeat(["en", "zh"], n), "passage": np.tile(np.arange(n), 2),
                         "id": [f"{lang}:p{i}" for lang in ("en", "zh") for i in range(n)], "text": ""})
    queries = pd.DataFrame({"lang": ["zh"] * 3, "passage": [0, 1, 2], "id": ["a|zh", "b|zh", "c|zh"], "text": "",
                            "max_r": [3.0, 2.0, 1.0]})

    def unit(x):
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    base = unit(np.concatenate([topics, topics + shift + 0.2 * rng.normal(size=(n, dim))]))
    tuned = unit(np.concatenate([topics, topics + 0.2 * rng.normal(size=(n, dim))]))
    return {"base": MapInput(docs, base, queries, base[n:n + 3], n_docs=2 * n),
            "tuned": MapInput(docs, tuned, queries, tuned[n:n + 3], n_docs=2 * n)}


def _parallel_gap(points: pd.DataFrame) -> float:
    """Mean distance between a passage's en and zh documents over the map's spread (RMS distance
    from the centre): how far apart a map draws parallel documents."""
    docs = points[points["kind"] == "doc"].sort_values(["lang", "passage"])
    en, zh = (docs[docs["lang"] == lang][["x", "y"]].to_numpy() for lang in ("en", "zh"))
    xy = docs[["x", "y"]].to_numpy()
    return float(np.linalg.norm(en - zh, axis=1).mean() / np.sqrt(((xy - xy.mean(0)) ** 2).sum(1).mean()))


@pytest.mark.parametrize("method", ["umap", "pca"])
def test_a_map_of_two_models_keeps_each_models_own_shape(tmp_path, monkeypatch, method):
    """Each model's panel is its own map (up to a turn, a scale and a shift), the second turned onto
    the first; one projection of both stacked would join UMAP's neighbourhoods, and give PCA the
    axes of the model that varies most."""
    from xldiag.views.maps import fit_map

    monkeypatch.setenv("XLDIAG_CACHE_DIR", str(tmp_path))
    inputs = _two_model_map_inputs()
    joint = fit_map(inputs, "en+zh", method)
    assert joint.attrs["method"] == method
    for model in inputs:
        alone = fit_map({model: inputs[model]}, "en+zh", method)  # the cached single-model fit
        mine = joint[joint["model"] == model]
        fit = alignment.similarity_fit(alone[["x", "y"]].to_numpy(), mine[["x", "y"]].to_numpy())
        assert fit(alone[["x", "y"]].to_numpy()) == pytest.approx(mine[["x", "y"]].to_numpy(), abs=1e-6)  # same shape
        assert _parallel_gap(mine) == pytest.approx(_parallel_gap(alone))
    base, tuned = (joint[joint["model"] == m] for m in inputs)
    assert _parallel_gap(base) > 3 * _parallel_gap(tuned)  # the base model's languages apart, the tuned model's not
    # the second model is turned onto the first: its en documents land near the base's en documents
    en = [m[(m["kind"] == "doc") & (m["lang"] == "en")][["x", "y"]].to_numpy() for m in (base, tuned)]
    spread = np.sqrt(((en[0] - en[0].mean(0)) ** 2).sum(1).mean())
    assert np.linalg.norm(en[0].mean(0) - en[1].mean(0)) < spread
