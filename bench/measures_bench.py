"""Benchmark: a warm evaluation of the full XQuAD table (10 language pairs, 4 scenarios) and what
issue 11's bootstrap intervals and TREC files add to it, against the same evaluation without them
(measured in the same run).

  plain   bootstrap 0, no TREC files (every other measure on: mAP, preference, diagnosis, consistency)
  boot    the 1,000-resample intervals (the default) — the issue's "warm evaluation with the bootstrap on"
  full    the default: intervals and run.trec / qrels.trec at depth 100
  views   (separately) what `eval` writes after the run folder: the dashboard's views, warm (map fits cached)

Each figure is the fastest of --repeat warm runs (the median beside it), in one process (the
embeddings come from the cache; the first, untimed run fills it), the modes interleaved; wall time
and the process's CPU time (all threads).
Target: boot < 2 s on the 2-core machine; full / boot says what the 9.6 million TREC lines cost
(`--trec-depth 0` skips them).

    XLDIAG_DATA_DIR=../shared/data .venv/bin/python bench/measures_bench.py [--langs zh,ar] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xldiag import parallel  # noqa: E402
from xldiag.embeddings import Encoder  # noqa: E402
from xldiag.evaluate import evaluate  # noqa: E402
from xldiag.views import write_views  # noqa: E402

PAPER_LANGS = "ar,de,el,es,hi,ro,th,tr,vi,zh"
MODES = {"plain": dict(bootstrap=0, trec_depth=0), "boot": dict(bootstrap=1000, trec_depth=0),
         "full": dict(bootstrap=1000, trec_depth=100)}


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process: every thread)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", default=PAPER_LANGS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    encoder = Encoder("default", show_progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        def run(mode: str, i: int) -> tuple[float, float]:
            return _timed(lambda: evaluate(model="default", dataset="xquad", langs=args.langs,
                                           out=Path(tmp) / f"{mode}{i}", encoder=encoder, views=False, **MODES[mode]))

        evaluate(model="default", dataset="xquad", langs=args.langs, out=Path(tmp) / "first", encoder=encoder)
        runs = {mode: [] for mode in MODES}
        for i in range(args.repeat):  # modes interleaved: a drift of the machine's speed hits each alike
            for mode in MODES:
                runs[mode].append(run(mode, i))
        best = {mode: min(times) for mode, times in runs.items()}
        views = min(_timed(lambda: write_views(Path(tmp) / "first", encoder)) for _ in range(args.repeat))
        size = (Path(tmp) / "full0" / "run.trec").stat().st_size / 1e6
    for mode, (wall, cpu) in best.items():
        median = statistics.median(w for w, _ in runs[mode])
        print(f"{mode:6s} {wall:6.2f} s wall (median {median:5.2f} s)  {cpu:6.2f} s CPU   "
              f"wall / plain = {wall / best['plain'][0]:.2f}")
    print(f"views  {views[0]:6.2f} s wall  {views[1]:6.2f} s CPU   (after the run folder; map fits from the cache)")
    print(f"{len(args.langs.split(','))} language pairs; run.trec at depth 100: {size:.0f} MB; "
          f"{parallel.workers()} threads; load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
