"""The evaluation pipeline: dataset → pools → cached embeddings → exact gold ranks → metrics → run folder.

Every unique text is embedded once per model and role (the Encoder's disk cache); English texts
are shared by every language pair and scenario. A run folder holds plain files anyone can open
with pandas: config.json, summary.csv, per_query.parquet, distractor_share.csv, table.md and
table.tex, and run.trec / qrels.trec for trec_eval, ir_measures and ranx (schemas: docs/ARCHITECTURE.md).
The measures beyond the gold ranks and the bootstrap intervals come from `xldiag.measures`. Then
views/, what the dashboard's pages read (xldiag.views), written from the same vectors.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from xldiag import __version__, measures, metrics, parallel, ranking
from xldiag.atomic import BackgroundFiles, atomic_path, write_json, write_text
from xldiag.fixes.registry import base_model, variant_or_none
from xldiag.pools import Pool, build_pool, doc_id
from xldiag.ranking import rank_gold
from xldiag.stats import DEFAULT_RESAMPLES
from xldiag.tables import table1_blocks, table1_latex, table1_markdown
from xldiag.trec import DEFAULT_DEPTH, TrecFiles
from xldiag.vocab import (COMPLETE_KS, CONFIG_FILE, DISTRACTOR_SHARE_FILE, PER_QUERY_FILE, PIVOT, POOLS, SCENARIOS,
                          SUMMARY_FILE, TABLE_FILE, TABLE_TEX_FILE, TIE_RULES, TREC_QRELS_FILE, TREC_RUN_FILE)
from xldiag.truncation import Truncation

RUN_FORMAT_VERSION = 2  # 2: ranks by text identity, several tie rules per run, per-query n_docs

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class EvalSpec:
    """What to evaluate: a model on a dataset's language sets, scenarios and pool rules."""

    model: str = "default"
    dataset: str = "xquad"
    language_sets: tuple[tuple[str, ...], ...] = (("en", "zh"),)
    scenarios: tuple[str, ...] = SCENARIOS
    construction: str = "unique"
    ties: tuple[str, ...] = ("optimistic",)  # one block of summary rows per rule; the first is primary
    limit: int | None = None
    data_dir: str | None = None
    trust_remote_code: bool = False
    bootstrap: int = DEFAULT_RESAMPLES  # resamples for the summary's intervals; 0 = no intervals
    seed: int = 0  # the bootstrap's seed
    trec_depth: int = DEFAULT_DEPTH  # run.trec: top docs per query (plus every gold); 0 = no TREC files
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        bad = [s for s in self.scenarios if s not in SCENARIOS]
        if bad:
            raise ValueError(f"Unknown scenario(s) {bad}; choose from {list(SCENARIOS)}.")
        if self.construction not in POOLS:
            raise ValueError(f"Unknown pool construction {self.construction!r}; choose from {list(POOLS)}.")
        bad = [t for t in self.ties if t not in TIE_RULES]
        if bad or not self.ties or len(set(self.ties)) != len(self.ties):
            raise ValueError(f"Bad tie rule(s) {list(self.ties)}; choose one or more of {list(TIE_RULES)}.")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be a positive number of questions, got {self.limit}.")
        if self.bootstrap < 0 or self.trec_depth < 0:
            raise ValueError(f"--bootstrap and --trec-depth must be >= 0 (0 = off), got {self.bootstrap} and "
                             f"{self.trec_depth}.")
        for langs in self.language_sets:
            if len(set(langs)) != len(langs) or len(langs) < 2:
                raise ValueError(f"A pool needs two or more distinct languages, got {'+'.join(langs)}.")


def parse_ties(ties: str | Iterable[str]) -> tuple[str, ...]:
    """`"optimistic"` or `"optimistic,pessimistic"` (or a list) → a tuple of tie rules."""
    items = ties.split(",") if isinstance(ties, str) else list(ties)
    return tuple(t.strip() for t in items if t.strip())


