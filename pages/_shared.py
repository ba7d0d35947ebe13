"""Shared frame of the dashboard: the sidebar selection, cached loaders, friendly errors.

Pages import this module (it is not a page). Everything heavy is cached: models with
`st.cache_resource`, loaded evaluations and derived tables with `st.cache_resource` keyed by the
folder's modification time (they are read-only and large: no copy per rerun), the listings of
evaluations and runs with a 3-second TTL so new ones show up. Cached objects are shared by all
sessions and never mutated.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from xldiag import config, results

log = logging.getLogger("xldiag.app")

PIVOT = "en"
SCENARIOS = ["multi", "multi-1", "mono-same", "mono-cross"]
CONSTRUCTIONS = ["unique", "per-question"]
TIE_RULES = ["optimistic", "pessimistic", "average"]
FALLBACK_LANGS = {"xquad": ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]}

PAGES = {
    "overview": "pages/1_overview.py",
    "queries": "pages/2_queries.py",
    "preference": "pages/3_language_preference.py",
    "alignment": "pages/4_alignment.py",
    "map": "pages/5_embedding_map.py",
    "finetune": "pages/6_fine_tune.py",
    "compare": "pages/7_compare.py",
}


# --------------------------------------------------------------------------------------------
# Errors: a clear message and a way forward, never a traceback


def explain(err: BaseException) -> tuple[str, str]:
    """(message, way forward) for an exception raised by the library."""
    text = str(err) or type(err).__name__
    low = text.lower()
    if isinstance(err, config.DataDirError):
        return text, (f"Set {config.DATA_DIR_ENV} before starting the dashboard "
                      f"(`{config.DATA_DIR_ENV}=../shared/data streamlit run app.py`) or enter the folder "
                      "under **Data folder** in the sidebar.")
    if "trust_remote_code" in low or "remote code" in low:
        return (f"This model needs code from its hub repository: {text}",
                "Tick **Allow remote code** in the sidebar only if you trust that repository, or pick another model.")
    if type(err).__name__ == "ModelLoadError" or isinstance(err, (ImportError,)) and "model" in low:
        return text, ("Pick `default` (the embedded multilingual-e5-small), a finished fine-tuning checkpoint or "
                      "a local sentence-transformers folder in the sidebar; offline, hub names work only when "
                      "already downloaded.")
    if isinstance(err, results.RunFormatError):
        return text, "Run the evaluation again on the **Overview** page (Run evaluation)."
    if isinstance(err, results.RunIncompleteError):
        return text, "Watch it on the **Overview** page; this page fills in when it finishes."
    if isinstance(err, results.RunFolderError):
        return text, "Pick another evaluation in the sidebar, or run one on the **Overview** page."
    if isinstance(err, (OSError, ValueError)) and any(w in low for w in (
            "model", "repository", "repo", "huggingface", "hub", "not a local folder", "does not appear to have")):
        return (f"The model could not be loaded: {text}",
                "Pick `default` (the embedded multilingual-e5-small), a finished fine-tuning checkpoint, or a "
                "local sentence-transformers folder; offline, hub names work only when already downloaded.")
    return f"{type(err).__name__}: {text}", "Check the inputs in the sidebar; the server log has the details."


def fragment(run_every: float | None = None, where: str = ""):
    """`st.fragment` whose errors become a clear message: Streamlit shows an exception raised in a
    fragment itself (the app-level handler never sees it), so catch it inside."""
    import functools

    def decorate(fn):
        @functools.wraps(fn)
        def safe(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - never a traceback in the UI
                show_error(err, where or fn.__name__.replace("_", " ").strip())

        return st.fragment(safe, run_every=run_every)

    return decorate


def show_error(err: BaseException, where: str = "") -> None:
    message, forward = explain(err)
    log.warning("%s: %s", where or "page", err, exc_info=err)
    st.error(f"{where + ': ' if where else ''}{message}\n\n**What to do:** {forward}", icon=":material/warning:")


# --------------------------------------------------------------------------------------------
# Listings and loaders


@st.cache_resource(ttl=3, show_spinner=False)
def list_evals() -> pd.DataFrame:
    """All evaluations (read-only: shared by every session, no copy per rerun)."""
    return results.list_evaluations()


def refresh_listings() -> None:
    list_evals.clear()
    list_runs.clear()


@st.cache_resource(ttl=3, show_spinner=False)
def list_runs() -> pd.DataFrame:
    try:
        from xldiag import runs

        return runs.list_runs(results.runs_dir())
    except Exception as err:  # noqa: BLE001 - the training module may be missing; show no runs
        log.warning("cannot list runs: %s", err)
        return pd.DataFrame(columns=["name", "run_dir", "state", "model", "created"])


def _stamp(path: str | Path) -> float:
    p = Path(path) / "config.json"
    return p.stat().st_mtime if p.exists() else 0.0


@st.cache_resource(show_spinner=False, max_entries=16)
def _load_eval(path: str, stamp: float) -> results.EvalRun:
    return results.load_eval(path)


def load_eval(path: str | Path) -> results.EvalRun:
    return _load_eval(str(path), _stamp(path))


@st.cache_resource(show_spinner=False, max_entries=16)
def _per_query(path: str, stamp: float) -> pd.DataFrame:
    return _load_eval(path, stamp).per_query


def per_query(path: str | Path) -> pd.DataFrame:
    return _per_query(str(path), _stamp(path))


@st.cache_resource(show_spinner=False, max_entries=16)
def _query_table(path: str, stamp: float) -> pd.DataFrame:
    return results.query_table(_per_query(path, stamp))


def query_table(path: str | Path) -> pd.DataFrame:
    return _query_table(str(path), _stamp(path))


@st.cache_resource(show_spinner=False, max_entries=16)
def _query_index(path: str, stamp: float) -> dict:
    return results.query_index(_per_query(path, stamp))


def query_index(path: str | Path) -> dict:
    return _query_index(str(path), _stamp(path))


@st.cache_resource(show_spinner=False, max_entries=16)
def _preference(path: str, stamp: float) -> pd.DataFrame:
    return results.language_preference(_per_query(path, stamp))


def preference(path: str | Path) -> pd.DataFrame:
    return _preference(str(path), _stamp(path))


def data_dir_setting() -> str | None:
    return st.session_state.get("data_dir_override") or None


def data_dir_or_none() -> Path | None:
    try:
        return config.data_dir(data_dir_setting())
    except config.DataDirError:
        return None


def check_data_dir() -> Path | None:
    """The data folder, or None after showing why there is none."""
    try:
        return config.data_dir(data_dir_setting())
    except config.DataDirError as err:
        show_error(err)
        return None


@st.cache_resource(show_spinner=False, max_entries=8)
def _dataset(name: str, langs: tuple[str, ...], limit: int | None, data_dir: str):
    from xldiag.data import load_dataset

    return load_dataset(name, list(langs), data_dir=data_dir, limit=limit)


def dataset(name: str, langs, limit: int | None):
    """The ParallelDataset an evaluation used (same languages and limit: same indices)."""
    root = config.data_dir(data_dir_setting())
    return _dataset(name, tuple(sorted(langs)), int(limit) if limit else None, str(root))


def doc_text(ds, doc_id: str) -> str:
    """Text of a pool document id (`lang:pN` unique, `lang:qN` per-question)."""
    lang, _, rest = doc_id.partition(":")
    try:
        idx = int(rest[1:])
        if rest.startswith("q"):
            idx = int(ds.question_passage[idx])
        return ds.passages[lang][idx]
    except (KeyError, IndexError, ValueError):
        return ""


@st.cache_resource(show_spinner=False, max_entries=4)
def encoder(model: str, trust_remote_code: bool = False):
    """One Encoder (and its model, loaded lazily) per model string, shared by all sessions."""
    from xldiag.embeddings import Encoder

    try:
        return Encoder(model, trust_remote_code=trust_remote_code)
    except TypeError:  # an Encoder without that keyword
        return Encoder(model)


def encode(model: str, texts: list[str], role: str, label: str = "") -> np.ndarray:
    """Encode with the disk-cached Encoder, in chunks, with a progress bar when it takes a while."""
    enc = encoder(model, bool(st.session_state.get("trust_remote_code")))
    texts = list(texts)
    if len(texts) <= 64:
        return enc.encode(texts, role)
    bar = None
    started = time.monotonic()
    parts = []
    step = 128
    for i in range(0, len(texts), step):
        parts.append(enc.encode(texts[i:i + step], role))
        if bar is None and time.monotonic() - started > 0.5:
            bar = st.progress(0.0, text=f"Embedding {label or role}s")
        if bar is not None:
            bar.progress(min(1.0, (i + step) / len(texts)), text=f"Embedding {len(texts)} {label or role}s")
    if bar is not None:
        bar.empty()
    return np.concatenate(parts, axis=0)


def partner_model(model: str) -> str | None:
    """The other side of a base/tuned pair: a run's final checkpoint <-> the model it started from."""
    runs = list_runs()
    finals = [(str(Path(str(r["run_dir"])) / "final"), r.get("model")) for _, r in runs.iterrows()]
    for final, base in finals:
        if model == final and base:
            return str(base)
    for final, base in finals:
        if base == model and Path(final).is_dir():
            return final
    return None


