"""The project's shared words, each defined once: languages, scenarios, pools, tie rules, the
metrics a summary reports (with their labels and direction), file names and environment names.

Every module, page and command takes these from here; a test checks that every summary column
has its entry in `METRICS`, so adding a metric is one line here plus its function in `metrics.py`.
This module imports nothing from the project.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- languages and roles -------------------------------------------------------------------------

PIVOT = "en"  # English: the language paired with every target language ("ar" means the pool en+ar)
ROLES = ("query", "passage")  # how a text is embedded (a model's query / passage prompts)
DEFAULT_FIX_DATA = "ntrex"  # the aligned corpus a fix is estimated on unless told (xldiag.data.corpora)
# max_seq_length of a model that embeds every token of a text (no truncation), e.g. use-m3;
# int32's largest value, so it fits the embedding cache's max_tokens column.
NO_TOKEN_LIMIT = 2**31 - 1


def pair_target(pair: str) -> str:
    """A language set's short name: 'en+zh' → 'zh' (the target language of an English pair);
    other sets keep their name ('de+zh', 'en+de+zh')."""
    langs = str(pair).split("+")
    rest = [lang for lang in langs if lang != PIVOT]
    return rest[0] if len(langs) == 2 and len(rest) == 1 else str(pair)

# --- scenarios, pools, tie rules -----------------------------------------------------------------

SCENARIOS = ("multi", "multi-1", "mono-same", "mono-cross")
SCENARIO_LABELS = {"multi": "Multi", "multi-1": "Multi-1", "mono-same": "Mono-Same", "mono-cross": "Mono-Cross"}
POOLS = ("unique", "per-question")  # pool constructions: each passage once / one doc per question
TIE_RULES = ("optimistic", "pessimistic", "average")
PAPER_POOL = "per-question"  # the pool the paper's table sizes imply (|D| = 2 x questions)
PAPER_TIES = ("optimistic", "pessimistic")  # the paper does not say how it broke ties: both bounds


# --- metrics -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A summary column: how to label it, which direction is better, how to print it."""

    column: str
    label: str
    higher_is_better: bool
    fmt: str = "{:.2f}"
    percent: bool = False  # values in % (0-100)
    neutral: float | None = None  # a preference measure's "no preference" value (no better direction)

    @property
    def arrow_label(self) -> str:
        """The label with its direction, e.g. "Max@R ↓" (a preference measure: "… (50 = none)")."""
        if self.neutral is not None:
            return f"{self.label} ({self.neutral:g} = none)"
        return f"{self.label} {'↑' if self.higher_is_better else '↓'}"

    def format(self, value) -> str:
        try:
            return self.fmt.format(value)
        except (TypeError, ValueError):
            return str(value)


def _metrics(*items: Metric) -> dict[str, Metric]:
    return {m.column: m for m in items}


METRICS: dict[str, Metric] = _metrics(
    Metric("max_r", "Max@R", False),
    *(Metric(f"complete@{k}", f"Complete@{k}", True, percent=True) for k in (1, 5, 10, 20, 100)),
    Metric("max_r_norm_table", "Max@R_norm", True),
    Metric("max_r_norm_per_query", "Max@R_norm (per query)", True),
    Metric("ndcg@1", "NDCG@1", True, percent=True),
    Metric("ndcg@10", "NDCG@10", True, percent=True),
    Metric("mrr", "MRR", True, "{:.3f}"),
    Metric("recall@10", "Recall@10", True, percent=True),
    Metric("english_inclination_rate", "English inclination", False, percent=True),
    Metric("own_language_inclination_rate", "Own-language inclination", False, percent=True),
    Metric("mean_english_distractors", "English distractors / query", False),
    Metric("mean_own_language_distractors", "Own-language distractors / query", False),
    Metric("mean_rank_gap", "Rank gap (other − same language)", False),
    Metric("mean_tied", "Tied docs / query", False),
    Metric("truncated_queries", "Queries cut at max length", False, "{:.0f}"),
    Metric("truncated_docs", "Docs cut at max length", False, "{:.0f}"),
    # issue 11: measures whose "no bias" value is known, why queries fail, consistency (xldiag.measures)
    Metric("map", "mAP", True, percent=True),
    Metric("query_language_preference", "Same-language gold first", False, percent=True, neutral=50.0),
    Metric("query_language_preference_p", "Same-language gold first: sign-test p", False, "{:.2g}"),
    Metric("distractor_share_query_lang", "Query-language distractor share", False, neutral=1.0),
    Metric("peer@10", "PEER@10", True, "{:.3f}"),
    Metric("top1_relevant_query_lang", "Top-1 relevant, query language", True, percent=True),
    Metric("top1_relevant_other_lang", "Top-1 relevant, other language", True, percent=True),
    Metric("top1_unrelated_query_lang", "Top-1 unrelated, query language", False, percent=True),
    Metric("top1_unrelated_other_lang", "Top-1 unrelated, other language", False, percent=True),
    Metric("diagnosis_pass", "Passing (Multi)", True, percent=True),
    Metric("diagnosis_semantic_miss", "Semantic miss", False, percent=True),
    Metric("diagnosis_language_miss", "Language miss", False, percent=True),
    Metric("diagnosis_mixed", "Mixed miss", False, percent=True),
    Metric("diagnosis_no_distractor", "Miss without distractor (ties)", False, percent=True),
    Metric("consistency_overlap@10", "Top-10 overlap across query languages", True, percent=True),
    Metric("consistency_rho", "Score rank correlation across query languages", True, "{:.3f}"),
)
# What a summary row is about (not measured): the keys and sizes beside the metrics.
SUMMARY_KEYS = ("dataset", "pair", "query_lang", "scenario", "pool", "ties", "model", "n_queries", "n_docs", "n_rel",
                "uncovered_langs")  # the row's languages outside the model's declared training languages ("vi")
