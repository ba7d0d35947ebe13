"""The JSONL formats for a user's own data: round trips and error reporting with line numbers."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from xldiag.data import (
    DataFormatError,
    DatasetError,
    ParallelismError,
    Triple,
    TriplesFormatError,
    TriplesWarning,
    load_dataset,
    load_triples,
    write_jsonl_dataset,
    write_triples_jsonl,
)


def _write_lines(path, rows):
    path.write_text("".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) + "\n"
                            for r in rows), encoding="utf-8")
    return path


def _assert_same(a, b):
    assert a.langs == b.langs
    assert a.passages == b.passages
    assert a.questions == b.questions
    assert a.question_ids == b.question_ids
    assert np.array_equal(a.question_passage, b.question_passage)
    assert a.titles == b.titles


# --- parallel dataset JSONL ----------------------------------------------------------------

@pytest.mark.parametrize("name,langs,limit", [("xquad", ["en", "de", "zh"], 200), ("belebele", ["en", "de"], None)])
def test_dataset_jsonl_round_trip(data_dir, tmp_path, name, langs, limit):
    original = load_dataset(name, langs, data_dir=data_dir, limit=limit)
    path = write_jsonl_dataset(original, tmp_path / f"{name}.jsonl")
    _assert_same(load_dataset(str(path), langs), original)
    _assert_same(load_dataset(f"jsonl:{path}"), original)  # langs=None: every language in the file
    only_de = load_dataset(path, ["de"], limit=20)
    assert only_de.langs == ["de"] and only_de.n_questions == 20


def test_dataset_jsonl_simple_form_distractors_and_merging(tmp_path):
    path = _write_lines(tmp_path / "own.jsonl", [
        {"id": "a", "passages": {"en": "Cats purr.", "de": "Katzen schnurren."},
         "questions": {"en": "Who purrs?", "de": "Wer schnurrt?"}},
        {"id": "b", "passages": {"en": "Cats purr.", "de": "Katzen schnurren."},  # same passage again
         "questions": {"en": "What do cats do?", "de": "Was tun Katzen?"}},
        {"id": "c", "passages": {"en": "Dogs bark.", "de": "Hunde bellen."}},  # distractor only
        {"id": "d", "title": "Birds", "passages": {"en": "Birds sing.", "de": "Vögel singen."},
         "questions": [{"id": "d1", "text": {"en": "Who sings?", "de": "Wer singt?"}},
                       {"text": {"en": "What do birds do?", "de": "Was tun Vögel?"}}]},
    ])
    ds = load_dataset(path)
    assert ds.langs == ["en", "de"]
    assert ds.passages["en"] == ["Cats purr.", "Dogs bark.", "Birds sing."]
    assert ds.question_ids == ["a", "b", "d1", "d#2"]
    assert ds.question_passage.tolist() == [0, 0, 2, 2]
    assert ds.titles == ["", "", "Birds"]


def test_dataset_jsonl_errors_name_file_and_line(tmp_path):
    good = {"id": "a", "passages": {"en": "x", "de": "y"}, "questions": {"en": "q", "de": "f"}}
    bad_json = _write_lines(tmp_path / "bad_json.jsonl", [good, "\n", '{"id": "b", "passages": \n'])
    with pytest.raises(DataFormatError, match=r"bad_json\.jsonl:3: invalid JSON"):
        load_dataset(bad_json)

    missing = _write_lines(tmp_path / "missing.jsonl", [
        good, {"id": "b", "passages": {"en": "x2"}, "questions": {"en": "q2"}}])
    with pytest.raises(ParallelismError, match=r"missing\.jsonl:2: item 'b' has no 'de' text"):
        load_dataset(missing, ["en", "de"])
    assert load_dataset(missing).langs == ["en"]  # the languages every line has

    q_missing = _write_lines(tmp_path / "q_missing.jsonl", [
        good, {"id": "b", "passages": {"en": "x2", "de": "y2"}, "questions": {"en": "q2"}}])
    with pytest.raises(ParallelismError, match=r"q_missing\.jsonl:2: item 'b' has no 'de'"):
        load_dataset(q_missing, ["en", "de"])

    dup = _write_lines(tmp_path / "dup.jsonl", [good, {**good, "passages": {"en": "z", "de": "w"}}])
    with pytest.raises(DataFormatError, match=r"dup\.jsonl:2: question id 'a' already used on line 1"):
        load_dataset(dup)

    empty_text = _write_lines(tmp_path / "empty.jsonl", [{"id": "a", "passages": {"en": " "}}])
    with pytest.raises(DataFormatError, match=r"empty\.jsonl:1: passages\['en'\] must be a non-empty string"):
        load_dataset(empty_text)

    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "nope.jsonl")


# --- triples JSONL -------------------------------------------------------------------------

def test_triples_jsonl_round_trip(data_dir, tmp_path):
    original = load_triples("mlqa-r", ["de", "hi"], data_dir=data_dir, limit=40)
    path = write_triples_jsonl(original, tmp_path / "triples.jsonl")
    again = load_triples(path, ["de", "hi"])
    assert list(again) == list(original)
    assert again.report.n_rows == 40 and again.report.n_bad == 0
    assert list(load_triples(f"jsonl:{path}")) == list(original)  # file order of languages: de, hi


def _triple(i, lang="de", **changes):
    row = {"id": f"t{i}", "lang": lang, "query_en": f"q{i}", "passage_en": f"p{i}", "passage_tgt": f"z{i}"}
    row.update(changes)
    return {k: v for k, v in row.items() if v is not None}


def test_triples_bad_rows_counted_with_line_numbers(tmp_path):
    path = _write_lines(tmp_path / "mixed.jsonl", [
        _triple(1),                               # 1 good
        "{not json}\n",                           # 2 malformed
        _triple(3, passage_tgt=None),             # 3 missing field
        "\n",                                     # 4 blank (skipped, not a row)
        _triple(5, query_en="  "),                # 5 empty text
        _triple(1),                               # 6 duplicate (lang, id)
        _triple(7, lang="zh"),                    # 7 good, other language
        ["a", "list"],                            # 8 not an object
        _triple(9),                               # 9 good
        {"lang": "de", "query_en": "q", "passage_en": "p", "passage_tgt": "z"},  # 10 good, id from line
    ])
    with pytest.warns(TriplesWarning, match=r"mixed\.jsonl: 3 triples loaded from 9 rows \(5 bad"):
        triples = load_triples(path, ["de"])
    assert [t.id for t in triples] == ["t1", "t9", "line10"]
    report = triples.report
    assert [b.line for b in report.bad] == [2, 3, 5, 6, 8]
    assert "missing field 'passage_tgt'" in report.bad[1].reason
    assert "duplicate id 't1'" in report.bad[3].reason
    assert (report.n_rows, report.n_bad, report.n_other_lang, report.n_loaded) == (9, 5, 1, 3)
    assert report.n_rows == report.n_bad + report.n_other_lang + report.n_loaded  # nothing unaccounted

    with pytest.raises(TriplesFormatError, match=r"mixed\.jsonl:2: invalid JSON"):
        load_triples(path, ["de"], strict=True)
    with pytest.raises(DatasetError, match="languages in the file: de, zh"):
        load_triples(path, ["ar"])


def test_triples_jsonl_limit_and_languages(tmp_path):
    rows = [_triple(i, lang="de") for i in range(4)] + [_triple(i, lang="ar") for i in range(2)]
    path = _write_lines(tmp_path / "t.jsonl", rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean file raises no warning
        triples = load_triples(path, limit=5)
    assert [(t.lang, t.id) for t in triples] == [("de", "t0"), ("ar", "t0"), ("de", "t1"), ("ar", "t1"), ("de", "t2")]
    assert triples.report.n_over_limit == 1
    assert isinstance(triples[0], Triple)
