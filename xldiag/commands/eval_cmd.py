"""`python -m xldiag eval`: evaluate a model on parallel pools and write a run folder.

The evaluation runs as a job (xldiag.jobs) in its --out folder, whoever starts it: status.json
holds its state, progress and settings; a STOP file or SIGTERM (`python -m xldiag runs stop DIR`,
the dashboard's Stop) ends it at its next progress point, as `stopped`.

Several models (`--model default,use-m3,cache/runs/demo/final`) make an evaluation set
(xldiag.evalset): one job in --out, the same pools for every model, one run folder per model
under --out and a combined summary.csv with a `model` column. One model keeps the plain layout.

`--fix lir:1 [--fix-data ntrex]` evaluates the variant `default+lir1@ntrex` (xldiag.fixes): the
model's embeddings corrected by a fix estimated on other text; the name is the run's model, and
works as `--model` too. Several fixes (`--fix center,lir:1/2`) make an evaluation set.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from xldiag import embeddings, jobs, views
from xldiag.evalset import member_names, parse_models, run_evaluation_set, set_fields
from xldiag.evaluate import EvalSpec, run_evaluation
from xldiag.fixes.registry import SPEC_HELP, check_variant, variant_models, variant_or_none
from xldiag.results.coverage import coverage_note
from xldiag.results.launch import KIND, eval_spec, job_fields
from xldiag.fixes.registry import base_model
from xldiag.stats import DEFAULT_RESAMPLES
from xldiag.trec import DEFAULT_DEPTH
from xldiag.vocab import (DEFAULT_FIX_DATA, PAPER_POOL, PAPER_TIES, POOLS, SCENARIOS, TABLE_FILE, TIE_RULES,
                          VIEWS_KIND)


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a model on mixed-language pools",
                                   description="Evaluate a model in the Multi / Multi-1 / Mono-Same / "
                                   "Mono-Cross scenarios and write summary.csv, per_query.parquet, table.md, then the views the "
                                   "dashboard reads (views/: alignment tables, PCA then UMAP maps; xldiag.views).")
    parser.add_argument("--model", default="default",
                        help="'default' (embedded multilingual-e5-small), 'use-m3' (embedded Universal Sentence "
                             "Encoder Multilingual v3), a hub name or a local path; several, comma-separated, "
                             "evaluate each on the same pools into --out/<model>/ (an evaluation set)")
    parser.add_argument("--dataset", default="xquad", help="xquad, belebele, mlqa-r or a JSONL path")
    parser.add_argument("--langs", default="ar,zh,es,th,vi",
                        help="target languages paired with English (ar,zh) or explicit pools (de+zh, en+de+zh)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--pool", default=None, choices=POOLS,
                        help="unique (default): each passage once, the honest pool; per-question: one "
                             "document per question (passages repeated), the pool the paper's table sizes imply")
    parser.add_argument("--ties", default=None,
                        help=f"rank rule for equal scores: one of {', '.join(TIE_RULES)} (default optimistic), "
                             "or several separated by commas (one summary row per rule)")
    parser.add_argument("--paper", action="store_true",
                        help=f"the paper's setting: per-question pool and both tie bounds ({','.join(PAPER_TIES)}), "
                             "since the paper does not say how it broke ties; table.md shows each cell as a range")
    parser.add_argument("--fix", default=None,
                        help=f"evaluate the model corrected by a training-free fix: {SPEC_HELP}; several "
                             "(center,lir:1/2) make an evaluation set of variants, named e.g. default+lir1@ntrex "
                             "(docs/FIXES.md)")
    parser.add_argument("--fix-data", default=None,
                        help="text to estimate the fix on: ntrex (default), tatoeba, mlqa-r or a parallel JSONL path")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N questions only")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_RESAMPLES, metavar="N",
                        help=f"resamples of the queries for the 95%% intervals of the headline metrics in summary.csv "
                             f"(<metric>_lo, <metric>_hi; default {DEFAULT_RESAMPLES}, 0 = none)")
    parser.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (default 0)")
    parser.add_argument("--trec-depth", type=int, default=DEFAULT_DEPTH, metavar="K",
                        help=f"run.trec holds each query's top K docs plus every gold (default {DEFAULT_DEPTH}); "
                             "0 = write no run.trec / qrels.trec")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $XLDIAG_DATA_DIR)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow models whose code lives in their hub repository")
    parser.add_argument("--out", required=True, help="run folder to write (the set's folder for several models)")
    parser.set_defaults(func=run)


def pool_and_ties(args) -> tuple[str, str]:
    """--pool / --ties, or the paper's setting; --paper with a contradicting choice is an error."""
    if not args.paper:
        return args.pool or "unique", args.ties or "optimistic"
    if args.pool not in (None, PAPER_POOL):
        raise ValueError(f"--paper uses the per-question pool; drop --pool {args.pool} or --paper.")
    if args.ties not in (None, ",".join(PAPER_TIES)):
        raise ValueError(f"--paper reports both tie bounds ({','.join(PAPER_TIES)}); drop --ties {args.ties} "
                         "or --paper.")
    return PAPER_POOL, ",".join(PAPER_TIES)


