"""`python -m xldiag runs`: list training runs, show one's status and loss curve, stop one."""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("runs", help="list, inspect and stop training runs",
                                   description="Training run folders (cache/runs by default).")
    sub = parser.add_subparsers(dest="runs_command", required=True)
    p = sub.add_parser("list", help="one line per run")
    p.add_argument("--root", default=None, help="folder holding run folders (default: cache/runs)")
    p.set_defaults(func=run_list)
    p = sub.add_parser("status", help="a run's status.json and its last metric lines")
    p.add_argument("run_dir")
    p.add_argument("--tail", type=int, default=5, help="metric lines to show (default 5)")
    p.set_defaults(func=run_status)
    p = sub.add_parser("stop", help="ask a run to stop after its current step (it can be resumed)")
    p.add_argument("run_dir")
    p.set_defaults(func=run_stop)


def run_list(args) -> int:
    from xldiag.runs import list_runs

    frame = list_runs(args.root)
    if frame.empty:
        print("no training runs", file=sys.stderr)
        return 0
    columns = ["name", "state", "phase", "model", "langs", "loss_mode", "step", "total_steps", "loss", "updated"]
    print(frame[columns].to_string(index=False))
    return 0


def run_status(args) -> int:
    from xldiag.runs import read_metrics, read_status

    status = read_status(args.run_dir)
    print(json.dumps(status, indent=2, ensure_ascii=False))
    metrics = read_metrics(args.run_dir)
    if not metrics.empty and args.tail > 0:
        columns = [c for c in ("step", "epoch", "loss", "jsd", "nce", "nce_psg", "lr", "grad_norm",
                               "examples_per_s", "elapsed") if metrics[c].notna().any()]
        print(metrics[columns].tail(args.tail).to_string(index=False))
    return 0 if status.get("state") != "unknown" else 2


def run_stop(args) -> int:
    from xldiag.runs import request_stop

    status = request_stop(args.run_dir)
    print(f"stop requested for {args.run_dir} (state: {status.get('state')}, PID {status.get('pid')}); "
          "it ends after its current step and can be resumed with --resume", file=sys.stderr)
    return 0
