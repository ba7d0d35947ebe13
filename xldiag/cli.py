"""`python -m xldiag`: one subcommand per module in xldiag/commands (eval, train, data, model)."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines register(subparsers) and sets `func` on its parser.
COMMAND_MODULES = ["eval", "train", "data", "model", "runs"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m xldiag", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"xldiag.commands.{name}_cmd")
        except ModuleNotFoundError as err:
            if err.name != f"xldiag.commands.{name}_cmd":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, RuntimeError, PermissionError) as err:
        # Expected user-facing failures: one clear line, no traceback.
        print(f"error: {err}", file=sys.stderr)
        return 2
