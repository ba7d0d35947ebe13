"""Estimating a fix on an aligned corpus with a model, and caching the estimate on disk.

`fit_fix(encoder, "lir:1", "ntrex", ["en", "zh"])` embeds the corpus's texts of each language
with the encoder (unit rows, the vectors the ranking reads), fits the fix and saves it under

    <cache>/fixes/<model fingerprint>/<estimate>/<data>-<key>/{fix.json, arrays.npz}

`<estimate>` is the fix label less a parameter applied after fitting (`shift` for every alpha),
`<key>` a hash of the language set, the hash of the texts read, the limit and the role. A second
call with the same inputs loads the folder without calling the encoder. Written atomically
(`xldiag.atomic.atomic_dir`); a missing, half-written or mismatching folder is refitted.

One call estimates for one role: the corpus texts are embedded with that role's prompt
(`role="passage"` by default). An evaluation uses `xldiag.fixes.variant.fit_variant`, which
estimates once per role and corrects queries with the query estimate (measured better; see there).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping

from xldiag import config
from xldiag.data import ParallelDataset
from xldiag.data.corpora import AlignedCorpus, load_corpus
from xldiag.embeddings import text_key
from xldiag.fixes.base import FIX_FORMAT, FittedFix, FixSpec, Provenance
from xldiag.fixes.disjoint import check_disjoint
from xldiag.fixes.registry import Method, load_fix, method_of, parse_fix
from xldiag.vocab import PIVOT, ROLES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EstimationTexts:
    """What a fix reads from a corpus: monolingual texts per language (center, lir, lsar) or
    English–target pairs per target language (shift)."""

    data: str
    texts: Mapping[str, list[str]]
    pairs: Mapping[str, tuple[list[str], list[str]]]

    def all_texts(self) -> list[str]:
        """Every text read, distinct, in first-seen order."""
        mono = (t for texts in self.texts.values() for t in texts)
        paired = (t for english, target in self.pairs.values() for t in (*english, *target))
        return list(dict.fromkeys([*mono, *paired]))

    def content_hash(self) -> str:
        """sha1 over each language tag and the hashes of its texts (pairs: both sides), in order."""
        digest = hashlib.sha1()
        for lang, texts in self.texts.items():
            digest.update(f"\0mono\0{lang}\0".encode())
            for text in texts:
                digest.update(text_key(text))
        for lang, (english, target) in self.pairs.items():
            digest.update(f"\0pairs\0{lang}\0".encode())
            for en, tgt in zip(english, target):
                digest.update(text_key(en) + text_key(tgt))
        return digest.hexdigest()


def estimation_texts(corpus: AlignedCorpus, method: Method, langs: Iterable[str]) -> EstimationTexts:
    """The texts `method` reads from `corpus` for `langs`: each language's monolingual texts, or
    (shift) the English–l pairs of every language l other than English."""
    langs = list(dict.fromkeys(langs))
    if not method.uses_pairs:
        return EstimationTexts(corpus.name, {lang: corpus.texts(lang) for lang in langs}, {})
    targets = [lang for lang in langs if lang != PIVOT]
    if not targets:
        raise ValueError(f"The {method.name} fix moves languages onto English: give at least one language besides "
                         f"English (got {', '.join(langs)}).")
    return EstimationTexts(corpus.name, {}, {lang: corpus.pairs(lang) for lang in targets})


def fit_fix(encoder, spec: str | FixSpec, corpus: str | os.PathLike | AlignedCorpus, langs: Iterable[str],
            limit: int | None = None, cache_root: str | os.PathLike | None = None, *, role: str = "passage",
            data_dir: str | os.PathLike | None = None, evaluation: ParallelDataset | None = None,
            refit: bool = False) -> FittedFix:
    """The fix `spec` for `langs`, estimated on `corpus` (a registered name, a JSONL path or an
    AlignedCorpus; its first `limit` pairs per language) with `encoder` (an `xldiag.embeddings.Encoder`
    or anything with `.encode(texts, role)` and `.fingerprint`), from the cache when it holds it.

    `evaluation`: a dataset the fix will be evaluated on; the estimation texts are checked to share
    no text with it (ValueError otherwise). `refit=True` ignores a cached estimate.
    """
    spec, langs = parse_fix(spec), list(dict.fromkeys(langs))
    method = method_of(spec.method)
    if not langs:
        raise ValueError("fit_fix needs at least one language.")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}.")
    corpus = corpus.limited(limit) if isinstance(corpus, AlignedCorpus) else load_corpus(corpus, langs, data_dir, limit)
    inputs = estimation_texts(corpus, method, langs)
    if evaluation is not None:
        check_disjoint(inputs.all_texts(), evaluation, data=f"corpus {corpus.name!r}")
    provenance = Provenance(data=corpus.name, data_hash=inputs.content_hash(), limit=limit,
                            model=str(getattr(encoder, "model_name", "model")), fingerprint=encoder.fingerprint,
                            role=role)
    folder = cache_folder(cache_root, method, spec, provenance, langs)
    if not refit:
        cached = load_fix(folder)
        # The folder is keyed by fingerprint, not model name: the same model under another name is a hit.
        if (cached is not None and cached.method == method.name and cached.provenance is not None
                and replace(cached.provenance, model=provenance.model) == provenance):
            return replace(cached, spec=spec, provenance=provenance, cached=True)
    fitted = estimate(encoder, method, spec, inputs, role)
    fitted = replace(fitted, provenance=provenance)
    fitted.save(folder)
    return fitted


def estimate(encoder, method: Method, spec: FixSpec, inputs: EstimationTexts, role: str) -> FittedFix:
    """Embed the estimation texts and fit; the FittedFix carries both timings."""
    started = time.perf_counter()
    embeddings = {lang: encoder.encode(texts, role) for lang, texts in inputs.texts.items()}
    pairs = {lang: (encoder.encode(english, role), encoder.encode(target, role))
             for lang, (english, target) in inputs.pairs.items()}
    encoded = time.perf_counter()
    fitted = method.fit_arrays(spec, embeddings, pairs or None)
    fit_seconds = time.perf_counter() - encoded
    n_texts = dict(fitted.n_texts)
    if inputs.pairs:  # English counts its distinct texts, not the largest pair count
        n_texts[PIVOT] = len({t for english, _ in inputs.pairs.values() for t in english})
    return replace(fitted, n_texts=n_texts, encode_seconds=encoded - started, fit_seconds=fit_seconds)


def fix_cache_root(cache_root: str | os.PathLike | None = None) -> Path:
    """Where estimates are cached: `cache_root`, else `<cache>/fixes`."""
    return Path(cache_root) if cache_root else config.cache_dir() / "fixes"


def cache_folder(cache_root, method: Method, spec: FixSpec, provenance: Provenance, langs: list[str]) -> Path:
    """`<root>/<fingerprint>/<estimate>/<data>-<key>`: one folder per (model, fix estimate, data + texts, limit)."""
    facts = {"format": FIX_FORMAT, "langs": langs, "data": provenance.data, "data_hash": provenance.data_hash,
             "limit": provenance.limit, "role": provenance.role, "vectors": provenance.vectors}
    key = hashlib.sha1(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]
    data = re.sub(r"[^A-Za-z0-9._-]", "_", provenance.data)[:60]
    return fix_cache_root(cache_root) / provenance.fingerprint / method.estimate_key(spec) / f"{data}-{key}"
