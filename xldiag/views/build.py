"""Writing the views: `write_views` for one evaluation folder (what `python -m xldiag eval` does
when it has written the run), `write_joint_map` for two models on the same data.

Order matters to a reader: the preference cells, the alignment tables and the PCA maps are
written first and views.json names them; UMAP (slow) follows, pool by pool, with a progress line,
and views.json is rewritten when it is done. Every file is written atomically. Vectors come from
the Encoder's cache (`normalized=False` for the pre-normalisation vectors Alignment reads): after
an evaluation nothing is re-encoded.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from xldiag import alignment, config
from xldiag.atomic import atomic_path, read_json, write_json
from xldiag.pools import doc_id
from xldiag.views.files import VIEWS_FORMAT, joint_map_dir, views_dir
from xldiag.views.maps import MapInput, fit_map, map_queries, sample_passages
from xldiag.views.preference import language_preference
from xldiag.vocab import (ALIGNMENT_VECTORS_FILE, ALIGNMENT_VIEW_FILE, CONFIG_FILE, MAP_VIEW_FILE, PER_QUERY_FILE,
                          PIVOT, PREFERENCE_VIEW_FILE, VIEWS_FILE)

Progress = Callable[[str, float], None]
TEXT_CHARS = 400  # characters of each parallel text kept beside its alignment row


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path, suffix=".parquet") as tmp:
        frame.to_parquet(tmp, index=False)


def _write_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.ascontiguousarray(array, dtype=np.float32))


def _language_sets(cfg: dict) -> list[tuple[str, ...]]:
    return [tuple(str(s).split("+")) for s in cfg.get("language_sets") or []]


def _datasets(cfg: dict, data_dir: str | None) -> dict:
    """The evaluation's data, one ParallelDataset per language set (as the evaluation loads it)."""
    from xldiag.data import load_dataset

    return {langs: load_dataset(cfg["dataset"], list(langs), data_dir=data_dir, limit=cfg.get("limit"))
            for langs in _language_sets(cfg)}


# --- one evaluation ------------------------------------------------------------------------------


class RankedVectors:
    """Encoder-shaped access to the vectors one language set was ranked with, looked up by text:
    a fix variant's corrected vectors, which no encoder produces (the fix depends on the text's
    language and on the language set, xldiag.fixes). They are unit vectors: a variant has no
    pre-normalisation vector, so its Alignment views read the corrected unit vectors for both."""

    def __init__(self, data, langs: tuple[str, ...], embeddings: dict, fingerprint: str):
        self.fingerprint = fingerprint
        self._rows: dict[tuple[str, str], np.ndarray] = {}
        for lang in langs:  # a text found in two languages keeps its first language's vector
            for role, texts in (("passage", data.passages[lang]), ("query", data.questions[lang])):
                for text, row in zip(texts, embeddings[(role, lang)]):
                    self._rows.setdefault((role, text), row)

    def encode(self, texts, role: str, normalized: bool = True, **_) -> np.ndarray:
        return np.stack([self._rows[(role, text)] for text in texts]).astype(np.float32)


VIEW_COLUMNS = ["pair", "scenario", "query_lang", "qid", "passage_index", "query_text", "max_r", "gold_langs",
                "pool_langs", "above_by_lang"]  # what language_preference, map_queries and _map_input read


def write_views(folder: str | Path, encoder, progress: Progress | None = None, data_dir: str | None = None,
                methods: tuple[str, ...] | None = None, corrected: dict | None = None,
                datasets: dict | None = None) -> dict:
    """Write DIR/views for the evaluation in `folder` (its config.json and per_query.parquet), with
    `encoder` the one that evaluated it (same model and prompts: its cache has every vector).
    `corrected`: {language set: {(role, lang): vectors}} a fix variant ranked with, used instead of
    the encoder's for those sets. `datasets`: {language set: ParallelDataset} the evaluation already
    loaded (default: loaded again from config.json). Returns views.json. `methods`: the map
    projections (default config.map_methods())."""
    folder, progress = Path(folder), progress or (lambda message, fraction: None)
    methods = tuple(methods or config.map_methods())
    cfg = read_json(folder / CONFIG_FILE)
    if cfg is None:
        raise FileNotFoundError(f"{folder} has no {CONFIG_FILE}: not a finished evaluation.")
    out = views_dir(folder)
    # only what the views use: the large list columns (top lists, scores, every tie rule's ranks) stay on disk
    per_query = pd.read_parquet(folder / PER_QUERY_FILE, columns=VIEW_COLUMNS)
    progress("Views: language preference", 0.0)
    _write_parquet(out / PREFERENCE_VIEW_FILE, language_preference(per_query))
    datasets = datasets if datasets is not None else _datasets(cfg, data_dir)
    sources = {langs: RankedVectors(data, langs, corrected[langs], encoder.fingerprint)
               if corrected and langs in corrected else encoder for langs, data in datasets.items()}
    progress("Views: cosine and JSD per parallel pair", 0.05)
    _write_parquet(out / ALIGNMENT_VIEW_FILE, _alignment_views(out, datasets, sources))
    inputs = {"+".join(langs): {cfg.get("fingerprint") or encoder.fingerprint:
                                _map_input(data, langs, per_query, sources[langs])}
              for langs, data in datasets.items()}
    return _write_maps(out, inputs, methods, progress, {"evaluation": str(folder), "model": cfg.get("model")})