# The paper's Table 1 rows, in order; also the base-vs-tuned comparison.
HEADLINE_METRICS: tuple[str, ...] = ("max_r", "complete@10", "max_r_norm_table", "ndcg@1", "mrr")
COMPLETE_KS = (1, 5, 10, 20, 100)
# Metrics with a bootstrap interval in the summary: <metric>_lo, <metric>_hi (95 %, resampling queries).
INTERVAL_METRICS: tuple[str, ...] = (*HEADLINE_METRICS, "map")
INTERVAL_LEVEL = 0.95
# The per-query diagnosis of a failing Multi query (xldiag.metrics.diagnose) and its summary column.
DIAGNOSES = ("pass", "semantic-miss", "language-miss", "mixed", "no-distractor")


def diagnosis_column(label: str) -> str:
    """The summary column of a diagnosis: "semantic-miss" -> "diagnosis_semantic_miss"."""
    return "diagnosis_" + label.replace("-", "_")


def interval_columns(column: str) -> tuple[str, str]:
    """The bootstrap interval's columns of a metric: ("complete@10_lo", "complete@10_hi")."""
    return f"{column}_lo", f"{column}_hi"


def _interval_metrics() -> dict[str, Metric]:
    """One entry per interval end, labelled and formatted as its metric."""
    out = {}
    for column in INTERVAL_METRICS:
        m = METRICS[column]
        for end, name in zip(("low", "high"), interval_columns(column)):
            out[name] = Metric(name, f"{m.label} ({INTERVAL_LEVEL:.0%} CI {end})", m.higher_is_better, m.fmt,
                               m.percent)
    return out


METRICS.update(_interval_metrics())


def metric(column: str) -> Metric:
    """The Metric of a summary column; unknown columns get a plain entry (label = column)."""
    return METRICS.get(column) or Metric(column, column, True)


# --- files ---------------------------------------------------------------------------------------

CONFIG_FILE = "config.json"  # every run folder: what was run (written last by an evaluation)
STATUS_FILE = "status.json"  # every job folder: state, phase, progress, pid (xldiag.jobs)
LOG_FILE = "job.log"  # a detached job's stdout + stderr
LOCK_FILE = "lock"
STOP_FILE = "STOP"
SUMMARY_FILE = "summary.csv"
PER_QUERY_FILE = "per_query.parquet"
TABLE_FILE = "table.md"
SET_FILE = "set.json"  # an evaluation set's folder: its members (one run folder per model, xldiag.evalset)
TABLE_TEX_FILE = "table.tex"  # Table 1 as LaTeX (booktabs), the form a paper's authors paste
TREC_RUN_FILE = "run.trec"  # per pool: the top-k plus every gold, TREC run format
TREC_QRELS_FILE = "qrels.trec"  # every gold, TREC qrels format
DISTRACTOR_SHARE_FILE = "distractor_share.csv"  # long form: per gold and distractor language
TRAIN_METRICS_FILE = "metrics.jsonl"  # one line per optimizer step
MANIFEST_FILE = "xldiag_manifest.json"  # in a model folder: its family / base model, how it was made
TRAINED_BY = "xldiag.train"  # the manifest's "trained_by" in a checkpoint of our fine-tuning
# The derived views an evaluation writes for the pages (xldiag.views; docs/ARCHITECTURE.md "Views"):
VIEWS_DIR = "views"  # in an evaluation folder; a joint map's folder (under <cache>/maps/) has the files directly
VIEWS_FILE = "views.json"  # format, what was written, map sampling; written after the files it names
ALIGNMENT_VIEW_FILE = "alignment.parquet"  # per parallel pair: cosine, JSD (pre-norm and unit vectors)
ALIGNMENT_VECTORS_FILE = "vectors-{pair}-{role}-{lang}.npy"  # pre-norm vectors of the parallel texts
MAP_VIEW_FILE = "map-{method}.parquet"  # 2-D coordinates of a pool's documents and queries
PREFERENCE_VIEW_FILE = "preference.parquet"  # the language-preference heatmap's cells
JOINT_MAPS_DIR = "maps"  # under the cache folder: one folder per (model pair, data) joint map
MAP_FITS_DIR = "map-fits"  # under the cache folder: each 2-D projection fitted, keyed by its exact vectors
MAP_METHODS = ("pca", "umap")  # the projections an evaluation fits (PCA at once, then UMAP)
VIEWS_KIND = "views"  # the job kind / phase of computing views (an evaluation is readable meanwhile)

# --- environment ---------------------------------------------------------------------------------

DATA_DIR_ENV = "XLDIAG_DATA_DIR"
CACHE_DIR_ENV = "XLDIAG_CACHE_DIR"
EVALS_DIR_ENV = "XLDIAG_EVALS_DIR"
RUNS_DIR_ENV = "XLDIAG_RUNS_DIR"
MAP_METHODS_ENV = "XLDIAG_MAP_METHODS"  # e.g. "pca" to skip UMAP (the tests do); default: MAP_METHODS
THREADS_ENV = "XLDIAG_THREADS"  # threads an evaluation ranks pools on (default: the CPU count, at most 4; 1 = none)
