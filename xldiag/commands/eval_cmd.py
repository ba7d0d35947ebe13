"""`python -m xldiag eval`: evaluate a model on parallel pools and write a run folder."""

from __future__ import annotations

import sys
from pathlib import Path

from xldiag.evaluate import CONSTRUCTIONS, SCENARIOS, TIE_RULES


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a model on mixed-language pools",
                                   description="Evaluate a model in the Multi / Multi-1 / Mono-Same / "
                                   "Mono-Cross scenarios and write summary.csv, per_query.parquet, table.md.")
    parser.add_argument("--model", default="default",
                        help="'default' (embedded multilingual-e5-small), a hub name or a local path")
    parser.add_argument("--dataset", default="xquad", help="xquad, belebele, mlqa-r or a JSONL path")
    parser.add_argument("--langs", default="ar,zh,es,th,vi",
                        help="target languages paired with English (ar,zh) or explicit pools (de+zh, en+de+zh)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--pool", default="unique", choices=CONSTRUCTIONS,
                        help="unique: each passage once; per-question: one document per question")
    parser.add_argument("--ties", default="optimistic", choices=TIE_RULES, help="rank rule for equal scores")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N questions only")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $XLDIAG_DATA_DIR)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow models whose code lives in their hub repository")
    parser.add_argument("--out", required=True, help="run folder to write")
    parser.set_defaults(func=run)


def run(args) -> int:
    from xldiag.evaluate import evaluate

    summary = evaluate(
        model=args.model, dataset=args.dataset, langs=args.langs,
        scenarios=[s.strip() for s in args.scenarios.split(",") if s.strip()],
        construction=args.pool, ties=args.ties, limit=args.limit, out=args.out,
        data_dir=args.data_dir, trust_remote_code=args.trust_remote_code,
    )
    print((Path(args.out) / "table.md").read_text(encoding="utf-8"))
    print(f"wrote {args.out}/summary.csv ({len(summary)} rows), per_query.parquet, table.md", file=sys.stderr)
    return 0