def _alignment_views(out: Path, datasets: dict, sources: dict) -> pd.DataFrame:
    """Per English-paired language set, role and target language: cosine and JSD (T = 1) of every
    parallel pair from the pre-normalisation vectors and from the unit vectors; each language's
    pre-norm vectors saved beside (the page's one-pair view and other temperatures read them)."""
    frames = []
    for langs, data in datasets.items():
        if PIVOT not in langs:
            continue
        pair = "+".join(langs)
        for role in ("passage", "query"):
            texts = {lang: data.passages[lang] if role == "passage" else data.questions[lang] for lang in langs}
            vecs = {lang: sources[langs].encode(texts[lang], role, normalized=False) for lang in langs}
            for lang, mat in vecs.items():
                _write_npy(out / ALIGNMENT_VECTORS_FILE.format(pair=pair, role=role, lang=lang), mat)
            for lang in langs:
                if lang != PIVOT:
                    frames.append(_pair_rows(pair, role, lang, vecs[PIVOT], vecs[lang], texts[PIVOT], texts[lang]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ALIGNMENT_COLUMNS)


ALIGNMENT_COLUMNS = ["pair", "role", "lang", "index", "cosine", "jsd", "jsd_unit", "en_text", "tgt_text"]


def _pair_rows(pair: str, role: str, lang: str, en: np.ndarray, tgt: np.ndarray, en_texts, tgt_texts) -> pd.DataFrame:
    """alignment.pair_stats on the pre-norm vectors, plus the JSD of the unit vectors (the cosine
    is the same for both: it ignores length)."""
    stats = alignment.pair_stats(en, tgt)
    unit = alignment.pair_stats(_unit(en), _unit(tgt))
    return pd.DataFrame({
        "pair": pair, "role": role, "lang": lang, "index": stats["index"].to_numpy(np.int64),
        "cosine": stats["cosine"].to_numpy(), "jsd": stats["jsd"].to_numpy(), "jsd_unit": unit["jsd"].to_numpy(),
        "en_text": [t[:TEXT_CHARS] for t in en_texts], "tgt_text": [t[:TEXT_CHARS] for t in tgt_texts],
    })


def _unit(mat: np.ndarray) -> np.ndarray:
    mat = np.asarray(mat, dtype=np.float64)
    return mat / np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)


def _map_input(data, langs: tuple[str, ...], per_query: pd.DataFrame, encoder) -> MapInput:
    """The drawn passages of every language of the pool and the queries placed, with the unit
    vectors the evaluation ranked with (all in the encoder's cache)."""
    n = len(data.passages[langs[0]])
    drawn = sample_passages(n, len(langs))
    docs = pd.DataFrame({
        "lang": np.repeat(list(langs), len(drawn)), "passage": np.tile(drawn, len(langs)),
        "id": [doc_id(lang, "p", int(i)) for lang in langs for i in drawn],
        "text": [data.passages[lang][int(i)][:100] for lang in langs for i in drawn],
    })
    doc_vectors = np.concatenate([encoder.encode([data.passages[lang][int(i)] for i in drawn], "passage")
                                  for lang in langs], axis=0)
    queries = map_queries(per_query, "+".join(langs), drawn)
    query_vectors = encoder.encode(list(queries["text"]), "query")
    return MapInput(docs, doc_vectors, queries, query_vectors, n_docs=n * len(langs))