def parse_language_sets(spec: str | Iterable[str], pivot: str = PIVOT) -> tuple[tuple[str, ...], ...]:
    """`"ar,zh"` → ((en, ar), (en, zh)); an item with `+` is an explicit pool: `de+zh`, `en+de+zh`."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    sets = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        langs = tuple(item.split("+")) if "+" in item else (pivot, item)
        sets.append(langs)
    if not sets:
        raise ValueError("No languages given: pass e.g. --langs ar,zh or --langs de+zh.")
    return tuple(sets)


def evaluate(
    model: str = "default",
    dataset: str = "xquad",
    langs: str | Iterable[str] = "zh",
    scenarios: Iterable[str] = SCENARIOS,
    construction: str = "unique",
    ties: str | Iterable[str] = "optimistic",
    limit: int | None = None,
    out: str | Path | None = None,
    data_dir: str | None = None,
    progress: Progress | None = None,
    encoder=None,
    trust_remote_code: bool = False,
    bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    trec_depth: int = DEFAULT_DEPTH,
    views: bool = True,
) -> pd.DataFrame:
    """Evaluate `model` on `dataset` and (if `out` is given) write the run folder; returns the summary.

    `ties`: one rule or several (`"optimistic,pessimistic"`: both bounds, as `--paper` reports);
    ranks are computed once and every rule is derived from the same counts. `bootstrap`: resamples
    of the queries for the 95 % intervals (`<metric>_lo`, `<metric>_hi`; 0 = none), drawn with
    `seed`. `trec_depth`: docs per query in run.trec (0 = no TREC files). With `out`, the run
    folder is followed by its views (`views=False`: none; `python -m xldiag views DIR` later)."""
    spec = EvalSpec(
        model=str(model),
        dataset=str(dataset),
        language_sets=parse_language_sets(langs),
        scenarios=tuple(scenarios),
        construction=construction,
        ties=parse_ties(ties),
        limit=limit,
        data_dir=str(data_dir) if data_dir else None,
        trust_remote_code=trust_remote_code,
        bootstrap=int(bootstrap),
        seed=int(seed),
        trec_depth=int(trec_depth),
    )
    return run_evaluation(spec, out=out, progress=progress, encoder=encoder, views=views)


def run_evaluation(spec: EvalSpec, out=None, progress: Progress | None = None, encoder=None,
                   inputs: "SharedInputs | None" = None, views: bool = True,
                   views_progress: Progress | None = None) -> pd.DataFrame:
    """Evaluate `spec`; with `out`, write the run folder and then (`views`) the views the dashboard
    reads (xldiag.views; `views_progress` reports that part, default `progress` at fraction 1).
    `inputs` shares datasets and pools with other models evaluated on the same setting (an
    evaluation set, xldiag.evalset)."""
    spec.validate()
    progress = progress or (lambda message, fraction: None)
    started = time.time()
    from xldiag.embeddings import Encoder

    # A fix variant ("default+lir1@ntrex") encodes with its base model, then corrects per language set.
    encoder = encoder or Encoder(base_model(spec.model), trust_remote_code=spec.trust_remote_code)
    inputs = inputs or SharedInputs(spec)
    fix_sets: dict[str, dict] = {}
    corrected: dict[tuple[str, ...], dict] = {}  # a fix variant's vectors per language set, for its views

    outputs = Outputs(spec, out)
    try:
        truncation = _evaluate_sets(spec, encoder, inputs, outputs, corrected, fix_sets, progress)
        summary = outputs.summary()
        if out is not None:
            write_run(Path(out), spec, summary, fingerprint=encoder.fingerprint, seconds=time.time() - started,
                      truncation=truncation.record(), extras=outputs, fix=fix_record(spec.model, fix_sets))
    except BaseException:
        outputs.abort_files()  # the partial per-query and TREC files; every file already in place stays
        raise
    progress("Done", 1.0)
    if out is not None and views:
        # The run is complete and readable; the pages' views follow (tables and PCA, then UMAP),
        # from the vectors this encoder just cached (xldiag.views).
        from xldiag.views import write_views

        # without a progress of its own (a member of an evaluation set), the views report at the end
        # of the evaluation's scale: a progress bar never goes back
        write_views(out, encoder, progress=views_progress or (lambda message, fraction: progress(message, 1.0)),
                    data_dir=spec.data_dir, corrected=corrected,
                    datasets={langs: inputs.dataset(langs) for langs in spec.language_sets})
    return summary


def _evaluate_sets(spec: EvalSpec, encoder, inputs: SharedInputs, outputs: Outputs, corrected: dict,
                   fix_sets: dict, progress: Progress) -> Truncation:
    """Rank every pool of every language set into `outputs`; a fix variant's corrected vectors go to
    `corrected` and its fits to `fix_sets`. Returns what the model's length limit cut.

    First each set's vectors (the encoding, when not cached, is most of a cold run: 0-80 % of the
    progress), then every (set, scenario) at once on the worker threads (`parallel.ordered_map`:
    one queue, so no thread waits at the end of a set); results are added in order."""
    coverage = coverage_columns(spec.model)
    truncation = Truncation()
    sets = []
    for s, langs in enumerate(spec.language_sets):
        # One dataset per language set (SharedInputs), and the embedding cache makes re-encoding
        # shared (English) texts free.
        data = inputs.dataset(langs)
        set_progress = _scaled(progress, 0.8 * s / len(spec.language_sets), 1 / len(spec.language_sets))
        embeddings = _embed_dataset(encoder, data, langs, set_progress)
        if variant_or_none(spec.model) is not None:
            embeddings, fix_sets["+".join(langs)] = apply_fix(spec, encoder, data, langs, embeddings,
                                                              _scaled(set_progress, 0.8, 0.0))
            corrected[langs] = embeddings
        blocks = measures.PassageScores(embeddings)
        blocks.compute_all(langs)  # here, once: the worker threads only read them
        sets.append(SetInputs(langs, embeddings, truncation.measure(encoder, data, langs), coverage(langs), blocks))
    jobs = [(one, scenarios) for one in sets for scenarios in _scenario_jobs(spec.scenarios)]
    found = _in_parallel(lambda job: _evaluate_scenarios(inputs, job[0], job[1], spec), jobs)
    for done, ((one, scenarios), groups) in enumerate(zip(jobs, found)):
        for group in groups:
            for ranked in group:
                outputs.append(ranked, one.pair)
        progress(f"Ranked {one.pair} {' and '.join(scenarios)}", 0.8 + 0.2 * (done + 1) / len(jobs))
        if scenarios[-1] == spec.scenarios[-1]:
            outputs.end_of_set()
    return truncation


def _scenario_jobs(scenarios: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The scenarios of a language set as jobs, in order: Multi-1 right after Multi joins its job
    (its ranks are derived from Multi's, `ranking.without_gold`); every other scenario is a job."""
    jobs: list[tuple[str, ...]] = []
    for scenario in scenarios:
        if scenario == "multi-1" and jobs and jobs[-1] == ("multi",):
            jobs[-1] = ("multi", "multi-1")
        else:
            jobs.append((scenario,))
    return jobs


