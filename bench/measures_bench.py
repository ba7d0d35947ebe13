"""Benchmark: what issue 11's bootstrap intervals and TREC files cost in a warm evaluation of the
XQuAD table, against the same evaluation without them (measured in the same run).

  plain   bootstrap 0, no TREC files (every other measure on: mAP, preference, diagnosis, consistency)
  boot    the 1,000-resample intervals (the default)
  full    the default: intervals and run.trec / qrels.trec at depth 100

Each figure is the fastest of --repeat warm runs (the embeddings come from the cache; the first,
untimed run fills it). Target: boot / plain close to 1 (the 2 s warm budget holds with the bootstrap
on); full / plain says what the TREC files cost (`--trec-depth 0` skips them).

    XLDIAG_DATA_DIR=../shared/data .venv/bin/python bench/measures_bench.py [--langs zh,ar] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xldiag.embeddings import Encoder  # noqa: E402
from xldiag.evaluate import evaluate  # noqa: E402

PAPER_LANGS = "ar,de,el,es,hi,ro,th,tr,vi,zh"
MODES = {"plain": dict(bootstrap=0, trec_depth=0), "boot": dict(bootstrap=1000, trec_depth=0),
         "full": dict(bootstrap=1000, trec_depth=100)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", default=PAPER_LANGS)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    encoder = Encoder("default", show_progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        def run(mode: str) -> float:
            start = time.perf_counter()
            evaluate(model="default", dataset="xquad", langs=args.langs, out=Path(tmp) / mode, encoder=encoder,
                     **MODES[mode])
            return time.perf_counter() - start

        run("plain")  # fills the embedding cache
        best = {mode: min(run(mode) for _ in range(args.repeat)) for mode in MODES}
        size = (Path(tmp) / "full" / "run.trec").stat().st_size / 1e6
    for mode, seconds in best.items():
        print(f"{mode:6s} {seconds:7.2f} s   / plain = {seconds / best['plain']:.2f}")
    print(f"run.trec at depth 100: {size:.0f} MB; load average {os.getloadavg()[0]:.1f} (2 cores here)")


if __name__ == "__main__":
    main()