def spec_from_args(args) -> EvalSpec:
    """The EvalSpec the flags describe."""
    construction, ties = pool_and_ties(args)
    return eval_spec(model=args.model, dataset=args.dataset, langs=args.langs, scenarios=args.scenarios,
                     construction=construction, ties=ties, limit=args.limit, data_dir=args.data_dir,
                     trust_remote_code=args.trust_remote_code, bootstrap=args.bootstrap, seed=args.seed,
                     trec_depth=args.trec_depth)


def models_from_args(args) -> list[str]:
    """--model, each corrected by every --fix (estimated on --fix-data) when one is given: variant names."""
    models = parse_models(args.model)
    if args.fix:
        models = variant_models(models, args.fix, args.fix_data or DEFAULT_FIX_DATA)
    elif args.fix_data:
        raise ValueError("--fix-data names the text a fix is estimated on: give --fix too (e.g. --fix lir:1).")
    for model in models:
        check_variant(model)
    return models


def run(args) -> int:
    models = models_from_args(args)
    spec = spec_from_args(args)
    spec.validate()  # a typo is one line, before the folder becomes a job
    if len(models) > 1:
        return run_set(spec, models, Path(args.out))
    spec = dataclasses.replace(spec, model=models[0])
    with jobs.Job(args.out, KIND, **job_fields(spec)) as job:
        encoder = embeddings.Encoder(base_model(spec.model), trust_remote_code=spec.trust_remote_code)
        # The views follow the run folder in the same job, in phase "views": the evaluation is
        # listed as complete meanwhile, and its status shows the UMAP line.
        summary = run_evaluation(spec, out=args.out, progress=job.progress, encoder=encoder,
                                 views_progress=lambda message, fraction: job.progress(message, fraction, phase=VIEWS_KIND))
    if args.fix or variant_or_none(spec.model) is not None:  # say which variant the table is of
        print(f"## {spec.model}\n")
    print((Path(args.out) / TABLE_FILE).read_text(encoding="utf-8"))
    print(f"wrote {args.out}/summary.csv ({len(summary)} rows), per_query.parquet, distractor_share.csv, table.md, "
          f"table.tex{', run.trec, qrels.trec' if spec.trec_depth else ''}, {views.views_dir(args.out).name}/",
          file=sys.stderr)
    print_coverage(spec, [spec.model])
    return 0


def print_coverage(spec: EvalSpec, models: list[str]) -> None:
    """A note on stderr for each model evaluated on languages it was not trained on."""
    for model in models:
        note = coverage_note(model, ["+".join(langs) for langs in spec.language_sets])
        if note:
            print(f"note: {note}", file=sys.stderr)


def run_set(spec: EvalSpec, models: list[str], out: Path) -> int:
    """Several models: one job in `out`, one run folder per model, a combined summary.csv."""
    with jobs.Job(out, KIND, **set_fields(spec, models)) as job:
        summary = run_evaluation_set(spec, models, out, progress=job.progress)
    for model, name in member_names(models).items():
        print(f"## {model} ({out / name})\n")
        print((out / name / TABLE_FILE).read_text(encoding="utf-8"))
    print(f"wrote {out}/summary.csv ({len(summary)} rows, {len(models)} models), set.json and one run folder per "
          f"model: {', '.join(member_names(models).values())}", file=sys.stderr)
    print_coverage(spec, models)
    return 0