def apply_fix(spec: EvalSpec, encoder, data, langs: tuple[str, ...], embeddings: dict,
              progress: Progress | None = None) -> tuple[dict, dict]:
    """The embeddings of one language set corrected by the variant `spec.model` names, fitted for
    exactly these languages (LSAR's subspace depends on the set) with `encoder` (the base model's)
    on text checked to share none with `data`; and the variant's record for config.json."""
    from xldiag.fixes import correct_embeddings, fit_named

    reporting = ReportingEncoder(encoder, progress or (lambda message, fraction: None), spec.model)
    variant = fit_named(spec.model, reporting, langs, data_dir=spec.data_dir, evaluation=data)
    return correct_embeddings(variant, embeddings), variant.record()


class ReportingEncoder:
    """An encoder whose `encode(texts, role)` reports its progress (the fix's estimation texts can
    take minutes the first time): "Fitting <variant>: embedding 1997 zh... query texts"."""

    def __init__(self, encoder, progress: Progress, name: str):
        self.encoder, self.progress, self.name = encoder, progress, name

    def __getattr__(self, attribute):  # model_name, fingerprint, family, ...: the wrapped encoder's
        return getattr(self.encoder, attribute)

    def encode(self, texts, role: str) -> np.ndarray:
        texts = list(texts)
        message = f"Fitting {self.name}: embedding {len(texts)} {role} texts of its estimation data"
        return self.encoder.encode(texts, role, progress=_counted(self.progress, message))


def fix_record(model: str, sets: dict[str, dict]) -> dict | None:
    """config.json's "fix" (None for a plain model): the variant, its base model, fix and data, and per
    language set what was fitted (texts per language and role, fitted parameters, timings)."""
    variant = variant_or_none(model)
    if variant is None:
        return None
    roles = [role for record in sets.values() for role in record["roles"].values()]
    return {"variant": model, "model": variant.model, "fix": variant.spec.text, "method": variant.spec.method,
            "param": variant.spec.param, "data": variant.data,
            "fit_seconds": round(sum(r["fit_seconds"] for r in roles), 4),
            "encode_seconds": round(sum(r["encode_seconds"] for r in roles), 4),
            "n_texts": {pair: record["roles"]["passage"]["n_texts"] for pair, record in sets.items()},
            "sets": sets}


class SharedInputs:
    """The datasets and pools of one setting (dataset, language sets, limit, pool construction),
    each loaded or built once, on first use, and shared by every model evaluated on that setting:
    pools do not depend on the model. A plain evaluation makes its own; an evaluation set
    (xldiag.evalset) passes one to each of its models."""

    def __init__(self, spec: EvalSpec):
        self.spec = spec
        self._datasets: dict[tuple[str, ...], object] = {}
        self._pools: dict[tuple, Pool] = {}
        self._doc_lists: dict[tuple[str, ...], dict] = {}  # per language set: build_pool's doc lists

    def dataset(self, langs: tuple[str, ...]):
        """One ParallelDataset per language set: sets like MLQA-R are parallel only pairwise."""
        if langs not in self._datasets:
            from xldiag.data import load_dataset

            spec = self.spec
            self._datasets[langs] = load_dataset(spec.dataset, list(langs), data_dir=spec.data_dir, limit=spec.limit)
        return self._datasets[langs]

    def pool(self, langs: tuple[str, ...], scenario: str, query_lang: str) -> Pool:
        key = (langs, scenario, query_lang)
        if key not in self._pools:
            self._pools[key] = build_pool(self.dataset(langs), scenario, query_lang, list(langs),
                                          construction=self.spec.construction,
                                          doc_lists=self._doc_lists.setdefault(langs, {}))
        return self._pools[key]


