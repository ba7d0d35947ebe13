"""`python -m xldiag runs`: list training runs, show a run's (or any job's) status and loss curve,
stop one (a training run or an evaluation: both are jobs)."""

from __future__ import annotations

import json
import sys

from xldiag import jobs, runs

STATUS_COLUMNS = ("step", "epoch", "loss", "jsd", "nce", "nce_psg", "lr", "grad_norm", "examples_per_s", "elapsed")
LIST_COLUMNS = ["name", "state", "phase", "model", "langs", "loss_mode", "step", "total_steps", "loss", "updated"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("runs", help="list, inspect and stop training runs (and other jobs)",
                                   description="Training run folders (cache/runs by default) and other job "
                                   "folders (an evaluation started with --out).")
    sub = parser.add_subparsers(dest="runs_command", required=True)
    p = sub.add_parser("list", help="one line per training run")
    p.add_argument("--root", default=None, help="folder holding run folders (default: cache/runs)")
    p.set_defaults(func=run_list)
    p = sub.add_parser("status", help="a job folder's status.json, and a training run's last metric lines")
    p.add_argument("run_dir")
    p.add_argument("--tail", type=int, default=5, help="metric lines to show (default 5)")
    p.set_defaults(func=run_status)
    p = sub.add_parser("stop", help="ask a job to stop at its next safe point (a training run after its "
                       "current step, with a checkpoint: it can be resumed)")
    p.add_argument("run_dir")
    p.set_defaults(func=run_stop)


def run_list(args) -> int:
    frame = runs.list_runs(args.root)
    if frame.empty:
        print("no training runs", file=sys.stderr)
        return 0
    print(frame[LIST_COLUMNS].to_string(index=False))
    return 0


def run_status(args) -> int:
    status = jobs.read_status(args.run_dir)
    print(json.dumps(status, indent=2, ensure_ascii=False))
    metrics = runs.read_metrics(args.run_dir)
    if not metrics.empty and args.tail > 0:
        columns = [c for c in STATUS_COLUMNS if metrics[c].notna().any()]
        print(metrics[columns].tail(args.tail).to_string(index=False))
    return 0 if status.get("state") != "unknown" else 2


def run_stop(args) -> int:
    status = jobs.request_stop(args.run_dir)
    when = ("after its current step and can be resumed with --resume" if runs.is_run_dir(args.run_dir)
            else "at its next progress check")
    print(f"stop requested for {args.run_dir} (state: {status.get('state')}, PID {status.get('pid')}); "
          f"it ends {when}", file=sys.stderr)
    return 0
