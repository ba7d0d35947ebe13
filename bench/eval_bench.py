"""Benchmark: the XQuAD table for one model (default: the embedded multilingual-e5-small), cold
and warm, against two baselines.

In one run, on the same machine, with the same loaded model:
  floor     every unique text of the table encoded once with the model (its family's prompts),
            nothing else — the least any tool can do (`--repeat N` alternates floor and cold N
            times and takes the fastest of each: the figure least disturbed by other work);
  cold      `xldiag.evaluate` with an empty embedding cache (encode + pools + ranks + metrics);
  warm      the same evaluation again, every embedding read from the disk cache;
  per-q     the same, warm, in per-question pools (one doc per question: 2 x questions docs per
            pool, the same distinct passages): copies are scored once, so it costs what unique does;
  baseline  what a user would write: one sentence-transformers InformationRetrievalEvaluator per
            scenario, language pair and query language (each encodes its own queries and corpus).
Targets: cold ≤ 1.15 × floor, warm < 2 s, per-q / warm ≈ 1, baseline / cold ≥ 5.

    XLDIAG_DATA_DIR=../shared/data .venv/bin/python bench/eval_bench.py [--limit 200 | --full]
        [--model use-m3] [--langs zh,ar] [--skip-baseline]

For a second model (`--model use-m3`) the cold cost should be that model's own encode floor: the
evaluation adds the same pools, ranks and metrics whatever the model.

`--set-with default` times `--model` as the second member of an evaluation set (xldiag.evalset:
`eval --model default,use-m3`), in the same run as its floor: the first member reads its
embeddings from the ordinary cache ($XLDIAG_CACHE_DIR; warmed once, untimed, if it is not), the
second starts from an empty cache. set-cold / floor is the cost of adding that model to a set;
target ≤ 1.15 + the first member's warm evaluation (reported beside it).

    XLDIAG_CACHE_DIR=/work/artifacts/cache XLDIAG_DATA_DIR=../shared/data .venv/bin/python \
        bench/eval_bench.py --model use-m3 --set-with default --langs ar,zh,es,th,vi --full --repeat 3
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
from xldiag.evalset import run_evaluation_set  # noqa: E402
from xldiag.evaluate import EvalSpec, evaluate, parse_language_sets  # noqa: E402
from xldiag.vocab import SCENARIOS  # noqa: E402
from xldiag.models import family_of, load_model  # noqa: E402
from xldiag.pools import build_pool  # noqa: E402

PAPER_LANGS = ["ar", "de", "el", "es", "hi", "ro", "th", "tr", "vi", "zh"]


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def encode_floor(model, family, data, langs) -> float:
    """Every unique text encoded exactly once with the family's prompts (the least any tool can do)."""
    passage, query = (family.encode_kwargs(role, model.prompts) for role in ("passage", "query"))

    def run():
        for lang in ["en", *langs]:
            model.encode(sorted(set(data.passages[lang])), batch_size=32, **passage)
            model.encode(sorted(set(data.questions[lang])), batch_size=32, **query)
    return timed(run)[0]


def forget_tokenisations(model) -> None:
    """Drop a model's memo of tokenised texts (use-m3 keeps one), so no timed run reuses another's."""
    tokenizer = getattr(model[0], "tokenizer", None)
    if hasattr(tokenizer, "forget"):
        tokenizer.forget()


def floor_and_cold(model, family, data, langs, repeat: int, cold_run) -> tuple[list[float], list[float]]:
    """`repeat` alternations of floor and cold evaluation (each cold run on an empty cache). On a
    shared machine the fastest of each is the figure least disturbed by other work."""
    floors, colds = [], []
    for rep in range(repeat):
        forget_tokenisations(model)
        floors.append(encode_floor(model, family, data, langs))
        forget_tokenisations(model)
        colds.append(timed(lambda: cold_run(rep))[0])
    return floors, colds


def ir_evaluator_baseline(model, family, data, langs, scenarios) -> float:
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
                        queries, corpus, relevant, query_prompt=family.prompt("query") or None,
                        corpus_prompt=family.prompt("passage") or None,
                        show_progress_bar=False, batch_size=32, name=f"{lang}-{scenario}-{query_lang}",
                    )
                    evaluator(model)
    return timed(run)[0]