def compare_picker(container, key: str, label: str, model: str) -> str:
    """A selectbox of models to show beside `model` ("—" for none), defaulting to its partner."""
    others = [m for m in dict.fromkeys(["default", *checkpoint_models(), *list_evals().get("model", [])])
              if m and m != model]
    options = ["—", *others]
    if st.session_state.get(key) not in options:
        partner = partner_model(model)
        st.session_state[key] = partner if partner in options else "—"
    return container.selectbox(label, options, key=key,
                               format_func=lambda m: m if m == "—" else results.model_label(m))


# --------------------------------------------------------------------------------------------
# The sidebar frame


@dataclass
class Frame:
    model: str
    dataset: str
    pair: str
    pool: str
    ties: str
    eval_id: str | None
    eval_path: str | None
    eval_state: str | None
    eval_error: str

    @property
    def target(self) -> str:
        return results.pair_target(self.pair)

    @property
    def pair_langs(self) -> list[str]:
        return self.pair.split("+")


def select_eval(ident: str) -> None:
    """Make the sidebar point at an evaluation on the next run (before its widgets exist)."""
    st.session_state["_pending_eval"] = ident


def _apply_eval(ident: str, evals: pd.DataFrame) -> None:
    rows = evals[evals["id"] == ident]
    if rows.empty:
        st.session_state["_link_warning"] = f"The linked evaluation {ident!r} was not found."
        return
    row = rows.iloc[0]
    st.session_state["sb_model"] = row["model"]
    st.session_state["sb_dataset"] = row["dataset"]
    if row["language_sets"]:
        current = st.session_state.get("sb_pair")
        st.session_state["sb_pair"] = current if current in row["language_sets"] else row["language_sets"][0]
    if row["pool"]:
        st.session_state["sb_pool"] = row["pool"]
    if row["ties"]:
        st.session_state["sb_ties"] = row["ties"].split(",")[0]
    st.session_state["sb_eval"] = ident


