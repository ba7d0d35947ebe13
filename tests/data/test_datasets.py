"""Dataset loaders on the real files: counts, parallelism checks, limit, caching, errors."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from xldiag.data import (
    DATASETS,
    DataFormatError,
    DatasetError,
    ParallelDataset,
    ParallelismError,
    load_dataset,
    load_triples,
)
from xldiag.data.xquad import parse_squad

XQUAD_LANGS = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]
MLQA_TRIPLES = {"ar": 517, "de": 512, "es": 500, "hi": 507, "vi": 511, "zh": 504}


# --- XQuAD ---------------------------------------------------------------------------------

def test_xquad_counts_all_languages(data_dir):
    ds = load_dataset("xquad", XQUAD_LANGS, data_dir=data_dir)
    assert ds.langs == XQUAD_LANGS
    assert (ds.n_passages, ds.n_questions) == (240, 1190)
    for lang in XQUAD_LANGS:
        assert len(ds.passages[lang]) == 240 and len(set(ds.passages[lang])) == 240
        assert len(ds.questions[lang]) == 1190
    assert len(set(ds.question_ids)) == 1190
    assert ds.question_passage.dtype == np.int64
    assert ds.question_passage.min() == 0 and ds.question_passage.max() == 239
    assert len(ds.titles) == 240 and ds.titles[0] == "Super_Bowl_50"
    # Parallel, not copies: the German passage differs from the English one.
    assert ds.passages["de"][0] != ds.passages["en"][0]


def test_xquad_default_langs_and_env_data_dir(data_dir):
    # data_dir=None resolves through $XLDIAG_DATA_DIR; langs=None means all present files.
    ds = load_dataset("xquad")
    assert ds.langs == XQUAD_LANGS


def test_registry_is_declarative():
    assert set(DATASETS) >= {"xquad", "belebele", "mlqa-r"}
    spec = DATASETS["belebele"]
    assert spec.relpath("zh") == "belebele/zho_Hans.jsonl"
    assert spec.url("ar").endswith("/data/arb_Arab.jsonl")
    assert DATASETS["xquad"].url("de") == (
        "https://raw.githubusercontent.com/google-deepmind/xquad/master/xquad.de.json"
    )


# --- Belebele ------------------------------------------------------------------------------

def test_belebele_regrouped_counts(data_dir):
    ds = load_dataset("belebele", ["en", "de"], data_dir=data_dir)
    assert (ds.n_passages, ds.n_questions) == (488, 900)
    assert ds.meta["layouts"] == {"en": "regrouped", "de": "regrouped"}
    assert ds.question_ids[0] == "https://en.wikibooks.org/wiki/Accordion/Right_hand#1"
    assert ds.titles[0] == "https://en.wikibooks.org/wiki/Accordion/Right_hand"
    # FLORES codes are accepted and mapped back to ISO codes.
    assert load_dataset("belebele", ["eng_Latn", "deu_Latn"], data_dir=data_dir).langs == ["en", "de"]


def _write_official(src, dst, reverse_questions=False):
    """Rewrite a regrouped Belebele file in the official one-line-per-question layout."""
    lines = []
    for line in open(src, encoding="utf-8"):
        row = json.loads(line)
        link = row["metadata"]["extra"]["url"]
        items = list(enumerate(row["items"], start=1))
        for number, item in reversed(items) if reverse_questions else items:
            answers = {f"mc_answer{k}": a["text"] for k, a in enumerate(item["answers"], start=1)}
            correct = next(k for k, a in enumerate(item["answers"], start=1) if a["correct"])
            lines.append({"link": link, "question_number": number, "flores_passage": row["text"],
                          "question": item["question"], **answers,
                          "correct_answer_num": str(correct), "dialect": "eng_Latn"})
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")


def test_belebele_official_layout_matches_regrouped(data_dir, tmp_path):
    _write_official(data_dir / "belebele/eng_Latn.jsonl", tmp_path / "belebele/eng_Latn.jsonl",
                    reverse_questions=True)
    # Mixed layouts across languages are fine: ids are <link>#<question_number> in both.
    os.symlink(data_dir / "belebele/deu_Latn.jsonl", tmp_path / "belebele/deu_Latn.jsonl")
    official = load_dataset("belebele", ["en", "de"], data_dir=tmp_path)
    regrouped = load_dataset("belebele", ["en", "de"], data_dir=data_dir)
    assert official.meta["layouts"] == {"en": "official", "de": "regrouped"}
    assert (official.n_passages, official.n_questions) == (488, 900)
    assert official.question_ids == regrouped.question_ids
    assert official.passages == regrouped.passages
    assert official.questions == regrouped.questions
    assert np.array_equal(official.question_passage, regrouped.question_passage)


def test_belebele_corrupted_copy_names_id_and_file(data_dir, tmp_path):
    folder = tmp_path / "belebele"
    folder.mkdir()
    shutil.copy(data_dir / "belebele/eng_Latn.jsonl", folder)
    rows = [json.loads(line) for line in open(data_dir / "belebele/deu_Latn.jsonl", encoding="utf-8")]
    victim = next(i for i, r in enumerate(rows) if len(r["items"]) == 2 and i > 10)
    del rows[victim]["items"][1]  # the German file loses one question
    (folder / "deu_Latn.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(ParallelismError) as err:
        load_dataset("belebele", ["en", "de"], data_dir=tmp_path)
    link = rows[victim]["metadata"]["extra"]["url"]
    assert f"{link}#" in str(err.value) and "deu_Latn.jsonl" in str(err.value)


# --- MLQA-R --------------------------------------------------------------------------------

def test_mlqa_dataset_pairs_contexts_by_question_id(data_dir):
    ds = load_dataset("mlqa-r", ["en", "de"], data_dir=data_dir)
    assert ds.n_questions == 512  # every German id is in en.json
    assert ds.n_passages == 465  # distinct (English context, German context) pairs
    en = parse_squad(data_dir / "mlqa-r/en.json")
    de = parse_squad(data_dir / "mlqa-r/de.json")
    en_pos = {qid: i for i, qid in enumerate(en.ids)}
    de_pos = {qid: i for i, qid in enumerate(de.ids)}
    # Ordered as in en.json.
    assert ds.question_ids == [qid for qid in en.ids if qid in de_pos]
    for q in range(0, 512, 37):
        qid, p = ds.question_ids[q], ds.question_passage[q]
        assert ds.passages["en"][p] == en.contexts[en.question_passage[en_pos[qid]]]
        assert ds.passages["de"][p] == de.contexts[de.question_passage[de_pos[qid]]]
        assert ds.questions["de"][q] == de.questions[de_pos[qid]]


def test_mlqa_multi_language_intersection(data_dir):
    ds = load_dataset("mlqa-r", ["de", "es"], data_dir=data_dir)
    assert ds.n_questions == 196
    with pytest.raises(DatasetError, match="no question id is shared"):
        load_dataset("mlqa-r", ["en", "ar", "de", "es", "hi", "vi", "zh"], data_dir=data_dir)


def test_mlqa_triple_counts(data_dir):
    triples = load_triples("mlqa-r", data_dir=data_dir)
    assert len(triples) == 3051
    assert triples.report.by_lang == MLQA_TRIPLES
    assert triples.report.n_bad == 0 and triples.report.n_rows == 3051
    # Interleaved round-robin in the order of the languages.
    assert [t.lang for t in triples[:6]] == ["ar", "de", "es", "hi", "vi", "zh"]
    for lang, n in MLQA_TRIPLES.items():
        assert len(load_triples("mlqa-r", [lang], data_dir=data_dir)) == n


def test_mlqa_triple_content(data_dir):
    en = parse_squad(data_dir / "mlqa-r/en.json")
    zh = parse_squad(data_dir / "mlqa-r/zh.json")
    triple = load_triples("mlqa-r", ["zh"], data_dir=data_dir)[7]
    i, j = en.ids.index(triple.id), zh.ids.index(triple.id)
    assert triple.query_en == en.questions[i]
    assert triple.passage_en == en.contexts[en.question_passage[i]]
    assert triple.passage_tgt == zh.contexts[zh.question_passage[j]]


def test_triples_limit_interleaves(data_dir):
    triples = load_triples("mlqa-r", ["zh", "de"], data_dir=data_dir, limit=5)
    assert [t.lang for t in triples] == ["zh", "de", "zh", "de", "zh"]
    assert triples.report.n_loaded == 5 and triples.report.n_over_limit == 504 + 512 - 5
    with pytest.raises(DatasetError, match="ar, de, es, hi, vi, zh"):
        load_triples("mlqa-r", ["en"], data_dir=data_dir)
    with pytest.raises(DatasetError, match="no training triples"):
        load_triples("xquad", data_dir=data_dir)


# --- limit / subset ------------------------------------------------------------------------

def test_limit_keeps_first_questions_and_their_passages(data_dir):
    full = load_dataset("xquad", ["en", "de"], data_dir=data_dir)
    small = load_dataset("xquad", ["en", "de"], data_dir=data_dir, limit=30)
    assert small.n_questions == 30
    assert small.question_ids == full.question_ids[:30]
    used = sorted(set(full.question_passage[:30].tolist()))
    assert small.n_passages == len(used)
    assert sorted(set(small.question_passage.tolist())) == list(range(len(used)))
    for q in range(30):
        for lang in ("en", "de"):
            assert small.passages[lang][small.question_passage[q]] == full.passages[lang][full.question_passage[q]]
    assert small.titles == [full.titles[p] for p in used]
    assert load_dataset("xquad", ["en"], data_dir=data_dir, limit=10_000).n_questions == 1190
    with pytest.raises(ValueError):
        full.subset(0)


def test_subset_reindexes_out_of_order_passages():
    ds = ParallelDataset(
        name="toy", langs=["en"], passages={"en": ["a", "b", "c"]},
        questions={"en": ["q0", "q1", "q2"]}, question_ids=["x", "y", "z"],
        question_passage=np.array([2, 0, 1]), titles=["A", "B", "C"],
    ).validate()
    small = ds.subset(2)
    assert small.passages == {"en": ["a", "c"]}  # passage order kept, "b" dropped
    assert small.question_passage.tolist() == [1, 0]
    assert small.titles == ["A", "C"]


# --- errors --------------------------------------------------------------------------------

def test_unknown_dataset_and_language_errors(data_dir):
    with pytest.raises(DatasetError, match="xquad, belebele, mlqa-r"):
        load_dataset("squad2", ["en"], data_dir=data_dir)
    with pytest.raises(DatasetError, match="supported: ar, de, el, en"):
        load_dataset("xquad", ["en", "fr"], data_dir=data_dir)
    with pytest.raises(FileNotFoundError, match="data fetch belebele --langs zh"):
        load_dataset("belebele", ["en", "zh"], data_dir=data_dir)


def _copy_xquad(data_dir, tmp_path, langs=("en", "de")):
    folder = tmp_path / "xquad"
    folder.mkdir()
    for lang in langs:
        shutil.copy(data_dir / f"xquad/xquad.{lang}.json", folder)
    return folder


def _german_xquad_error(data_dir, tmp_path, edit) -> ParallelismError:
    """The error of loading en+de after `edit(doc)` changed a copy of the German XQuAD file."""
    folder = _copy_xquad(data_dir, tmp_path)
    doc = json.loads((folder / "xquad.de.json").read_text(encoding="utf-8"))
    edit(doc)
    (folder / "xquad.de.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ParallelismError) as err:
        load_dataset("xquad", ["en", "de"], data_dir=tmp_path)
    return err.value


def test_xquad_corrupted_id_names_id_and_file(data_dir, tmp_path):
    def edit(doc):
        doc["data"][3]["paragraphs"][1]["qas"][0]["id"] = "not-the-same-id"

    err = _german_xquad_error(data_dir, tmp_path, edit)
    assert "'not-the-same-id'" in str(err) and "xquad.de.json" in str(err)


def test_xquad_question_moved_to_other_passage(data_dir, tmp_path):
    moved = {}

    def edit(doc):
        paragraphs = doc["data"][0]["paragraphs"]
        moved.update(paragraphs[0]["qas"].pop())  # the last question of passage 0 now sits in passage 1
        paragraphs[1]["qas"].insert(0, moved)

    err = _german_xquad_error(data_dir, tmp_path, edit)
    assert repr(moved["id"]) in str(err) and "xquad.de.json" in str(err)


def test_xquad_missing_questions_named(data_dir, tmp_path):
    last = {}

    def edit(doc):
        last.update(doc["data"][-1]["paragraphs"][-1]["qas"].pop())

    err = _german_xquad_error(data_dir, tmp_path, edit)
    assert repr(last["id"]) in str(err) and "1189 questions" in str(err)


def test_malformed_json_names_file_and_line(data_dir, tmp_path):
    folder = _copy_xquad(data_dir, tmp_path)
    text = json.dumps(json.loads((folder / "xquad.de.json").read_text(encoding="utf-8")), indent=1)
    lines = text.splitlines()
    lines[40] = lines[40] + " oops"
    (folder / "xquad.de.json").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"xquad\.de\.json:41:\d+: invalid JSON"):
        load_dataset("xquad", ["en", "de"], data_dir=tmp_path)


# --- caching -------------------------------------------------------------------------------

def test_parsing_is_cached_and_invalidated_on_change(data_dir, tmp_path):
    folder = _copy_xquad(data_dir, tmp_path, langs=("en",))
    first = load_dataset("xquad", ["en"], data_dir=tmp_path)
    hits = parse_squad.cache_info().hits
    second = load_dataset("xquad", ["en"], data_dir=tmp_path)
    assert parse_squad.cache_info().hits == hits + 1
    # Each call returns fresh lists: a caller's edits never reach the cache.
    second.passages["en"][0] = "edited"
    assert load_dataset("xquad", ["en"], data_dir=tmp_path).passages["en"][0] == first.passages["en"][0]
    # A rewritten file is parsed again.
    doc = json.loads((folder / "xquad.en.json").read_text(encoding="utf-8"))
    doc["data"][0]["paragraphs"][0]["context"] = "changed"
    (folder / "xquad.en.json").write_text(json.dumps(doc), encoding="utf-8")
    assert load_dataset("xquad", ["en"], data_dir=tmp_path).passages["en"][0] == "changed"
