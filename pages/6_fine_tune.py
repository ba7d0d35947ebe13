"""Fine-tune: launch a training run as a detached process and watch it live (loss, JSD, NCE, learning
rate and the passages' pre-norm ‖z‖, polled from metrics.jsonl); stop it; when it finishes, its
base-vs-tuned evaluation appears with a link to Compare. Leaving and coming back keeps showing the
run (it lives on disk)."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from pages import _shared as shared
from xldiag import results, viz

fr = shared.frame()
ss = st.session_state
st.title("Fine-tune")
st.caption("√JSD + InfoNCE on (English query, English passage, target passage) triples; the run goes on "
           "in its own process, so you can leave this page and come back.")

try:
    from xldiag import runs as runs_mod
    from xldiag.losses import LOSS_MODES
except Exception as err:  # noqa: BLE001 - training extras missing: say so
    shared.show_error(err, "Training module")
    st.stop()

ACTIVE = ("queued", "running")

# ---------------------------------------------------------------------------------------------
# Launch form

with st.expander("New training run", expanded=False):
    with st.form("train_form"):
        c1, c2, c3 = st.columns(3)
        model_opts = list(dict.fromkeys([fr.model, "default", *shared.checkpoint_models()]))
        model = c1.selectbox("Model", model_opts, format_func=results.model_label, key="ft_model")
        data = c1.text_input("Training data", value="mlqa-r", key="ft_data",
                             help="mlqa-r, or a JSONL file of triples (docs/DATA_FORMATS.md)")
        try:
            from xldiag.data import DATASETS

            triple_langs = list(DATASETS["mlqa-r"].triple_languages) or ["zh"]
        except Exception:  # noqa: BLE001
            triple_langs = ["ar", "de", "es", "hi", "vi", "zh"]
        default_lang = [fr.target] if fr.target in triple_langs else triple_langs[-1:]
        langs = c1.multiselect("Languages", triple_langs, default=default_lang, key="ft_langs")
        loss = c2.selectbox("Loss", list(LOSS_MODES), key="ft_loss",
                            help="full = √JSD + InfoNCE (the paper); no-jsd; no-nce; nce-psg")
        lr = c2.number_input("Learning rate (0 = the model family's)", min_value=0.0, value=0.0, format="%.1e",
                             step=1e-6, key="ft_lr")
        limit = c2.number_input("Limit (first N triples, 0 = all)", min_value=0, value=256, step=32, key="ft_limit")
        seq = c3.number_input("Max sequence length", min_value=16, max_value=1024, value=128, step=16, key="ft_seq")
        batch = c3.number_input("Batch size", min_value=2, value=32, step=2, key="ft_batch")
        eval_limit = c3.number_input("Evaluate on first N questions (0 = all)", min_value=0, value=200, step=50,
                                     key="ft_eval_limit")
        name = st.text_input("Run name (optional)", key="ft_name", placeholder="e.g. e5-zh-full")
        go = st.form_submit_button("Launch", type="primary")
    if go:
        if not langs:
            st.warning("Choose at least one language.")
        elif shared.check_data_dir() is not None:
            root = results.runs_dir()
            cfg = {"model": model, "data": data.strip() or "mlqa-r", "langs": list(langs), "loss": loss,
                   "lr": float(lr) or None, "limit": int(limit) or None, "max_seq_length": int(seq),
                   "batch_size": int(batch), "eval_limit": int(eval_limit) or None,
                   "eval_langs": list(langs), "eval_pool": fr.pool, "eval_ties": fr.ties,
                   "data_dir": shared.data_dir_setting(),
                   "trust_remote_code": bool(ss.get("trust_remote_code"))}
            stamp = time.strftime("%Y%m%d-%H%M%S")
            folder = results.slug(name.strip()) if name.strip() else \
                f"{stamp}-{results.slug(results.model_label(model))}-{'-'.join(langs)}-{loss}"
            cfg["out"] = str(root / folder)
            try:
                run_dir = runs_mod.launch_training(cfg)
                ss["ft_run"] = str(run_dir)
                shared.refresh_listings()
                st.success(f"Launched {Path(run_dir).name}.")
            except Exception as err:  # noqa: BLE001 - locked folder, bad option, ...
                shared.show_error(err, "Launch")

# ---------------------------------------------------------------------------------------------
# Which run to show: the one chosen before (kept in session state), else a live one, else the newest

runs = shared.list_runs()
if runs.empty:
    st.info(f"No training runs yet in `{results.runs_dir()}`. Launch one above.")
    st.stop()
paths = list(runs["run_dir"])
labels = {r["run_dir"]: f"{r['name']} [{r['state']}]" for _, r in runs.iterrows()}
chosen = ss.get("ft_run")
if chosen not in paths:
    live = runs[runs["state"].isin(ACTIVE)]
    chosen = (live if not live.empty else runs).iloc[0]["run_dir"]
run_dir = st.selectbox("Run", paths, index=paths.index(chosen), format_func=lambda p: labels.get(p, p),
                       key="ft_run_select")
ss["ft_run"] = run_dir

status0 = runs_mod.read_status(run_dir)
active0 = status0.get("state") in ACTIVE


def _live() -> None:
    status = runs_mod.read_status(run_dir)
    state = status.get("state", "unknown")
    step, total = status.get("step") or 0, status.get("total_steps") or 0
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
    c1.metric("State", state)
    c2.metric("Step", f"{step}/{total}" if total else str(step))
    c3.metric("Loss", f"{status['loss']:.4f}" if isinstance(status.get("loss"), (int, float)) else "—")
    c4.metric("Phase", status.get("phase") or "—")
    if total:
        st.progress(min(1.0, step / total), text=f"{status.get('phase') or state}: step {step} of {total}")
    if state in ACTIVE:
        if c4.button("Stop", key="ft_stop", type="secondary", help="ends after the current step, with a checkpoint"):
            runs_mod.request_stop(run_dir)
            st.toast("Stop requested: the run ends after its current step.")
    if status.get("error") and state not in ACTIVE:
        shared.show_error(RuntimeError(status["error"]), f"Run {state}")
    metrics = runs_mod.read_metrics(run_dir)
    smooth = 1 if len(metrics) < 20 else 5
    st.plotly_chart(viz.training_curves_figure(metrics, smooth=smooth), key="ft_curves")
    if viz.has_passage_norms(metrics):
        st.plotly_chart(viz.passage_norms_figure(metrics, smooth=smooth), key="ft_norms")
        st.caption("The √JSD is taken on vectors before the final normalisation, so it can also fall by "
                   "shrinking ‖z‖ (softmax of a short vector is nearly uniform): read it with these norms.")
    with st.expander("train.log (last lines)"):
        st.code(runs_mod.tail_log(run_dir, 30) or "(empty)", language=None)
    if (state in ACTIVE) != active0:  # finished (or restarted) while we watched: redraw the whole page
        shared.refresh_listings()
        st.rerun(scope="app")


shared.fragment(run_every=2.0 if active0 else None, where="Live run")(_live)()

# ---------------------------------------------------------------------------------------------
# After the run: its evaluation, and the way to Compare

base_dir, tuned_dir = Path(run_dir) / "eval" / "base", Path(run_dir) / "eval" / "tuned"
if (tuned_dir / "config.json").exists() and (base_dir / "config.json").exists():
    st.subheader("Base vs tuned")
    try:
        base = shared.load_eval(base_dir)
        tuned = shared.load_eval(tuned_dir)
        table = results.compare_table(base.summary, tuned.summary)
        table["metric"] = table["metric"].map(lambda m: viz.METRIC_LABELS.get(m, m))
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.2f") for c in ("Base", "Ours", "change")})
        root = results.runs_dir()
        a = results.eval_id("runs", root, base_dir)
        b = results.eval_id("runs", root, tuned_dir)
        st.page_link(shared.PAGES["compare"], label="Compare base and tuned query by query", icon=":material/compare_arrows:",
                     query_params={"a": a, "b": b})
    except Exception as err:  # noqa: BLE001
        shared.show_error(err, "Evaluation")
elif status0.get("state") == "finished":
    st.info("The run finished without an evaluation (eval disabled?): evaluate its final checkpoint on Overview.")
