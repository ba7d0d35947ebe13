"""Benchmark: the XQuAD table for the default model, cold and warm, against two baselines.

In one run, on the same machine:
  floor     every unique text of the table encoded once with the model, nothing else;
  cold      `xldiag.evaluate` with an empty embedding cache (encode + pools + ranks + metrics);
  warm      the same evaluation again, every embedding read from the disk cache;
  per-q     the same, warm, in per-question pools (one doc per question: 2 x questions docs per
            pool, the same distinct passages): copies are scored once, so it costs what unique does;
  baseline  what a user would write: one sentence-transformers InformationRetrievalEvaluator per
            scenario, language pair and query language (each encodes its own queries and corpus).
Targets: cold ≤ 1.15 × floor, warm < 2 s, per-q / warm ≈ 1, baseline / cold ≥ 5.

    XLDIAG_DATA_DIR=../shared/data .venv/bin/python bench/eval_bench.py [--limit 200 | --full]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xldiag.data import load_dataset  # noqa: E402
from xldiag.embeddings import Encoder  # noqa: E402
from xldiag.evaluate import evaluate  # noqa: E402
from xldiag.vocab import SCENARIOS  # noqa: E402
from xldiag.models import load_model  # noqa: E402
from xldiag.pools import build_pool  # noqa: E402

PAPER_LANGS = ["ar", "de", "el", "es", "hi", "ro", "th", "tr", "vi", "zh"]


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def encode_floor(model, data, langs) -> float:
    """Every unique text encoded exactly once (the least any tool can do)."""
    def run():
        for lang in ["en", *langs]:
            model.encode(sorted(set(data.passages[lang])), prompt_name="passage", batch_size=32)
            model.encode(sorted(set(data.questions[lang])), prompt_name="query", batch_size=32)
    return timed(run)[0]


def ir_evaluator_baseline(model, data, langs, scenarios) -> float:
    """One InformationRetrievalEvaluator per (pair, scenario, query language), as a user would."""
    from sentence_transformers.evaluation import InformationRetrievalEvaluator

    def run():
        for lang in langs:
            for scenario in scenarios:
                for query_lang in ("en", lang):
                    pool = build_pool(data, scenario, query_lang, ["en", lang])
                    corpus = dict(zip(pool.doc_ids, pool.doc_texts))
                    queries = dict(zip(pool.query_ids, pool.query_texts))
                    doc_ids = list(pool.doc_ids)
                    relevant = {q: {doc_ids[d] for d in gold if d >= 0} for q, gold in zip(pool.query_ids, pool.gold)}
                    evaluator = InformationRetrievalEvaluator(
                        queries, corpus, relevant, query_prompt_name="query", corpus_prompt_name="passage",
                        show_progress_bar=False, batch_size=32, name=f"{lang}-{scenario}-{query_lang}",
                    )
                    evaluator(model)
    return timed(run)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=200, help="questions per language (default 200)")
    parser.add_argument("--full", action="store_true", help="all 1190 XQuAD questions")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the slow IR-evaluator baseline")
    args = parser.parse_args()
    limit = None if args.full else args.limit
    langs = PAPER_LANGS

    data = load_dataset("xquad", ["en", *langs], limit=limit)
    model = load_model("default")
    n_texts = sum(len(set(data.passages[l])) + len(set(data.questions[l])) for l in ["en", *langs])
    print(f"XQuAD, {len(langs)} pairs x {len(SCENARIOS)} scenarios x 2 query languages, "
          f"limit={limit}, {n_texts} unique texts")

    floor = encode_floor(model, data, langs)
    print(f"floor (encode every unique text once): {floor:8.2f} s")
    with tempfile.TemporaryDirectory() as cache_root:
        def run_eval(out, construction="unique"):
            encoder = Encoder("default", cache_root=cache_root)
            encoder._model = model  # reuse the loaded model: load time is not part of either figure
            return evaluate(model="default", dataset="xquad", langs=",".join(langs), limit=limit,
                            out=out, encoder=encoder, construction=construction)
        cold, _ = timed(lambda: run_eval(Path(cache_root) / "run-cold"))
        warm, _ = timed(lambda: run_eval(Path(cache_root) / "run-warm"))
        per_q, summary = timed(lambda: run_eval(Path(cache_root) / "run-per-question", "per-question"))
    n_docs = int(summary[summary.scenario == "multi"]["n_docs"].max())
    print(f"xldiag cold:                           {cold:8.2f} s   cold/floor = {cold / floor:.3f}  (target <= 1.15)")
    print(f"xldiag warm:                           {warm:8.2f} s   (target < 2 s)")
    print(f"xldiag warm, per-question pools:       {per_q:8.2f} s   per-question/unique = {per_q / warm:.2f}  "
          f"(Multi pools of {n_docs} docs; target about 1)")
    if not args.skip_baseline:
        baseline = ir_evaluator_baseline(model, data, langs, SCENARIOS)
        print(f"baseline (IR evaluator per scenario):  {baseline:8.2f} s   baseline/cold = {baseline / cold:.2f}x  "
              f"(target >= 5x)")


if __name__ == "__main__":
    main()
