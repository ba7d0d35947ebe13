"""Dashboard benchmark: how long each page takes to finish rendering in a real browser, cold and
warm, on the full XQuAD en+zh evaluations (base and fine-tuned); and how long selecting a query in
Queries takes.

    XLDIAG_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 .venv/bin/python bench/ui_bench.py \\
        [--workspace cache/bench-ui] [--evals FOLDER ...] [--tuned CHECKPOINT] [--repeat 5]

Evaluations: the run folders given with `--evals` (linked into `<workspace>/evals/`), else it
evaluates the embedded default model (and `--tuned`, if given) on all of XQuAD en+zh into
`<workspace>/evals/` unless already there. Then, with Chromium (Playwright, `/usr/bin/chromium`)
against `streamlit run app.py` on 127.0.0.1:

- first visit: the dashboard running on an earlier evaluation (the last `--evals` folder), each
  page opened for the first time on the new one (the first folder): the issue's "first visit after
  an evaluation". From `goto(<page url>?eval=ID)` until the script has finished, the page's heading
  is shown and every chart has drawn (Plotly's SVG, Vega-Lite's canvas or SVG). `--repeat` rounds, each on a fresh server; the median.
- first visit in the same tab ("tab"): the same moment as a user meets it inside the dashboard: the
  tab shows the earlier evaluation's Overview, the sidebar's model is switched to the new
  evaluation's (Overview redrawn on it: its first visit), then each other page is opened once from
  the sidebar. The browser has Streamlit's and Plotly's code loaded already, as a tab that has
  shown a chart has; nothing of the new evaluation is in st.cache_*. `--repeat` rounds, fresh servers.
- cold: for each page, a fresh server (Python's imports of streamlit, pandas, plotly and xldiag
  included) and a tab of a browser that opened the app before; empty: the same with an
  empty browser cache. Nothing cached in the server.
- warm: one server; every page visited once, then `--repeat` rounds of in-app navigation (a click on
  the page's link in the sidebar until the page is done).
- query selection: from the click on a row of the Queries table until that query's detail (both
  reference ranks, the top-k list) is shown; then the same with the top-k chart's expander open
  (the chart redrawn on each selection too).
- baseline, measured in the same run and the same way: a one-page Streamlit app that only writes a
  heading (`baseline_app` below), cold and warm; the report gives every figure's ratio to it, so
  that figures from a loaded machine can be read against the floor of Streamlit + Chromium there.

`--parts` measures only some of these (e.g. `--parts first select` while iterating on the pages);
the baseline is always measured. Targets: cold < 3 s, warm < 1 s per page, selection < 300 ms.
Results: a table on stdout (with the load average) and `<workspace>/ui_bench.json`.
"""

from __future__ import annotations

import argparse
import json
import math
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

PARTS = ("first", "tab", "warm", "select", "cold", "empty")
PAGES = [("Overview", ""), ("Queries", "queries"), ("Language preference", "language_preference"),
         ("Alignment", "alignment"), ("Embedding map", "embedding_map"), ("Fine-tune", "fine_tune"),
         ("Compare", "compare")]
COLD_TARGET_S = 3.0
WARM_TARGET_S = 1.0
SELECT_TARGET_S = 0.3
COLD_TIMEOUT_MS = 900_000  # a page that computes on its first visit (Alignment before issue 12) takes minutes
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

BASELINE_APP = """import streamlit as st
st.set_page_config(layout="wide")
def baseline():
    st.title("Baseline")
    st.write("A page that only writes a heading: the floor of Streamlit + Chromium on this machine.")
st.navigation([st.Page(baseline, title="Baseline", url_path="baseline", default=True)]).run()
"""

# every chart on the page has drawn (Plotly's SVG; Vega-Lite's canvas or SVG of marks): a JS function
# that PAGE_DONE and DETAIL_DONE define and call
CHARTS_DRAWN = """const chartsDrawn = () =>
        [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'))
        && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].every(c => c.querySelector('.marks'));"""
