"""Benchmark: fitting + applying each fix on 10,000 NTREX texts, against encoding them, in one run.

    XLDIAG_DATA_DIR=../shared/data .venv/bin/python bench/fix_bench.py [--limit N] [--cache-dir DIR]
    XLDIAG_DATA_DIR=../shared/data .venv/bin/python bench/fix_bench.py --alignment

The texts: the first ⌈N / 12⌉ lines of NTREX-128 in English and its 11 languages (N = 10,000 by
default, 10,008 texts). In one process, on the same machine:
  encode cold   the default model embeds them all (a fresh embedding cache in a temp folder, or
                `--cache-dir DIR`: a second run on the same DIR is then warm);
  encode warm   a new Encoder reads them all back from that cache (no model call);
  fit + apply   per fix: estimate it on those embeddings (shift: on the English–l pairs) and
                correct every text with its language's transform (best of 3);
  fit_fix       the library call end to end (hash the texts, fit, save to a fix cache) and a
                second call (a cache hit).
The target: fit + apply a small fraction of encoding (ratios printed).

`--alignment`: the sanity check of docs/FIXES.md — XQuAD en+zh, the mean cosine of parallel
passages vs unrelated pairs, and of each question with its two gold passages, before and after
each fix estimated on NTREX (unit vectors; pre-normalisation vectors and a query-role estimate
for comparison).
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
from xldiag.fixes import fit_fix, method_of, parse_fix, unit_rows  # noqa: E402

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
        _, warm = timed(lambda: [Encoder("default", cache_root=root, show_progress=False).encode(t, "passage")
                                 for t in texts.values()])
        pairs = {lang: (encoder.encode(corpus.pairs(lang)[0], "passage"), encoder.encode(corpus.pairs(lang)[1], "passage"))
                 for lang in corpus.langs[1:]}
        print(f"{n} NTREX texts, {len(texts)} languages, default model, device {config.device()}")
        print(f"encode cold: {cold:8.2f} s  ({sent} texts sent to the model{'' if sent == n else ': cache was warm'})")
        print(f"encode warm: {warm:8.2f} s  (a new Encoder reading the cache)")
        for text in SPECS:
            spec = parse_fix(text)
            seconds = best_of(lambda: fit_and_apply(spec, embeddings, pairs))
            print(f"{spec.label:7s} fit + apply {seconds:7.3f} s   / encode cold = {seconds / cold:.4f}"
                  f"   / encode warm = {seconds / warm:.3f}")
        for text in SPECS:
            fixes = Path(tmp) / "fixes"
            _, first = timed(lambda: fit_fix(encoder, text, corpus, corpus.langs, cache_root=fixes))
            _, hit = timed(lambda: fit_fix(encoder, text, corpus, corpus.langs, cache_root=fixes))
            print(f"fit_fix {text:7s} (warm embeddings) {first:6.3f} s, cache hit {hit:6.3f} s")


# ------------------------------------------------------------------------------- alignment


def cosines(en: np.ndarray, zh: np.ndarray) -> dict:
    """Parallel passages vs unrelated pairs (same language, cross language), unit rows."""
    off = ~np.eye(len(en), dtype=bool)
    parallel = float(np.mean(np.sum(en * zh, axis=1)))
    same = (float(np.mean((en @ en.T)[off])) + float(np.mean((zh @ zh.T)[off]))) / 2
    return {"parallel": parallel, "unrelated same-lang": same, "unrelated cross-lang": float(np.mean((en @ zh.T)[off])),
            "margin": parallel - same}


def gold_gap(queries: dict, passages: dict, gold: np.ndarray) -> dict:
    """Per query language: mean cos(q, its same-language gold) − cos(q, its other-language gold)."""
    out = {}
    for lang, other in (("en", "zh"), ("zh", "en")):
        q = queries[lang]
        out[f"gap {lang}-q"] = float(np.mean(np.sum(q * passages[lang][gold], 1) - np.sum(q * passages[other][gold], 1)))
    return out


def alignment(encoder: Encoder) -> None:
    xquad = load_dataset("xquad", ["en", "zh"])
    gold = xquad.question_passage
    raw = {(role, lang): encoder.encode(getattr(xquad, "passages" if role == "passage" else "questions")[lang], role,
                                        normalized=False)
           for role in ("passage", "query") for lang in ("en", "zh")}
    unit = {key: unit_rows(v) for key, v in raw.items()}
    rows = [("none", measure(unit, gold))]
    ntrex = load_corpus("ntrex", ["zh"])
    for text in SPECS + ["shift:0.5"]:
        fix = fit_fix(encoder, text, ntrex, ["en", "zh"])
        rows.append((fix.variant_name(), measure({k: fix.apply(v, k[1]) for k, v in unit.items()}, gold)))
        per_role = fit_fix(encoder, text, ntrex, ["en", "zh"], role="query")
        both = {k: (per_role if k[0] == "query" else fix).apply(v, k[1]) for k, v in unit.items()}
        rows.append(("  per-role (query estimate)", measure(both, gold)))
        rows.append(("  pre-norm vectors", measure(pre_norm_variant(encoder, fix, ntrex, raw), gold)))
    print_table(rows)


def pre_norm_variant(encoder: Encoder, fix, corpus, raw: dict) -> dict:
    """The same fix estimated on and applied to the pre-normalisation vectors, renormalised after."""
    method = method_of(fix.spec.method)
    mono = {lang: encoder.encode(corpus.texts(lang), "passage", normalized=False) for lang in ("en", "zh")}
    pairs = {"zh": tuple(encoder.encode(side, "passage", normalized=False) for side in corpus.pairs("zh"))}
    pre = method.fit_arrays(fix.spec, {} if method.uses_pairs else mono, pairs if method.uses_pairs else None)
    return {k: pre.apply(v, k[1]) for k, v in raw.items()}


def measure(embeddings: dict, gold: np.ndarray) -> dict:
    return {**cosines(embeddings[("passage", "en")], embeddings[("passage", "zh")]),
            **gold_gap({lang: embeddings[("query", lang)] for lang in ("en", "zh")},
                       {lang: embeddings[("passage", lang)] for lang in ("en", "zh")}, gold)}


def print_table(rows: list[tuple[str, dict]]) -> None:
    columns = list(rows[0][1])
    print("XQuAD en+zh (240 passages, 1,190 questions per language), default model, fixes estimated on NTREX")
    print(f"{'variant':30s}" + "".join(f"{c:>22s}" for c in columns))
    for name, values in rows:
        print(f"{name:30s}" + "".join(f"{values[c]:22.4f}" for c in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=10_000, help="texts in all (default 10000)")
    parser.add_argument("--cache-dir", help="embedding cache folder (default: a fresh temp folder, i.e. cold)")
    parser.add_argument("--alignment", action="store_true", help="print the XQuAD en+zh sanity table instead")
    args = parser.parse_args()
    if args.alignment:
        alignment(Encoder("default", show_progress=False))
    else:
        speed(args.limit, args.cache_dir)


if __name__ == "__main__":
    main()
