"""The evaluation pipeline end to end: real default model, real XQuAD, checked against brute force
(full sort of the score matrix) and an independent IR library (ir_measures)."""

from __future__ import annotations

import json

import ir_measures
import numpy as np
import pandas as pd
import pytest

from xldiag.data import load_dataset
from xldiag.embeddings import Encoder
from xldiag.evaluate import evaluate, parse_language_sets
from xldiag.pools import build_pool
from xldiag.results.coverage import fill_uncovered

LIMIT = 40  # the first 40 questions of XQuAD and the passages they use


@pytest.fixture(scope="module")
def encoder(default_model_dir, tmp_path_factory):
    return Encoder("default", cache_root=tmp_path_factory.mktemp("emb"), show_progress=False)


@pytest.fixture(scope="module")
def run_dir(encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    evaluate(model="default", dataset="xquad", langs="zh,de", limit=LIMIT, out=out, encoder=encoder)
    return out


def test_run_folder_has_every_file_and_column(run_dir):
    summary = pd.read_csv(run_dir / "summary.csv")
    per_query = pd.read_parquet(run_dir / "per_query.parquet")
    config = json.loads((run_dir / "config.json").read_text())
    assert len(summary) == 2 * 4 * 2  # pairs × scenarios × query languages
    for column in ["dataset", "pair", "query_lang", "scenario", "pool", "ties", "complete@10", "max_r",
                   "max_r_norm_table", "max_r_norm_per_query", "ndcg@1", "mrr",
                   "english_inclination_rate", "own_language_inclination_rate"]:
        assert column in summary.columns, column
    assert set(summary["pair"]) == {"en+zh", "en+de"}
    assert config["pool"] == "unique" and config["ties"] == ["optimistic"] and config["limit"] == LIMIT
    assert len(per_query) == 16 * LIMIT
    table = (run_dir / "table.md").read_text()
    assert "### multi" in table and "| English | Max@R ↓ |" in table and "en+zh" in table


def test_summary_agrees_with_per_query_rows(run_dir):
    summary = pd.read_csv(run_dir / "summary.csv")
    per_query = pd.read_parquet(run_dir / "per_query.parquet")
    for _, row in summary.iterrows():
        rows = per_query[(per_query.pair == row.pair) & (per_query.scenario == row.scenario)
                         & (per_query.query_lang == row.query_lang)]
        assert len(rows) == row.n_queries == LIMIT
        assert rows.max_r.mean() == pytest.approx(row.max_r)
        complete10 = 100 * np.mean([max(r) <= 10 for r in rows.gold_ranks])
        assert complete10 == pytest.approx(row["complete@10"])


def _brute_force_ranks(encoder, scenario, query_lang, langs):
    """Ranks of every gold by fully sorting each query's scores (no shortcuts)."""
    data = load_dataset("xquad", langs, limit=LIMIT)
    pool = build_pool(data, scenario, query_lang, langs)
    model = encoder.model
    queries = model.encode(pool.query_texts, prompt_name="query", normalize_embeddings=True)
    docs = model.encode(pool.doc_texts, prompt_name="passage", normalize_embeddings=True)
    scores = queries @ docs.T
    ranks = []
    for q in range(len(pool.query_ids)):
        keep = np.setdiff1d(np.arange(len(pool.doc_ids)), pool.excluded[q][pool.excluded[q] >= 0])
        order = keep[np.argsort(-scores[q, keep], kind="stable")]
        position = {int(d): i + 1 for i, d in enumerate(order)}
        ranks.append([position[int(g)] for g in pool.gold[q] if g >= 0])
    return pool, scores, ranks


@pytest.mark.parametrize("scenario,query_lang", [("multi", "zh"), ("multi", "en"), ("multi-1", "zh"),
                                                  ("mono-cross", "en")])
def test_gold_ranks_equal_a_full_sort(run_dir, encoder, scenario, query_lang):
    per_query = pd.read_parquet(run_dir / "per_query.parquet")
    rows = per_query[(per_query.pair == "en+zh") & (per_query.scenario == scenario)
                     & (per_query.query_lang == query_lang)]
    _, _, expected = _brute_force_ranks(encoder, scenario, query_lang, ["en", "zh"])
    got = [list(map(int, r)) for r in rows.gold_ranks]
    assert got == expected


def test_ndcg_and_mrr_equal_ir_measures(run_dir, encoder):
    pool, scores, _ = _brute_force_ranks(encoder, "multi", "zh", ["en", "zh"])
    qrels = [ir_measures.Qrel(q, pool.doc_ids[g], 1) for q, gold in zip(pool.query_ids, pool.gold) for g in gold]
    run = [ir_measures.ScoredDoc(q, d, float(s)) for q, row in zip(pool.query_ids, scores)
           for d, s in zip(pool.doc_ids, row)]
    expected = ir_measures.calc_aggregate([ir_measures.nDCG @ 10, ir_measures.nDCG @ 1, ir_measures.RR], qrels, run)
    row = pd.read_csv(run_dir / "summary.csv").query("pair == 'en+zh' and scenario == 'multi' and query_lang == 'zh'")
    assert row["ndcg@10"].item() == pytest.approx(100 * expected[ir_measures.nDCG @ 10], abs=1e-9)
    assert row["ndcg@1"].item() == pytest.approx(100 * expected[ir_measures.nDCG @ 1], abs=1e-9)
    assert row["mrr"].item() == pytest.approx(expected[ir_measures.RR], abs=1e-9)


def test_repeated_run_reuses_the_embedding_cache(run_dir, encoder, tmp_path):
    again = Encoder("default", cache_root=encoder.cache_root, show_progress=False)
    summary = evaluate(model="default", dataset="xquad", langs="zh,de", limit=LIMIT, out=tmp_path, encoder=again)
    assert again.encoded_count == 0 and again._model is None  # nothing encoded, model never loaded
    # CSV reads the empty uncovered_langs as NaN; fill_uncovered is how runs are read back (load_eval)
    written = fill_uncovered(pd.read_csv(run_dir / "summary.csv"), "default")
    pd.testing.assert_frame_equal(summary, written, check_dtype=False)


def test_the_files_do_not_depend_on_the_number_of_threads(run_dir, encoder, tmp_path, monkeypatch):
    from xldiag import parallel

    monkeypatch.setenv("XLDIAG_THREADS", "1")
    assert parallel.workers() == 1
    evaluate(model="default", dataset="xquad", langs="zh,de", limit=LIMIT, out=tmp_path / "one", encoder=encoder,
             views=False)
    monkeypatch.setenv("XLDIAG_THREADS", "3")
    evaluate(model="default", dataset="xquad", langs="zh,de", limit=LIMIT, out=tmp_path / "three", encoder=encoder,
             views=False)
    for name in ("summary.csv", "per_query.parquet", "run.trec", "qrels.trec", "distractor_share.csv", "table.md"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "three" / name).read_bytes(), name
        assert (tmp_path / "one" / name).read_bytes() == (run_dir / name).read_bytes(), name  # default threads


def test_per_question_pool_reports_ties_and_orders_tie_rules(encoder, tmp_path):
    results = {}
    for ties in ("optimistic", "average", "pessimistic"):
        results[ties] = evaluate(model="default", dataset="xquad", langs="zh", scenarios=["multi"],
                                 construction="per-question", ties=ties, limit=LIMIT, encoder=encoder)
    opt, avg, pes = (results[t].set_index("query_lang") for t in ("optimistic", "average", "pessimistic"))
    assert (opt.n_docs == 2 * LIMIT).all()  # one document per question and language
    assert (opt.mean_tied > 0).all()  # passages repeat across questions, so scores tie
    assert (opt.max_r < avg.max_r).all() and (avg.max_r < pes.max_r).all()


def test_parse_language_sets():
    assert parse_language_sets("ar,zh") == (("en", "ar"), ("en", "zh"))
    assert parse_language_sets("de+zh,en+de+zh") == (("de", "zh"), ("en", "de", "zh"))
    with pytest.raises(ValueError, match="No languages"):
        parse_language_sets(" , ")


def _full_sort_ranks(scores: np.ndarray, text_id: np.ndarray, gold, excluded, ties: str) -> list[list[int]]:
    """Ranks from a full sort of each query's pool where copies of one text get one score (the
    score of its first doc), golds first (optimistic) or last (pessimistic) among equal scores."""
    first = np.unique(text_id, return_index=True)[1]
    scores = scores[:, first][:, text_id]  # copies forced to tie
    out = []
    for q in range(len(scores)):
        keep = np.setdiff1d(np.arange(scores.shape[1]), excluded[q][excluded[q] >= 0])
        golds = [int(g) for g in gold[q] if g >= 0]
        place = 0 if ties == "optimistic" else 1
        order = sorted(keep, key=lambda d: (-scores[q, d], place if d in golds else 1 - place,
                                            golds.index(d) if d in golds else 0, d))
        position = {int(d): i + 1 for i, d in enumerate(order)}
        out.append([position[g] for g in golds])
    return out


@pytest.mark.parametrize("scenario,scenarios", [("multi", ["multi"]), ("multi-1", ["multi-1"]),
                                                ("multi-1", ["multi", "multi-1"])])  # derived from Multi's counts
def test_paper_setting_equals_a_full_sort_with_copies_tied(encoder, scenario, scenarios, monkeypatch):
    from xldiag import ranking

    derived = []
    real_without_gold = ranking.without_gold
    monkeypatch.setattr(ranking, "without_gold", lambda *a, **k: derived.append(1) or real_without_gold(*a, **k))
    summary = evaluate(model="default", dataset="xquad", langs="zh", scenarios=scenarios,
                       construction="per-question", ties="optimistic,pessimistic", limit=LIMIT, encoder=encoder)
    assert len(derived) == (2 if scenarios == ["multi", "multi-1"] else 0)  # Multi-1 after Multi: derived, per query language
    summary = summary[summary.scenario == scenario]
    data = load_dataset("xquad", ["en", "zh"], limit=LIMIT)
    for query_lang in ("en", "zh"):
        pool = build_pool(data, scenario, query_lang, ["en", "zh"], construction="per-question")
        assert pool.n_docs == 2 * LIMIT and pool.n_texts < pool.n_docs  # passages repeat
        scores = encoder.encode(pool.query_texts, "query") @ encoder.encode(pool.doc_texts, "passage").T
        for ties in ("optimistic", "pessimistic"):
            ranks = np.array(_full_sort_ranks(scores, pool.text_id, pool.gold, pool.excluded, ties), dtype=float)
            row = summary[(summary.ties == ties) & (summary.query_lang == query_lang)].iloc[0]
            assert row.max_r == pytest.approx(ranks.max(axis=1).mean(), abs=1e-12)
            assert row["complete@10"] == pytest.approx(100 * (ranks.max(axis=1) <= 10).mean(), abs=1e-12)
    opt, pes = (summary[summary.ties == t].set_index("query_lang") for t in ("optimistic", "pessimistic"))
    assert (opt.max_r < pes.max_r).all()  # copies tie with the gold, so the bounds differ


# ------------------------------------------------ nothing silent: non-finite vectors, truncation


def _nan_encoder(cache_root, broken: dict) -> Encoder:
    """An Encoder whose model is test_embeddings' stand-in, returning NaN for `broken` texts."""
    from test_embeddings import CountingModel

    encoder = Encoder("default", cache_root=cache_root, show_progress=False)
    encoder._model = CountingModel(broken=broken)
    return encoder


def test_nan_passage_stops_the_evaluation_naming_model_language_and_passage_id(default_model_dir, tmp_path):
    data = load_dataset("xquad", ["en", "zh"], limit=LIMIT)
    bad = data.passages["zh"][1]
    encoder = _nan_encoder(tmp_path / "emb", {bad: np.nan})
    with pytest.raises(ValueError) as caught:
        evaluate(model="default", dataset="xquad", langs="zh", limit=LIMIT, out=tmp_path / "run", encoder=encoder)
    message = str(caught.value)
    assert "'default'" in message and "zh passage zh:p1" in message and "\n" not in message
    assert not (tmp_path / "run" / "config.json").exists()  # nothing ranked, no run folder
    store = Encoder("default", cache_root=tmp_path / "emb")._store("passage")
    from xldiag.embeddings import text_key

    assert text_key(bad) not in store.index  # never cached ...
    kept = [t for t in data.passages["zh"] if t != bad]
    assert all(text_key(t) in store.index for t in kept + data.passages["en"])  # ... the good ones are


def test_default_length_run_records_no_truncation(run_dir):
    """The first 40 questions' passages are all shorter than 512 tokens (XQuAD's long ones come later)."""
    config = json.loads((run_dir / "config.json").read_text())
    record = config["truncation"]
    data = load_dataset("xquad", ["en", "zh", "de"], limit=LIMIT)
    assert record["max_seq_length"] == 512
    assert set(record["counts"]) == {f"{lang}/{role}" for lang in ("en", "zh", "de") for role in ("passage", "query")}
    assert record["counts"]["en/passage"] == {"texts": len(set(data.passages["en"])), "truncated": 0}
    assert record["counts"]["de/query"] == {"texts": len(set(data.questions["de"])), "truncated": 0}
    summary = pd.read_csv(run_dir / "summary.csv")
    assert (summary["truncated_queries"] == 0).all() and (summary["truncated_docs"] == 0).all()


def test_truncation_is_recorded_per_language_role_and_row(default_model_dir, tmp_path):
    """At max_seq_length 116, one of the three English passages of the first 40 questions is cut
    and two of the Chinese ones (295/114/88 and 328/117/87 tokens); the counts equal the
    tokenizer's own (transformers, loaded separately) and each summary row counts its own pool."""
    from transformers import AutoTokenizer

    from xldiag.models.loading import resolve_model

    encoder = Encoder("default", cache_root=tmp_path / "emb", max_seq_length=116, show_progress=False)
    summary = evaluate(model="default", dataset="xquad", langs="zh", limit=LIMIT, out=tmp_path / "run",
                       encoder=encoder)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default"))
    data = load_dataset("xquad", ["en", "zh"], limit=LIMIT)

    def cut(texts, prompt):
        return np.array([len(ids) > 116 for ids in tokenizer([prompt + t for t in texts], truncation=False,
                                                              verbose=False)["input_ids"]])

    passages = {lang: cut(data.passages[lang], "passage: ") for lang in ("en", "zh")}
    queries = {lang: cut(data.questions[lang], "query: ") for lang in ("en", "zh")}
    assert (passages["en"].sum(), passages["zh"].sum()) == (1, 2)  # so the test can tell languages apart
    record = json.loads((tmp_path / "run" / "config.json").read_text())["truncation"]
    assert record["max_seq_length"] == 116
    assert record["counts"]["en/passage"] == {"texts": len(data.passages["en"]), "truncated": int(passages["en"].sum())}
    assert record["counts"]["zh/passage"] == {"texts": len(data.passages["zh"]), "truncated": int(passages["zh"].sum())}
    assert record["counts"]["zh/query"]["truncated"] == int(queries["zh"].sum())
    rows = summary.set_index(["scenario", "query_lang"])
    both = passages["en"].sum() + passages["zh"].sum()
    assert rows.loc[("multi", "en"), "truncated_docs"] == both
    assert rows.loc[("multi-1", "zh"), "truncated_docs"] == both
    assert rows.loc[("mono-same", "en"), "truncated_docs"] == passages["en"].sum()
    assert rows.loc[("mono-cross", "en"), "truncated_docs"] == passages["zh"].sum()
    assert rows.loc[("mono-cross", "zh"), "truncated_queries"] == queries["zh"].sum()
    assert pd.read_csv(tmp_path / "run" / "summary.csv")["truncated_docs"].tolist() == summary["truncated_docs"].tolist()


def test_run_folder_has_the_measures_of_issue_11(run_dir):
    from xldiag.vocab import DIAGNOSES, INTERVAL_METRICS, diagnosis_column

    summary = pd.read_csv(run_dir / "summary.csv")
    per_query = pd.read_parquet(run_dir / "per_query.parquet")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["bootstrap"] == {"resamples": 1000, "seed": 0, "level": 0.95, "unit": "query"}
    assert config["trec_depth"] == 100
    for name in ("distractor_share.csv", "table.tex", "run.trec", "qrels.trec"):
        assert (run_dir / name).stat().st_size > 0, name
    assert "\\toprule" in (run_dir / "table.tex").read_text()
    for column in INTERVAL_METRICS:  # the interval holds the value it is about
        assert (summary[f"{column}_lo"] <= summary[column] + 1e-9).all(), column
        assert (summary[column] <= summary[f"{column}_hi"] + 1e-9).all(), column
    # Where the per-query Max@R varies the interval has a width; where every query has the same value
    # (Max@R = 1 throughout, Complete@10 = 100 in these small pools) every resample gives it, so does the interval.
    spread = per_query.groupby(["pair", "scenario", "query_lang"], sort=False)["max_r"].nunique() > 1
    varied = summary.set_index(["pair", "scenario", "query_lang"]).loc[spread.index]
    assert spread.any() and (varied.loc[spread.to_numpy(), "max_r_hi"] > varied.loc[spread.to_numpy(), "max_r_lo"]).all()
    assert (varied.loc[~spread.to_numpy(), "max_r_lo"] == varied.loc[~spread.to_numpy(), "max_r_hi"]).all()
    full = summary["complete@10"] == 100.0
    assert full.any() and (summary.loc[full, "complete@10_lo"] == 100.0).all()
    # The diagnosis: per query in Multi pools, its shares in the summary; nothing elsewhere.
    for _, row in summary.iterrows():
        labels = per_query[(per_query.pair == row.pair) & (per_query.scenario == row.scenario)
                           & (per_query.query_lang == row.query_lang)]["diagnosis"]
        shares = [row[diagnosis_column(d)] for d in DIAGNOSES]
        if row.scenario == "multi":
            assert shares == pytest.approx([100 * (labels == d).mean() for d in DIAGNOSES])
            assert sum(shares) == pytest.approx(100.0)
            assert row.query_language_preference >= 0 and 0 <= row.query_language_preference_p <= 1
        else:
            assert set(labels) == {""} and np.isnan(shares).all() and np.isnan(row.query_language_preference)
    share = pd.read_csv(run_dir / "distractor_share.csv")
    assert set(share.scenario) == {"multi", "multi-1"} and set(share.gold_lang) >= {"all", "en"}


@pytest.mark.parametrize("construction", ["unique", "per-question"])
def test_pool_scores_read_from_the_blocks_equal_a_gather(encoder, construction):
    """evaluate.pool_row_scores reads a pool's scores from the language set's blocks: a block as it
    is where the pool holds every passage in order (no gather), else a gather; both give exactly
    the scores a plain gather from the blocks gives, and ranking never writes into them."""
    from xldiag.evaluate import EvalSpec, _embed_dataset, _rank_pool, pool_row_scores
    from xldiag.measures import PassageScores
    from xldiag.ranking import is_identity

    langs = ("en", "zh")
    data = load_dataset("xquad", list(langs), limit=LIMIT)
    blocks = PassageScores(_embed_dataset(encoder, data, langs, lambda *a: None))
    blocks.compute_all(langs)
    for scenario in ("multi", "multi-1", "mono-same", "mono-cross"):
        for query_lang in langs:
            pool = build_pool(data, scenario, query_lang, list(langs), construction=construction)
            first = pool.text_first_doc
            want = np.empty((pool.n_queries, len(first)), dtype=np.float32)
            for lang in pool.langs:
                mask = pool.doc_lang[first] == lang
                want[:, mask] = blocks.block(query_lang, lang)[np.ix_(pool.query_index, pool.doc_passage[first[mask]])]
            got = pool_row_scores(pool, blocks)
            np.testing.assert_array_equal(got, want)
            block = blocks.block(query_lang, pool.langs[0])
            whole = len(pool.langs) == 1 and len(first) == block.shape[1] and is_identity(pool.doc_passage[first])
            assert whole or construction == "per-question" or len(pool.langs) > 1  # a unique Mono pool is whole
            assert (got is block) == whole, (scenario, query_lang)
            kept = got.copy()
            _rank_pool(pool, blocks.embeddings, EvalSpec(), blocks)
            np.testing.assert_array_equal(pool_row_scores(pool, blocks), kept)
    assert not blocks.block("en", "zh").flags.writeable  # ranking reads a block as it is: a write would raise
    assert is_identity(np.arange(5)) and is_identity(np.arange(0)) and not is_identity(np.array([0, 2, 1]))
    assert not is_identity(np.array([1, 2, 3])) and not is_identity(np.array([0, 1, 1, 3]))
