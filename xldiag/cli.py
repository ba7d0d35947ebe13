"""`python -m xldiag`: one subcommand per module in xldiag/commands (eval, fixes, train, data, model, runs, views)."""

from __future__ import annotations

import argparse
import sys

from xldiag.commands import data_cmd, eval_cmd, fixes_cmd, model_cmd, runs_cmd, train_cmd, views_cmd
from xldiag.jobs import StopRequested

# Each module defines register(subparsers) and sets `func` on its parser.
COMMANDS = (eval_cmd, fixes_cmd, train_cmd, data_cmd, model_cmd, runs_cmd, views_cmd)
STOPPED_EXIT = 143  # 128 + SIGTERM: the job ended because a stop was asked for


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m xldiag", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except StopRequested as err:
        print(f"stopped: {err}", file=sys.stderr)
        return STOPPED_EXIT
    except (FileNotFoundError, ValueError, RuntimeError, PermissionError) as err:
        # Expected user-facing failures: one clear line, no traceback.
        print(f"error: {err}", file=sys.stderr)
        return 2
