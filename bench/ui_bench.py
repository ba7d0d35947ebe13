"""Dashboard benchmark: how long each page takes to finish rendering in a real browser, warm, on the
full XQuAD en+zh evaluation; and how long selecting a query in Queries takes.

    XLDIAG_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 .venv/bin/python bench/ui_bench.py \\
        [--workspace cache/bench-ui] [--tuned cache/runs/NAME/final] [--repeat 5]

It evaluates the embedded default model (and `--tuned`, if given) on all of XQuAD en+zh into
`<workspace>/evals/` unless already there, starts `streamlit run app.py` on 127.0.0.1 on a free
port against that folder, opens Chromium (Playwright, `/usr/bin/chromium`), visits every page once
to warm the caches (embeddings, projections), then times `--repeat` rounds of in-app navigation:
from the click on the page's link in the sidebar until the script has finished, the page's
heading is the new one and every Plotly chart has drawn. Query selection is timed from the click
on a row of the Queries table until that query's detail (both reference ranks, the top-k figure)
is shown. Targets: < 1.5 s per page, < 300 ms per selection. Results: a table on stdout and
`<workspace>/ui_bench.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = [("Overview", ""), ("Queries", "queries"), ("Language preference", "language_preference"),
         ("Alignment", "alignment"), ("Embedding map", "embedding_map"), ("Fine-tune", "fine_tune"),
         ("Compare", "compare")]
PAGE_TARGET_S = 1.5
SELECT_TARGET_S = 0.3
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

PAGE_DONE = """(title) => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    const h1 = document.querySelector('[data-testid="stMain"] h1');
    if (!h1 || h1.textContent.trim() !== title) return false;
    if (document.querySelector('[data-testid="stSkeleton"]')) return false;
    for (const c of document.querySelectorAll('[data-testid="stPlotlyChart"]'))
        if (!c.querySelector('.main-svg')) return false;
    return true;
}"""

DETAIL_DONE = """(previous) => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    const h3 = [...document.querySelectorAll('[data-testid="stMain"] h3')].map(e => e.textContent).find(t => t.includes('Max@R'));
    if (!h3 || h3 === previous) return false;
    const metrics = [...document.querySelectorAll('[data-testid="stMetric"]')].map(e => e.textContent);
    if (metrics.filter(t => t.includes('reference rank')).length < 2) return false;
    for (const c of document.querySelectorAll('[data-testid="stPlotlyChart"]'))
        if (!c.querySelector('.main-svg')) return false;
    return true;
}"""


def prepare(evals_dir: Path, data_dir: str | None, models: list[str]) -> list[str]:
    """Evaluate each model on all of XQuAD en+zh (all four scenarios) unless already done."""
    from xldiag import results
    from xldiag.evaluate import evaluate

    ids = []
    for model in models:
        name = results.eval_name(model, "xquad", ["zh"], "unique", "optimistic", None)
        out = evals_dir / name
        if not (out / "config.json").exists():
            print(f"evaluating {model} on XQuAD en+zh → {out} (once)", flush=True)
            started = time.time()
            evaluate(model=model, dataset="xquad", langs="zh", out=out, data_dir=data_dir,
                     progress=lambda message, fraction: print(f"  {fraction:5.0%} {message}", flush=True))
            print(f"  done in {time.time() - started:.0f} s", flush=True)
        ids.append(f"evals:{name}")
    return ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1", "--server.port",
         str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"streamlit did not start; see {log_path}")


def nav(page, title: str, timeout_ms: int) -> float:
    link = page.locator('[data-testid="stSidebarNav"] a', has_text=title).first
    started = time.perf_counter()
    link.click()
    page.wait_for_function(PAGE_DONE, arg=title, timeout=timeout_ms, polling="raf")
    return time.perf_counter() - started


def select_row(page, row: int, timeout_ms: int) -> float:
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    previous = page.evaluate("""() => ([...document.querySelectorAll('[data-testid="stMain"] h3')]
        .map(e => e.textContent).find(t => t.includes('Max@R')) || '')""")
    started = time.perf_counter()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * row + 17)
    page.wait_for_function(DETAIL_DONE, arg=previous, timeout=timeout_ms, polling="raf")
    return time.perf_counter() - started


def summarize(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"n": len(values), "median_s": statistics.median(values), "min_s": ordered[0], "max_s": ordered[-1],
            "p90_s": ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]}


def measure(page, url: str, first_id: str, repeat: int, shots: Path) -> dict:
    """Warm every page, then time `repeat` rounds of navigation and 2 x `repeat` query selections;
    saves a screenshot of each page. Returns {"warm_up_s", "pages", "selections"} (seconds)."""
    timings: dict[str, list[float]] = {title: [] for title, _ in PAGES}
    warm: dict[str, float] = {}
    page.goto(f"{url}/?eval={first_id}")
    page.wait_for_function(PAGE_DONE, arg="Overview", timeout=600_000, polling=100)
    # warm-up: the first visit computes embeddings / projections (minutes on a CPU, once)
    for title, _ in PAGES[1:] + PAGES[:1]:
        warm[title] = nav(page, title, 900_000)
        print(f"warm-up {title:<20} {warm[title]:7.2f} s", flush=True)
    for _ in range(repeat):
        for title, _ in PAGES[1:] + PAGES[:1]:
            timings[title].append(nav(page, title, 120_000))
    nav(page, "Queries", 120_000)
    select_row(page, 0, 120_000)  # first selection (warms the detail path)
    selections = [select_row(page, 1 + r % 5, 60_000) for r in range(repeat * 2)]
    shots.mkdir(exist_ok=True)
    for title, _ in PAGES:
        nav(page, title, 120_000)
        height = page.evaluate("""() => document.querySelector('[data-testid="stMain"]').scrollHeight""")
        page.set_viewport_size({"width": 1500, "height": int(min(max(height + 40, 800), 6000))})
        page.wait_for_timeout(400)
        page.screenshot(path=str(shots / f"{title.lower().replace(' ', '_')}.png"), full_page=True)
        page.set_viewport_size({"width": 1500, "height": 1000})
    return {"warm_up_s": warm, "pages": timings, "selections": selections}


def print_report(report: dict) -> None:
    print(f"\n{'page':<22}{'median':>9}{'p90':>9}{'max':>9}   target {PAGE_TARGET_S:.1f} s")
    for title, stats in report["pages"].items():
        flag = "ok" if stats["median_s"] < PAGE_TARGET_S else "SLOW"
        print(f"{title:<22}{stats['median_s']:9.3f}{stats['p90_s']:9.3f}{stats['max_s']:9.3f}   {flag}")
    s = report["query_selection"]
    flag = "ok" if s["median_s"] < SELECT_TARGET_S else "SLOW"
    print(f"{'select a query':<22}{s['median_s']:9.3f}{s['p90_s']:9.3f}{s['max_s']:9.3f}   {flag} (target 0.3 s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", default=str(ROOT / "cache" / "bench-ui"),
                        help="folder for the evaluations and results (default cache/bench-ui)")
    parser.add_argument("--runs-dir", default=None, help="training runs to show on Fine-tune (default: <workspace>/runs)")
    parser.add_argument("--tuned", default=None, help="a fine-tuned checkpoint to evaluate too (Compare, Alignment)")
    parser.add_argument("--data-dir", default=None, help="data folder (default $XLDIAG_DATA_DIR)")
    parser.add_argument("--repeat", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--chromium", default=os.environ.get("XLDIAG_CHROMIUM") or shutil.which("chromium")
                        or "/usr/bin/chromium")
    args = parser.parse_args(argv)

    from xldiag import config

    data_dir = str(config.data_dir(args.data_dir))
    ws = Path(args.workspace).resolve()
    evals = ws / "evals"
    runs = Path(args.runs_dir).resolve() if args.runs_dir else ws / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    models = ["default"] + ([str(Path(args.tuned).resolve())] if args.tuned else [])
    ids = prepare(evals, data_dir, models)

    env = {"XLDIAG_EVALS_DIR": str(evals), "XLDIAG_RUNS_DIR": str(runs), "XLDIAG_DATA_DIR": data_dir,
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc, url = start_server(env, ws / "streamlit.log")
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            measured = measure(page, url, ids[0], args.repeat, ws / "screenshots")
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    report = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.platform(),
              "cpus": os.cpu_count(), "evaluations": ids, "targets": {"page_s": PAGE_TARGET_S, "select_s": SELECT_TARGET_S},
              "warm_up_s": measured["warm_up_s"], "pages": {t: summarize(v) for t, v in measured["pages"].items()},
              "query_selection": summarize(measured["selections"])}
    print_report(report)
    (ws / "ui_bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {ws / 'ui_bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