def coverage_columns(model: str) -> Callable[[tuple[str, ...]], dict]:
    """langs → {"uncovered_langs": the set's languages the model's family does not declare among its
    training languages, comma-separated ("" when all are declared or the family declares none)}.
    A fix variant has its base model's coverage."""
    from xldiag.models import family_of

    family = family_of(base_model(model))
    return lambda langs: {"uncovered_langs": ",".join(family.uncovered(langs))}


def coverage_record(spec: EvalSpec) -> dict:
    """config.json's "coverage": the family's declared training languages (None: not declared) and
    which of the evaluated languages are outside them."""
    from xldiag.models import family_of

    family = family_of(base_model(spec.model))
    langs = [lang for langs in spec.language_sets for lang in langs]
    return {"family": family.name, "languages": list(family.languages) if family.languages is not None else None,
            "uncovered": family.uncovered(langs)}


@dataclass
class Outputs:
    """What an evaluation gathers pool by pool: summary rows (one per tie rule), per-query frames,
    the long-form distractor shares, the rows' bootstrap inputs and the TREC lines."""

    spec: EvalSpec
    out: Path | None = None  # the run folder: the TREC files are written into it as pools come
    rows: list = field(default_factory=list)
    frames: list = field(default_factory=list)
    distractors: list = field(default_factory=list)
    intervals: measures.Intervals = field(init=False)
    trec: TrecFiles | None = field(init=False)

    def __post_init__(self):
        self.intervals = measures.Intervals(self.spec.bootstrap, self.spec.seed)
        self.trec = (TrecFiles(Path(self.out), TREC_RUN_FILE, TREC_QRELS_FILE, self.spec.trec_depth)
                     if self.spec.trec_depth and self.out is not None else None)
        # per_query.parquet is written language set by language set on a background thread
        self.per_query_file = BackgroundFiles("per-query") if self.out is not None else None
        self._parquet = None
        self._metadata = None  # the first set's pandas metadata, reused by the later sets

    def end_of_set(self) -> None:
        """The language set's per-query rows are final (consistency included): write them out."""
        if self.per_query_file is not None and self.frames:
            table = per_query_table(self.frames, self._metadata)
            self._metadata = table.schema.metadata
            self.per_query_file.submit(self._write_rows, table)
            self.frames = []

    def _write_rows(self, table) -> None:
        import pyarrow.parquet as pq

        if self._parquet is None:
            self._parquet = self.per_query_file.open(Path(self.out) / PER_QUERY_FILE,
                                                     lambda tmp: pq.ParquetWriter(str(tmp), table.schema))
        self._parquet.write_table(table)

    def finish_files(self) -> None:
        """Wait for the files written in the background and put them in place."""
        for files in (self.per_query_file, self.trec):
            if files is not None:
                files.finish()

    def abort_files(self) -> None:
        """Drop the partial background files; every file already in place stays."""
        for files in (self.per_query_file, self.trec):
            if files is not None:
                files.abort()

    def append(self, ranked: "RankedPool", pair: str) -> None:
        """One ranked pool's outputs, in the evaluation's order (the bootstrap keys rows by index)."""
        for row, ranks, values in zip(ranked.rows, ranked.ranks, ranked.interval_values):
            self.intervals.add(len(self.rows), ranked.pool, ranks, values)
            self.rows.append(row)
        self.frames.append(ranked.frame)
        self.distractors += ranked.distractors
        if self.trec is not None:
            self.trec.add(ranked.pool, ranked.result, pair)

    def summary(self) -> pd.DataFrame:
        intervals = self.intervals.columns(len(self.rows))
        return pd.DataFrame([{**row, **extra} for row, extra in zip(self.rows, intervals)])

    def distractor_share(self) -> pd.DataFrame:
        return pd.DataFrame(self.distractors, columns=DISTRACTOR_SHARE_COLUMNS)


DISTRACTOR_SHARE_COLUMNS = ["dataset", "pair", "scenario", "query_lang", "gold_lang", "distractor_lang",
                            "distractors", "n_docs", "share"]


@dataclass
class RankedPool:
    """One pool ranked and measured on its own (a worker thread can do it): its summary rows (one
    per tie rule, with that rule's ranks for the bootstrap), per-query rows and distractor rows."""

    pool: Pool
    result: object  # GoldRanks
    rows: list
    ranks: list
    frame: "QueryRows"
    distractors: list
    interval_values: list  # per rule, the bootstrap's per-query values (None with the bootstrap off)


