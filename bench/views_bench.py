"""Views benchmark: what the precomputed views cost at evaluation time, and what the Alignment and
Embedding map pages cost on a visit, cold (a fresh server: nothing in Streamlit's caches) and warm.

    XLDIAG_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 .venv/bin/python bench/views_bench.py \\
        --eval /work/artifacts/evals/ui-base --cache /work/artifacts/cache [--code DIR] [--workspace DIR]

The evaluation folder is copied (without views/) into `<workspace>/evals/`; with the code being
measured (this checkout, or `--code DIR`, e.g. an export of an older commit: `git archive main |
tar -x -C DIR`), `python -m xldiag views` is timed on the copy when that code has the command (the
extra time the views add to `eval`), a Streamlit server is started on the copy, and Chromium
(Playwright) opens Overview, then Alignment and Embedding map twice each: the first visit is
cold, the second warm. A visit is timed from the click on the page's sidebar link until the
script has finished, the heading is the page's and every Plotly chart has drawn. Screenshots of
both pages go to `<workspace>/screens/`; the figures to stdout and `<workspace>/views_bench.json`.

`--cache`'s embeddings are copied into the workspace's own cache (models linked), so a run never
writes to the shared cache and the older code's separate pre-norm cache starts empty (cold).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from ui_bench import CHROMIUM_ARGS, PAGE_DONE, start_server, stop_server  # noqa: E402  (the same "page done" test)

PAGES = ("Alignment", "Embedding map")


def workspace_cache(shared: Path, cache: Path) -> None:
    """A private cache: the shared embeddings copied, the converted models linked."""
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "embeddings").exists():
        shutil.copytree(shared / "embeddings", cache / "embeddings")
    if not (cache / "models").exists() and (shared / "models").exists():
        (cache / "models").symlink_to(shared / "models")


def visit(page, title: str, timeout_ms: int = 900_000) -> float:
    link = page.locator('[data-testid="stSidebarNav"] a', has_text=title).first
    started = time.perf_counter()
    link.click()
    page.wait_for_function(PAGE_DONE, arg=title, timeout=timeout_ms, polling="raf")
    return time.perf_counter() - started


def screenshot(page, path: Path) -> None:
    height = page.evaluate("""() => document.querySelector('[data-testid="stMain"]').scrollHeight""")
    page.set_viewport_size({"width": 1500, "height": int(min(max(height + 40, 800), 6000))})
    page.wait_for_timeout(600)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1500, "height": 1000})


def browse(url: str, eval_id: str, shots: Path, chromium: str, tag: str) -> dict:
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {title: [] for title in PAGES}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(f"{url}/?eval={eval_id}")
        page.wait_for_function(PAGE_DONE, arg="Overview", timeout=600_000, polling=100)
        for _ in range(2):  # cold, then warm
            for title in PAGES:
                times[title].append(visit(page, title))
                print(f"{tag} {title:<15} {times[title][-1]:8.2f} s", flush=True)
        shots.mkdir(parents=True, exist_ok=True)
        for title in PAGES:
            visit(page, title)
            screenshot(page, shots / f"{tag}-{title.lower().replace(' ', '_')}.png")
        browser.close()
    return {title: {"cold_s": t[0], "warm_s": t[1]} for title, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", required=True, help="a finished evaluation folder (copied, never changed)")
    parser.add_argument("--cache", required=True, help="the cache holding its embeddings (copied, never changed)")
    parser.add_argument("--code", default=str(ROOT), help="the xldiag checkout to measure (default: this one)")
    parser.add_argument("--workspace", default=str(ROOT / "cache" / "bench-views"))
    parser.add_argument("--tag", default="after", help="a name for this run's figures and screenshots")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    code, ws = Path(args.code).resolve(), Path(args.workspace).resolve() / args.tag
    if ws.exists():
        shutil.rmtree(ws)
    evals, cache = ws / "evals", ws / "cache"
    name = Path(args.eval).name
    shutil.copytree(args.eval, evals / name, ignore=shutil.ignore_patterns("views", "lock", "status.json", "job.log"))
    workspace_cache(Path(args.cache), cache)
    env = {"XLDIAG_EVALS_DIR": str(evals), "XLDIAG_RUNS_DIR": str(ws / "runs"), "XLDIAG_CACHE_DIR": str(cache),
           "XLDIAG_DATA_DIR": os.environ.get("XLDIAG_DATA_DIR", ""), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(code)}
    report = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "code": str(code), "evaluation": args.eval,
              "load_before": os.getloadavg()}
    if (code / "xldiag" / "commands" / "views_cmd.py").exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "xldiag", "views", str(evals / name)], cwd=code, check=True,
                       env={**os.environ, **env})
        report["views_s"] = time.perf_counter() - started
        print(f"{args.tag} xldiag views   {report['views_s']:8.2f} s", flush=True)
    proc, url = start_server(code / "app.py", env, ws / "streamlit.log")  # the code under test: its app.py
    try:
        report["pages"] = browse(url, f"evals:{name}", ws / "screens", args.chromium, args.tag)
    finally:
        stop_server(proc)
    report["load_after"] = os.getloadavg()
    (ws / "views_bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
