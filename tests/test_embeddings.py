"""The Encoder's disk cache: each unique text embedded once per model and role, shared across
instances and processes, written atomically. Most tests use a counting stand-in for the model
(fast, and proves which texts reached it); a few check the real default model."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import logging

import numpy as np
import pytest

from xldiag import embeddings
from xldiag.embeddings import Encoder, NonFiniteEmbeddingError, ShardStore, text_key

DIM = 8


class CountingModel:
    """Deterministic vectors from sha1(prompt + text), *not* unit length (a stand-in for the
    pre-normalisation output); records every text it embeds. Tokens are words: prompt words +
    text words + 2 special tokens, cut at max_seq_length. Texts in `broken` come back as NaN."""

    prompts: dict = {}
    max_seq_length = 8

    def __init__(self, fail_on_call: int | None = None, broken: dict[str, float] | None = None):
        self.texts: list[str] = []
        self.calls = 0
        self.fail_on_call = fail_on_call
        self.broken = broken or {}

    def encode(self, texts, prompt=None, **kwargs):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("injected model failure")
        self.texts += list(texts)
        return raw_vectors(texts, prompt, self.broken)

    def preprocess(self, texts, prompt=None, processing_kwargs=None, **kwargs):
        assert processing_kwargs["text"]["truncation"] is False  # counts are taken before truncation
        return {"attention_mask": _mask([word_count(t, prompt) for t in texts])}

    def get_embedding_dimension(self):
        return DIM


def word_count(text: str, prompt: str | None) -> int:
    return len(((prompt or "") + text).split()) + 2


def _mask(lengths: list[int]) -> np.ndarray:
    mask = np.zeros((len(lengths), max(lengths)), np.int64)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    return mask


def raw_vectors(texts, prompt=None, broken: dict | None = None) -> np.ndarray:
    """What CountingModel returns: positive rows of norm 3–9 (varying with the text)."""
    rows = [np.frombuffer(hashlib.sha1(((prompt or "") + t).encode()).digest()[:DIM], np.uint8) for t in texts]
    vectors = np.array(rows, np.float32) + 1.0
    vectors *= (1 + np.array([len(t) % 3 for t in texts], np.float32) * 3)[:, None] / np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, t in enumerate(texts):
        if t in (broken or {}):
            vectors[i] = (broken or {})[t]
    return vectors


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def counting_encoder(cache_root, model=None, **kwargs) -> Encoder:
    encoder = Encoder("default", cache_root=cache_root, show_progress=False, **kwargs)
    encoder._model = model or CountingModel()
    return encoder


@pytest.fixture(autouse=True)
def _default_model(default_model_dir):
    """Fingerprints of "default" read the converted folder."""


TEXTS = ["The cat sat.", "Die Katze saß.", "猫が座った。", "The cat sat.", "قطة", "The cat sat.", "แมวนั่ง"]


# ---------------------------------------------------------------------------- caching


def test_duplicates_encoded_once_and_rows_in_input_order(tmp_path):
    enc = counting_encoder(tmp_path)
    out = enc.encode(TEXTS, "query")
    assert out.shape == (len(TEXTS), DIM) and out.dtype == np.float32
    assert sorted(enc.model.texts) == sorted(set(TEXTS))
    assert enc.encoded_count == len(set(TEXTS))
    assert np.array_equal(out[0], out[3]) and np.array_equal(out[0], out[5])
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    direct = raw_vectors(TEXTS, prompt="query: ")
    np.testing.assert_allclose(out, unit(direct), rtol=1e-6)
    assert np.array_equal(enc.encode(TEXTS, "query", normalized=False), direct)


def test_cache_hit_never_loads_the_model(tmp_path):
    first = counting_encoder(tmp_path)
    expected = first.encode(TEXTS, "passage")
    second = Encoder("default", cache_root=tmp_path, show_progress=False)  # real model, lazily
    again = second.encode(TEXTS, "passage")
    assert second._model is None and second.encoded_count == 0
    assert np.array_equal(again, expected)
    # Only the new text reaches the model.
    second._model = CountingModel()
    second.encode(TEXTS + ["new text"], "passage")
    assert second.model.texts == ["new text"]


def test_roles_are_kept_apart(tmp_path):
    enc = counting_encoder(tmp_path)
    queries = enc.encode(TEXTS[:2], "query")
    passages = enc.encode(TEXTS[:2], "passage")
    assert enc.model.calls == 2 and not np.allclose(queries, passages)
    assert {p.name for p in enc.cache_dir.iterdir() if p.is_dir()} == {"query", "passage"}
    with pytest.raises(ValueError):
        enc.encode(TEXTS, "document")


def test_other_writers_are_picked_up(tmp_path):
    """An encoder opened earlier sees shards another encoder wrote since."""
    reader, writer = counting_encoder(tmp_path), counting_encoder(tmp_path)
    reader.encode(["warm-up"], "query")
    writer.encode(TEXTS, "query")
    reader.encode(TEXTS, "query")
    assert reader.model.texts == ["warm-up"]


def test_second_process_reads_the_cache(tmp_path):
    expected = counting_encoder(tmp_path).encode(TEXTS, "query")
    code = (
        "import json, sys, numpy as np; from xldiag.embeddings import Encoder\n"
        f"enc = Encoder('default', cache_root={str(tmp_path)!r}, show_progress=False)\n"
        f"out = enc.encode({TEXTS!r}, 'query')\n"
        "print(json.dumps({'loaded': enc._model is not None, 'encoded': enc.encoded_count, 'out': out.tolist()}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).parent.parent, env={**os.environ})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] is False and report["encoded"] == 0
    assert np.array_equal(np.array(report["out"], np.float32), expected)


def test_progress_callback(tmp_path):
    enc = counting_encoder(tmp_path, batch_size=1)
    seen = []
    enc.encode([f"t{i}" for i in range(20)] + ["t0"], "query", progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 20) and seen[-1] == (20, 20)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    seen.clear()
    enc.encode(["t1", "t2"], "query", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 2)]


def test_empty_input(tmp_path):
    enc = counting_encoder(tmp_path)
    assert enc.encode([], "query").shape == (0, DIM)
    with pytest.raises(TypeError):
        enc.encode([None], "query")


# ----------------------------------------------------------------------- atomicity


def test_failure_mid_encode_keeps_written_shards(tmp_path):
    texts = [f"text number {i}" for i in range(40)]
    # batch_size 2 → shards of 16 texts; the third model call fails.
    broken = counting_encoder(tmp_path, CountingModel(fail_on_call=3), batch_size=2)
    with pytest.raises(RuntimeError, match="injected"):
        broken.encode(texts, "passage")
    folder = broken.cache_dir / "passage"
    assert len(list(folder.glob("shard-*.npz"))) == 2
    assert [p.name for p in folder.iterdir() if not p.name.startswith("shard-")] == []  # no temp files
    resumed = counting_encoder(tmp_path, batch_size=2)
    out = resumed.encode(texts, "passage")
    assert len(resumed.model.texts) == 40 - 32
    assert np.array_equal(resumed.encode(texts, "passage", normalized=False), raw_vectors(texts, prompt="passage: "))
    np.testing.assert_allclose(out, unit(raw_vectors(texts, prompt="passage: ")), rtol=1e-6)


def test_failed_shard_write_leaves_no_file(tmp_path, monkeypatch):
    store = ShardStore(tmp_path / "role")

    def broken_savez(fh, **arrays):
        fh.write(b"partial")
        raise OSError("disk full (injected)")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="injected"):
        store.write_shard([text_key("a")], np.ones((1, DIM), np.float32))
    assert list((tmp_path / "role").iterdir()) == []
    assert store.size == 0


def test_stale_temp_files_are_ignored_and_removed(tmp_path):
    folder = tmp_path / "role"
    folder.mkdir()
    stale = folder / ".shard-1-2-x.npz.abc.tmp"
    stale.write_bytes(b"half a shard")
    old = time.time() - 2 * embeddings.STALE_TEMP_SECONDS
    os.utime(stale, (old, old))
    fresh = folder / ".shard-3-4-y.npz.def.tmp"  # perhaps another process writing right now
    fresh.write_bytes(b"in flight")
    store = ShardStore(folder)
    assert store.size == 0 and not stale.exists() and fresh.exists()


def test_compaction_merges_shards(tmp_path, monkeypatch):
    monkeypatch.setattr(embeddings, "MAX_SHARDS", 3)
    enc = counting_encoder(tmp_path, batch_size=1)
    monkeypatch.setattr(embeddings, "BATCHES_PER_SHARD", 1)
    texts = [f"x{i}" for i in range(10)]
    out = enc.encode(texts, "query")
    assert len(list((enc.cache_dir / "query").glob("shard-*.npz"))) == 1
    fresh = counting_encoder(tmp_path)
    assert np.array_equal(fresh.encode(texts, "query"), out) and fresh.model.calls == 0


def test_warm_lookup_of_30k_texts_reads_every_row(tmp_path):
    """30k texts in six shards: the same rows in-process and after reopening, the model never
    called. (Its speed is measured in bench/embedding_cache_bench.py, not asserted here.)"""
    texts = [f"passage {i} " + "lorem ipsum " * (i % 50) for i in range(30000)]
    enc = counting_encoder(tmp_path)
    store = enc._store("passage")
    rng = np.random.default_rng(0)
    stored = rng.standard_normal((len(texts), DIM)).astype(np.float32)
    for start in range(0, len(texts), 5000):
        part = texts[start : start + 5000]
        store.write_shard([text_key(t) for t in part], stored[start : start + 5000])
    out = enc.encode(texts, "passage", normalized=False)
    assert np.array_equal(out, stored) and enc.model.calls == 0
    reopened = counting_encoder(tmp_path)
    assert np.array_equal(reopened.encode(texts[::-1], "passage", normalized=False), stored[::-1])
    np.testing.assert_allclose(reopened.encode(texts, "passage"), unit(stored), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------- fingerprints


def test_fingerprint_is_stable_and_covers_settings(tmp_path):
    base = Encoder("default", cache_root=tmp_path).fingerprint
    assert Encoder("default", cache_root=tmp_path).fingerprint == base
    assert Encoder(model="default", cache_root=tmp_path).fingerprint == base
    assert Encoder("default", cache_root=tmp_path, prompts={"query": "Q: "}).fingerprint != base
    assert Encoder("default", cache_root=tmp_path, max_seq_length=128).fingerprint != base
    info = json.loads((counting_encoder(tmp_path)._store("query").folder.parent / "info.json").read_text())
    assert info["prompts"] == {"query": "query: ", "passage": "passage: "}


# -------------------------------------------------------------------- the real model


def test_real_model_results_equal_direct_encode(tmp_path, data_dir):
    from xldiag.models import load_model

    texts = []
    for lang in ("en", "th", "zh"):
        data = json.loads((data_dir / "xquad" / f"xquad.{lang}.json").read_text(encoding="utf-8"))
        paragraph = data["data"][0]["paragraphs"][0]
        texts += [paragraph["context"][:400], paragraph["qas"][0]["question"]]
    enc = Encoder("default", cache_root=tmp_path, batch_size=4, show_progress=False)
    model = load_model("default", device="cpu")
    for role, prompt in (("query", "query: "), ("passage", "passage: ")):
        ours = enc.encode(texts + texts[:1], role)
        direct = model.encode(texts, prompt=prompt, normalize_embeddings=True)
        np.testing.assert_allclose(ours[:-1], direct, atol=1e-5)
        assert np.array_equal(ours[-1], ours[0])
    assert enc.encoded_count == 2 * len(texts)


# ------------------------------------------------- pre-normalisation vectors, token counts


def test_cache_keeps_pre_norm_vectors_and_unit_rows_are_derived(tmp_path):
    enc = counting_encoder(tmp_path)
    raw = raw_vectors(TEXTS, prompt="passage: ")
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)  # the stand-in's vectors are not unit
    stored = enc.encode(TEXTS, "passage", normalized=False)
    assert np.array_equal(stored, raw)  # the model's output, bit for bit
    units = counting_encoder(tmp_path).encode(TEXTS, "passage")  # a second encoder: from disk
    np.testing.assert_allclose(units, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(units, axis=1), 1.0, rtol=1e-6)
    with np.load(next((enc.cache_dir / "passage").glob("shard-*.npz"))) as shard:
        assert int(shard["format"]) == embeddings.CACHE_VERSION == 2
        assert set(shard.files) == {"format", "keys", "vectors", "n_tokens", "max_tokens"}


def test_token_counts_are_stored_with_the_vectors(tmp_path):
    """Counts (prompt + special tokens, before truncation) are taken at encode time; a later
    encoder reads them from disk without loading the model."""
    texts = ["one two", "one two three four five six seven", "one two three four"]
    counting_encoder(tmp_path).encode(texts, "query")
    later = Encoder("default", cache_root=tmp_path, show_progress=False)
    counts = later.token_counts(texts + texts[:1], "query")
    assert later._model is None
    # "query: " is one word; + 2 special tokens; the stand-in's max_seq_length is 8.
    assert counts.n_tokens.tolist() == [5, 10, 7, 5]
    assert counts.max_tokens.tolist() == [8, 8, 8, 8]
    assert counts.cut.tolist() == [False, True, False, False]


def test_model_without_token_counts_records_unknown(tmp_path):
    class NoPreprocess(CountingModel):
        preprocess = None  # calling it fails: the counts are unknown, the vectors still cached

    enc = counting_encoder(tmp_path, NoPreprocess())
    enc.encode(TEXTS, "query")
    counts = enc.token_counts(TEXTS, "query")
    assert (counts.n_tokens == -1).all() and not counts.known.any() and not counts.cut.any()


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, 0.0])
def test_non_finite_vectors_are_never_cached(tmp_path, bad_value):
    texts = [f"text {i}" for i in range(10)]
    model = CountingModel(broken={"text 6": bad_value, "text 3": bad_value})
    enc = counting_encoder(tmp_path, model, batch_size=2)  # chunks of 16: all ten in one chunk
    with pytest.raises(NonFiniteEmbeddingError) as caught:
        enc.encode(texts, "passage")
    err = caught.value
    assert err.positions == [3, 6] and err.position == 3 and err.texts == ["text 3", "text 6"]
    assert "'default'" in str(err) and "passage" in str(err) and "'text 3'" in str(err)
    # the good texts of the batch are cached, the bad ones are not (on disk either)
    fresh = counting_encoder(tmp_path)
    assert set(fresh._store("passage").index) == {text_key(t) for t in texts if t not in ("text 3", "text 6")}
    out = fresh.encode(texts, "passage")
    assert sorted(fresh.model.texts) == ["text 3", "text 6"]
    assert np.isfinite(out).all()


def test_old_format_folder_is_announced_and_never_read(tmp_path, caplog, monkeypatch):
    """A format-1 cache of the same model (unit vectors, no counts) is not taken for pre-norm
    vectors: a one-line warning names it, and every text is embedded again."""
    raw = raw_vectors(TEXTS, prompt="passage: ")
    monkeypatch.setattr(embeddings, "CACHE_VERSION", 1)
    old = Encoder("default", cache_root=tmp_path, show_progress=False)
    old_folder = old.cache_dir
    write_format_1_shard(old._store("passage").folder, TEXTS, unit(raw))
    monkeypatch.setattr(embeddings, "CACHE_VERSION", 2)
    new = counting_encoder(tmp_path)
    assert new.cache_dir != old_folder
    with caplog.at_level(logging.WARNING, logger="xldiag.embeddings"):
        stored = new.encode(TEXTS, "passage", normalized=False)
    assert sorted(new.model.texts) == sorted(set(TEXTS))
    assert np.array_equal(stored, raw)
    warnings = [r.getMessage() for r in caplog.records if "cache format 1" in r.getMessage()]
    assert len(warnings) == 1 and str(old_folder) in warnings[0] and "\n" not in warnings[0]
    assert (old_folder / "passage").exists()  # left alone (another version may still use it)


def test_old_format_shard_inside_a_folder_is_skipped(tmp_path, caplog):
    """Even inside the current folder, a shard without the format marker is not read as pre-norm."""
    enc = counting_encoder(tmp_path)
    folder = enc.cache_dir / "passage"
    write_format_1_shard(folder, TEXTS, unit(raw_vectors(TEXTS, prompt="passage: ")))
    with caplog.at_level(logging.WARNING, logger="xldiag.embeddings"):
        stored = enc.encode(TEXTS, "passage", normalized=False)
    assert any("Skipping embedding shard" in r.getMessage() for r in caplog.records)
    assert np.array_equal(stored, raw_vectors(TEXTS, prompt="passage: "))
    assert sorted(enc.model.texts) == sorted(set(TEXTS))


def write_format_1_shard(folder: Path, texts: list[str], vectors: np.ndarray) -> None:
    """A shard as xldiag wrote it before cache format 2: keys and unit vectors only."""
    keys, rows = [], []
    for text, row in zip(texts, vectors):
        if text_key(text) not in keys:
            keys.append(text_key(text))
            rows.append(row)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "shard-1-1-old.npz", "wb") as fh:
        np.savez(fh, keys=np.frombuffer(b"".join(keys), np.uint8).reshape(len(keys), 20),
                 vectors=np.array(rows, np.float32))


def test_real_model_pre_norm_vectors_and_token_counts(tmp_path, data_dir):
    """On real XQuAD passages (one of them 689 tokens long): the cached vectors equal
    alignment.encode_pre_norm, normalise to the unit vectors returned, and the token counts equal
    the tokenizer's own (loaded separately), cut exactly where the model cuts."""
    from transformers import AutoTokenizer

    from xldiag.alignment import encode_pre_norm
    from xldiag.data import load_dataset
    from xldiag.models import load_model
    from xldiag.models.loading import resolve_model

    data = load_dataset("xquad", ["en", "zh"])
    texts = [data.passages["en"][i] for i in (0, 76, 100)] + [data.passages["zh"][5]]
    enc = Encoder("default", cache_root=tmp_path, batch_size=4, show_progress=False)
    pre = enc.encode(texts, "passage", normalized=False)
    units = enc.encode(texts, "passage")
    model = load_model("default", device="cpu")
    expected = encode_pre_norm(model, texts, {"prompt": "passage: "})
    cos = (pre * expected).sum(1) / np.linalg.norm(pre, axis=1) / np.linalg.norm(expected, axis=1)
    assert (cos >= 0.9999).all()
    np.testing.assert_allclose(np.linalg.norm(pre, axis=1), np.linalg.norm(expected, axis=1), rtol=1e-4)
    assert (np.linalg.norm(pre, axis=1) > 1.5).all()  # really before normalisation
    np.testing.assert_allclose(units, pre / np.linalg.norm(pre, axis=1, keepdims=True), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(units, model.encode(texts, prompt="passage: ", normalize_embeddings=True), atol=1e-5)

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default"))
    lengths = [len(ids) for ids in tokenizer(["passage: " + t for t in texts], truncation=False, verbose=False)["input_ids"]]
    counts = enc.token_counts(texts, "passage")
    assert counts.n_tokens.tolist() == lengths and lengths[1] > 512
    assert counts.max_tokens.tolist() == [512] * 4
    assert counts.cut.tolist() == [n > 512 for n in lengths] == [False, True, False, False]
    seen = model.preprocess(texts, prompt="passage: ")["attention_mask"].sum(1).tolist()  # what the model sees
    assert seen == [min(n, 512) for n in lengths]