def dataset_languages(name: str) -> list[str]:
    try:
        from xldiag.data import DATASETS

        return list(DATASETS[name].languages)
    except Exception:  # noqa: BLE001 - unknown dataset or registry missing
        return FALLBACK_LANGS.get(name, [])


def dataset_names() -> list[str]:
    try:
        from xldiag.data import DATASETS

        return list(DATASETS)
    except Exception:  # noqa: BLE001
        return ["xquad"]


def checkpoint_models() -> list[str]:
    """Final checkpoints of finished fine-tuning runs."""
    runs = list_runs()
    out = []
    for _, r in runs.iterrows():
        final = Path(str(r.get("run_dir", ""))) / "final"
        if final.is_dir():
            out.append(str(final))
    return out


def sidebar() -> Frame:
    """Render the shared sidebar; returns the selection every page works on."""
    ss = st.session_state
    evals = list_evals()
    complete = evals[evals["state"] == "complete"] if not evals.empty else evals

    link = st.query_params.get("eval")
    if link and ss.get("_applied_link") != link:
        ss["_applied_link"] = link
        _apply_eval(link, evals)
    pending = ss.pop("_pending_eval", None)
    if pending:
        _apply_eval(pending, evals)
    if "sb_model" not in ss and not complete.empty:  # first visit: open on the newest evaluation
        _apply_eval(complete.iloc[0]["id"], evals)

    with st.sidebar:
        models = [m for m in dict.fromkeys(["default", *complete.get("model", []), *checkpoint_models(),
                                            *evals.get("model", [])]) if m]
        if ss.get("sb_model") and ss["sb_model"] not in models:
            models.append(ss["sb_model"])
        model = st.selectbox("Model / checkpoint", models, key="sb_model", format_func=results.model_label,
                             help="`default` is the embedded multilingual-e5-small; fine-tuned checkpoints "
                                  "appear here when their run finishes.")
        names = list(dict.fromkeys([*dataset_names(), *complete.get("dataset", [])]))
        if ss.get("sb_dataset") not in names:
            ss["sb_dataset"] = "xquad" if "xquad" in names else names[0]
        ds_name = st.selectbox("Dataset", names, key="sb_dataset")
        langs = [lang for lang in dataset_languages(ds_name) if lang != PIVOT]
        pairs = [f"{PIVOT}+{lang}" for lang in langs]
        for sets in complete.get("language_sets", []):
            pairs += [s for s in sets if s not in pairs]
        if not pairs:
            pairs = ["en+zh"]
        if ss.get("sb_pair") not in pairs:
            ss["sb_pair"] = "en+zh" if "en+zh" in pairs else pairs[0]
        pair = st.selectbox("Language pair", pairs, key="sb_pair",
                            format_func=lambda p: p.replace("+", " – "))
        pool = st.radio("Pool construction", CONSTRUCTIONS, key="sb_pool", horizontal=True,
                        help="unique: each passage once; per-question: one document per question")
        ties = st.selectbox("Tie rule", TIE_RULES, key="sb_ties")

        matching = evals[(evals["model"] == model) & (evals["dataset"] == ds_name) & (evals["pool"] == pool)
                         & evals["ties"].map(lambda rules: ties in str(rules).split(","))
                         & evals["language_sets"].map(lambda s: pair in s)] if not evals.empty else evals
        options = list(matching["id"]) if not matching.empty else []
        labels = {r["id"]: results.eval_label(r) for _, r in matching.iterrows()} if options else {}
        if ss.get("sb_eval") not in options:
            ss.pop("sb_eval", None)
            # prefer complete ones
            done = [i for i in options if matching.set_index("id").loc[i, "state"] == "complete"]
            if done or options:
                ss["sb_eval"] = (done or options)[0]
        eval_id = st.selectbox("Evaluation", options, key="sb_eval", format_func=lambda i: labels.get(i, i),
                               placeholder="none for this setting", help="Run folders matching the choices above.")
        if not options:
            st.caption("No evaluation for this setting yet: run one on **Overview**.")
        with st.expander("Data folder & models"):
            current = data_dir_setting() or os.environ.get(config.DATA_DIR_ENV, "")
            value = st.text_input("Data folder", value=current, key="sb_data_dir",
                                  help=f"Defaults to ${config.DATA_DIR_ENV}.")
            if value and value != current:
                try:
                    config.data_dir(value)
                    ss["data_dir_override"] = value
                except config.DataDirError as err:
                    st.error(str(err))
            st.checkbox("Allow remote code", key="trust_remote_code",
                        help="Some hub models ship their own Python code; only allow it for repositories you trust.")
            st.caption(f"Evaluations: `{results.evals_dir()}`  \nRuns: `{results.runs_dir()}`")
        if ss.get("_link_warning"):
            st.warning(ss.pop("_link_warning"))

    row = matching.set_index("id").loc[eval_id] if eval_id else None
    return Frame(model=model, dataset=ds_name, pair=pair, pool=pool, ties=ties, eval_id=eval_id,
                 eval_path=row["path"] if row is not None else None,
                 eval_state=row["state"] if row is not None else None,
                 eval_error=row["error"] if row is not None else "")