def set_cold(args, model, family, data, langs, limit) -> None:
    """`--model` as the second member of a two-model set, cold, against its own encode floor (same run)."""
    spec = EvalSpec(dataset="xquad", language_sets=parse_language_sets(",".join(langs)), limit=limit)
    first = Encoder(args.set_with)  # the ordinary cache: warm after the first (untimed) evaluation
    with tempfile.TemporaryDirectory() as root:
        warm_first, _ = timed(lambda: evaluate(model=args.set_with, dataset="xquad", langs=",".join(langs),
                                               limit=limit, encoder=first))
        first_again, _ = timed(lambda: evaluate(model=args.set_with, dataset="xquad", langs=",".join(langs),
                                                limit=limit, encoder=Encoder(args.set_with)))

        def cold_set(rep):
            second = Encoder(args.model, cache_root=Path(root) / f"cache-{rep}")
            second._model = model  # the loaded model: load time is not part of either figure
            run_evaluation_set(spec, [args.set_with, args.model], Path(root) / f"set-{rep}",
                               encoders={args.set_with: Encoder(args.set_with), args.model: second})
        floors, colds = floor_and_cold(model, family, data, langs, args.repeat, cold_set)
    floor, cold = min(floors), min(colds)
    print(f"{args.set_with} evaluated once to fill its cache: {warm_first:.2f} s; again, warm: {first_again:.2f} s")
    print(f"floor ({args.model}, every unique text once):  {floor:8.2f} s   (runs: {', '.join(f'{t:.1f}' for t in floors)})")
    print(f"set {args.set_with},{args.model} cold for {args.model}: {cold:8.2f} s   (runs: {', '.join(f'{t:.1f}' for t in colds)})")
    print(f"set-cold/floor = {cold / floor:.3f} (fastest of each); minus {args.set_with}'s warm evaluation: "
          f"{(cold - first_again) / floor:.3f} (target <= 1.15); per repetition: "
          + ", ".join(f"{c / f:.3f}" for f, c in zip(floors, colds)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=200, help="questions per language (default 200)")
    parser.add_argument("--full", action="store_true", help="all 1190 XQuAD questions")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the slow IR-evaluator baseline")
    parser.add_argument("--model", default="default", help="model name or folder (default: default; e.g. use-m3)")
    parser.add_argument("--repeat", type=int, default=1, help="alternate floor and cold runs N times; "
                        "the fastest of each is reported (default 1)")
    parser.add_argument("--langs", default=",".join(PAPER_LANGS), help="target languages paired with en "
                        "(default: the paper's ten)")
    parser.add_argument("--set-with", default=None, help="time --model as the second member of an evaluation "
                        "set after this model (whose embeddings come from the ordinary cache)")
    args = parser.parse_args()
    limit = None if args.full else args.limit
    langs = [lang.strip() for lang in args.langs.split(",") if lang.strip()]

    data = load_dataset("xquad", ["en", *langs], limit=limit)
    model, family = load_model(args.model), family_of(args.model)
    n_texts = sum(len(set(data.passages[l])) + len(set(data.questions[l])) for l in ["en", *langs])
    print(f"{args.model} on XQuAD, {len(langs)} pairs x {len(SCENARIOS)} scenarios x 2 query languages, "
          f"limit={limit}, {n_texts} unique texts")
    if args.set_with:
        set_cold(args, model, family, data, langs, limit)
        return

    with tempfile.TemporaryDirectory() as cache_root:
        def run_eval(out, construction="unique", cache=cache_root):
            encoder = Encoder(args.model, cache_root=cache)
            encoder._model = model  # reuse the loaded model: load time is not part of either figure
            return evaluate(model=args.model, dataset="xquad", langs=",".join(langs), limit=limit,
                            out=out, encoder=encoder, construction=construction)
        floors, colds = floor_and_cold(model, family, data, langs, args.repeat,
                                       lambda rep: run_eval(Path(cache_root) / f"run-cold-{rep}",
                                                            cache=Path(cache_root) / f"cache-{rep}"))
        warm, _ = timed(lambda: run_eval(Path(cache_root) / "run-warm", cache=Path(cache_root) / "cache-0"))
        per_q, summary = timed(lambda: run_eval(Path(cache_root) / "run-per-question", "per-question",
                                                cache=Path(cache_root) / "cache-0"))
    floor, cold = min(floors), min(colds)
    print(f"floor (encode every unique text once): {floor:8.2f} s   (runs: {', '.join(f'{t:.1f}' for t in floors)})")
    print(f"xldiag cold:                           {cold:8.2f} s   (runs: {', '.join(f'{t:.1f}' for t in colds)})")
    print(f"cold/floor = {cold / floor:.3f} (fastest of each; target <= 1.15); per repetition: "
          + ", ".join(f"{c / f:.3f}" for f, c in zip(floors, colds)))
    n_docs = int(summary[summary.scenario == "multi"]["n_docs"].max())
    print(f"xldiag warm:                           {warm:8.2f} s   (target < 2 s)")
    print(f"xldiag warm, per-question pools:       {per_q:8.2f} s   per-question/unique = {per_q / warm:.2f}  "
          f"(Multi pools of {n_docs} docs; target about 1)")
    if not args.skip_baseline:
        baseline = ir_evaluator_baseline(model, family, data, langs, SCENARIOS)
        print(f"baseline (IR evaluator per scenario):  {baseline:8.2f} s   baseline/cold = {baseline / cold:.2f}x  "
              f"(target >= 5x)")


if __name__ == "__main__":
    main()
