"""Evaluation results: reading run folders back, listing them, launching evaluations as jobs, and
the per-query views the dashboard shows. Plain pandas in and out; no Streamlit.

    errors.py     RunFolderError (+ RunFormatError, RunIncompleteError); explain(err) for users
    store.py      one run folder: load_eval → EvalRun, check_format, read_config, read_per_query
    listing.py    where evaluations live, names and ids, list_evaluations (state from status.json)
    selection.py  choosing among listed evaluations (matching a setting, base/tuned partners)
    launch.py     `python -m xldiag eval ... --out DIR` started detached through xldiag.jobs
    queries.py    query browser, one query's detail, language preference, paired queries
    coverage.py   languages a model was not trained on: the flag pages and the CLI show
    model_views.py  several models side by side: Figure 2's frame, distractor languages by model

Table 1 and base-vs-tuned tables are in xldiag.tables; the paired significance tests in xldiag.stats.
"""

from xldiag.results.coverage import coverage_note, flagged, run_uncovered, uncovered
from xldiag.results.errors import RunFolderError, RunFormatError, RunIncompleteError, explain
from xldiag.results.launch import eval_argv, eval_spec, job_fields, launch_evaluation, launch_evaluation_set
from xldiag.results.listing import (
    eval_id,
    eval_label,
    eval_name,
    evals_dir,
    id_of,
    labelled_models,
    list_evaluations,
    model_label,
    opened_id,
    resolve_eval_id,
    runs_dir,
    slug,
)
from xldiag.results.model_views import (
    distractor_languages,
    figure2_frame,
    figure2_lines,
    preference_lines,
)
from xldiag.results.queries import (
    diagnosis_shares,
    distractor_share,
    doc_text,
    filter_queries,
    inclination_rates,
    language_preference,
    PAIRED_INPUT_COLUMNS,
    measure_table,
    most_changed,
    paired_queries,
    paired_tests,
    preference_verdict,
    query_detail,
    query_index,
    query_table,
)
from xldiag.results.store import (
    FORMAT_VERSION,
    PER_QUERY_COLUMNS,
    SUMMARY_COLUMNS,
    EvalRun,
    check_format,
    load_eval,
    read_config,
    read_per_query,
    tie_rules,
)

__all__ = [
    "FORMAT_VERSION", "PER_QUERY_COLUMNS", "SUMMARY_COLUMNS", "check_format", "coverage_note", "diagnosis_shares",
    "distractor_languages", "distractor_share", "doc_text", "figure2_frame", "figure2_lines", "flagged", "opened_id",
    "preference_lines", "run_uncovered", "uncovered",
    "eval_argv", "eval_id", "eval_label", "eval_name", "eval_spec", "EvalRun", "evals_dir", "explain",
    "filter_queries", "id_of", "inclination_rates", "job_fields", "labelled_models", "language_preference",
    "launch_evaluation", "launch_evaluation_set", "list_evaluations", "load_eval", "measure_table", "model_label",
    "most_changed", "PAIRED_INPUT_COLUMNS", "paired_queries", "paired_tests",
    "preference_verdict", "query_detail", "query_index", "query_table", "read_config", "read_per_query",
    "resolve_eval_id", "RunFolderError", "RunFormatError", "RunIncompleteError", "runs_dir", "slug", "tie_rules",
]