def _sampling(inputs: dict[str, dict[str, MapInput]]) -> dict:
    """Per pool: how many documents it has and how many the map shows (views.json's "maps")."""
    out = {}
    for pair, by_model in inputs.items():
        part = next(iter(by_model.values()))
        out[pair] = {"n_docs": int(part.n_docs), "n_shown": int(len(part.docs)), "n_queries_shown": len(part.queries),
                     "seed": 0, "sampled": bool(len(part.docs) < part.n_docs)}
    return out


def _write_maps(out: Path, inputs: dict[str, dict[str, MapInput]], methods: tuple[str, ...], progress: Progress,
                extra: dict) -> dict:
    """Fit each method on every pool (PCA first), write its file, then views.json naming it."""
    info = {"format": VIEWS_FORMAT, **extra, "methods": [], "pending": list(methods), "maps": _sampling(inputs),
            "started": _now()}
    for m, method in enumerate(methods):
        frames = []
        for p, (pair, by_model) in enumerate(inputs.items()):
            n_points = sum(len(part.docs) for part in by_model.values())
            progress(f"Views: fitting {method.upper()} on {n_points} documents ({pair})",
                     0.1 + 0.9 * (m + p / len(inputs)) / len(methods))
            frames.append(fit_map(by_model, pair, method))
        _write_parquet(out / MAP_VIEW_FILE.format(method=method), pd.concat(frames, ignore_index=True))
        # UMAP needs a neighbourhood: on a handful of points alignment.project fits PCA instead
        info.setdefault("fitted", {})[method] = sorted({frame.attrs.get("method", method) for frame in frames})
        info["methods"].append(method)
        info["pending"].remove(method)
        info["written"] = _now()
        write_json(out / VIEWS_FILE, info)
    progress("Views: done", 1.0)
    return info


# --- two models ----------------------------------------------------------------------------------


def write_joint_map(folder_a: str | Path, folder_b: str | Path, encoder_a, encoder_b, progress: Progress | None = None,
                    data_dir: str | None = None, methods: tuple[str, ...] | None = None) -> Path:
    """One map fitted on the documents of two evaluated models (the same dataset and limit), in
    <cache>/maps/<key> (`files.joint_map_dir`); the language sets both evaluated. Returns the folder."""
    cfg_a, cfg_b = read_json(Path(folder_a) / CONFIG_FILE), read_json(Path(folder_b) / CONFIG_FILE)
    if cfg_a is None or cfg_b is None:
        raise FileNotFoundError(f"{folder_a if cfg_a is None else folder_b} has no {CONFIG_FILE}: not a finished evaluation.")
    if (cfg_a.get("dataset"), cfg_a.get("limit")) != (cfg_b.get("dataset"), cfg_b.get("limit")):
        raise ValueError(f"A joint map needs the same data: {folder_a} is {cfg_a.get('dataset')} (limit "
                         f"{cfg_a.get('limit')}), {folder_b} is {cfg_b.get('dataset')} (limit {cfg_b.get('limit')}).")
    common = [s for s in cfg_a.get("language_sets") or [] if s in (cfg_b.get("language_sets") or [])]
    if not common:
        raise ValueError(f"{folder_a} and {folder_b} share no language set; nothing to map jointly.")
    cfg = {**cfg_a, "language_sets": common}
    datasets = _datasets(cfg, data_dir)
    sides = [(cfg_a, Path(folder_a), encoder_a), (cfg_b, Path(folder_b), encoder_b)]
    inputs = {}
    for langs, data in datasets.items():
        inputs["+".join(langs)] = {c.get("fingerprint") or enc.fingerprint:
                                   _map_input(data, langs, pd.read_parquet(f / PER_QUERY_FILE, columns=VIEW_COLUMNS), enc)
                                   for c, f, enc in sides}
    dims = {part.doc_vectors.shape[1] for by_model in inputs.values() for part in by_model.values()}
    if len(dims) > 1:
        raise ValueError(f"A joint map needs one embedding space: {cfg_a.get('model')} and {cfg_b.get('model')} have "
                         f"vectors of {' and '.join(map(str, sorted(dims)))} dimensions; show their maps one at a time.")
    out = joint_map_dir([c.get("fingerprint") for c, _, _ in sides], cfg["dataset"], cfg.get("limit"))
    _write_maps(out, inputs, tuple(methods or config.map_methods()), progress or (lambda message, fraction: None),
                {"evaluations": [str(folder_a), str(folder_b)], "models": [cfg_a.get("model"), cfg_b.get("model")]})
    return out