def _measure(pool: Pool, result, spec: EvalSpec, pair: str, cuts, extra: dict) -> RankedPool:
    """Everything of one ranked pool (`result`) that needs no other pool. `extra`: columns every
    row of the language set gets (the model's language coverage)."""
    rows, ranks = [], []
    for rule in spec.ties:
        ranks.append(result.ranks_under(rule))
        rows.append({**_summary_row(pool, ranks[-1], result, spec, pair, rule),
                     **measures.row_measures(pool, result, ranks[-1]), **cuts.summary_columns(pool), **extra})
    distractors = [{"dataset": spec.dataset, "pair": pair, **row} for row in measures.distractor_rows(pool, result)]
    values = [measures.interval_values(pool, r) if spec.bootstrap else None for r in ranks]
    return RankedPool(pool, result, rows, ranks, _per_query_frame(pool, result, spec, pair), distractors, values)


@dataclass
class SetInputs:
    """What the pools of one language set share: its vectors, cut flags, summary columns (the
    model's coverage) and consistency's passage score blocks."""

    langs: tuple[str, ...]
    embeddings: dict
    cuts: object
    extra: dict
    scores: measures.PassageScores

    @property
    def pair(self) -> str:
        return "+".join(self.langs)


def _evaluate_scenarios(inputs: SharedInputs, one: SetInputs, scenarios: tuple[str, ...],
                        spec: EvalSpec) -> list[list[RankedPool]]:
    """One job's scenarios (`_scenario_jobs`) of one language set: per scenario, a pool per query
    language, ranked and measured, then their consistency (the same questions, asked in each
    language). Multi-1 after Multi takes its ranks from Multi's where the pools allow it."""
    blocks = one.scores if one.scores.ready() else None
    depth = _top_depth(spec)
    multi: dict[str, tuple[Pool, object]] = {}  # query language -> Multi's pool and its longer-listed ranks
    found: list[list[RankedPool]] = []
    for scenario in scenarios:
        group = []
        for query_lang in one.langs:
            pool = inputs.pool(one.langs, scenario, query_lang)
            result = _derived_multi_minus_one(*multi[query_lang], pool, spec) \
                if scenario == "multi-1" and query_lang in multi else None
            if result is None:
                derive = scenario == "multi" and "multi-1" in scenarios
                extra = inputs.pool(one.langs, "multi-1", query_lang).excluded.shape[1] if derive else 0
                result = _rank_pool(pool, one.embeddings, spec, blocks, extra_top=extra)
                if derive:  # Multi-1 reads the longer list; Multi's own outputs keep `depth` docs
                    multi[query_lang] = (pool, result)
                    result = replace(result, top_idx=result.top_idx[:, :depth], top_scores=result.top_scores[:, :depth])
            group.append(_measure(pool, result, spec, one.pair, one.cuts, one.extra))
        _add_consistency(group, measures.consistency([(r.pool, r.result) for r in group], one.scores))
        found.append(group)
    return found


def _derived_multi_minus_one(source: Pool, result, pool: Pool, spec: EvalSpec):
    """`pool` (Multi-1) ranked from its Multi pool's counts (`ranking.without_gold`), or None where
    the two pools are not the same docs and queries with one gold column taken out."""
    # the same doc list object (`build_pool(doc_lists=...)`): the same docs, by identity
    if not (pool.doc_ids is source.doc_ids and np.array_equal(pool.query_index, source.query_index)
            and pool.query_lang in source.langs):
        return None
    column = source.langs.index(pool.query_lang)
    keep = [g for g in range(source.gold.shape[1]) if g != column]
    if not np.array_equal(pool.gold, source.gold[:, keep]):
        return None
    return ranking.without_gold(result, source.gold, column, pool.excluded, pool.text_id,
                                _top_depth(spec), ties=spec.ties[0])


def _in_parallel(fn, items):
    """parallel.ordered_map (results in order, as they come), with BLAS held at one thread while
    several threads work."""
    with ranking.one_blas_thread() if parallel.workers() > 1 else contextlib.nullcontext():
        yield from parallel.ordered_map(fn, items)


def _add_consistency(group: list[RankedPool], found: list[dict]) -> None:
    """Consistency of one scenario's pools (one per query language) into their rows and frames."""
    for ranked, values in zip(group, found):
        for row in ranked.rows:
            row.update(measures.consistency_columns(values))
        ranked.frame["consistency_overlap@10"] = values["overlap"]
        ranked.frame["consistency_rho"] = values["rho"]


def _scaled(progress: Progress, start: float, width: float) -> Progress:
    """A progress callback for one part of the work, mapped onto [start, start + width]."""
    return lambda message, fraction: progress(message, start + width * fraction)


def _counted(progress: Progress, message: str) -> Callable[[int, int], None]:
    """An Encoder progress callback `(done, total)` reported as `message` at fraction done / total."""
    return lambda done, total: progress(message, done / max(total, 1))


