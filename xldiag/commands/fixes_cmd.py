"""`python -m xldiag fixes`: the fix lab — a model, every training-free fix (its default parameter and
a small sweep) and fine-tuned checkpoints evaluated on the same pools, and one table (fixes.csv,
fixes.md) of what each gains and costs.

    python -m xldiag fixes --model default --dataset xquad --langs zh,ar \\
        --checkpoint cache/runs/demo/final --out cache/evals/fixes

One job in --out (status.json, STOP, `runs stop`, as for `eval`); one run folder per model inside
(an evaluation set, xldiag.evalset), kept on a second run: only missing members are evaluated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from xldiag import jobs
from xldiag.commands.eval_cmd import pool_and_ties
from xldiag.evalset import set_fields
from xldiag.fixlab import DEFAULT_SWEEP, LAB_SCENARIOS, TABLE_CSV, TABLE_MD, lab_models, run_fix_lab
from xldiag.fixes.registry import SPEC_HELP, check_variant
from xldiag.results.launch import KIND, eval_spec
from xldiag.vocab import DEFAULT_FIX_DATA, POOLS, TIE_RULES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fixes", help="compare training-free fixes with the base model and fine-tuned checkpoints",
        description="Evaluate a model, its fix variants and fine-tuned checkpoints on the same pools (Multi, "
                    "Multi-1, Mono-Same) and write one table: fixes.csv and fixes.md.")
    parser.add_argument("--model", default="default", help="the base model (as for eval)")
    parser.add_argument("--dataset", default="xquad", help="xquad, belebele, mlqa-r or a JSONL path")
    parser.add_argument("--langs", default="zh,ar", help="target languages paired with English, or pools (de+zh)")
    parser.add_argument("--fixes", default=DEFAULT_SWEEP,
                        help=f"the fixes to evaluate, comma-separated, '/' for a sweep of a parameter ({SPEC_HELP}); "
                             f"default {DEFAULT_SWEEP}")
    parser.add_argument("--fix-data", default=DEFAULT_FIX_DATA,
                        help="text the fixes are estimated on: ntrex (default), tatoeba, mlqa-r or a JSONL path")
    parser.add_argument("--checkpoint", action="append", default=[],
                        help="a fine-tuned checkpoint folder to put beside the fixes (repeatable)")
    parser.add_argument("--pool", default=None, choices=POOLS, help="unique (default) or per-question")
    parser.add_argument("--ties", default=None, help=f"one of {', '.join(TIE_RULES)} (default optimistic)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N questions only")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $XLDIAG_DATA_DIR)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow models whose code lives in their hub repository")
    parser.add_argument("--out", required=True, help="the lab's folder (an evaluation set)")
    parser.set_defaults(func=run, paper=False)


def run(args) -> int:
    models = lab_models(args.model, args.fixes, args.fix_data, args.checkpoint)
    for model in models:
        check_variant(model)
    construction, ties = pool_and_ties(args)
    spec = eval_spec(model=args.model, dataset=args.dataset, langs=args.langs, scenarios=list(LAB_SCENARIOS),
                     construction=construction, ties=ties, limit=args.limit, data_dir=args.data_dir,
                     trust_remote_code=args.trust_remote_code)
    spec.validate()
    out = Path(args.out)
    with jobs.Job(out, KIND, **set_fields(spec, models)) as job:
        table = run_fix_lab(spec, models, out, progress=job.progress)
    print((out / TABLE_MD).read_text(encoding="utf-8"))
    print(f"wrote {out / TABLE_CSV} and {out / TABLE_MD} ({len(table)} rows: {len(models)} models × "
          f"{len(spec.language_sets)} language sets) and one run folder per model", file=sys.stderr)
    return 0