PAGE_DONE = """(title) => {
    """ + CHARTS_DRAWN + """
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    const h1 = document.querySelector('[data-testid="stMain"] h1');
    if (!h1 || h1.textContent.trim() !== title) return false;
    if (document.querySelector('[data-testid="stSkeleton"]')) return false;
    return chartsDrawn();
}"""

DETAIL_DONE = """(previous) => {
    """ + CHARTS_DRAWN + """
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    const h3 = [...document.querySelectorAll('[data-testid="stMain"] h3')].map(e => e.textContent).find(t => t.includes('Max@R'));
    if (!h3 || h3 === previous) return false;
    const metrics = [...document.querySelectorAll('[data-testid="stMetric"]')].map(e => e.textContent);
    if (metrics.filter(t => t.includes('reference rank')).length < 2) return false;
    if (!document.querySelector('[data-testid="stMain"]').textContent.includes('★ references')) return false;
    return chartsDrawn();
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


def link_evals(evals_dir: Path, folders: list[str]) -> list[str]:
    """Link existing evaluation folders into the workspace's evals/ (the server lists that folder)."""
    evals_dir.mkdir(parents=True, exist_ok=True)
    ids = []
    for folder in folders:
        source = Path(folder).resolve()
        if not (source / "config.json").exists():
            raise SystemExit(f"error: {source} is not an evaluation folder (no config.json)")
        link = evals_dir / source.name
        if link.is_symlink() and link.resolve() != source:
            link.unlink()
        if not link.exists():
            link.symlink_to(source, target_is_directory=True)
        ids.append(f"evals:{source.name}")
    return ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(script: Path, env: dict, log_path: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """`streamlit run script` on 127.0.0.1:port (a free one if None); waits for its health check."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", "127.0.0.1", "--server.port",
         str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=script.parent, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    stop_server(proc)
    raise SystemExit(f"streamlit did not start; see {log_path}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def nav(page, title: str, timeout_ms: int) -> float:
    link = page.locator('[data-testid="stSidebarNav"] a', has_text=title).first
    started = time.perf_counter()
    link.click()
    page.wait_for_function(PAGE_DONE, arg=title, timeout=timeout_ms, polling="raf")
    return time.perf_counter() - started


def visit(browser_or_context, url: str, title: str, timeout_ms: int) -> float:
    """A first visit: goto until the page is done. Given a browser, in a fresh context (empty HTTP
    cache); given a context, in a new tab of it (its cached static files: Streamlit's JS, Plotly)."""
    fresh = hasattr(browser_or_context, "new_context")
    context = browser_or_context.new_context(viewport={"width": 1500, "height": 1000}) if fresh else browser_or_context
    page = context.new_page()
    try:
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_function(PAGE_DONE, arg=title, timeout=timeout_ms, polling="raf")
        elapsed = time.perf_counter() - started
        if page.locator('[data-testid="stException"]').count():
            raise RuntimeError(f"{title}: exception on the page: "
                               f"{page.locator('[data-testid=stException]').first.inner_text()[:300]}")
        return elapsed
    finally:
        page.close()
        if fresh:
            context.close()


def select_row(page, row: int, timeout_ms: int) -> float:
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()  # an expander opened below may have scrolled the page
    box = grid.bounding_box()
    previous = page.evaluate("""() => ([...document.querySelectorAll('[data-testid="stMain"] h3')]
        .map(e => e.textContent).find(t => t.includes('Max@R')) || '')""")
    started = time.perf_counter()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * row + 17)
    page.wait_for_function(DETAIL_DONE, arg=previous, timeout=timeout_ms, polling="raf")
    return time.perf_counter() - started


def summarize(values: list[float]) -> dict:
    if not values:  # not measured (--parts)
        return {"n": 0, "median_s": float("nan"), "min_s": float("nan"), "max_s": float("nan"), "p90_s": float("nan")}
    ordered = sorted(values)
    return {"n": len(values), "median_s": statistics.median(values), "min_s": ordered[0], "max_s": ordered[-1],
            "p90_s": ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]}