def _embed_dataset(encoder, data, langs, progress: Progress) -> dict:
    """Embed every passage and question of every language once; returns {(role, lang): matrix}.

    A text the model turns into NaN/inf stops the evaluation with one line naming the model, the
    language, the role and the text's id (question id, or passage id `"{lang}:p{index}"`)."""
    from xldiag.embeddings import NonFiniteEmbeddingError

    embeddings = {}
    tasks = [(role, lang) for lang in langs for role in ("passage", "query")]
    for i, (role, lang) in enumerate(tasks):
        texts = data.passages[lang] if role == "passage" else data.questions[lang]
        message = f"Embedding {len(texts)} {lang} {role}s"
        part = _scaled(progress, 0.8 * i / len(tasks), 0.8 / len(tasks))
        part(message, 0.0)
        try:  # progress per stored shard too: a long encoding can be watched, and stopped between shards
            embeddings[(role, lang)] = encoder.encode(texts, role, progress=_counted(part, message))
        except NonFiniteEmbeddingError as err:
            ids = [data.question_ids[p] if role == "query" else doc_id(lang, "p", p) for p in err.positions]
            more = f" and {len(ids) - 1} more ({', '.join(map(str, ids[1:4]))}{', …' if len(ids) > 4 else ''})" \
                if len(ids) > 1 else ""
            raise ValueError(
                f"Model {err.model!r} returned a non-finite (NaN/inf) or zero embedding for the {lang} {role} "
                f"{ids[0]}{more}; nothing was ranked, and no such vector was cached. Check the model's weights "
                "and dtype (half precision can overflow; float32 is safe)."
            ) from err
    return embeddings


def pool_embeddings(pool: Pool, embeddings: dict) -> tuple[np.ndarray, np.ndarray]:
    """(query matrix, one row per distinct pool text) from the per-language matrices; pass the
    second with `doc_text=pool.text_id` to `rank_gold`."""
    queries = embeddings[("query", pool.query_lang)]
    if not (len(pool.query_index) == len(queries) and ranking.is_identity(pool.query_index)):
        queries = queries[pool.query_index]  # (every question, in order: the matrix itself, no copy)
    first = pool.text_first_doc
    texts = np.empty((len(first), queries.shape[1]), dtype=np.float32)
    for lang in pool.langs:
        mask = pool.doc_lang[first] == lang
        texts[mask] = embeddings[("passage", lang)][pool.doc_passage[first[mask]]]
    return queries, texts


def _rank_pool(pool: Pool, embeddings: dict, spec: EvalSpec, blocks: measures.PassageScores | None = None,
               extra_top: int = 0):
    """Exact gold ranks of one pool, with the top list run.trec needs (at least the top 10; plus
    `extra_top`). `blocks`: the language set's score blocks, read instead of scoring the pool again."""
    queries, texts = pool_embeddings(pool, embeddings)
    return rank_gold(
        queries, texts, pool.gold, excluded=pool.excluded, doc_text=pool.text_id,
        doc_lang_codes=pool.doc_lang_codes, n_langs=len(pool.langs), ties=spec.ties[0],
        related=pool.duplicates,  # a gold's own copies (per-question pools) are not distractors
        top_k=_top_depth(spec) + extra_top,
        row_scores=None if blocks is None else pool_row_scores(pool, blocks),
    )


def pool_row_scores(pool: Pool, blocks: measures.PassageScores) -> np.ndarray:
    """Q x distinct pool texts (the rows of `pool_embeddings`): each text's scores read from the
    language set's (query language, document language) blocks. The four scenarios of a set share
    those few matmuls with each other and with consistency instead of scoring each pool again."""
    first = pool.text_first_doc
    parts = [(blocks.block(pool.query_lang, lang), np.flatnonzero(pool.doc_lang[first] == lang)) for lang in pool.langs]
    whole = [_whole_block(pool, block, pool.doc_passage[first[columns]], columns) for block, columns in parts]
    if len(parts) == 1 and whole[0]:
        return parts[0][0]  # a Mono pool of every passage: the block itself
    out = np.empty((pool.n_queries, len(first)), dtype=np.float32)
    for (block, columns), as_is in zip(parts, whole):
        if as_is:  # a language's passages in order, side by side: a copy, no gather
            out[:, columns[0]:columns[-1] + 1] = block
        else:
            out[:, columns] = block[np.ix_(pool.query_index, pool.doc_passage[first[columns]])]
    return out


def _whole_block(pool: Pool, block: np.ndarray, passages: np.ndarray, columns: np.ndarray) -> bool:
    """Whether the pool reads `block` as it is: its queries are the block's rows in order, and the
    texts at `columns` (one contiguous run) are the block's passages in order."""
    if not len(columns):
        return False
    return (pool.query_index.shape == block.shape[:1] and ranking.is_identity(pool.query_index)
            and passages.shape == block.shape[1:] and ranking.is_identity(passages)
            and ranking.is_identity(columns - columns[0]))


TOP_K = 10  # the top list per_query.parquet keeps


def _top_depth(spec: EvalSpec) -> int:
    """How many docs a pool's top list holds: per_query's TOP_K, or run.trec's depth if deeper."""
    return max(TOP_K, spec.trec_depth)


