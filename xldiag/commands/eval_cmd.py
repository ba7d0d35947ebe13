"""`python -m xldiag eval`: evaluate a model on parallel pools and write a run folder.

The evaluation runs as a job (xldiag.jobs) in its --out folder, whoever starts it: status.json
holds its state, progress and settings; a STOP file or SIGTERM (`python -m xldiag runs stop DIR`,
the dashboard's Stop) ends it at its next progress point, as `stopped`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from xldiag import embeddings, jobs, views
from xldiag.evaluate import EvalSpec, run_evaluation
from xldiag.results.launch import KIND, eval_spec, job_fields
from xldiag.vocab import PAPER_POOL, PAPER_TIES, POOLS, SCENARIOS, TABLE_FILE, TIE_RULES, VIEWS_KIND


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a model on mixed-language pools",
                                   description="Evaluate a model in the Multi / Multi-1 / Mono-Same / "
                                   "Mono-Cross scenarios and write summary.csv, per_query.parquet, table.md, then the views the "
                                   "dashboard reads (views/: alignment tables, PCA then UMAP maps; xldiag.views).")
    parser.add_argument("--model", default="default",
                        help="'default' (embedded multilingual-e5-small), a hub name or a local path")
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
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N questions only")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $XLDIAG_DATA_DIR)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow models whose code lives in their hub repository")
    parser.add_argument("--out", required=True, help="run folder to write")
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
                     trust_remote_code=args.trust_remote_code)


def run(args) -> int:
    spec = spec_from_args(args)
    spec.validate()  # a typo is one line, before the folder becomes a job
    with jobs.Job(args.out, KIND, **job_fields(spec)) as job:
        encoder = embeddings.Encoder(spec.model, trust_remote_code=spec.trust_remote_code)
        # The views follow the run folder in the same job, in phase "views": the evaluation is
        # listed as complete meanwhile, and its status shows the UMAP line.
        summary = run_evaluation(spec, out=args.out, progress=job.progress, encoder=encoder,
                                 views_progress=lambda message, fraction: job.progress(message, fraction, phase=VIEWS_KIND))
    print((Path(args.out) / TABLE_FILE).read_text(encoding="utf-8"))
    print(f"wrote {args.out}/summary.csv ({len(summary)} rows), per_query.parquet, table.md, "
          f"{views.views_dir(args.out).name}/", file=sys.stderr)
    return 0