def measure_cold(where, env: dict, ws: Path, first_id: str, pages: list[tuple[str, str]],
                 port: int | None) -> dict[str, float]:
    """Each page's first visit on a fresh server (its own process: empty st.cache_*, nothing
    imported). `where`: a browser (fresh context per visit: empty browser cache too) or a context
    that has seen the app on the same `port` (Streamlit's and Plotly's JS cached, as in a browser
    that opened the dashboard before)."""
    cold = {}
    for title, path in pages:
        proc, url = start_server(ROOT / "app.py", env, ws / "streamlit-cold.log", port)
        try:
            cold[title] = visit(where, f"{url}/{path}?eval={first_id}", title, COLD_TIMEOUT_MS)
        except Exception as err:  # noqa: BLE001 - a page past the timeout is a figure, not a crash
            print(f"cold {title}: {type(err).__name__}: {str(err)[:200]}", flush=True)
            cold[title] = float("nan")
        finally:
            stop_server(proc)
        print(f"cold    {title:<20} {cold[title]:7.2f} s", flush=True)
    return cold


def measure_first_visits(context, env: dict, ws: Path, earlier_id: str, first_id: str, pages: list[tuple[str, str]],
                         port: int | None, rounds: int) -> dict[str, list[float]]:
    """"First visit after an evaluation" as a user meets it: the dashboard is running (a server that
    has shown `earlier_id`, the evaluation the user had open), a new evaluation `first_id` exists,
    and each page is opened on it for the first time (a new tab per page, in order). Nothing of
    `first_id` is in st.cache_* before its first page; Python's imports are done. `rounds` times,
    each on a fresh server (a single visit per page is too noisy on a loaded machine)."""
    first: dict[str, list[float]] = {title: [] for title, _ in pages}
    for _ in range(rounds):
        proc, url = start_server(ROOT / "app.py", env, ws / "streamlit-first.log", port)
        try:
            visit(context, f"{url}/?eval={earlier_id}", "Overview", COLD_TIMEOUT_MS)  # the dashboard, open before
            for title, path in pages:
                try:
                    first[title].append(visit(context, f"{url}/{path}?eval={first_id}", title, COLD_TIMEOUT_MS))
                except Exception as err:  # noqa: BLE001 - a page past the timeout is a figure, not a crash
                    print(f"first {title}: {type(err).__name__}: {str(err)[:200]}", flush=True)
                    first[title].append(float("nan"))
                print(f"first   {title:<20} {first[title][-1]:7.2f} s", flush=True)
        finally:
            stop_server(proc)
    return first


def switch_model(page, model: str, eval_id: str, timeout_ms: int) -> float:
    """Pick `model` in the sidebar's model box (typed, then Enter) until the page has been redrawn
    on its evaluation `eval_id`; returns the seconds from the key press."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Model / checkpoint").first
    box.locator("input").click()
    page.keyboard.type(model)
    started = time.perf_counter()
    page.keyboard.press("Enter")
    page.wait_for_function(SHOWS_EVAL, arg=eval_id.split(":", 1)[-1], timeout=timeout_ms, polling="raf")
    page.wait_for_function(PAGE_DONE, arg="Overview", timeout=timeout_ms, polling="raf")
    return time.perf_counter() - started


SHOWS_EVAL = """(name) => [...document.querySelectorAll('[data-testid="stSidebar"] [data-testid="stSelectbox"]')]
    .some(e => e.textContent.includes('Evaluation')
               && [...e.querySelectorAll('input')].some(i => (i.value || '').includes(name)))"""


def measure_first_in_tab(context, env: dict, ws: Path, earlier_id: str, first_id: str, first_model: str,
                         pages: list[tuple[str, str]], port: int | None, rounds: int) -> dict[str, list[float]]:
    """The first visits of `measure_first_visits`, made in the tab the user has open (see "tab" in
    the module docstring): Overview by switching the sidebar's model, every other page by its link."""
    first: dict[str, list[float]] = {title: [] for title, _ in pages}
    for _ in range(rounds):
        proc, url = start_server(ROOT / "app.py", env, ws / "streamlit-tab.log", port)
        page = context.new_page()
        try:
            page.goto(f"{url}/?eval={earlier_id}")
            page.wait_for_function(PAGE_DONE, arg="Overview", timeout=COLD_TIMEOUT_MS, polling=100)
            for title, _ in pages:
                first[title].append(switch_model(page, first_model, first_id, COLD_TIMEOUT_MS) if title == "Overview"
                                    else nav(page, title, COLD_TIMEOUT_MS))
                if page.locator('[data-testid="stException"]').count():
                    raise RuntimeError(f"{title}: exception on the page")
                print(f"tab     {title:<20} {first[title][-1]:7.2f} s", flush=True)
        finally:
            page.close()
            stop_server(proc)
    return first