def _summary_row(pool: Pool, ranks: np.ndarray, result, spec: EvalSpec, pair: str, ties: str) -> dict:
    """One summary row. Averages skip queries without a gold (NaN). |D| is exact per query (Multi-1
    excludes each query's own gold and its copies, which vary in per-question pools); the summary's
    `n_docs` is its mean, used only by the table form of Max@R_norm."""
    max_ranks = metrics.max_rank(ranks)
    docs_per_query = pool.docs_per_query
    n_docs = float(docs_per_query.mean()) if len(docs_per_query) else float("nan")
    n_rel = pool.n_rel
    row = {
        "dataset": spec.dataset, "pair": pair, "query_lang": pool.query_lang, "scenario": pool.scenario,
        "pool": spec.construction, "ties": ties, "model": spec.model,
        "n_queries": len(pool.query_ids), "n_docs": n_docs, "n_rel": n_rel,
    }
    for k in COMPLETE_KS:
        row[f"complete@{k}"] = metrics.complete_at_k(ranks, k)
    row["max_r"] = metrics.max_r(ranks)
    row["max_r_norm_table"] = metrics.max_r_norm_table(row["max_r"], n_docs, n_rel)
    row["max_r_norm_per_query"] = metrics.max_r_norm_per_query(max_ranks, docs_per_query, n_rel)
    row["ndcg@1"] = metrics.ndcg_at_k(ranks, 1)
    row["ndcg@10"] = metrics.ndcg_at_k(ranks, 10)
    row["mrr"] = metrics.mrr(ranks)
    row["recall@10"] = metrics.recall_at_k(ranks, 10)
    row.update(_preference_columns(pool, ranks, result))
    n_tied = np.where(pool.gold >= 0, result.n_tied, 0).sum(axis=1).astype(float)
    row["mean_tied"] = metrics.mean(n_tied)
    return row


def _preference_columns(pool: Pool, ranks: np.ndarray, result) -> dict:
    """Language preference, only where a pool mixes languages and keeps both golds (Multi)."""
    empty = {
        "english_inclination_rate": np.nan, "own_language_inclination_rate": np.nan,
        "mean_english_distractors": np.nan, "mean_own_language_distractors": np.nan, "mean_rank_gap": np.nan,
    }
    if pool.scenario != "multi" or len(pool.langs) < 2:
        return empty
    return metrics.language_preference(
        ranks, result.above_by_lang, pool.gold_langs, pool.langs, pool.query_lang, english=PIVOT,
    )


@dataclass
class QueryRows:
    """One pool's rows of per_query.parquet as Arrow arrays built straight from numpy (no pandas
    frame, no Python list per query: those were the largest cost of a warm evaluation). The
    consistency columns are numpy arrays filled in once the scenario's pools are all ranked."""

    columns: dict

    def __setitem__(self, column: str, values) -> None:
        self.columns[column] = values


def _per_query_frame(pool: Pool, result, spec: EvalSpec, pair: str) -> QueryRows:
    """One row per query; list columns hold one entry per gold (padding dropped). `gold_ranks`
    follow the primary tie rule; the optimistic and pessimistic bounds are kept beside them;
    `diagnosis` follows the primary rule too ("" outside Multi pools). The consistency columns are
    filled in once every query language of the scenario is ranked (`_add_consistency`)."""
    import pyarrow as pa

    doc_ids = pa.array(list(pool.doc_ids), type=pa.string())
    valid = pool.gold >= 0
    n = len(pool.query_ids)
    top_idx, top_scores = result.top_idx[:, :TOP_K], result.top_scores[:, :TOP_K]
    top_ok = top_idx >= 0

    def text(values):
        return pa.array(values, type=pa.large_string())

    def same(value: str):  # one value on every row
        return pa.repeat(pa.scalar(value, type=pa.large_string()), n)

    return QueryRows({
        "dataset": same(spec.dataset), "pair": same(pair), "scenario": same(pool.scenario),
        "query_lang": same(pool.query_lang), "pool": same(spec.construction),
        "ties": same(spec.ties[0]), "qid": text(list(pool.query_ids)),
        "question_index": pa.array(np.asarray(pool.query_index, dtype=np.int64)),
        "passage_index": pa.array(pool.doc_passage[pool.gold[:, 0]].astype(np.int64)),
        "query_text": text(list(pool.query_texts)),
        "n_docs": pa.array(pool.docs_per_query.astype(np.int64)),
        "gold_doc_ids": _ragged(pool.gold, valid, doc_ids),
        "gold_langs": _repeated(pool.gold_langs, n),
        "gold_ranks": _ragged(result.ranks.astype(np.float64), valid),
        "gold_ranks_optimistic": _ragged(result.ranks_under("optimistic"), valid),
        "gold_ranks_pessimistic": _ragged(result.ranks_under("pessimistic"), valid),
        "n_tied": _ragged(result.n_tied.astype(np.int64), valid),
        "max_r": pa.array(np.asarray(metrics.max_rank(result.ranks), dtype=np.float64)),
        "pool_langs": _repeated(pool.langs, n),
        "above_by_lang": _ragged(result.above_by_lang.astype(np.int64), valid),
        "top_doc_ids": _ragged(top_idx, top_ok, doc_ids),
        "top_scores": _ragged(top_scores.astype(np.float64), top_ok),
        "gold_scores": _ragged(result.gold_scores.astype(np.float64), valid),
        "diagnosis": text(measures.diagnosis(pool, result, result.ranks).astype(str)),
        "consistency_overlap@10": np.full(n, np.nan),
        "consistency_rho": np.full(n, np.nan),
    })