def frame() -> Frame:
    """The sidebar selection of this run; reroutes through app.py when a page runs on its own.

    Streamlit treats a `pages/` folder as an old-style (v1) multipage app until the first call
    of `st.navigation`; a server's very first run opened on a page URL (and every AppTest rerun)
    then executes the page file without app.py. Such a run switches v1 mode off and reruns, which
    goes through the router with the same page (url paths match the v1 names)."""
    if not st.session_state.get("_routed") or "_frame" not in st.session_state:
        try:
            from streamlit.runtime.pages_manager import PagesManager

            PagesManager.uses_pages_directory = False
        except ImportError:  # pragma: no cover - a Streamlit without that switch
            pass
        st.rerun()
    return st.session_state["_frame"]


def require_eval(fr: Frame | None = None) -> results.EvalRun:
    """The sidebar's evaluation, loaded; otherwise a clear message and a stop."""
    fr = fr or frame()
    if not fr.eval_path:
        st.info(f"No evaluation of **{results.model_label(fr.model)}** on **{fr.dataset} {fr.pair}** "
                f"({fr.pool} pool, {fr.ties} ties) yet. Run one on the Overview page, or change the sidebar.")
        st.page_link(PAGES["overview"], label="Go to Overview → Run evaluation", icon=":material/play_arrow:")
        st.stop()
    if fr.eval_state == "running":
        prog = results.read_progress(fr.eval_path)
        st.info(f"This evaluation is still running ({100 * float(prog.get('fraction') or 0):.0f} %: "
                f"{prog.get('message', '')}). Its results appear here when it finishes.")
        st.page_link(PAGES["overview"], label="Watch it on Overview", icon=":material/hourglass_top:")
        st.stop()
    if fr.eval_state == "failed":
        st.error(f"This evaluation did not finish: {fr.eval_error}\n\n**What to do:** check the model and "
                 "data folder in the sidebar, then run it again on the Overview page.", icon=":material/error:")
        st.page_link(PAGES["overview"], label="Go to Overview → Run evaluation", icon=":material/play_arrow:")
        st.stop()
    try:
        return load_eval(fr.eval_path)
    except results.RunFolderError as err:
        show_error(err)
        st.page_link(PAGES["overview"], label="Go to Overview → Run evaluation", icon=":material/play_arrow:")
        st.stop()


def eval_options(state: str = "complete", dataset: str | None = None) -> tuple[list[str], dict[str, str]]:
    evals = list_evals()
    if evals.empty:
        return [], {}
    sel = evals[evals["state"] == state]
    if dataset:
        sel = sel[sel["dataset"] == dataset]
    return list(sel["id"]), {r["id"]: results.eval_label(r) for _, r in sel.iterrows()}


def path_of(ident: str) -> str | None:
    p = results.resolve_eval_id(ident)
    return str(p) if p else None


BADGE_COLORS = {"en": "blue", "zh": "red", "ar": "green", "de": "orange", "es": "violet"}


def badge(lang: str) -> str:
    """A Markdown language badge, coloured like the language in the figures where it can be."""
    return f":{BADGE_COLORS.get(lang, 'gray')}-badge[{lang}]"


def text_key(*parts) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:16]