def measure_warm(page, url: str, first_id: str, repeat: int, shots: Path, pages: list[tuple[str, str]],
                 parts: set[str]) -> dict:
    """Visit every page once (warming the caches), then time `repeat` rounds of navigation ("warm"
    in `parts`) and 2 x `repeat` query selections ("select"); saves a screenshot of each page.
    `pages` starts with Overview."""
    timings: dict[str, list[float]] = {title: [] for title, _ in pages}
    page.goto(f"{url}/?eval={first_id}")
    page.wait_for_function(PAGE_DONE, arg="Overview", timeout=COLD_TIMEOUT_MS, polling=100)
    for title, _ in pages[1:] + pages[:1]:
        print(f"warm-up {title:<20} {nav(page, title, COLD_TIMEOUT_MS):7.2f} s", flush=True)
    for _ in range(repeat if "warm" in parts else 0):
        for title, _ in pages[1:] + pages[:1]:
            timings[title].append(nav(page, title, 120_000))
    selections, with_chart = [], []
    if "select" in parts:
        nav(page, "Queries", 120_000)
        select_row(page, 0, 120_000)  # first selection (warms the detail path)
        selections = [select_row(page, 1 + r % 5, 60_000) for r in range(repeat * 2)]
        chart = page.locator('[data-testid="stExpander"] summary', has_text="Top-k scores as a chart")
        if chart.count():  # (a version that draws the chart with every selection has no such expander)
            chart.click()
            page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
            page.wait_for_function(DETAIL_DONE, arg="", timeout=60_000, polling="raf")
            # the cycle of rows goes on: clicking the row selected last would clear the selection
            with_chart = [select_row(page, 1 + r % 5, 60_000) for r in range(repeat * 2, repeat * 4)]
    if "warm" not in parts:
        return {"pages": timings, "selections": selections, "selections_chart": with_chart}
    shots.mkdir(parents=True, exist_ok=True)
    for title, _ in pages:
        nav(page, title, 120_000)
        height = page.evaluate("""() => document.querySelector('[data-testid="stMain"]').scrollHeight""")
        page.set_viewport_size({"width": 1500, "height": int(min(max(height + 40, 800), 6000))})
        page.wait_for_timeout(400)
        page.screenshot(path=str(shots / f"{title.lower().replace(' ', '_')}.png"), full_page=True)
        page.set_viewport_size({"width": 1500, "height": 1000})
    return {"pages": timings, "selections": selections, "selections_chart": with_chart}


def measure_baseline(browser, ws: Path, repeat: int) -> dict:
    """The one-page app: cold with an empty browser cache, cold with the static files cached (same
    port, same context), warm (reloads of the same page on a running server)."""
    script = ws / "baseline_app.py"
    script.write_text(BASELINE_APP)
    port = free_port()
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    empty, cached = [], []
    for _ in range(2):
        for where, out in ((browser, empty), (context, cached)):
            proc, url = start_server(script, {}, ws / "streamlit-baseline.log", port)
            try:
                out.append(visit(where, f"{url}/", "Baseline", 60_000))
            finally:
                stop_server(proc)
    proc, url = start_server(script, {}, ws / "streamlit-baseline.log", port)
    try:
        page = context.new_page()
        page.goto(f"{url}/")
        page.wait_for_function(PAGE_DONE, arg="Baseline", timeout=60_000, polling="raf")
        warm = []
        for _ in range(repeat):
            started = time.perf_counter()
            page.reload()
            page.wait_for_function(PAGE_DONE, arg="Baseline", timeout=60_000, polling="raf")
            warm.append(time.perf_counter() - started)
        context.close()
    finally:
        stop_server(proc)
    return {"cold_empty_cache_s": min(empty), "cold_s": min(cached), "warm_s": statistics.median(warm)}