PER_QUERY_COLUMNS = [
    "dataset", "pair", "scenario", "query_lang", "pool", "ties", "qid", "question_index", "passage_index",
    "query_text", "n_docs", "gold_doc_ids", "gold_langs", "gold_ranks", "gold_ranks_optimistic",
    "gold_ranks_pessimistic", "n_tied", "max_r", "pool_langs", "above_by_lang", "top_doc_ids", "top_scores",
    "gold_scores", "diagnosis", "consistency_overlap@10", "consistency_rho",
]


def _ragged(values: np.ndarray, keep: np.ndarray, names=None):
    """Row-wise `values[i][keep[i]]` as an Arrow list array (an entry may itself be a row of a 3-D
    `values`: a nested list). With `names` (an Arrow string array), the values are indices into it."""
    import pyarrow as pa

    offsets = pa.array(np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int32))
    kept = values[keep]
    if names is not None:
        return pa.ListArray.from_arrays(offsets, names.take(pa.array(kept.astype(np.int64))))
    if kept.ndim == 2:
        inner = pa.ListArray.from_arrays(pa.array(np.arange(0, kept.size + 1, kept.shape[1], dtype=np.int32)),
                                         pa.array(kept.ravel()))
        return pa.ListArray.from_arrays(offsets, inner)
    return pa.ListArray.from_arrays(offsets, pa.array(kept))


def _repeated(items, n: int):
    """The same list of strings on each of n rows, as an Arrow list array."""
    import pyarrow as pa

    items = pa.array(list(items), type=pa.string())
    values = items.take(pa.array(np.tile(np.arange(len(items)), n)))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * len(items) + 1, len(items), dtype=np.int32)), values)


def per_query_table(rows: list[QueryRows], metadata: dict | None = None):
    """The pools' rows as one Arrow table, in PER_QUERY_COLUMNS order, with the pandas metadata a
    DataFrame of these columns would write (pandas reads the file back with the same dtypes):
    `metadata`, else taken from the first row."""
    import pyarrow as pa

    columns = [pa.chunked_array([pa.array(r.columns[name]) for r in rows]) for name in PER_QUERY_COLUMNS]
    table = pa.table(columns, names=PER_QUERY_COLUMNS)
    if metadata is None:
        first = table.slice(0, 1).to_pandas()
        metadata = pa.Table.from_pandas(first, preserve_index=False).schema.metadata
    return table.replace_schema_metadata(metadata)


def write_run(out: Path, spec: EvalSpec, summary: pd.DataFrame, fingerprint: str, seconds: float,
              extras: Outputs, truncation: dict | None = None, fix: dict | None = None) -> None:
    """Write the run folder; each file atomically, config.json last (it marks a complete run).
    `extras` (the evaluation's Outputs) holds per_query.parquet and the TREC files, written while
    the evaluation ran, and the distractor shares; `fix` is a fix variant's fit (None for a plain
    model)."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / SUMMARY_FILE) as tmp:
        summary.to_csv(tmp, index=False)
    with atomic_path(out / DISTRACTOR_SHARE_FILE) as tmp:
        extras.distractor_share().to_csv(tmp, index=False)
    extras.finish_files()
    blocks = table1_blocks(summary)
    write_text(out / TABLE_FILE, table1_markdown(summary, blocks))
    write_text(out / TABLE_TEX_FILE, table1_latex(summary, blocks))
    write_json(out / CONFIG_FILE, {
        "kind": "evaluation",
        "format_version": RUN_FORMAT_VERSION,
        "xldiag_version": __version__,
        "model": spec.model,
        "fingerprint": fingerprint,
        "dataset": spec.dataset,
        "language_sets": ["+".join(langs) for langs in spec.language_sets],
        "scenarios": list(spec.scenarios),
        "pool": spec.construction,
        "ties": list(spec.ties),
        "limit": spec.limit,
        "truncation": truncation,  # texts cut at the model's max length (xldiag.truncation)
        "coverage": coverage_record(spec),  # languages outside the model's declared training languages
        "bootstrap": measures.Intervals(spec.bootstrap, spec.seed).record() if spec.bootstrap else None,
        "trec_depth": spec.trec_depth,
        "fix": fix,  # a fix variant's fit (xldiag.evaluate.fix_record), None for a plain model
        "seconds": round(seconds, 2),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
