"""Benchmark: a warm lookup of 30 000 texts in the embedding cache, against a bare baseline.

In one run, on the same machine, with 30 000 random 384-d vectors in six shards:
  baseline  what any disk cache must do at least: np.load every shard, a dict from key to row,
            hash each text, gather the rows (no normalisation, no token counts);
  reopen    a new Encoder: reads the shards (vectors, token counts, norms), hashes, gathers unit rows;
  same      the same Encoder again (shards already in memory): hash and gather unit rows.
Targets: reopen ≤ 2.5 × baseline, same ≤ 1 × baseline (each the best of 5).

    .venv/bin/python bench/embedding_cache_bench.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xldiag.embeddings import Encoder, text_key  # noqa: E402

N, DIM, SHARDS = 30_000, 384, 6


class NoModel:
    """Stands in for the model: the benchmark must never reach it."""

    prompts: dict = {}

    def encode(self, *args, **kwargs):
        raise AssertionError("a warm lookup called the model")


def best_of(fn, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def encoder(root: str) -> Encoder:
    enc = Encoder("default", cache_root=root, show_progress=False)
    enc._model = NoModel()
    return enc


def bare_lookup(folder: Path, texts: list[str]) -> np.ndarray:
    index, blocks, size = {}, [], 0
    for path in sorted(folder.glob("shard-*.npz")):
        with np.load(path) as data:
            keys, vectors = data["keys"], data["vectors"]
        raw = keys.tobytes()
        for i in range(len(keys)):
            index[raw[i * 20:(i + 1) * 20]] = size + i
        blocks.append(vectors)
        size += len(keys)
    matrix = np.concatenate(blocks)
    return matrix[[index[text_key(t)] for t in texts]]


def main() -> None:
    texts = [f"passage {i} " + "lorem ipsum " * (i % 50) for i in range(N)]
    with tempfile.TemporaryDirectory() as root:
        store = encoder(root)._store("passage")
        vectors = np.random.default_rng(0).standard_normal((N, DIM)).astype(np.float32)
        step = N // SHARDS
        for start in range(0, N, step):
            part = texts[start:start + step]
            store.write_shard([text_key(t) for t in part], vectors[start:start + step],
                              np.full(len(part), 100), np.full(len(part), 512))
        baseline = best_of(lambda: bare_lookup(store.folder, texts))
        reopen = best_of(lambda: encoder(root).encode(texts, "passage"))
        warm = encoder(root)
        warm.encode(texts, "passage")
        same = best_of(lambda: warm.encode(texts, "passage"))
    print(f"warm lookup of {N} texts ({DIM}-d, {SHARDS} shards), best of 5")
    print(f"baseline (np.load + dict + gather): {baseline:6.3f} s")
    print(f"reopen (new Encoder):               {reopen:6.3f} s   reopen/baseline = {reopen / baseline:.2f}  "
          "(target <= 2.5)")
    print(f"same Encoder again:                 {same:6.3f} s   same/baseline   = {same / baseline:.2f}  "
          "(target <= 1)")


if __name__ == "__main__":
    main()
