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

import numpy as np
import pytest

from xldiag import embeddings
from xldiag.embeddings import Encoder, ShardStore, text_key

DIM = 8


class CountingModel:
    """Deterministic unit vectors from sha1(prompt + text); records every text it embeds."""

    prompts: dict = {}

    def __init__(self, fail_on_call: int | None = None):
        self.texts: list[str] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def encode(self, texts, prompt=None, **kwargs):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("injected model failure")
        self.texts += list(texts)
        rows = [np.frombuffer(hashlib.sha1(((prompt or "") + t).encode()).digest()[:DIM], np.uint8) for t in texts]
        vectors = np.array(rows, np.float32) + 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def get_embedding_dimension(self):
        return DIM


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
    direct = CountingModel().encode(TEXTS, prompt="query: ")
    assert np.array_equal(out, direct)


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
    assert np.array_equal(out, CountingModel().encode(texts, prompt="passage: "))


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


def test_warm_lookup_of_30k_texts_is_fast(tmp_path):
    texts = [f"passage {i} " + "lorem ipsum " * (i % 50) for i in range(30000)]
    enc = counting_encoder(tmp_path)
    store = enc._store("passage")
    rng = np.random.default_rng(0)
    for start in range(0, len(texts), 5000):
        part = texts[start : start + 5000]
        store.write_shard([text_key(t) for t in part], rng.standard_normal((len(part), DIM)).astype(np.float32))
    started = time.perf_counter()
    out = enc.encode(texts, "passage")
    assert time.perf_counter() - started < 1.0
    assert out.shape == (30000, DIM) and enc.model.calls == 0
    reopened = counting_encoder(tmp_path)
    started = time.perf_counter()
    assert np.array_equal(reopened.encode(texts, "passage"), out)
    assert time.perf_counter() - started < 3.0


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