def _model_of(folder: Path) -> str:
    """The model an evaluation folder's config names, as the sidebar lists it."""
    from xldiag import results

    return results.model_label(json.loads((folder / "config.json").read_text())["model"])


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _ratio(value: float, base: float) -> str:
    return "     -" if math.isnan(value) else f"{value / base:6.1f}"  # NaN: not measured


def print_report(report: dict) -> None:
    base = report["baseline"]
    print(f"\nload average before / after: {report['load_before']} / {report['load_after']}  ({report['cpus']} CPUs)")
    print(f"baseline (one-heading app): cold {base['cold_s']:.2f} s (empty browser cache "
          f"{base['cold_empty_cache_s']:.2f} s), warm {base['warm_s']:.3f} s")
    print(f"\n{'page':<21}{'first':>7}{'×base':>7}{'tab':>7}{'×base':>7}{'cold':>7}{'×base':>7}{'empty':>7}{'×base':>7}{'warm':>7}{'p90':>7}{'×base':>7}   "
          f"targets: first visit < {COLD_TARGET_S:g} s, warm < {WARM_TARGET_S:g} s")
    for title, stats in report["pages"].items():
        first = report.get("first_visit_s", {}).get(title, float("nan"))
        tab = report.get("first_visit_in_tab_s", {}).get(title, float("nan"))
        cold = report["cold_s"].get(title, float("nan"))
        empty = report["cold_empty_cache_s"].get(title, float("nan"))
        slow = [v for v, target in ((first, COLD_TARGET_S), (stats["median_s"], WARM_TARGET_S)) if v >= target]
        flag = "SLOW" if slow else "ok"
        print(f"{title:<21}{first:7.2f}{_ratio(first, base['cold_s'])}{tab:7.2f}{_ratio(tab, base['warm_s'])}{cold:7.2f}{_ratio(cold, base['cold_s'])}{empty:7.2f}"
              f"{_ratio(empty, base['cold_empty_cache_s'])}"
              f"{stats['median_s']:7.2f}{stats['p90_s']:7.2f}{_ratio(stats['median_s'], base['warm_s'])}   {flag}")
    s = report["query_selection"]
    flag = "SLOW" if s["median_s"] >= SELECT_TARGET_S else "ok"
    print(f"{'select a query':<21}{'':49}{s['median_s']:7.3f}{s['p90_s']:7.3f}{_ratio(s['median_s'], base['warm_s'])}"
          f"   {flag} (target {SELECT_TARGET_S:g} s)")
    s = report["query_selection_chart_open"]
    print(f"{'  top-k chart open':<21}{'':49}{s['median_s']:7.3f}{s['p90_s']:7.3f}{_ratio(s['median_s'], base['warm_s'])}")
    print("first: the first visit of each page on a new evaluation, the dashboard already running (the issue's "
          "'first visit after an evaluation', each page in a new tab, median of --repeat rounds; ×base: to the baseline's cold); tab: "
          "the same first visits made in the tab the user has open (sidebar), ×base: to the baseline's warm; cold: a fresh server per page (Python's imports included), browser "
          "cache warm; empty: fresh server and an empty browser cache; ×base: ratio to the baseline app measured "
          "the same way in this run")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", default=str(ROOT / "cache" / "bench-ui"),
                        help="folder for the evaluations and results (default cache/bench-ui)")
    parser.add_argument("--evals", nargs="*", default=None,
                        help="existing evaluation folders (the first opens the pages), instead of evaluating here")
    parser.add_argument("--runs-dir", default=None, help="training runs to show on Fine-tune (default: <workspace>/runs)")
    parser.add_argument("--tuned", default=None, help="a fine-tuned checkpoint to evaluate too (Compare, Alignment)")
    parser.add_argument("--data-dir", default=None, help="data folder (default $XLDIAG_DATA_DIR)")
    parser.add_argument("--repeat", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--skip", nargs="*", default=[], metavar="PAGE",
                        help="pages to leave out (titles, e.g. Alignment), cold and warm; reported as not measured")
    parser.add_argument("--parts", nargs="*", default=list(PARTS), choices=PARTS,
                        help="what to measure (default all): first visits (new tabs), tab (first visits in the open tab), warm navigation, query selection, cold "
                             "(fresh server), empty (fresh server, empty browser cache); the baseline always")
    parser.add_argument("--chromium", default=os.environ.get("XLDIAG_CHROMIUM") or shutil.which("chromium")
                        or "/usr/bin/chromium")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from xldiag import config

    data_dir = str(config.data_dir(args.data_dir))
    ws = Path(args.workspace).resolve()
    evals = ws / "evals"
    runs = Path(args.runs_dir).resolve() if args.runs_dir else ws / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    if args.evals:
        ids = link_evals(evals, args.evals)
    else:
        ids = prepare(evals, data_dir, ["default"] + ([str(Path(args.tuned).resolve())] if args.tuned else []))

    env = {"XLDIAG_EVALS_DIR": str(evals), "XLDIAG_RUNS_DIR": str(runs), "XLDIAG_DATA_DIR": data_dir,
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    from playwright.sync_api import sync_playwright

    load_before = load_average()
    port = free_port()  # one port for every server: the browser's cache of static files stays valid
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        baseline = measure_baseline(browser, ws, args.repeat)
        print(f"baseline cold {baseline['cold_s']:.2f} s (empty cache {baseline['cold_empty_cache_s']:.2f} s), "
              f"warm {baseline['warm_s']:.3f} s", flush=True)
        timed = [pg for pg in PAGES if pg[0] not in args.skip]
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        parts = set(args.parts)
        measured = {"pages": {title: [] for title, _ in timed}, "selections": [], "selections_chart": []}
        if parts & {"warm", "select"}:
            proc, url = start_server(ROOT / "app.py", env, ws / "streamlit.log", port)
            try:
                measured = measure_warm(context.new_page(), url, ids[0], args.repeat, ws / "screenshots", timed, parts)
            finally:
                stop_server(proc)
        first_runs = (measure_first_visits(context, env, ws, ids[-1], ids[0], timed, port, args.repeat)
                      if len(ids) > 1 and "first" in parts else {})
        first = {title: statistics.median(values) for title, values in first_runs.items()}
        tab_runs = (measure_first_in_tab(context, env, ws, ids[-1], ids[0], _model_of(evals / ids[0].split(":", 1)[-1]), timed, port,
                                         args.repeat) if len(ids) > 1 and "tab" in parts else {})
        tab = {title: statistics.median(values) for title, values in tab_runs.items()}
        cold = measure_cold(context, env, ws, ids[0], timed, port) if "cold" in parts else {}
        empty = measure_cold(browser, env, ws, ids[0], timed, port) if "empty" in parts else {}
        browser.close()

    report = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.platform(), "cpus": os.cpu_count(),
              "load_before": load_before, "load_after": load_average(), "evaluations": ids,
              "targets": {"cold_s": COLD_TARGET_S, "warm_s": WARM_TARGET_S, "select_s": SELECT_TARGET_S},
              "baseline": baseline, "first_visit_s": first, "first_visit_runs_s": first_runs,
              "first_visit_in_tab_s": tab, "first_visit_in_tab_runs_s": tab_runs, "cold_s": cold, "cold_empty_cache_s": empty,
              "pages": {t: summarize(v) for t, v in measured["pages"].items()},
              "query_selection": summarize(measured["selections"]),
              "query_selection_chart_open": summarize(measured["selections_chart"])}
    print_report(report)
    (ws / "ui_bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {ws / 'ui_bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
