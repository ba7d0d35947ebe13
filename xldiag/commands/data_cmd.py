"""`python -m xldiag data`: list the registered datasets (and what the data folder holds), fetch them."""

from __future__ import annotations

import sys

from xldiag.data.registry import DATASETS


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="list and download datasets",
                                   description="List registered datasets or download them into the data folder.")
    sub = parser.add_subparsers(dest="data_command", required=True)

    fetch = sub.add_parser("fetch", help="download a dataset from its public source",
                           description="Download a dataset's files into DATA_DIR/<dataset>/ atomically; "
                           "files already present and valid are skipped.")
    fetch.add_argument("name", help=f"dataset to download: {', '.join(n for n, s in DATASETS.items() if s.fetch_base)}")
    fetch.add_argument("--data-dir", default=None, help="data folder (default: $XLDIAG_DATA_DIR); created if missing")
    fetch.add_argument("--langs", nargs="+", default=None,
                       help="languages to download, space- or comma-separated (default: all supported)")
    fetch.add_argument("--base-url", default=None, help="download from this base URL instead (a mirror)")
    fetch.add_argument("--force", action="store_true", help="download again even when a valid file is present")
    fetch.add_argument("--timeout", type=float, default=60.0, help="seconds to wait on the network")
    fetch.set_defaults(func=run_fetch)

    listing = sub.add_parser("list", help="registered datasets and what the data folder holds")
    listing.add_argument("--data-dir", default=None, help="data folder (default: $XLDIAG_DATA_DIR)")
    listing.set_defaults(func=run_list)


def run_fetch(args) -> int:
    from xldiag.data.fetch import fetch_dataset

    def report(result) -> None:
        if result.status == "failed":
            print(f"failed      {result.error}", file=sys.stderr)
        else:
            print(f"{result.status:<11} {result.path} ({result.size / 1e6:.1f} MB)")

    langs = " ".join(args.langs) if args.langs else None
    fetch_dataset(args.name, langs=langs, data_dir=args.data_dir, base_url=args.base_url,
                  force=args.force, timeout=args.timeout, on_result=report)
    return 0


def run_list(args) -> int:
    from xldiag.config import DataDirError
    from xldiag.data.inventory import inventory

    try:
        rows = inventory(args.data_dir)
    except DataDirError as err:
        rows = []
        print(f"({err})\n")
    else:
        from xldiag.config import data_dir

        print(f"Data folder: {data_dir(args.data_dir)}\n")
    for spec in DATASETS.values():
        print(_describe(spec, [r for r in rows if r["dataset"] == spec.name]))
    return 0


def _describe(spec, rows: list[dict]) -> str:
    lines = [f"{spec.name}  [{', '.join(spec.splits)}]  {spec.license}", f"  {spec.description}"]
    present = [r for r in rows if r["present"]]
    missing = [r["lang"] for r in rows if not r["present"]]
    if present:
        lines.append(f"  {'lang':<5}{'passages':>9}{'questions':>10}{'triples':>8}  file")
        for r in present:
            counts = [r["passages"], r["questions"], r["triples"]]
            shown = ["-" if c is None else str(c) for c in counts]
            note = f"  ERROR: {r['error']}" if r["error"] else ""
            lines.append(f"  {r['lang']:<5}{shown[0]:>9}{shown[1]:>10}{shown[2]:>8}  {r['file']}{note}")
    if not rows:
        lines.append(f"  languages: {', '.join(spec.languages)}")
    elif missing:
        fetch = f" (python -m xldiag data fetch {spec.name} --langs ...)" if spec.fetch_base else ""
        lines.append(f"  not present: {', '.join(missing)}{fetch}")
    return "\n".join(lines) + "\n"
