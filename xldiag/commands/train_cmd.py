"""`python -m xldiag train`: fine-tune a model for cross-lingual alignment (√JSD + InfoNCE).

    python -m xldiag train --model default --data mlqa-r --langs zh,ar --loss full \\
        --out cache/runs/NAME --limit 512 --max-seq-length 128

Defaults follow the seed paper (1 epoch, batch 32, 15% linear warm-up, AdamW β=(0.9, 0.99),
weight decay 0.01, seed 42, the family's learning rate). See docs/TRAINING.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from xldiag import jobs, runs
from xldiag.fixes.registry import base_model, variant_or_none
from xldiag.losses import (
    DEFAULT_EPS,
    DEFAULT_JSD_TEMPERATURE,
    DEFAULT_TEMPERATURE,
    LOSS_MODES,
    MNRL_TEMPERATURE,
)
from xldiag.training import TrainConfig, launch, load_config_file, train
from xldiag.training.config import JSD_ON, PRECISIONS
from xldiag.vocab import LOG_FILE, POOLS, SCENARIOS


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="fine-tune a model for cross-lingual alignment",
        description="Fine-tune with the seed paper's √JSD + InfoNCE loss on (English query, English "
        "passage, target passage) triples; logs every step to metrics.jsonl, checkpoints, resumes, and "
        "evaluates the tuned model next to its base (comparison.md). See docs/TRAINING.md.",
        argument_default=argparse.SUPPRESS)
    p.add_argument("--model", help="'default' (embedded multilingual-e5-small), a hub name or a local path")
    p.add_argument("--data", help="mlqa-r, or a JSONL file of triples (query_en, passage_en, passage_tgt, lang)")
    p.add_argument("--langs", type=_csv, help="target languages, comma-separated (default: zh)")
    p.add_argument("--loss", choices=LOSS_MODES,
                   help="full = √JSD + InfoNCE (default); no-jsd; no-nce; nce-psg = InfoNCE(p_tgt, p_en) instead of √JSD")
    p.add_argument("--out", help="run folder (default: cache/runs/<time>-<model>-<langs>-<loss>)")
    p.add_argument("--resume", action="store_true", default=False,
                   help="continue the run in --out from its last checkpoint (its saved configuration is used)")
    p.add_argument("--config", help="read the options from a run's config.json (flags given here win)")
    p.add_argument("--detach", action="store_true", default=False,
                   help="start the run as a background process and return at once (output: RUN/job.log)")
    g = p.add_argument_group("data and schedule")
    g.add_argument("--limit", type=int, help="use the first N triples (round-robin over the languages)")
    g.add_argument("--max-seq-length", type=int, help="truncate texts to N tokens (default: 128 on CPU, the model's own on GPU)")
    g.add_argument("--epochs", type=int, help="epochs (default 1)")
    g.add_argument("--batch-size", type=int, help="triples per optimizer step and per process (default 32)")
    g.add_argument("--lr", type=float, help="peak learning rate (default: per model family, e.g. 2e-5 for multilingual-e5)")
    g.add_argument("--warmup-ratio", type=float, help="share of steps for linear warm-up (default 0.15)")
    g.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 0.01)")
    g.add_argument("--max-grad-norm", type=float, help="gradient clipping norm, 0 = off (default 1.0)")
    g.add_argument("--seed", type=int, help="seed for shuffling, batches and dropout (default 42)")
    g = p.add_argument_group("loss")
    g.add_argument("--temperature", type=float,
                   help=f"InfoNCE temperature τ (default {DEFAULT_TEMPERATURE:g}, the paper's: its eq. 7 has no "
                   f"temperature). {MNRL_TEMPERATURE:g} (scale 20, the sentence-transformers default and our default "
                   "until measured) gave worse Max@R and Complete@10 on the demo recipe; docs/TRAINING.md shows both")
    g.add_argument("--lambda-jsd", type=float, help="weight of √JSD (or of the passage InfoNCE for nce-psg), default 1")
    g.add_argument("--lambda-nce", type=float, help="weight of the query InfoNCE, default 1")
    g.add_argument("--jsd-on", choices=JSD_ON,
                   help="embedding the √JSD softmax is taken over: before (default) or after L2 normalisation")
    g.add_argument("--jsd-eps", type=float, help=f"ε inside √(JSD + ε) (default {DEFAULT_EPS})")
    g.add_argument("--jsd-temperature", type=float,
                   help=f"T of the √JSD's softmax(z / T) over the embedding dimensions (default "
                   f"{DEFAULT_JSD_TEMPERATURE:g}, the paper's softmax(z)); T < 1 sharpens, T > 1 flattens")
    g = p.add_argument_group("hardware and memory")
    g.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if available)")
    g.add_argument("--precision", choices=PRECISIONS, help="auto = bf16 autocast on GPU, fp32 on CPU")
    g.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction,
                   help="recompute activations in the backward pass (much less memory, a little slower); "
                   "default: on for CPU runs longer than 128 tokens")
    g.add_argument("--freeze-embeddings", action="store_true", help="do not train the word-embedding matrix (saves its gradient and AdamW state)")
    g.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    g = p.add_argument_group("checkpoints")
    g.add_argument("--save-every", type=int, help="checkpoint every N steps (default 50; also at the end and on stop)")
    g.add_argument("--keep-checkpoints", type=int, help="how many step checkpoints to keep (default 1)")
    g = p.add_argument_group("evaluation after training")
    g.add_argument("--no-eval", dest="eval", action="store_false", help="skip the base-vs-tuned evaluation")
    g.add_argument("--eval-dataset", help="default xquad (held out: it shares nothing with MLQA-R)")
    g.add_argument("--eval-langs", type=_csv, help="target languages paired with English (default: the trained ones)")
    g.add_argument("--eval-scenarios", type=_csv, help=f"default multi; any of {','.join(SCENARIOS)}")
    g.add_argument("--eval-limit", type=int, help="evaluate on the first N questions")
    g.add_argument("--eval-pool", choices=POOLS, help="pool construction (default unique)")
    p.add_argument("--data-dir", help="data folder (default: $XLDIAG_DATA_DIR)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow models whose code lives in their hub repository")
    p.add_argument("--keep-stop-request", dest="clear_stop", action="store_false", default=True,
                   help=argparse.SUPPRESS)  # used by xldiag.training.launch
    p.set_defaults(func=run)


# Every other parsed argument is a TrainConfig field given explicitly on the command line
# (argument_default=SUPPRESS keeps the flags not given out, so a --config file's values stand).
CONTROL = {"resume", "config", "detach", "clear_stop", "func", "command"}


def build_config(args) -> TrainConfig:
    given = {k: v for k, v in vars(args).items() if k not in CONTROL}
    base = load_config_file(args.config).to_dict() if getattr(args, "config", None) else {}
    return TrainConfig.from_dict({**base, **given})


def run(args) -> int:
    cfg = build_config(args)
    if variant_or_none(cfg.model) is not None:
        raise ValueError(f"{cfg.model} is a training-free fix variant, not a model to fine-tune; train its base "
                         f"model ({base_model(cfg.model)}) and compare both with `python -m xldiag fixes --checkpoint`.")
    if args.resume and not getattr(args, "out", None) and not getattr(args, "config", None):
        raise ValueError("--resume needs the run folder: pass --out cache/runs/NAME.")
    if args.detach:
        run_dir = launch(cfg, resume=args.resume)
        print(run_dir)
        print(f"started in the background; follow it with `python -m xldiag runs status {run_dir}` "
              f"or `tail -f {run_dir / LOG_FILE}`", file=sys.stderr)
        return 0
    run_dir = train(cfg, resume=args.resume, clear_stop=args.clear_stop)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # torchrun / accelerate: rank 0 reports
    status = jobs.read_status(run_dir)
    comparison = Path(run_dir) / runs.COMPARISON_MD
    if status.get("state") == "finished" and comparison.exists():
        print(comparison.read_text(encoding="utf-8"))
    print(f"{status.get('state')}: {run_dir} (step {status.get('step')}/{status.get('total_steps')})", file=sys.stderr)
    return 0 if status.get("state") in ("finished", "stopped") else 1
