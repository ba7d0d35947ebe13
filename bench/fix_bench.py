"""Benchmark: fitting + applying each fix on 10,000 NTREX texts, against encoding them, in one run.

    XLDIAG_DATA_DIR=../shared/data .venv/bin/python bench/fix_bench.py [--limit N] [--cache-dir DIR]
    XLDIAG_DATA_DIR=../shared/data .venv/bin/python bench/fix_bench.py --alignment [--dataset belebele --lang de]

The texts: the first ⌈N / 12⌉ lines of NTREX-128 in English and its 11 languages (N = 10,000 by
default, 10,008 texts). In one process, on the same machine:
  encode        the default model embeds them all: cold in a fresh embedding cache (a temp
                folder, or `--cache-dir DIR`, where a second run is then warm: no model call);
  encode warm   a new Encoder reads them all back from that cache (no model call);
  fit + apply   per fix: estimate it on those embeddings (shift: on the English–l pairs) and
                correct every text with its language's transform (best of 3);
  fit_fix       the library call end to end (hash the texts, fit, save to a fix cache) and a
                second call (a cache hit).
The target: fit + apply a small fraction of encoding (ratios printed).

`--alignment`: the sanity check of docs/FIXES.md — XQuAD en+zh, the mean cosine of parallel
passages vs unrelated pairs, and Max@R / Complete@10 of the Multi pool per query language, before
and after each fix variant estimated on NTREX (per role, unit vectors; for comparison the passage
estimate applied to both roles, and the per-role fix on pre-normalisation vectors).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xldiag import config  # noqa: E402
from xldiag.data import load_dataset  # noqa: E402
from xldiag.data.corpora import NTREX_CODES, load_corpus  # noqa: E402
from xldiag.embeddings import Encoder  # noqa: E402
from xldiag.evaluate import pool_embeddings  # noqa: E402
from xldiag.fixes import correct_embeddings, fit_fix, fit_variant, method_of, parse_fix, unit_rows  # noqa: E402
from xldiag.metrics import complete_at_k, max_rank  # noqa: E402
from xldiag.pools import build_pool  # noqa: E402
from xldiag.ranking import rank_gold  # noqa: E402

SPECS = ["center", "lir:1", "lsar:1", "shift:1"]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def best_of(fn, repeats: int = 3) -> float:
    return min(timed(fn)[1] for _ in range(repeats))


def bench_texts(limit: int):
    """(corpus limited to ⌈limit / languages⌉ lines, {lang: texts})."""
    targets = list(NTREX_CODES)
    per = math.ceil(limit / (len(targets) + 1))
    corpus = load_corpus("ntrex", targets, limit=per)
    return corpus, {lang: corpus.texts(lang) for lang in corpus.langs}


def reread(root: str, texts: dict) -> None:
    """Every text through a new Encoder on the same cache (one Encoder: its shards are read once)."""
    encoder = Encoder("default", cache_root=root, show_progress=False)
    for part in texts.values():
        encoder.encode(part, "passage")


def fit_and_apply(spec, embeddings: dict, pairs: dict) -> None:
    method = method_of(spec.method)
    fix = method.fit_arrays(spec, {} if method.uses_pairs else embeddings, pairs if method.uses_pairs else None)
    for lang, matrix in embeddings.items():
        fix.apply(matrix, lang)


def speed(limit: int, cache_dir: str | None) -> None:
    corpus, texts = bench_texts(limit)
    n = sum(len(t) for t in texts.values())
    with tempfile.TemporaryDirectory() as tmp:
        root = cache_dir or tmp
        encoder = Encoder("default", cache_root=root, show_progress=False)
        embeddings, cold = timed(lambda: {lang: encoder.encode(t, "passage") for lang, t in texts.items()})
        sent = encoder.encoded_count
        _, warm = timed(lambda: reread(root, texts))
        pairs = {lang: (encoder.encode(corpus.pairs(lang)[0], "passage"), encoder.encode(corpus.pairs(lang)[1], "passage"))
                 for lang in corpus.langs[1:]}
        print(f"{n} NTREX texts, {len(texts)} languages, default model, device {config.device()}")
        print(f"encode:      {cold:8.2f} s  ({sent} distinct texts sent to the model"
              f"{'' if sent else ': all were in the cache, so this run is warm'})")
        print(f"encode warm: {warm:8.2f} s  (a new Encoder reading them all from the cache)")
        for text in SPECS:
            spec = parse_fix(text)
            seconds = best_of(lambda: fit_and_apply(spec, embeddings, pairs))
            print(f"{spec.label:7s} fit + apply {seconds:7.3f} s   / encode = {seconds / cold:9.2e}"
                  f"   / encode warm = {seconds / warm:9.2e}")
        for text in SPECS:
            fixes = Path(tmp) / "fixes"
            _, first = timed(lambda: fit_fix(encoder, text, corpus, corpus.langs, cache_root=fixes))
            _, hit = timed(lambda: fit_fix(encoder, text, corpus, corpus.langs, cache_root=fixes))
            print(f"fit_fix {text:7s} (warm embeddings) {first:6.3f} s, cache hit {hit:6.3f} s")


# ------------------------------------------------------------------------------- alignment


def cosines(en: np.ndarray, other: np.ndarray) -> dict:
    """Parallel passages vs unrelated pairs (same language, cross language), unit rows."""
    off = ~np.eye(len(en), dtype=bool)
    parallel = float(np.mean(np.sum(en * other, axis=1)))
    same = (float(np.mean((en @ en.T)[off])) + float(np.mean((other @ other.T)[off]))) / 2
    return {"parallel": parallel, "unrelated same-lang": same,
            "unrelated cross-lang": float(np.mean((en @ other.T)[off])), "margin": parallel - same}


def multi_max_r(embeddings: dict, dataset) -> dict:
    """Per query language: mean Max@R and Complete@10 in the Multi pool (unique passages of both
    languages; both translations are gold), optimistic ties — what `xldiag.evaluate` reports."""
    out = {}
    for lang in dataset.langs:
        pool = build_pool(dataset, "multi", lang, dataset.langs)
        queries, texts = pool_embeddings(pool, embeddings)
        ranks = rank_gold(queries, texts, pool.gold, excluded=pool.excluded, doc_text=pool.text_id).ranks
        out[f"Max@R {lang}-q"] = float(np.nanmean(max_rank(ranks)))
        out[f"C@10 {lang}-q"] = float(complete_at_k(ranks, 10))
    return out


def alignment(encoder: Encoder, name: str, target: str) -> None:
    dataset = load_dataset(name, ["en", target])
    raw = {(role, lang): encoder.encode(getattr(dataset, "passages" if role == "passage" else "questions")[lang],
                                        role, normalized=False)
           for role in ("passage", "query") for lang in dataset.langs}
    unit = {key: unit_rows(v) for key, v in raw.items()}
    rows = [("none", measure(unit, dataset))]
    ntrex = load_corpus("ntrex", [target])
    for text in SPECS + ["shift:0.5"]:
        variant = fit_variant(encoder, text, ntrex, dataset.langs, evaluation=dataset)
        rows.append((variant.variant_name(), measure(correct_embeddings(variant, unit), dataset)))
        shared = variant.fix("passage")
        rows.append(("  shared (passage estimate)", measure(correct_embeddings(shared, unit), dataset)))
        rows.append(("  pre-norm vectors", measure(pre_norm_variant(encoder, variant, ntrex, raw), dataset)))
    print_table(rows, dataset)


def pre_norm_variant(encoder: Encoder, variant, corpus, raw: dict) -> dict:
    """The same per-role fix estimated on and applied to the pre-normalisation vectors, renormalised after."""
    spec = variant.spec
    method = method_of(spec.method)
    out = {}
    for role in ("query", "passage"):
        mono = {lang: encoder.encode(corpus.texts(lang), role, normalized=False) for lang in corpus.langs}
        pairs = {lang: tuple(encoder.encode(side, role, normalized=False) for side in corpus.pairs(lang))
                 for lang in corpus.langs[1:]}
        fix = method.fit_arrays(spec, {} if method.uses_pairs else mono, pairs if method.uses_pairs else None)
        out.update({key: fix.apply(v, key[1]) for key, v in raw.items() if key[0] == role})
    return out


def measure(embeddings: dict, dataset) -> dict:
    en, other = (embeddings[("passage", lang)] for lang in dataset.langs)
    return {**cosines(en, other), **multi_max_r(embeddings, dataset)}


def print_table(rows: list[tuple[str, dict]], dataset) -> None:
    columns = list(rows[0][1])
    print(f"{dataset.name} {'+'.join(dataset.langs)} ({dataset.n_passages} passages, {dataset.n_questions} questions "
          "per language), default model, fixes estimated on NTREX")
    print(f"{'variant':30s}" + "".join(f"{c:>21s}" for c in columns))
    for name, values in rows:
        print(f"{name:30s}" + "".join(f"{values[c]:21.4f}" if abs(values[c]) < 1 else f"{values[c]:21.1f}"
                                      for c in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=10_000, help="texts in all (default 10000)")
    parser.add_argument("--cache-dir", help="embedding cache folder (default: a fresh temp folder, i.e. cold)")
    parser.add_argument("--alignment", action="store_true", help="print the sanity table (XQuAD en+zh) instead")
    parser.add_argument("--dataset", default="xquad", help="--alignment: the evaluation dataset (default xquad)")
    parser.add_argument("--lang", default="zh", help="--alignment: the language beside English (default zh)")
    args = parser.parse_args()
    if args.alignment:
        alignment(Encoder("default", show_progress=False), args.dataset, args.lang)
    else:
        speed(args.limit, args.cache_dir)


if __name__ == "__main__":
    main()
